#!/usr/bin/env bash
# identity-cli.sh - drive a running `rustack up` with the real `openstack` CLI.
#
# usage: tests/e2e/identity-cli.sh [--data-dir DIR]
#
# DIR (default $RUSTACK_DATA_DIR) is the data dir of the running cloud: the test
# authenticates with the admin-openrc.sh and clouds.yaml that `rustack up` wrote
# there. Each step prints what it runs and what it checked; a failure prints the
# CLI's --debug output (every REST request and response). A failed command stops
# the test; a wrong value in a response is reported and the test carries on. Exit
# status 1 if anything failed. Everything the test creates is deleted at the end.
#
# The CLI comes from $OPENSTACK if set, else from a venv with
# python-openstackclient==$OSC_VERSION at $RUSTACK_CI_CACHE/venv (default
# ~/.cache/rustack-ci/venv), created on first use (needs PyPI once).
set -euo pipefail

OSC_VERSION="${OSC_VERSION:-10.5.0}"
CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
DATA_DIR="${RUSTACK_DATA_DIR:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="${2:?--data-dir needs a value}"; shift 2;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "identity-cli: unknown argument: $1" >&2; exit 2;;
  esac
done
[[ -n "$DATA_DIR" ]] || { echo "identity-cli: pass --data-dir or set RUSTACK_DATA_DIR" >&2; exit 2; }
OPENRC="$DATA_DIR/admin-openrc.sh"
CLOUDS="$DATA_DIR/clouds.yaml"
[[ -f "$OPENRC" && -f "$CLOUDS" ]] || { echo "identity-cli: $DATA_DIR lacks admin-openrc.sh or clouds.yaml" >&2; exit 2; }

# ------------------------------------------------------------------ the CLI
if [[ -z "${OPENSTACK:-}" ]]; then
  VENV="$CACHE/venv"
  have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("python-openstackclient"))' 2>/dev/null || true)"
  if [[ "$have" != "$OSC_VERSION" ]]; then
    echo "identity-cli: installing python-openstackclient==$OSC_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "python-openstackclient==$OSC_VERSION"
  fi
  OPENSTACK="$VENV/bin/openstack"
fi
"$OPENSTACK" --version

WORK="$(mktemp -d "${TMPDIR:-/tmp}/identity-cli.XXXXXX")"
SUFFIX="$$-$RANDOM"
PROJECT="e2e-project-$SUFFIX"
USER_NAME="e2e-user-$SUFFIX"
USER_PASSWORD="e2e-Pw-$RANDOM$RANDOM"
APPCRED="e2e-appcred-$SUFFIX"
PROJECT_ID="" USER_ID="" APPCRED_ID="" APPCRED_SECRET=""
STEP=0

# Admin credentials from the generated openrc (it also clears any OS_* already set).
# shellcheck disable=SC1090
source "$OPENRC"
AUTH_URL="$OS_AUTH_URL"

# ---------------------------------------------------------------- helpers
step() { STEP=$((STEP + 1)); echo; echo "== step $STEP: $*"; }
ok() { echo "   ok: $*"; }

# quote: indent a log excerpt and mask the test's secrets in it.
quote() {
  local pw="$USER_PASSWORD" sec="${APPCRED_SECRET:-no-secret-yet}"
  sed -e "s/$pw/***/g" -e "s/$sec/***/g" -e 's/^/   | /'
}

# report MSG: print MSG, the last command's output and its debug log (REST calls).
report() {
  echo "   FAILED: $*" >&2
  if [[ -s "$WORK/out" ]]; then
    echo "   --- command output ---" >&2
    head -c 3000 "$WORK/out" | quote >&2
  fi
  if [[ -s "$WORK/err" ]]; then
    echo "   --- openstack --debug output (REST requests/responses) ---" >&2
    grep -E '^(REQ|RESP|Request returned|[A-Za-z.]*(Error|Exception|Failure)|.*HTTP [0-9]{3})' "$WORK/err" \
      | tail -n 40 | quote >&2 || true
    echo "   --- last lines of stderr ---" >&2
    tail -n 15 "$WORK/err" | quote >&2
  fi
}
# fail MSG: report and stop (later steps depend on this one).
fail() { report "$@"; exit 1; }
# soft_fail MSG: report, carry on with the next steps, exit 1 at the end.
SOFT_FAILURES=()
soft_fail() { report "$@"; SOFT_FAILURES+=("step $STEP: $*"); }

# os [ENV=VAL ...] -- ARGS: run `openstack --debug ARGS` with the extra environment;
# stdout goes to $WORK/out, stderr (debug log) to $WORK/err. The command is echoed
# with secrets masked.
os() {
  local envs=()
  while [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
  shift
  local shown="$*"
  [[ -n "$APPCRED_SECRET" ]] && shown="${shown//$APPCRED_SECRET/***}"
  shown="${shown//$USER_PASSWORD/***}"
  echo "   \$ openstack $shown"
  env "${envs[@]}" "$OPENSTACK" --debug "$@" > "$WORK/out" 2> "$WORK/err"
}

# json EXPR: evaluate a Python expression over the last command's JSON output (`d`).
# Never fails: a bad expression or output prints "MISSING(<error>)", which the
# expect_* checks reject with the output shown.
json() {
  python3 - "$WORK/out" "$1" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    r = eval(sys.argv[2])
    print(json.dumps(r) if isinstance(r, (dict, list)) else r)
except Exception as e:
    print("MISSING(%s: %s)" % (type(e).__name__, e))
PY
}

# expect_eq WHAT GOT WANT
# A wrong value does not stop the test (the next steps still run); see soft_fail.
expect_eq() {
  if [[ "$2" == "$3" ]]; then ok "$1 = $2"; else soft_fail "$1: got '$2', want '$3'"; fi
}
# expect_nonempty WHAT GOT
expect_nonempty() {
  [[ -n "$2" && "$2" != "None" && "$2" != MISSING* ]] || fail "$1: got '$2'"
  ok "$1 = $2"
}

# Environment for the new user (password auth, project scope), keeping the
# openrc's auth URL, region, interface and domain names.
as_user=(OS_USERNAME="$USER_NAME" OS_PASSWORD="$USER_PASSWORD" OS_PROJECT_NAME="$PROJECT"
         OS_TENANT_NAME="$PROJECT")
# Environment with no admin credentials at all (application credential auth).
no_admin=(-u OS_USERNAME -u OS_PASSWORD -u OS_PROJECT_NAME -u OS_TENANT_NAME
          -u OS_PROJECT_DOMAIN_NAME -u OS_USER_DOMAIN_NAME -u OS_AUTH_PLUGIN)

cleanup() {
  local rc=$?
  set +e
  echo
  echo "== cleanup"
  if [[ -n "$APPCRED_ID" ]]; then
    env "${as_user[@]}" "$OPENSTACK" application credential delete "$APPCRED_ID" >/dev/null 2>&1 \
      && echo "   deleted application credential $APPCRED_ID"
  fi
  [[ -n "$USER_ID" ]] && "$OPENSTACK" user delete "$USER_ID" >/dev/null 2>&1 && echo "   deleted user $USER_ID"
  [[ -n "$PROJECT_ID" ]] && "$OPENSTACK" project delete "$PROJECT_ID" >/dev/null 2>&1 && echo "   deleted project $PROJECT_ID"
  rm -rf "$WORK"
  if [[ $rc -eq 0 && ${#SOFT_FAILURES[@]} -gt 0 ]]; then
    echo "identity-cli: ${#SOFT_FAILURES[@]} check(s) failed:" >&2
    printf '  %s\n' "${SOFT_FAILURES[@]}" >&2
    rc=1
  elif [[ $rc -eq 0 ]]; then
    echo "identity-cli: all $STEP steps passed"
  else
    echo "identity-cli: FAILED at step $STEP (later steps not run)" >&2
    [[ ${#SOFT_FAILURES[@]} -gt 0 ]] && printf '  also failed: %s\n' "${SOFT_FAILURES[@]}" >&2
  fi
  exit $rc
}
trap cleanup EXIT

echo "identity-cli: cloud at $AUTH_URL (data dir $DATA_DIR)"

# ------------------------------------------------------------------ steps
step "token issue as admin (admin-openrc.sh)"
os -- token issue -f json || fail "token issue"
expect_nonempty "token id" "$(json 'd["id"]')"
expect_nonempty "expires" "$(json 'd["expires"]')"
ADMIN_PROJECT_ID="$(json 'd["project_id"]')"
expect_nonempty "project_id" "$ADMIN_PROJECT_ID"
ADMIN_USER_ID="$(json 'd["user_id"]')"
expect_nonempty "user_id" "$ADMIN_USER_ID"

step "token issue with clouds.yaml (OS_CLOUD=rustack-admin)"
os -u OS_USERNAME -u OS_PASSWORD -u OS_PROJECT_NAME -u OS_TENANT_NAME -u OS_AUTH_URL \
   -u OS_PROJECT_DOMAIN_NAME -u OS_USER_DOMAIN_NAME -u OS_AUTH_PLUGIN \
   OS_CLIENT_CONFIG_FILE="$CLOUDS" OS_CLOUD=rustack-admin -- token issue -f json \
  || fail "token issue with OS_CLOUD=rustack-admin"
expect_eq "project_id" "$(json 'd["project_id"]')" "$ADMIN_PROJECT_ID"
expect_eq "user_id" "$(json 'd["user_id"]')" "$ADMIN_USER_ID"

step "token issue system-scoped with clouds.yaml (OS_CLOUD=rustack-admin-system)"
os -u OS_USERNAME -u OS_PASSWORD -u OS_PROJECT_NAME -u OS_TENANT_NAME -u OS_AUTH_URL \
   -u OS_PROJECT_DOMAIN_NAME -u OS_USER_DOMAIN_NAME -u OS_AUTH_PLUGIN \
   OS_CLIENT_CONFIG_FILE="$CLOUDS" OS_CLOUD=rustack-admin-system -- token issue -f json \
  || fail "token issue with OS_CLOUD=rustack-admin-system"
expect_nonempty "token id" "$(json 'd["id"]')"
expect_eq "user_id" "$(json 'd["user_id"]')" "$ADMIN_USER_ID"
expect_eq "no project in a system token" "$(json 'd.get("project_id")')" "None"

step "project create"
os -- project create --domain Default --description "rustack e2e test" -f json "$PROJECT" \
  || fail "project create"
PROJECT_ID="$(json 'd["id"]')"
expect_nonempty "project id" "$PROJECT_ID"
expect_eq "name" "$(json 'd["name"]')" "$PROJECT"
expect_eq "enabled" "$(json 'd["enabled"]')" "True"

step "project show"
os -- project show -f json "$PROJECT_ID" || fail "project show"
expect_eq "description" "$(json 'd["description"]')" "rustack e2e test"

step "user create --password"
os -- user create --domain Default --project "$PROJECT_ID" --password "$USER_PASSWORD" \
  --email "$USER_NAME@example.org" -f json "$USER_NAME" || fail "user create"
USER_ID="$(json 'd["id"]')"
expect_nonempty "user id" "$USER_ID"
expect_eq "name" "$(json 'd["name"]')" "$USER_NAME"
expect_eq "default_project_id" "$(json 'd.get("default_project_id")')" "$PROJECT_ID"

step "role add --project --user member"
os -- role add --project "$PROJECT_ID" --user "$USER_ID" member || fail "role add"
ok "role added"

step "token issue as the new user (OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME)"
os "${as_user[@]}" -- token issue -f json || fail "token issue as $USER_NAME"
expect_eq "project_id" "$(json 'd["project_id"]')" "$PROJECT_ID"
expect_eq "user_id" "$(json 'd["user_id"]')" "$USER_ID"

step "token issue with a wrong password is refused"
if os OS_USERNAME="$USER_NAME" OS_PASSWORD="not-$USER_PASSWORD" OS_PROJECT_NAME="$PROJECT" -- token issue -f json; then
  soft_fail "a wrong password was accepted"
elif grep -q '(HTTP 401)' "$WORK/err"; then
  ok "refused with HTTP 401"
else
  soft_fail "wrong password: expected a 401 response"
fi

step "catalog list"
os -- catalog list -f json || fail "catalog list"
expect_eq "identity service in the catalog" "$(json '[s["Type"] for s in d].count("identity")')" "1"
expect_nonempty "identity endpoints" "$(json '[s["Endpoints"] for s in d if s["Type"]=="identity"][0]')"

step "endpoint list"
os -- endpoint list -f json || fail "endpoint list"
IFACES="$(json 'sorted(e["Interface"] for e in d if e["Service Type"]=="identity")')"
expect_eq "identity endpoint interfaces" "$IFACES" '["admin", "internal", "public"]'
expect_eq "identity endpoints enabled" "$(json 'all(e["Enabled"] for e in d if e["Service Type"]=="identity")')" "True"

step "role assignment list --names"
os -- role assignment list --names --project "$PROJECT_ID" -f json || fail "role assignment list"
expect_eq "assignments in $PROJECT" "$(json '[(a["Role"], a["User"], a["Project"]) for a in d]')" \
  "[[\"member\", \"$USER_NAME@Default\", \"$PROJECT@Default\"]]"

step "application credential create (as the new user)"
os "${as_user[@]}" -- application credential create --description "rustack e2e" -f json "$APPCRED" \
  || fail "application credential create"
APPCRED_ID="$(json 'd["ID"]')"
expect_nonempty "application credential id" "$APPCRED_ID"
APPCRED_SECRET="$(json 'd["Secret"]')"
[[ -n "$APPCRED_SECRET" && "$APPCRED_SECRET" != "None" && "$APPCRED_SECRET" != MISSING* ]] \
  || fail "no secret returned: '$APPCRED_SECRET'"
ok "secret returned"
expect_eq "project id" "$(json 'd["Project ID"]')" "$PROJECT_ID"
# Keystone gives an application credential created without roles (the CLI sends
# "roles": []) the roles of the creating token, which include the implied ones
# (member implies reader).
expect_eq "roles (the token's roles when none are given)" "$(json 'sorted(r["name"] for r in d["Roles"])')" '["member", "reader"]'

step "application credential list (as the new user)"
os "${as_user[@]}" -- application credential list -f json || fail "application credential list"
expect_eq "listed" "$(json '[a["ID"] for a in d]')" "[\"$APPCRED_ID\"]"

step "token issue with the application credential"
# `=`: a generated secret is URL-safe base64 and may start with "-".
os "${no_admin[@]}" -- token issue -f json --os-auth-type v3applicationcredential \
  --os-application-credential-id "$APPCRED_ID" \
  --os-application-credential-secret="$APPCRED_SECRET" || fail "token issue with application credential"
expect_eq "project_id" "$(json 'd["project_id"]')" "$PROJECT_ID"
expect_eq "user_id" "$(json 'd["user_id"]')" "$USER_ID"

step "application credential delete (as the new user)"
os "${as_user[@]}" -- application credential delete "$APPCRED_ID" || fail "application credential delete"
DELETED_APPCRED="$APPCRED_ID"; APPCRED_ID=""
ok "deleted"
if os "${no_admin[@]}" -- token issue -f json --os-auth-type v3applicationcredential \
    --os-application-credential-id "$DELETED_APPCRED" \
    --os-application-credential-secret="$APPCRED_SECRET"; then
  soft_fail "a deleted application credential still authenticates"
elif grep -q '(HTTP 401)' "$WORK/err"; then
  ok "the deleted application credential is refused with HTTP 401"
else
  soft_fail "deleted application credential: expected a 401 response"
fi

step "user delete and project delete"
os -- user delete "$USER_ID" || fail "user delete"
USER_ID=""
os -- project delete "$PROJECT_ID" || fail "project delete"
DELETED_PROJECT="$PROJECT_ID"; PROJECT_ID=""
ok "user and project deleted"
if os -- project show "$DELETED_PROJECT"; then
  soft_fail "the deleted project is still shown"
elif grep -q '^RESP: \[404\]' "$WORK/err"; then
  ok "project show answers 404"
else
  soft_fail "project show after delete: expected a 404 response"
fi
