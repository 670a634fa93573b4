#!/usr/bin/env bash
# Wrong credentials and a dead endpoint give a clear, bounded, secret-free error.
source "$(dirname "$0")/lib.sh"
require_s3
store=$(s3_store)
mkdir -p "$T/src" && echo '{}' >"$T/src/settings.json"

# Wrong secret: non-zero exit; message names the endpoint and the HTTP status; no secret.
bad_secret="WRONG-secret-$RANDOM$RANDOM"
set +e
AWS_SECRET_ACCESS_KEY=$bad_secret timeout 60 "$CCFS" push "$T/src" ws1 --store "$store" 2>"$T/err" >"$T/out"
rc=$?
set -e
cat "$T/err"
((rc != 0 && rc != 124)) || fail "push with a wrong secret: exit $rc"
grep -q "$AWS_ENDPOINT_URL" "$T/err" || fail "error does not name the endpoint"
grep -q "403" "$T/err" || fail "error does not give the HTTP status"
if grep -q -- "$bad_secret" "$T/err" "$T/out"; then fail "the secret was printed"; fi
if grep -q -- "$AWS_SECRET_ACCESS_KEY" "$T/err" "$T/out"; then fail "the real secret was printed"; fi

# Wrong access key: same.
set +e
AWS_ACCESS_KEY_ID=NOSUCHKEY timeout 60 "$CCFS" ls --store "$store" 2>"$T/err"
rc=$?
set -e
cat "$T/err"
((rc != 0 && rc != 124)) || fail "ls with an unknown key: exit $rc"
grep -q "403" "$T/err" || fail "unknown key: no HTTP status in the error"

# Dead endpoint: a closed port on loopback. Clear error after bounded retries.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s)
set +e
timeout 120 "$CCFS" ls --store "$store" --endpoint "http://127.0.0.1:$port" 2>"$T/err"
rc=$?
set -e
elapsed=$(($(date +%s) - start))
cat "$T/err"
((rc != 0 && rc != 124)) || fail "dead endpoint: exit $rc (124 = hung)"
grep -q "127.0.0.1:$port" "$T/err" || fail "dead endpoint: error does not name it"
echo "dead endpoint reported after ${elapsed}s"
echo "PASS s3_errors"
