#!/usr/bin/env bash
# Secrets never leak into output: push, pull, ls and cat (successes, refusals
# and failures) with CCFS_LOG=debug, plus the sync server with a bearer token,
# must not print the AWS secret key, the session token or the sync token.
# RGW accepts (ignores) an AWS_SESSION_TOKEN it did not issue, so a marker
# token rides along on every request; a wrong secret key (a second marker)
# is used where its failure is the point (SignatureDoesNotMatch).
source "$(dirname "$0")/lib.sh"
require_s3

export CCFS_LOG=debug
AWS_SESSION_TOKEN="ccfs-session-marker-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
export AWS_SESSION_TOKEN
secret=$AWS_SECRET_ACCESS_KEY
wrong_secret="ccfs-wrong-secret-marker-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
sync_token="ccfs-sync-marker-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
wrong_token="ccfs-wrong-sync-marker-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
[[ ${#secret} -ge 8 ]] || fail "the test server's secret key is too short to grep for"
mkdir "$T/logs"

# run NAME EXPECT CMD...: runs CMD with stdout+stderr to logs/NAME.log; EXPECT
# is "ok", "fail" or a specific exit code.
run() {
  local name=$1 expect=$2 rc=0
  shift 2
  "$@" >"$T/logs/$name.log" 2>&1 || rc=$?
  case $expect in
    ok) ((rc == 0)) || fail "$name: exit $rc: $(cat "$T/logs/$name.log")" ;;
    fail) ((rc != 0)) || fail "$name: succeeded but should have failed" ;;
    *) ((rc == expect)) || fail "$name: exit $rc, want $expect: $(cat "$T/logs/$name.log")" ;;
  esac
}

store=$(s3_store)
gen_workspace "$T/src" small 3
run push-new ok "$CCFS" push "$T/src" ws --store "$store"
run push-exists 3 "$CCFS" push "$T/src" ws --store "$store"
run push-stale 3 "$CCFS" push "$T/src" ws --store "$store" --if-match 0123456789abcdef
run pull ok "$CCFS" pull ws "$T/out" --store "$store"
check "pulled tree equals the source" diff -r "$T/src" "$T/out"
run pull-missing fail "$CCFS" pull nosuchws "$T/out2" --store "$store"
run ls ok "$CCFS" ls --store "$store"
run ls-json ok "$CCFS" ls --store "$store" --json
run cat ok "$CCFS" cat ws settings.json --store "$store" --stats
run cat-missing fail "$CCFS" cat ws no/such/file --store "$store"
tr=$(cd "$T/src" && find projects -name '*.jsonl' -print -quit)
run cat-transcript ok "$CCFS" cat ws "$tr" --store "$store"
# Failures whose messages come from the server or the transport.
run wrong-secret-ls fail env AWS_SECRET_ACCESS_KEY="$wrong_secret" "$CCFS" ls --store "$store"
grep -q "403" "$T/logs/wrong-secret-ls.log" || fail "wrong secret: no 403 reported"
run wrong-secret-push fail env AWS_SECRET_ACCESS_KEY="$wrong_secret" \
  "$CCFS" push "$T/src" ws2 --store "$store"
run wrong-secret-cat fail env AWS_SECRET_ACCESS_KEY="$wrong_secret" \
  "$CCFS" cat ws settings.json --store "$store"
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run dead-endpoint fail env AWS_ENDPOINT_URL="http://127.0.0.1:$dead_port" \
  "$CCFS" ls --store "$store" --endpoint "http://127.0.0.1:$dead_port"

# The sync server: right and wrong tokens, at debug level.
printf '%s\n' "$sync_token" >"$T/token"
"$CCFS" sync-server --listen 127.0.0.1:0 --db "$T/sync.db" --token-file "$T/token" \
  >"$T/logs/sync-server.log" 2>&1 &
sync_pid=$!
on_exit "kill $sync_pid 2>/dev/null; wait $sync_pid 2>/dev/null"
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$T/logs/sync-server.log")
  [[ -n $url ]] && break
  sleep 0.1
done
[[ -n $url ]] || fail "sync server did not start: $(cat "$T/logs/sync-server.log")"
api() { # TOKEN METHOD PATH [BODY] -> HTTP status
  curl -s --max-time 10 -o "$T/api.out" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' ${4:+--data "$4"} "$url$3"
}
sid=11111111-2222-4333-8444-555555555555
[[ $(api "$sync_token" POST /api/v1/sync/init \
  "{\"external_id\":\"$sid\",\"transcript_path\":\"projects/-x/$sid.jsonl\",\"metadata\":{}}") == 200 ]] ||
  fail "sync init refused: $(cat "$T/api.out")"
session=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$T/api.out")
[[ $(api "$sync_token" POST /api/v1/sync/chunk \
  "{\"session_id\":\"$session\",\"file_name\":\"$sid.jsonl\",\"file_type\":\"transcript\",\"first_line\":1,\"lines\":[\"{}\"]}") == 200 ]] ||
  fail "sync chunk refused: $(cat "$T/api.out")"
[[ $(api "$wrong_token" GET /api/v1/sessions) == 401 ]] || fail "wrong sync token not refused"
[[ $(api "" GET /api/v1/sessions) == 401 ]] || fail "missing sync token not refused"
[[ $(api "$sync_token" GET /api/v1/sessions) == 200 ]] || fail "sessions list refused"
kill "$sync_pid"
wait "$sync_pid" 2>/dev/null || true

# Nothing printed anywhere holds a secret (whole, or its first 12 characters).
n_logs=$(find "$T/logs" -name '*.log' | wc -l)
# For the markers, "first 12 characters" means of their random part.
needles=("$secret" "${secret:0:12}")
for s in "$AWS_SESSION_TOKEN" "$wrong_secret" "$sync_token" "$wrong_token"; do
  random_part=${s##*-}
  needles+=("$s" "${random_part:0:12}")
done
for needle in "${needles[@]}"; do
  if grep -rlF -- "$needle" "$T/logs"; then
    fail "a secret (${#needle} chars) appears in the output files listed above"
  fi
done
# The logs are not empty (an empty log would pass the grep vacuously).
[[ -s $T/logs/wrong-secret-ls.log && -s $T/logs/push-new.log && -s $T/logs/sync-server.log ]] ||
  fail "expected output missing"
echo "PASS secrets ($n_logs outputs checked)"
