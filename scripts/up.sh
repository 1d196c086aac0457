#!/usr/bin/env bash
# scripts/up.sh - build rustack (release) and run the all-in-one cloud in the foreground,
# ready for a first server.
#
# usage: scripts/up.sh [rustack up options...]
#   e.g. scripts/up.sh --data-dir /var/lib/rustack --bind 0.0.0.0
#
# Installs what the build needs when it is missing (a C compiler, and the Rust
# toolchain via rustup), runs `cargo build --release -p rustack`, builds the small test
# guest from Debian packages (scripts/build-test-image.sh: busybox, Debian's cloud
# kernel, dropbear; cached, rebuilt only when its inputs change), then execs
# `target/release/rustack up --demo-image <guest> "$@"`, which registers the guest as
# `cirros` and creates the demo network, router and security-group rules (see
# `[bootstrap] demo` in etc/rustack.toml; `demo = false` turns them off).
# As root the cloud also runs the data plane and boots real guests: then
#   openstack server create --image cirros --flavor m1.tiny --network demo-net --wait vm1
# works at once, and the floating IPs of `public` answer ping and SSH from this host.
# SKIP_IMAGE=1 skips the guest build. State lives in --data-dir (default
# $RUSTACK_DATA_DIR, else ~/.local/share/rustack). Stop it with Ctrl-C or SIGTERM.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RUSTACK_ROOT"

ensure_rust
say "building rustack (release)"
cargo build --release -p rustack
DEMO=()
IMAGE="$RUSTACK_CI_CACHE/images/rustack-test.qcow2"
if [[ "${SKIP_IMAGE:-0}" != 1 ]]; then
  say "building the test guest (registered as cirros)"
  if scripts/build-test-image.sh >&2; then
    DEMO=(--demo-image "$IMAGE")
  else
    say "warning: the test guest could not be built; no cirros image (see above)"
  fi
elif [[ -f "$IMAGE" ]]; then
  DEMO=(--demo-image "$IMAGE")
fi
exec "$RUSTACK_ROOT/target/release/rustack" up "${DEMO[@]}" "$@"
