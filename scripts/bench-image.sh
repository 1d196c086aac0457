#!/usr/bin/env bash
# scripts/bench-image.sh - image data throughput through the Image API versus the
# disk itself, and the server's memory during the transfer (not a timed test).
#
# usage: scripts/bench-image.sh [SIZE_MIB]   (default 1024)
#
# Starts target/release/rustack up on a fresh data dir and free ports, makes a file
# of SIZE_MIB MiB of random data, then measures on the same filesystem:
#   disk write   dd of the file into the data dir with conv=fsync
#   disk read    cat of that copy to /dev/null (evicted from the page cache first)
#   API upload   curl -T (PUT /v2/images/{id}/file, streamed; the server hashes
#                md5 + sha512 and fsyncs before answering)
#   API download curl GET /v2/images/{id}/file to /dev/null (the stored file evicted
#                from the page cache first, so both reads come from the disk)
# and samples the server's RSS every 50 ms during each transfer (growth = peak
# during the transfer minus RSS just before it). Needs curl and python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZE_MIB="${1:-1024}"
BIN="$ROOT/target/release/rustack"
[[ -x "$BIN" ]] || { echo "build first: cargo build --release -p rustack" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rustack-bench-image.XXXXXX")"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
IDP="$(free_port)"
IMP="$(free_port)"
"$BIN" up --data-dir "$WORK/data" --identity-port "$IDP" --image-port "$IMP" >"$WORK/up.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$IMP/versions" >/dev/null 2>&1 && break
  sleep 0.1
done
PW="$(awk '$1 == "keystone_admin_password:" { print $2 }' "$WORK/data/passwords.yml")"
TOKEN="$(curl -si "http://127.0.0.1:$IDP/v3/auth/tokens" -H 'content-type: application/json' \
  -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"$PW\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" \
  | awk 'tolower($1) == "x-subject-token:" { print $2 }' | tr -d '\r')"
[[ -n "$TOKEN" ]] || { echo "no token" >&2; exit 3; }

echo "making $SIZE_MIB MiB of random data..."
head -c "$((SIZE_MIB * 1048576))" /dev/urandom >"$WORK/src.bin"
sync

# evict FILE: drops FILE's clean pages from the page cache (posix_fadvise DONTNEED).
evict() { python3 -c "import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)" "$1"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
# Server CPU time (user + system) in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
TICK="$(getconf CLK_TCK)"
# Runs "$@" while sampling RSS; prints "<seconds> <rss growth KiB> <server CPU s>".
measure() {
  local before peak=0 r start end cpu0
  before="$(rss_kib)"
  cpu0="$(cpu_ticks)"
  start="$(date +%s.%N)"
  "$@" &
  local job=$!
  while kill -0 "$job" 2>/dev/null; do
    r="$(rss_kib)"
    ((r > peak)) && peak=$r
    sleep 0.05
  done
  wait "$job"
  end="$(date +%s.%N)"
  python3 -c "print(f'{$end - $start:.3f} {max(0, $peak - $before)} {($(cpu_ticks) - $cpu0) / $TICK:.2f}')"
}
rate() { python3 -c "print(f'{$SIZE_MIB / $1:.0f}')"; }

read -r t_dw _ _ < <(measure dd if="$WORK/src.bin" of="$WORK/data/dd-copy.bin" bs=1M conv=fsync status=none)
evict "$WORK/data/dd-copy.bin"
read -r t_dr _ _ < <(measure sh -c "cat '$WORK/data/dd-copy.bin' >/dev/null")
rm -f "$WORK/data/dd-copy.bin"

ID="$(curl -sf "http://127.0.0.1:$IMP/v2/images" -H "x-auth-token: $TOKEN" -H 'content-type: application/json' \
  -d '{"name":"bench","disk_format":"raw","container_format":"bare"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
upload() {
  curl -sf -T "$WORK/src.bin" -X PUT "http://127.0.0.1:$IMP/v2/images/$ID/file" \
    -H "x-auth-token: $TOKEN" -H 'content-type: application/octet-stream' -o /dev/null
}
download() {
  curl -sf "http://127.0.0.1:$IMP/v2/images/$ID/file" -H "x-auth-token: $TOKEN" -o /dev/null
}
read -r t_up g_up c_up < <(measure upload)
evict "$WORK/data/images/$ID"
read -r t_down g_down c_down < <(measure download)

printf '%-14s %8s %10s %14s %14s\n' what seconds MiB/s "RSS growth MiB" "server CPU s"
printf '%-14s %8s %10s %14s %14s\n' "disk write" "$t_dw" "$(rate "$t_dw")" - -
printf '%-14s %8s %10s %14s %14s\n' "disk read" "$t_dr" "$(rate "$t_dr")" - -
printf '%-14s %8s %10s %14s %14s\n' "API upload" "$t_up" "$(rate "$t_up")" "$((g_up / 1024))" "$c_up"
printf '%-14s %8s %10s %14s %14s\n' "API download" "$t_down" "$(rate "$t_down")" "$((g_down / 1024))" "$c_down"
python3 -c "print(f'upload = {$t_dw / $t_up * 100:.0f}% of disk write, download = {$t_dr / $t_down * 100:.0f}% of disk read')"
