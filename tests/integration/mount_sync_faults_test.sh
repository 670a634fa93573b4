#!/usr/bin/env bash
# Transcript sync through a real mount when the sync server misbehaves: it is
# stopped for 30 s mid-stream and restarted on the same port and database;
# then it answers 409 (reporting fewer lines than it holds), 413, 429 with
# Retry-After and 500 (each provoked through its --test-endpoints). Every
# time the server must end up holding exactly the files' lines.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
source "$(dirname "$0")/sync_lib.sh"
require_s3
STORE=$(s3_store)
WS=syncf-$$

mkdir -p "$T/src/projects"
echo '{"theme":"dark"}' >"$T/src/settings.json"
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
start_sync_server
export MOUNT_CACHE=$T/cache
mnt=$T/mnt
CCFS_LOG=info sync_mount "$WS" "$mnt" --sync-drain-timeout 60
log=$MOUNT_CACHE/mount.log

# sync_state MP: the sidecar's state from `ccfs status --json`.
sync_state() { status_field "$1" sync.state; }

# (b) The server goes away for 30 s while the writers run, and comes back.
run_writers "$mnt" 6000 3 4 1
sleep 2
stop_sync_server
down_at=$SECONDS
written=$(wait_writers 120)
((written == 18000)) || fail "writers wrote $written lines"
# The mount keeps working and says it is backing off.
for _ in $(seq 100); do
  [[ $(sync_state "$mnt") == "backing off" ]] && break
  sleep 0.2
done
[[ $(sync_state "$mnt") == "backing off" ]] || fail "status while the server is down: $(sync_state "$mnt")"
"$CCFS" status "$mnt" >"$T/down.txt"
grep -q "last error: POST /api/v1/sync/" "$T/down.txt" || fail "status shows no error while the server is down: $(head -8 "$T/down.txt")"
sleep $((30 - (SECONDS - down_at) > 0 ? 30 - (SECONDS - down_at) : 0))
start_sync_server # same port (SYNC_PORT), same database
wait_synced "$mnt" 120
out=$(verify_synced "$mnt")
read -r files lines <<<"$out"
((lines == 18000)) || fail "verified $lines lines, want 18000"
echo "server down 30 s: caught up $((SECONDS - down_at - 30)) s after it came back; server == files ($files files, $lines lines)"

# (c) Faults, one kind at a time, each while writers append.
total=$lines
# fault NAME JSON LOG_PATTERN: queues the fault, appends lines, waits until
# the fault was met (more chunk requests than it fails) and every line synced.
fault() {
  local name=$1 spec=$2 pattern=$3 before after
  before=$(chunk_requests)
  add_fault "$spec"
  run_writers "$mnt" 800 3 4 "$4"
  written=$(wait_writers 120)
  ((written == 2400)) || fail "$name: writers wrote $written lines"
  total=$((total + written))
  wait_synced "$mnt" 120
  after=$(chunk_requests)
  local count
  count=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("count", 1))' "$spec")
  ((after > before + count)) || fail "$name: only $((after - before)) chunk requests: the fault was not met"
  grep -qE "$pattern" "$log" || fail "$name: the mount log does not show it: $(grep sync "$log" | tail -5)"
  out=$(verify_synced "$mnt")
  read -r files lines <<<"$out"
  ((lines == total)) || fail "$name: verified $lines lines, want $total"
  echo "$name: met and recovered; server == files ($lines lines)"
}
fault "409" '{"status": 409, "count": 2, "rewind": 7, "path": "/api/v1/sync/chunk"}' \
  "server holds [0-9]+ lines, we had [0-9]+ acknowledged; resuming there" 2
fault "413" '{"status": 413, "count": 1, "path": "/api/v1/sync/chunk"}' \
  "server refused a [0-9]+-byte chunk \(413\)|HTTP 413" 3
fault "429" '{"status": 429, "count": 2, "retry_after": 1, "path": "/api/v1/sync/chunk"}' \
  "HTTP 429.*retrying" 4
fault "500" '{"status": 500, "count": 3, "path": "/api/v1/sync/chunk"}' \
  "HTTP 500.*retrying" 5

check "umount" timeout 300 "$CCFS" umount "$mnt"
grep -q "transcript sync drained" "$log" || fail "the unmount did not drain"
no_token_leak "$log" "$T"/sync-server.*.log
echo "PASS"
