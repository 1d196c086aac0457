#!/usr/bin/env bash
# scripts/bench-qemu.sh - guest boot time: the "physical floor" (bare QEMU with the test
# image and a TAP, launch -> RUSTACK-GUEST-UP on the serial console) against the QEMU
# driver (spawn() -> the same marker), plus graceful power-off and reboot times.
# Runs the host test of the driver (root; see scripts/host-tests-virt.sh) and prints its
# measurements.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(scripts/host-tests-virt.sh --locked 2>&1) || { echo "$out" | tail -40; exit 1; }
echo "$out" | grep -E '^(accelerator|BOOT|graceful|hard reboot)'
