#!/usr/bin/env bash
# scripts/up.sh - build rustack (release) and run the all-in-one cloud in the foreground.
#
# usage: scripts/up.sh [rustack up options...]
#   e.g. scripts/up.sh --data-dir /var/lib/rustack --bind 0.0.0.0
#
# Installs what the build needs when it is missing (a C compiler, and the Rust
# toolchain via rustup), runs `cargo build --release -p rustack`, then execs
# `target/release/rustack up "$@"`. State lives in --data-dir (default
# $RUSTACK_DATA_DIR, else ~/.local/share/rustack). Stop it with Ctrl-C or SIGTERM.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RUSTACK_ROOT"

ensure_rust
say "building rustack (release)"
cargo build --release -p rustack
exec "$RUSTACK_ROOT/target/release/rustack" up "$@"
