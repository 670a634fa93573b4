#!/usr/bin/env bash
# `ccfs status` answers from memory whatever the store does. The store is
# frozen (tests/tools/fault_proxy.py holds every request) while a flush and
# the lease's renewals wait on it; before the fix every `ccfs status` call
# timed out (8 s) for as long as the store did not answer, because it waited
# behind the lease renewal's lock. Each call must now answer within 3 s,
# with the mount still listing its files; once the store answers again the
# flush completes and the change is in the store.
#   STATUS_ANSWER_TIMEOUT  seconds a status call may take (default 3; the
#                          sanitizer build's scripts/test run sets 6)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=frz-$$
gen_workspace "$T/src" small 21
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
start_fault_proxy 600
mnt=$T/mnt
AWS_ENDPOINT_URL=$PROXY_URL do_mount "$WS" "$mnt" --hydrate lazy --lease-ttl 6
echo "written while the store froze" >"$mnt/frozen.txt"

proxy_config '{"hold_match": ".", "hold_max": 100000, "hold_timeout_s": 120}'
"$CCFS" flush "$mnt" >"$T/flush.out" 2>&1 &
flush_pid=$!
on_exit "kill $flush_pid 2>/dev/null"
sleep 3 # the flush and a renewal are now waiting on the store
(($(proxy_stat 's["holding"]') > 0)) || fail "nothing waits on the frozen store"
limit=${STATUS_ANSWER_TIMEOUT:-3}
for i in 1 2 3 4 5; do
  start=$(date +%s%N)
  timeout "$limit" "$CCFS" status "$mnt" --json >"$T/status.json" ||
    fail "ccfs status call $i did not answer within $limit s while the store was frozen"

  ms=$((($(date +%s%N) - start) / 1000000))
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))["pid"]' "$T/status.json" ||
    fail "status call $i gave no status"
  echo "mount_status_frozen_store: status call $i answered in $ms ms"
  ls "$mnt" >/dev/null || fail "ls on the mount failed while the store was frozen"
  sleep 1
done
proxy_config '{}'
curl -sf --max-time 5 -X POST "$PROXY_CTL/release" >/dev/null || fail "release"
timeout 300 tail --pid="$flush_pid" -f /dev/null || fail "the flush did not finish"
wait "$flush_pid" || fail "the flush failed after the store came back: $(cat "$T/flush.out")"
check "umount" "$CCFS" umount "$mnt"
[[ $("$CCFS" cat "$WS" frozen.txt --store "$STORE") == "written while the store froze" ]] ||
  fail "the change did not reach the store"
