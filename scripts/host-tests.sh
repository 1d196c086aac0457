#!/usr/bin/env bash
# scripts/host-tests.sh - the opt-in host tests of the data plane (root only).
#
# Installs what they use when missing (iproute2, nftables, dnsmasq-base,
# dnsmasq-utils for dhcp_release,
# busybox-static for udhcpc and nc, iputils-ping, curl, conntrack), then runs with
# RUSTACK_HOST_TESTS=1 `cargo test -p rustack-hostops --test host_dataplane --test
# host_secgroups` and
# `cargo test -p rustack-network-agent --test host_agent` and
# `cargo test -p rustack-metadata --test host_metadata` and scripts/host-tests-virt.sh
# (`cargo test -p rustack-virt --test host_qemu`; extra arguments, such as
# --locked, go to all).
# Every device lives in namespaces the tests create (unique per run); nothing is
# configured in the root namespace. See docs/dataplane.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "host-tests: needs root (network namespaces, bridges, dnsmasq); skipped" >&2
  exit 0
fi
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
command -v dhcp_release >/dev/null || missing+=(dnsmasq-utils)
command -v busybox >/dev/null || missing+=(busybox-static)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v curl >/dev/null || missing+=(curl)
command -v conntrack >/dev/null || missing+=(conntrack)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
export RUSTACK_HOST_TESTS=1
cargo test "$@" -p rustack-hostops --test host_dataplane --test host_secgroups
# The network agent against a control plane in-process, the agent's "host" being a
# test namespace (crates/network/agent/tests/host_agent.rs).
cargo test "$@" -p rustack-network-agent --test host_agent --test host_metadata
# The metadata proxy in qdhcp-/qrouter- namespaces answering "instances" from a fake
# metadata API (crates/metadata/tests/host_metadata.rs).
cargo test "$@" -p rustack-metadata --test host_metadata
# The QEMU compute driver with a real TCG guest in a test namespace (installs QEMU,
# builds the test images; crates/virt/tests/host_qemu.rs).
scripts/host-tests-virt.sh "$@"
