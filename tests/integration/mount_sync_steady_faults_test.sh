#!/usr/bin/env bash
# Transcript sync through a real mount against a sync server that fails a
# steady share of its requests at random (issue 14): 15% of them get a 500, a
# 503 or a 429 with Retry-After, or have their connection cut mid-reply, half
# of them after the server applied the request. 8 writers x 2,000 lines, each
# into a session and its two subagent files; then the unmount, with the
# default 10 s drain timeout, must drain everything, and the server must hold
# exactly the files' lines (none missing, none doubled, order kept).
# SYNC_FAULT_RATE, SYNC_FAULT_SEED and SYNC_DRAIN_TIMEOUT override the
# defaults (how the drain-time table of issue 14 was measured).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
source "$(dirname "$0")/sync_lib.sh"
require_s3
STORE=$(s3_store)
WS=syncsf-$$
rate=${SYNC_FAULT_RATE:-0.15}
seed=${SYNC_FAULT_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
echo "steady faults: rate $rate, seed $seed (SYNC_FAULT_SEED=$seed replays the server's draws)"

mkdir -p "$T/src/projects"
echo '{"theme":"dark"}' >"$T/src/settings.json"
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
start_sync_server
export MOUNT_CACHE=$T/cache
mnt=$T/mnt
drain_flag=()
[[ -n ${SYNC_DRAIN_TIMEOUT:-} ]] && drain_flag=(--sync-drain-timeout "$SYNC_DRAIN_TIMEOUT")
CCFS_LOG=info sync_mount "$WS" "$mnt" "${drain_flag[@]}"
log=$MOUNT_CACHE/mount.log

# Every API call may fail (reads excepted: the check below needs them).
awk "BEGIN { exit !($rate > 0) }" && add_fault "{\"rate\": $rate, \"seed\": $seed, \"kinds\": [\"500\", \"503\", \"429\", \"drop\"],
            \"after_apply\": 0.5, \"path\": \"/api/v1/\"}"
start=$SECONDS
run_writers "$mnt" 2000 8 1 1
written=$(wait_writers 120)
((written == 16000)) || fail "writers wrote $written lines, not 16000"
echo "writers done in $((SECONDS - start)) s; pending at unmount: $(status_field "$mnt" sync.pending_lines) lines"
# The files as written (the check needs them once the mount is gone).
mkdir -p "$T/copy"
cp -r "$mnt/projects" "$T/copy/"

t0=$(date +%s.%N)
check "umount" timeout 120 "$CCFS" umount "$mnt"
t1=$(date +%s.%N)
drain=$(sed -n 's/.*transcript sync drained: .*(drain \([0-9.]*\) s).*/\1/p' "$log" | tail -1)
[[ -n $drain ]] || fail "the unmount did not drain: $(grep -E 'transcript sync|sync:' "$log" | tail -5)"
stats=$(sync_api GET /api/v1/_test/stats)
sync_api DELETE /api/v1/_test/faults >/dev/null
out=$(verify_synced "$T/copy")
read -r files lines <<<"$out"
((lines == 16000)) || fail "verified $lines lines, want 16000"
requests=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$stats")
echo "rate $rate seed $seed: drain $drain s (umount $(python3 -c "print(round($t1 - $t0, 2))") s);" \
  "server == files ($files files, $lines lines, 0 duplicates); $requests requests"
no_token_leak "$log" "$T"/sync-server.*.log
echo "PASS"
