#!/usr/bin/env bash
# host-tests-fivemin.sh - the first five minutes on real guests (root, opt-in; the `host`
# phase of scripts/test.sh runs it after scripts/host-tests-compute.sh).
#
# Runs tests/e2e/five-minutes.sh --real --sdk inside a network namespace the test
# creates: `rustack up --demo-image <test guest>` with the QEMU driver (TCG here) and the
# data plane, then with nothing else done `openstack server create --image cirros
# --flavor m1.tiny --network demo-net --key-name mykey --wait vm1`, a floating IP from
# `public`, ping and `ssh cirros@<fip>` with the key from `openstack keypair create`,
# from "the host" (the namespace, where rustack's public uplink rustack-pub holds
# 172.24.4.1), then the openstacksdk flows (tests/sdk/flows.py) on real guests.
#
# Containment: everything (the uplink veth, bridges, TAPs, nft tables, API ports) lives
# in the namespace `rhf<pid>`; the agent's qdhcp-/qrouter- namespaces hang off it. On
# exit the cloud is stopped (five-minutes.sh), then the namespaces and any process left
# in them are removed and a last check reports any leftover.
#
# usage: sudo scripts/host-tests-fivemin.sh [cargo args]   (NO_BUILD=1: use the existing
#        target/release/rustack; RUSTACK_BIN=path: that binary, no build; KEEP_DATA=1
#        keeps five-minutes.sh's work dir)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=lib-qemu.sh
source "$(dirname "$0")/lib-qemu.sh"
cd "$RUSTACK_ROOT"
[[ $(id -u) -eq 0 ]] || { echo "host-tests-fivemin: needs root (namespaces, bridges, QEMU TAPs); skipped"; exit 0; }
apt_install iproute2 nftables dnsmasq-base dnsmasq-utils busybox-static curl genisoimage openssh-client iputils-ping
ensure_qemu
scripts/build-test-image.sh >/dev/null
BIN="${RUSTACK_BIN:-$RUSTACK_ROOT/target/release/rustack}"
[[ "${NO_BUILD:-0}" == 1 || -n "${RUSTACK_BIN:-}" ]] || cargo build -q --release -p rustack "$@"
OPENSTACK="${OPENSTACK:-$RUSTACK_CI_CACHE/venv/bin/openstack}"
if [[ ! -x "$OPENSTACK" ]]; then
  ensure_python_venv
  python3 -m venv "$RUSTACK_CI_CACHE/venv"
  "$RUSTACK_CI_CACHE/venv/bin/pip" install -q "python-openstackclient==${OSC_VERSION:-10.5.0}"
fi

CNS="rhf$$"
NS_BEFORE=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
new_agent_ns() { comm -13 <(echo "$NS_BEFORE") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | grep -E '^q(dhcp|router)-' || true; }
kill_ns_pids() { local p; for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; }
RC=0
cleanup() {
  set +e
  trap - EXIT
  trap '' INT TERM
  for ns in $(new_agent_ns); do kill_ns_pids "$ns"; ip netns del "$ns"; done
  kill_ns_pids "$CNS"
  ip netns del "$CNS" 2>/dev/null
  sleep 0.3
  local left=""
  [[ -n "$(new_agent_ns)" ]] && left+=" namespaces($(new_agent_ns | tr '\n' ' '))"
  ip netns list 2>/dev/null | grep -qE "^$CNS( |$)" && left+=" $CNS"
  pgrep -f "qemu-system.*five-minutes" >/dev/null && left+=" qemu"
  if [[ -n "$left" ]]; then echo "host-tests-fivemin: LEFT BEHIND:$left" >&2; RC=1; fi
  echo "host-tests-fivemin: $([[ $RC -eq 0 ]] && echo passed || echo FAILED)"
  exit "$RC"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$CNS"
ip -n "$CNS" link set lo up
OPENSTACK="$OPENSTACK" ip netns exec "$CNS" tests/e2e/five-minutes.sh --real --sdk \
  --bin "$BIN" --image "$RUSTACK_CI_CACHE/images/rustack-test.qcow2" || RC=1
