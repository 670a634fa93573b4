#!/usr/bin/env bash
# The mount process is SIGKILLed after fsync'd writes: the next mount of the
# same cache resumes the unflushed state, and its unmount flushes it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=cr-$$

gen_workspace "$T/src" small 15
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
mnt=$T/mnt
export MOUNT_CACHE=$T/cache
do_mount "$WS" "$mnt"
python3 - "$mnt" <<'PY'
import os, sys
d = sys.argv[1]
fd = os.open(os.path.join(d, "crash.txt"), os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"durable bytes\n")
os.fsync(fd)
os.close(fd)
fd = os.open(os.path.join(d, "history.jsonl"), os.O_WRONLY | os.O_APPEND)
os.write(fd, b'{"display":"before the crash"}\n')
os.fsync(fd)
os.close(fd)
os.rename(os.path.join(d, "settings.json"), os.path.join(d, "settings.moved.json"))
PY
pid=$(cat "$mnt.pid")
kill -KILL "$pid"
wait_gone "$pid"
fusermount3 -u -z "$mnt" || fail "cannot detach the dead mount"

do_mount "$WS" "$mnt"
status_field "$mnt" prepared | grep -q resumed || fail "the second mount did not resume: $(status_field "$mnt" prepared)"
[[ $(cat "$mnt/crash.txt") == "durable bytes" ]] || fail "fsync'd file lost"
tail -1 "$mnt/history.jsonl" | grep -q "before the crash" || fail "fsync'd append lost"
[[ -e $mnt/settings.moved.json && ! -e $mnt/settings.json ]] || fail "rename lost"
check "umount flushes the resumed state" timeout 300 "$CCFS" umount "$mnt"
check "pull" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
[[ $(cat "$T/pulled/crash.txt") == "durable bytes" ]] || fail "crash.txt not flushed"
tail -1 "$T/pulled/history.jsonl" | grep -q "before the crash" || fail "append not flushed"
[[ -e $T/pulled/settings.moved.json && ! -e $T/pulled/settings.json ]] || fail "rename not flushed"
echo "PASS"
