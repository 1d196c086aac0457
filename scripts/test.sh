#!/usr/bin/env bash
# scripts/test.sh - run every rustack test layer; what CI runs (.ci/run).
#
# usage: scripts/test.sh [PHASE...]
#
# Phases, in order (default: all of them):
#   deps      Rust toolchain (+ rustfmt, clippy), curl, python3 venv support
#   fmt       cargo fmt --all -- --check
#   clippy    cargo clippy --workspace --all-targets -- -D warnings
#   test      cargo test --workspace (SQLite)
#   host      scripts/host-tests.sh: the data-plane host tests (real bridges,
#             namespaces, dnsmasq inside test namespaces; root only, else skipped),
#             then scripts/host-tests-compute.sh: two real TCG guests booted by
#             `rustack up` inside a test namespace (DHCP, metadata, ping, floating IP
#             from outside, power actions, snapshot, delete; ~2-3 min), then
#             scripts/host-tests-volume.sh: volumes on real guests (attach, write in
#             one guest, read in another, online extend, LUKS volume with its key
#             from the key manager, boot from volume), then
#             scripts/host-tests-fivemin.sh: tests/e2e/five-minutes.sh --real --sdk
#             in a test namespace (cirros on demo-net, ping and SSH to its floating
#             IP, openstacksdk flows on real guests)
#   postgres  PostgreSQL from Debian packages (scripts/ci-postgres.sh), then the
#             datastore and API tests of db, identity, image, network, placement,
#             block storage and key manager against it
#   release   cargo build --release -p rustack (the binary the next phases run)
#   crash     scripts/crash-test.sh: kill -9 its own cloud during server builds,
#             deletes and volume work, restart it, check nothing leaked (~1 min)
#   up        start target/release/rustack up on a fresh data dir, free port
#   e2e       tests/e2e/{identity,image,network,placement,compute,volume}-cli.sh (the
#             real openstack CLI; volume also drives the key manager), then
#             tests/e2e/five-minutes.sh --sdk on its own cloud (rustack up's demo
#             resources, the first-five-minutes CLI scenario, openstacksdk flows)
#   tempest   conformance/run-tempest: the identity, image, network and volume tests
#             of the Interop 2020.06 platform list (tempest 47.0.0: 7 + 20 + 61 + 54),
#             then the compute tests of the compute list (75, simulated driver; 73
#             must pass, the 2 needing SSH are skipped);
#             any failure fails the run
#
# Opt-in phases (named explicitly, never in the default run):
#   tempest-full  the full Tempest 47.0.0 API suites (tempest.api.<service> for
#             identity, image, network, compute, volume; TEMPEST_FULL_SERVICES picks a
#             subset, TEMPEST_FULL_REGEX one regex of test ids instead), configured
#             as a DevStack single-host cloud would be (see
#             conformance/tempest-full.conf); prints the counts per service and
#             fails only if the run itself fails (see docs/api-compat.md for skips)
# e2e, tempest and tempest-full need the cloud, so they imply `up` (and `release`
# unless RUSTACK_BIN names the binary).
#
# Every phase runs even when an earlier one failed (except those needing a
# cloud that could not start); the run ends with a table of phases, results and
# durations and exits 1 if any phase failed.
#
# Environment:
#   RUSTACK_TEST_POSTGRES_URL  use this PostgreSQL server (a URL whose user may
#                              create databases) instead of installing one
#   RUSTACK_CI_OUT             logs and results (default target/ci)
#   RUSTACK_CI_CACHE           venv cache (default ~/.cache/rustack-ci)
#   RUSTACK_CI_DATA_PLANE      [network] data_plane of the `up` cloud (default auto;
#                              "off" leaves the host's data plane to another cloud)
#   RUSTACK_BIN                the binary `up` starts (default target/release/rustack,
#                              built by the release phase; when set, e2e/tempest no
#                              longer imply `release`: e.g. target/debug/rustack)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RUSTACK_ROOT"

ALL=(deps fmt clippy test host postgres release crash up e2e tempest)
OPT_IN=(tempest-full)
if [[ $# -eq 0 ]]; then
  PHASES=("${ALL[@]}")
else
  for p in "$@"; do
    [[ " ${ALL[*]} ${OPT_IN[*]} " == *" $p "* ]] || { sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; die "unknown phase: $p"; }
  done
  want=" deps $* "
  if [[ "$want" == *" e2e "* || "$want" == *" tempest "* || "$want" == *" tempest-full "* ]]; then
    want+=" up "
    [[ -n "${RUSTACK_BIN:-}" ]] || want+=" release "
  fi
  if [[ "$want" == *" crash "* && -z "${RUSTACK_BIN:-}" ]]; then want+=" release "; fi
  PHASES=()
  for p in "${ALL[@]}" "${OPT_IN[@]}"; do
    if [[ "$want" == *" $p "* ]]; then PHASES+=("$p"); fi
  done
fi

OUT="${RUSTACK_CI_OUT:-$RUSTACK_ROOT/target/ci}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
DATA="$OUT/data"
BIN="${RUSTACK_BIN:-target/release/rustack}"
rm -f "$OUT"/*.totals "$OUT/tempest.out" "$OUT/tempest-compute.out"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# CI builds once from scratch: incremental artifacts would only cost time and disk.
[[ "${CI:-}" == "true" ]] && export CARGO_INCREMENTAL=0

# ------------------------------------------------------------------- phases
phase_deps() {
  apt_install curl ca-certificates
  ensure_python_venv
  ensure_rust
  cargo --version
  rustc --version
  cargo fmt --version
  cargo clippy --version
  python3 --version
}

phase_fmt() {
  local color=()
  [[ -t 1 ]] || color=(--color never)  # rustfmt colours its diff even into a log file
  cargo fmt --all -- --check "${color[@]}"
}

phase_clippy() {
  # --keep-going: report the lints of every crate, not only the first failing one.
  cargo clippy --locked --keep-going --workspace --all-targets -- -D warnings
}

# cargo_test ARGS...: cargo test with its own output, then one totals line.
cargo_test() {
  local log="$1" rc=0; shift
  cargo test "$@" 2>&1 | tee "$log" || rc=$?
  awk -v what="$*" '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^(passed|failed|ignored);$/) t[$(i+1)] += $i }
       END { printf "cargo test %s: %d passed, %d failed, %d ignored\n", what, t["passed;"], t["failed;"], t["ignored;"] }' \
    "$log" | tee "$log.totals"
  return "$rc"
}

phase_test() {
  cargo_test "$OUT/cargo-test-test.log" --locked --workspace
}

phase_host() {
  local rc=0
  "$RUSTACK_ROOT/scripts/host-tests.sh" --locked || rc=1
  # Real TCG guests through the compute API with the real data plane (builds the
  # release binary; root only, else one "skipped" line).
  "$RUSTACK_ROOT/scripts/host-tests-compute.sh" --locked || rc=1
  # Volumes on real guests: attach/detach between two guests, LUKS, boot from volume.
  NO_BUILD=1 "$RUSTACK_ROOT/scripts/host-tests-volume.sh" --locked || rc=1
  # The first five minutes on a real guest (demo resources, ping and SSH to a floating
  # IP from the host side, openstacksdk flows).
  NO_BUILD=1 "$RUSTACK_ROOT/scripts/host-tests-fivemin.sh" --locked || rc=1
  return "$rc"
}

phase_postgres() {
  local url="${RUSTACK_TEST_POSTGRES_URL:-}" own=0 rc=0
  if [[ -z "$url" ]]; then
    url="$("$RUSTACK_ROOT/scripts/ci-postgres.sh")"
    own=1
  fi
  say "PostgreSQL tests against ${url%%:*}://***@${url#*@}"
  RUSTACK_TEST_POSTGRES_URL="$url" cargo_test "$OUT/cargo-test-postgres.log" \
    --locked -p rustack-db -p rustack-identity-server -p rustack-image-server \
    -p rustack-network-server -p rustack-placement-server -p rustack-block-server \
    -p rustack-keymgr-server || rc=$?
  # The tests leave their databases behind; on the server this script set up, drop them.
  if [[ $own -eq 1 ]]; then
    "$RUSTACK_ROOT/scripts/ci-postgres.sh" --drop-test-databases || true
  fi
  return "$rc"
}

phase_release() {
  cargo build --release --locked -p rustack
  ls -l target/release/rustack
}

phase_up() {
  stop_cloud
  rm -rf "$DATA"
  # A `public` external network for Tempest's public_network_id (rustack up prints its id).
  mkdir -p "$DATA"
  # Compute runs the simulated driver in CI (Tempest and the CLI e2e need servers that
  # reach ACTIVE, not bootable guests); the QEMU path is covered by the host tests.
  # Identity runs Keystone's security compliance as DevStack configures it (lockout after
  # 2 failures for 5 s, last 2 passwords unique), for Tempest's security_compliance tests.
  printf '[network]\ndata_plane = "%s"\n\n[network.public_network]\nname = "public"\n\n[compute]\ndriver = "simulated"\n\n[identity]\nlockout_failure_attempts = 2\nlockout_duration = 5\nunique_last_password_count = 2\n' \
    "${RUSTACK_CI_DATA_PLANE:-auto}" > "$DATA/rustack.toml"
  # Every service gets a free port (--identity-port, --image-port, ... as
  # `rustack up --help` lists them), so the run never collides with a cloud
  # already listening on the upstream ports.
  local port opts ports args=() i
  mapfile -t opts < <("$BIN" up --help | grep -oE -- '--[a-z][a-z-]*-port' | sort -u)
  [[ " ${opts[*]} " == *" --identity-port "* ]] || die "rustack up --help lists no --identity-port"
  mapfile -t ports < <(free_ports "${#opts[@]}")
  for i in "${!opts[@]}"; do
    args+=("${opts[$i]}" "${ports[$i]}")
    [[ "${opts[$i]}" == --identity-port ]] && port="${ports[$i]}"
  done
  say "starting: $BIN up --data-dir $DATA ${args[*]}"
  NO_COLOR=1 "$BIN" up --data-dir "$DATA" "${args[@]}" > "$OUT/rustack.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$OUT/rustack.pid"
  echo "$port" > "$OUT/rustack.port"
  # Ready = "rustack is up" printed (every service started, admin-openrc.sh and
  # clouds.yaml written; identity alone answers earlier) and GET /v3 answers.
  local deadline=$((SECONDS + 120))
  until grep -q '^rustack is up' "$OUT/rustack.log"; do
    if ! kill -0 "$pid" 2>/dev/null || (( SECONDS >= deadline )); then
      tail -n 40 "$OUT/rustack.log" >&2
      die "rustack up did not print 'rustack is up' (exited, or not within 120 s)"
    fi
    sleep 0.2
  done
  if ! wait_http "http://127.0.0.1:$port/v3" 30 "$pid"; then
    tail -n 40 "$OUT/rustack.log" >&2
    die "rustack did not answer GET http://127.0.0.1:$port/v3"
  fi
  grep -m1 '^rustack is up' "$OUT/rustack.log"
  curl -fsS "http://127.0.0.1:$port/v3"; echo
}

phase_crash() {
  RUSTACK_BIN="$BIN" RUSTACK_CI_OUT="$OUT" "$RUSTACK_ROOT/scripts/crash-test.sh"
}

phase_e2e() {
  local s rc=0
  for s in identity image network placement compute volume; do
    say "e2e: tests/e2e/$s-cli.sh"
    "$RUSTACK_ROOT/tests/e2e/$s-cli.sh" --data-dir "$DATA" || { rc=$?; echo "e2e $s: FAILED" >&2; }
  done
  # Its own cloud (simulated driver, API only): rustack up's demo resources, the
  # first-five-minutes CLI scenario and the openstacksdk flows (tests/sdk/flows.py).
  say "e2e: tests/e2e/five-minutes.sh --sdk"
  RUSTACK_CI_CACHE="$RUSTACK_CI_CACHE" "$RUSTACK_ROOT/tests/e2e/five-minutes.sh" --bin "$BIN" --sdk \
    || { rc=$?; echo "e2e five-minutes: FAILED" >&2; }
  return "$rc"
}

phase_tempest() {
  local port pw pub res="$OUT/tempest-results" want=142
  port="$(cat "$OUT/rustack.port")"
  pub="$(awk '$1 == "public" && $2 == "network" { print $3; exit }' "$OUT/rustack.log")"
  [[ -n "$pub" ]] || die "rustack up printed no public network id"
  pw="$(awk '$1 == "keystone_admin_password:" { print $2 }' "$DATA/passwords.yml")"
  [[ -n "$pw" ]] || die "no keystone_admin_password in $DATA/passwords.yml"
  ensure_python_venv
  local img1 img2
  read -r img1 img2 <<< "$(tempest_images "$port" "$pw")"
  [[ -n "$img1" && -n "$img2" ]] || die "no Tempest images"
  rm -rf "$res"
  TEMPEST_VENV_CACHE="$RUSTACK_CI_CACHE/tempest-47.0.0" \
    "$RUSTACK_ROOT/conformance/run-tempest" \
    --auth-url "http://127.0.0.1:$port/v3" --admin-user admin --admin-password "$pw" \
    --admin-project admin --list platform --public-network-id "$pub" \
    --image-ref "$img1" --image-ref-alt "$img2" \
    --filter 'tempest\.api\.(identity|image|network|volume)' \
    --out "$res" 2>&1 | tee "$OUT/tempest.out"
  local line
  line="$(tail -n 1 "$OUT/tempest.out")"
  [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]] \
    || die "run-tempest did not end with a counts line (see $OUT/tempest.out)"
  local passed="${BASH_REMATCH[1]}" failed="${BASH_REMATCH[2]}" skipped="${BASH_REMATCH[3]}"
  echo "tempest identity+image+network+volume (Interop 2020.06 platform): $line"
  if [[ "$failed" -ne 0 ]]; then
    echo "failed tests (REST calls of each in $res/tempest.log):"
    grep '^FAIL' "$res/results.txt" || true
    die "$failed Tempest test(s) failed"
  fi
  (( passed + skipped == want )) || die "expected $want tests, the list selected $((passed + failed + skipped))"
  tempest_compute "$port" "$pw" "$pub" "$img1" "$img2"
}

# tempest_images PORT PASSWORD: registers two distinct small public images (image_ref and
# image_ref_alt: the volume-from-image and compute tests need them); prints their ids.
tempest_images() {
  local port="$1" pw="$2"
  local imgs img1 img2
  imgs="$(python3 - "$port" "$pw" <<'PY'
import json, sys, urllib.request
port, pw = sys.argv[1], sys.argv[2]
def req(method, url, body=None, token=None, ctype="application/json"):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    r = urllib.request.Request(url, data=data, method=method)
    r.add_header("Content-Type", ctype)
    if token:
        r.add_header("X-Auth-Token", token)
    return urllib.request.urlopen(r)
auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": pw}}},
                 "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
r = req("POST", f"http://127.0.0.1:{port}/v3/auth/tokens", auth)
tok = r.headers["X-Subject-Token"]
cat = json.load(r)["token"]["catalog"]
glance = next(e["url"] for s in cat if s["type"] == "image" for e in s["endpoints"] if e["interface"] == "public").rstrip("/")
ids = []
for n, fill in (("tempest-image", b"\x01"), ("tempest-image-alt", b"\x02")):
    img = json.load(req("POST", f"{glance}/v2/images", {"name": n, "disk_format": "raw", "container_format": "bare", "visibility": "public"}, tok))
    req("PUT", f"{glance}/v2/images/{img['id']}/file", fill * 65536, tok, "application/octet-stream")
    ids.append(img["id"])
print(" ".join(ids))
PY
)" || die "registering the Tempest images failed"
  read -r img1 img2 <<< "$imgs"
  [[ -n "$img1" && -n "$img2" ]] || die "no Tempest images"
  echo "$img1 $img2"
}

# The compute tests of the Interop 2020.06 compute program (tempest.api.compute: 75) on
# the simulated driver, with two distinct small images for image_ref/image_ref_alt.
# All must pass but the 2 that need run_validation (SSH into the guest), which tempest
# skips; the 2 of compute-volume-attach run against the block storage service.
tempest_compute() {
  local port="$1" pw="$2" pub="$3" img1="$4" img2="$5" res="$OUT/tempest-compute-results" want=75 need=73
  rm -rf "$res"
  TEMPEST_VENV_CACHE="$RUSTACK_CI_CACHE/tempest-47.0.0" \
    "$RUSTACK_ROOT/conformance/run-tempest" \
    --auth-url "http://127.0.0.1:$port/v3" --admin-user admin --admin-password "$pw" \
    --admin-project admin --list compute --public-network-id "$pub" \
    --image-ref "$img1" --image-ref-alt "$img2" \
    --filter 'tempest\.api\.compute' \
    --out "$res" 2>&1 | tee "$OUT/tempest-compute.out"
  local line
  line="$(tail -n 1 "$OUT/tempest-compute.out")"
  [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]] \
    || die "run-tempest did not end with a counts line (see $OUT/tempest-compute.out)"
  local passed="${BASH_REMATCH[1]}" failed="${BASH_REMATCH[2]}" skipped="${BASH_REMATCH[3]}"
  echo "tempest compute (Interop 2020.06 compute, tempest.api.compute): $line"
  if [[ "$failed" -ne 0 ]]; then
    echo "failed tests (REST calls of each in $res/tempest.log):"
    grep '^FAIL' "$res/results.txt" || true
    die "$failed Tempest compute test(s) failed"
  fi
  (( passed + skipped == want )) || die "expected $want compute tests, the list selected $((passed + failed + skipped))"
  (( passed >= need )) || die "expected at least $need compute tests to pass, $passed did"
}

# The full API suites of each service (opt-in: far beyond CI's time). Counts per service
# come from run-tempest's results.txt.
phase_tempest-full() {
  local port pw pub res="$OUT/tempest-full-results" svc img1 img2 list="$OUT/tempest-full.list"
  local services="${TEMPEST_FULL_SERVICES:-identity image network compute volume}"
  port="$(cat "$OUT/rustack.port")"
  pub="$(awk '$1 == "public" && $2 == "network" { print $3; exit }' "$OUT/rustack.log")"
  pw="$(awk '$1 == "keystone_admin_password:" { print $2 }' "$DATA/passwords.yml")"
  ensure_python_venv
  read -r img1 img2 <<< "$(tempest_images "$port" "$pw")"
  [[ -n "$img1" && -n "$img2" ]] || die "no Tempest images"
  : > "$list"
  if [[ -n "${TEMPEST_FULL_REGEX:-}" ]]; then
    echo "$TEMPEST_FULL_REGEX" > "$list"
  else
    for svc in $services; do echo "^tempest\.api\.$svc\." >> "$list"; done
  fi
  rm -rf "$res"
  TEMPEST_VENV_CACHE="$RUSTACK_CI_CACHE/tempest-47.0.0" \
    "$RUSTACK_ROOT/conformance/run-tempest" \
    --auth-url "http://127.0.0.1:$port/v3" --admin-user admin --admin-password "$pw" \
    --admin-project admin --list "$list" --public-network-id "$pub" \
    --image-ref "$img1" --image-ref-alt "$img2" \
    --extra-conf "$RUSTACK_ROOT/conformance/tempest-full.conf" \
    --out "$res" 2>&1 | tee "$OUT/tempest-full.out"
  [[ -f "$res/results.txt" ]] || die "run-tempest wrote no results (see $OUT/tempest-full.out)"
  echo "tempest full API suites (tempest 47.0.0), per service:"
  for svc in $services; do
    awk -v svc="$svc" '$2 ~ "^tempest\\.api\\." svc "\\." { n[$1]++ }
      END { printf "  %-9s %d passed, %d failed, %d skipped\n", svc, n["PASS"], n["FAIL"], n["SKIP"] }' \
      "$res/results.txt"
  done
  tail -n 1 "$OUT/tempest-full.out"
}

# ----------------------------------------------------------------- running
stop_cloud() {
  [[ -f "$OUT/rustack.pid" ]] || return 0
  local pid
  pid="$(cat "$OUT/rustack.pid")"
  rm -f "$OUT/rustack.pid"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "rustack (pid $pid) ignored SIGTERM for 5 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    else
      say "rustack stopped (SIGTERM)"
    fi
  fi
  # A cloud that ran the data plane (root) leaves bridges, namespaces and dnsmasq in
  # place, as Neutron's agents do; CI removes them so runs leave the host as found.
  if grep -q '^  data plane on' "$OUT/rustack.log" 2>/dev/null && [[ -x "$BIN" ]]; then
    "$BIN" agent cleanup --data-dir "$DATA" || echo "data plane cleanup failed" >&2
  fi
}
trap stop_cloud EXIT

declare -A RESULT DURATION
FAILED=0
for p in "${PHASES[@]}"; do
  case "$p" in
    e2e|tempest|tempest-full)
      if [[ "${RESULT[up]:-}" != ok ]]; then
        RESULT[$p]="skipped (no cloud)"; DURATION[$p]=0; FAILED=1; continue
      fi;;
    up|crash)
      if [[ -z "${RUSTACK_BIN:-}" && "${RESULT[release]:-}" != ok ]]; then
        RESULT[$p]="skipped (no release build)"; DURATION[$p]=0; FAILED=1; continue
      fi;;
  esac
  echo
  say "=================== phase: $p"
  start=$SECONDS
  # Each phase runs in a subshell with errexit (a failing command ends the phase,
  # not the run); `up` leaves the cloud's pid in $OUT/rustack.pid for stop_cloud.
  set +e
  ( set -e; "phase_$p" ); rc=$?
  set -e
  DURATION[$p]=$((SECONDS - start))
  if [[ $rc -eq 0 ]]; then
    RESULT[$p]=ok
  else
    RESULT[$p]="FAILED (exit $rc)"; FAILED=1
    if [[ "$p" == e2e || "$p" == tempest ]]; then
      echo "--- last lines of $OUT/rustack.log ---"; tail -n 10 "$OUT/rustack.log" || true
    fi
  fi
  say "phase $p: ${RESULT[$p]} in ${DURATION[$p]} s"
done
stop_cloud

echo
echo "=================== summary (logs and results in $OUT)"
total=0
for p in "${PHASES[@]}"; do
  printf '  %-9s %-28s %5d s\n' "$p" "${RESULT[$p]}" "${DURATION[$p]}"
  total=$((total + DURATION[$p]))
done
printf '  %-9s %-28s %5d s\n' total "" "$total"
for p in test postgres; do
  if [[ -n "${RESULT[$p]:-}" ]]; then cat "$OUT/cargo-test-$p.log.totals" 2>/dev/null || true; fi
done
if [[ -n "${RESULT[tempest]:-}" && -f "$OUT/tempest.out" ]]; then
  tail -n 1 "$OUT/tempest.out" | sed 's/^/tempest identity+image+network+volume: /'
fi
if [[ -n "${RESULT[tempest]:-}" && -f "$OUT/tempest-compute.out" ]]; then
  tail -n 1 "$OUT/tempest-compute.out" | sed 's/^/tempest compute: /'
fi
if [[ $FAILED -ne 0 ]]; then
  echo "scripts/test.sh: FAILED"
  exit 1
fi
echo "scripts/test.sh: all phases passed"
