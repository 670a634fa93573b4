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
