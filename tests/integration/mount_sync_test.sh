#!/usr/bin/env bash
# Transcript sync through a real mount (RGW store, real `ccfs sync-server` on
# loopback with a token file): parallel writers append 100k realistic JSONL
# lines across 20 sessions and their subagents with O_APPEND; the server must
# then hold exactly the files' lines (none missing, none doubled, order kept).
# Then the same after the mount process is SIGKILLed mid-stream and mounted
# again (the progress DB in the cache resumes it). `ccfs status` shows the
# sync, and the token appears in no log, status or process list.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
source "$(dirname "$0")/sync_lib.sh"
require_s3
STORE=$(s3_store)
WS=sync-$$

mkdir -p "$T/src/projects"
echo '{"theme":"dark"}' >"$T/src/settings.json"
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
start_sync_server
export MOUNT_CACHE=$T/cache
mnt=$T/mnt

# 1. 100k lines, 4 writers x 5 sessions (x 3 files each), full speed.
CCFS_LOG=info sync_mount "$WS" "$mnt" --sync-drain-timeout 120
# shellcheck disable=SC2009  # every process's arguments, not a process by name
ps -eo args | grep -F -- "$SYNC_TOKEN" | grep -v grep && fail "the sync token is on a command line"
start=$SECONDS
run_writers "$mnt" 25000 4 5 1
written=$(wait_writers 240)
((written == 100000)) || fail "writers wrote $written lines, not 100000"
wrote_s=$((SECONDS - start))
wait_synced "$mnt" 180
synced_s=$((SECONDS - start))
"$CCFS" status "$mnt" >"$T/status.txt"
"$CCFS" status "$mnt" --json >"$T/status.json"
grep -q "transcript sync to $SYNC_URL: ok (60 files, 0 lines pending)" "$T/status.txt" ||
  fail "status does not show the sync: $(cat "$T/status.txt")"
grep -qE "agent-[0-9a-f]+\.jsonl  ([0-9]+)/\1 lines synced" "$T/status.txt" ||
  fail "status does not list the files: $(head -20 "$T/status.txt")"
out=$(verify_synced "$mnt")
read -r files lines <<<"$out"
((files == 60 && lines == 100000)) || fail "verified $files files / $lines lines, want 60 / 100000"
echo "100k lines: written in ${wrote_s}s, all acked after ${synced_s}s; server == files ($files files)"

# 2. SIGKILL mid-stream, mount again: what was written before the kill and
# after the remount all reaches the server exactly once.
run_writers "$mnt" 4000 4 5 2
sleep 3
pid=$(cat "$mnt.pid")
kill -KILL "$pid"
wait_gone "$pid"
before_kill=$(wait_writers 60)
fusermount3 -u -z "$mnt" 2>/dev/null || true
CCFS_LOG=info sync_mount "$WS" "$mnt" --sync-drain-timeout 120
grep -q resumed <<<"$(status_field "$mnt" prepared)" || fail "the remount did not resume the cache"
run_writers "$mnt" 1000 4 5 3
after=$(wait_writers 120)
((after == 4000)) || fail "writers after the remount wrote $after lines"
wait_synced "$mnt" 180
out=$(verify_synced "$mnt")
read -r files lines <<<"$out"
((lines >= 100000 + after)) || fail "only $lines lines verified"
echo "SIGKILL: $before_kill lines written before the kill, $after after the remount;" \
  "server == files ($lines lines)"

# 3. Lines written just before the unmount go out in its drain.
run_writers "$mnt" 500 4 5 4
((($(wait_writers 60)) == 2000)) || fail "last writers"
cp -r "$mnt/projects" "$T/final-projects"
"$CCFS" status "$mnt" >>"$T/status.txt"
check "umount" timeout 300 "$CCFS" umount "$mnt"
grep -q "transcript sync drained" "$MOUNT_CACHE/mount.log" ||
  fail "the unmount did not drain: $(grep sync "$MOUNT_CACHE/mount.log" | tail -5)"
mkdir -p "$T/final" && mv "$T/final-projects" "$T/final/projects"
out=$(verify_synced "$T/final")
read -r files lines <<<"$out"
echo "drain at unmount: server == files ($lines lines)"

no_token_leak "$MOUNT_CACHE/mount.log" "$T/status.txt" "$T/status.json" "$T"/sync-server.*.log
echo "PASS"
