#!/usr/bin/env bash
# scripts/host-tests-virt.sh - the opt-in host test of the QEMU compute driver (root only).
#
# Installs what it uses when missing (QEMU, genisoimage, dnsmasq, busybox-static,
# iproute2), builds the two test images (scripts/build-test-image.sh, cached under
# ~/.cache/rustack-ci/images), then runs
# `RUSTACK_HOST_TESTS=1 cargo test -p rustack-virt --test host_qemu -- --nocapture`.
# The guest, its TAPs, dnsmasq and the metadata responder live in a network namespace
# the test creates and deletes; nothing is configured in the root namespace.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=lib-qemu.sh
source "$(dirname "$0")/lib-qemu.sh"
cd "$RUSTACK_ROOT"
if [ "$(id -u)" != 0 ]; then
  echo "host-tests-virt: needs root (network namespaces, TAPs); skipped" >&2
  exit 0
fi
apt_install iproute2 dnsmasq-base busybox-static genisoimage
ensure_qemu
scripts/build-test-image.sh
RUSTACK_HOST_TESTS=1 RUSTACK_TEST_IMAGE_DIR="$RUSTACK_CI_CACHE/images" \
  exec cargo test -p rustack-virt --test host_qemu "$@" -- --nocapture
