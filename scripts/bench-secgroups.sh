#!/usr/bin/env bash
# scripts/bench-secgroups.sh - security-group rule update latency to the data plane
# (rule change -> plan -> reconcile -> nft applied, conntrack flush on removal) for
# 100 ports in 10 groups. Not a timed test: prints a table and one JSON line.
#
# Fake-host figures always; kernel figures when run as root (everything inside one
# namespace the benchmark creates and deletes; needs nft and conntrack).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  export RUSTACK_HOST_TESTS=1
fi
exec cargo test -q --release -p rustack-hostops --test bench_secgroups "$@" -- --ignored --nocapture
