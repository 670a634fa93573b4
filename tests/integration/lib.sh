# Shared helpers for the integration tests (sourced, not run).
# Every test: `source "$(dirname "$0")/lib.sh"`, then uses $CCFS, $T (a fresh
# temp dir removed on exit), s3_store, fail, check, on_exit.
set -euo pipefail

: "${CCFS:?CCFS must point at the built ccfs binary (ctest sets it)}"
: "${CCFS_SOURCE_DIR:?CCFS_SOURCE_DIR must point at the source tree (ctest sets it)}"
GEN="$CCFS_SOURCE_DIR/scripts/gen-workspace"
T=$(mktemp -d /tmp/ccfs-it.XXXXXX)
_exit_hooks=()

on_exit() { _exit_hooks+=("$1"); }
_run_exit_hooks() {
  local rc=$?
  local i
  for ((i = ${#_exit_hooks[@]} - 1; i >= 0; i--)); do eval "${_exit_hooks[$i]}" || true; done
  rm -rf "$T"
  if ((rc != 0)); then echo "FAILED: $(basename "$0") (exit $rc)" >&2; fi
  exit $rc
}
trap _run_exit_hooks EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# check DESCRIPTION CMD...: runs CMD, fails the test with DESCRIPTION if it fails.
check() {
  local what=$1
  shift
  "$@" || fail "$what"
}

# The RGW test server's env (scripts/test exports it). A missing server is a
# failure, never a skip.
require_s3() {
  [[ -n "${CCFS_TEST_S3_BUCKET:-}" && -n "${AWS_ENDPOINT_URL:-}" ]] ||
    fail "no S3 test server: run under scripts/test, or: eval \"\$(scripts/s3-server env)\""
  curl -s -o /dev/null --max-time 5 "$AWS_ENDPOINT_URL" ||
    fail "S3 test server at $AWS_ENDPOINT_URL does not answer"
}
# A store URL with a prefix unique to this test run.
s3_store() { echo "s3://$CCFS_TEST_S3_BUCKET/it-$(basename "$0" .sh)-$$-$RANDOM"; }

# gen_workspace DIR SIZE [SEED]
gen_workspace() {
  python3 "$GEN" "$1" --size "$2" --seed "${3:-1}" >/dev/null
}

# start_fault_proxy: tests/tools/fault_proxy.py between ccfs and the RGW at
# $AWS_ENDPOINT_URL, stopped on exit. Sets PROXY_URL (point AWS_ENDPOINT_URL
# at it to go through the proxy) and PROXY_CTL (its control URL).
start_fault_proxy() {
  local upstream=${AWS_ENDPOINT_URL#http://}
  upstream=${upstream%%/*}
  python3 "$CCFS_SOURCE_DIR/tests/tools/fault_proxy.py" --upstream "$upstream" \
    --port-file "$T/proxy.port" --control-port-file "$T/proxy.ctl" --parent-pid $$ \
    --max-runtime "${1:-900}" --log "$T/faults.log" &
  local pid=$!
  on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  for _ in $(seq 100); do [[ -s $T/proxy.port && -s $T/proxy.ctl ]] && break; sleep 0.1; done
  [[ -s $T/proxy.port && -s $T/proxy.ctl ]] || fail "fault proxy did not start"
  PROXY_URL="http://127.0.0.1:$(cat "$T/proxy.port")"
  PROXY_CTL="http://127.0.0.1:$(cat "$T/proxy.ctl")"
}
# proxy_config JSON: replaces the proxy's fault config (and its counters).
proxy_config() { curl -sf --max-time 5 -X POST --data "$1" "$PROXY_CTL/config" >/dev/null; }
# proxy_stat EXPR: a Python expression over the proxy's /stats JSON `s`.
proxy_stat() {
  curl -sf --max-time 5 "$PROXY_CTL/stats" |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
