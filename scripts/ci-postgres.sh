#!/usr/bin/env bash
# ci-postgres.sh - make a local PostgreSQL server ready for rustack's tests.
#
# Installs PostgreSQL from the Debian packages when it is missing, starts the
# (first) cluster, creates the login role `rustack` (password `rustack`,
# CREATEDB) and prints on stdout, as the only line, a URL the test suite can use:
#
#   RUSTACK_TEST_POSTGRES_URL=$(scripts/ci-postgres.sh) cargo test -p rustack-db
#
# The tests create throw-away databases through that URL. Idempotent: a second
# run only makes sure the cluster is up and prints the URL again.
#
# This is a test server: the cluster is set to fsync=off, synchronous_commit=off
# and full_page_writes=off (ALTER SYSTEM), which makes the tests' many CREATE and
# DROP DATABASE several times faster and loses data only on an OS crash. Do not
# point it at a cluster whose data matters (undo: ALTER SYSTEM RESET ALL).
#
#   scripts/ci-postgres.sh --drop-test-databases
# drops the databases the tests left behind (named rustack_test_*) instead.
# Needs root (or sudo) for apt-get and to act as the `postgres` OS user.
# Environment: PG_ROLE / PG_PASSWORD override the role name and password.
set -euo pipefail

DROP=0
case "${1:-}" in
  --drop-test-databases) DROP=1;;
  "") ;;
  *) echo "usage: $0 [--drop-test-databases]" >&2; exit 2;;
esac
ROLE="${PG_ROLE:-rustack}"
PASSWORD="${PG_PASSWORD:-rustack}"

log() { echo "ci-postgres: $*" >&2; }
die() { log "$*"; exit 1; }

if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  die "needs root or sudo"
fi

if ! command -v pg_lsclusters >/dev/null 2>&1 || [[ -z "$(pg_lsclusters -h 2>/dev/null)" ]]; then
  log "installing postgresql from the Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q >&2
  "${SUDO[@]}" apt-get install -y -q postgresql >&2
fi

# The first cluster: "<version> <name> <port> <status> ..."
read -r VER NAME PORT STATUS _ < <(pg_lsclusters -h | head -n 1) || true
if [[ -z "${VER:-}" ]]; then
  # The package normally creates "main"; a minimal image may have skipped that.
  VER=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" | sort -V | tail -n 1)
  log "creating cluster $VER/main"
  "${SUDO[@]}" pg_createcluster "$VER" main >&2
  read -r VER NAME PORT STATUS _ < <(pg_lsclusters -h | head -n 1)
fi
if [[ "$STATUS" != online* ]]; then
  log "starting cluster $VER/$NAME on port $PORT"
  "${SUDO[@]}" pg_ctlcluster "$VER" "$NAME" start >&2
fi

psql_admin() {
  # Run psql as the postgres superuser over the local socket.
  (cd / && "${SUDO[@]}" runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -qAt "$@")
}

ready=0
for _ in $(seq 1 60); do
  if psql_admin -c 'SELECT 1' >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
[[ $ready -eq 1 ]] || die "cluster $VER/$NAME did not accept connections (see /var/log/postgresql/)"

if [[ "$(psql_admin -c 'SHOW fsync')" != off ]]; then
  log "tuning the cluster for tests (fsync, synchronous_commit, full_page_writes off)"
  psql_admin -c "ALTER SYSTEM SET fsync = off" -c "ALTER SYSTEM SET synchronous_commit = off" \
    -c "ALTER SYSTEM SET full_page_writes = off" -c "SELECT pg_reload_conf()" >/dev/null
fi

if [[ $DROP -eq 1 ]]; then
  n=0
  while read -r db; do
    [[ "$db" =~ ^rustack_test_[a-z0-9_]+$ ]] || continue
    psql_admin -c "DROP DATABASE IF EXISTS \"$db\"" >&2
    n=$((n + 1))
  done < <(psql_admin -c "SELECT datname FROM pg_database WHERE datname LIKE 'rustack\_test\_%'")
  log "dropped $n test database(s)"
  exit 0
fi

# The password is a literal in SQL; keep it to a safe alphabet.
[[ "$ROLE" =~ ^[a-z_][a-z0-9_]*$ && "$PASSWORD" =~ ^[A-Za-z0-9_.-]+$ ]] \
  || die "PG_ROLE must be a plain identifier and PG_PASSWORD [A-Za-z0-9_.-]+"
if [[ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" == 1 ]]; then
  psql_admin -c "ALTER ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
else
  log "creating role $ROLE"
  psql_admin -c "CREATE ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
fi

URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/postgres"
# Check the URL itself works over TCP with password authentication.
PGPASSWORD="$PASSWORD" psql "postgresql://$ROLE@127.0.0.1:$PORT/postgres" -qAt -c 'SELECT 1' >/dev/null \
  || die "cannot log in as $ROLE over TCP at 127.0.0.1:$PORT"
log "ready: PostgreSQL $VER/$NAME on 127.0.0.1:$PORT, role $ROLE (CREATEDB)"
echo "$URL"
