# shellcheck shell=bash
# scripts/lib.sh - helpers shared by rustack's scripts (sourced, not run).
# Installs only what is missing; apt-get needs root or password-less sudo.

export RUSTACK_ROOT
RUSTACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Caches (Python venvs) kept between runs so a re-run is fast.
RUSTACK_CI_CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
export RUSTACK_CI_CACHE

say() { echo "[$(date +%H:%M:%S)] $*"; }
die() { echo "error: $*" >&2; exit 1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "'$*' needs root (or sudo)"; fi
}

APT_UPDATED=0
# apt_install PKG...: installs the Debian packages that are not installed yet.
apt_install() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get"
  say "installing Debian packages: ${missing[*]}"
  if [[ $APT_UPDATED -eq 0 ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ensure_rust: cargo (via rustup when it is missing) plus rustfmt and clippy.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    # Debian 12's own rustc (1.63) is older than rust-version in Cargo.toml.
    apt_install curl ca-certificates gcc libc6-dev
    say "installing the Rust toolchain with rustup (https://rustup.rs)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
      | sh -s -- -y --profile minimal -c rustfmt -c clippy \
      || die "could not install Rust; install it from https://rustup.rs and re-run"
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev
  if command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  fi
}

# ensure_python_venv: python3 with a working `-m venv` (Debian splits it out).
ensure_python_venv() {
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
}

# free_ports [N]: prints N distinct TCP ports nobody listens on right now (one a line).
free_ports() {
  python3 - "${1:-1}" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# wait_http URL SECONDS PID: polls URL until it answers 2xx/3xx; fails early when PID dies.
wait_http() {
  local url="$1" deadline=$((SECONDS + $2)) pid="${3:-}"
  while (( SECONDS < deadline )); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.2
  done
  return 1
}
