#!/usr/bin/env bash
# The mount process is SIGKILLed after fsync'd writes: the next mount of the
# same cache cleans up the stale mountpoint, resumes the unflushed state and
# flushes it at once in the background (recovery). Then N crash trials
# (CCFS_CRASH_TRIALS, default 10): a writer creates files and appends to
# transcripts, fsyncing each and recording it only after fsync returned,
# sometimes with a `ccfs flush` running; the daemon is SIGKILLed at a random
# point; the remount recovers and flushes; a pull from the store must hold
# every fsync'd byte. `ccfs flush --recover` flushes a crashed mount's cache
# without mounting.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=cr-$$

gen_workspace "$T/src" small 15
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
mnt=$T/mnt
export MOUNT_CACHE=$T/cache
# A mount left stale by a failure mid-test is not a `mountpoint` any more.
on_exit "fusermount3 -u -z '$mnt' 2>/dev/null"
# remount WS MP: `ccfs mount` over the dead mount a SIGKILL left (do_mount's
# mkdir -p would trip over it); its stderr in $T/remount.err.
remount() {
  timeout 120 "$CCFS" mount "$1" "$2" --store "$STORE" --cache "$MOUNT_CACHE" 2>"$T/remount.err" ||
    fail "remount of $2 failed: $(cat "$T/remount.err")"
  mountpoint -q "$2" || fail "$2 is not a mountpoint after ccfs mount returned"
  mount_pid "$2" >"$2.pid"
}
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

remount "$WS" "$mnt"
grep -q "cleaned up a stale ccfs mount at $mnt left by a crashed process" "$T/remount.err" ||
  fail "the stale mountpoint was not reported as cleaned: $(cat "$T/remount.err")"
grep -q resumed <<<"$(status_field "$mnt" prepared)" || fail "the second mount did not resume: $(status_field "$mnt" prepared)"
[[ $(cat "$mnt/crash.txt") == "durable bytes" ]] || fail "fsync'd file lost"
grep -q "before the crash" <<<"$(tail -1 "$mnt/history.jsonl")" || fail "fsync'd append lost"
[[ -e $mnt/settings.moved.json && ! -e $mnt/settings.json ]] || fail "rename lost"
check "umount flushes the resumed state" timeout 300 "$CCFS" umount "$mnt"
check "pull" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
[[ $(cat "$T/pulled/crash.txt") == "durable bytes" ]] || fail "crash.txt not flushed"
grep -q "before the crash" <<<"$(tail -1 "$T/pulled/history.jsonl")" || fail "append not flushed"
[[ -e $T/pulled/settings.moved.json && ! -e $T/pulled/settings.json ]] || fail "rename not flushed"

# recovery_state MP: the background recovery flush's state ("none" if none).
recovery_state() {
  "$CCFS" status "$1" --json | python3 -c '
import json, sys
print(json.load(sys.stdin).get("recovery", {}).get("state", "none"))'
}
# wait_recovered MP: waits (bounded) for the recovery flush; it must succeed.
wait_recovered() {
  local state
  for _ in $(seq 600); do
    state=$(recovery_state "$1")
    [[ $state != flushing ]] && break
    sleep 0.2
  done
  [[ $state == flushed || $state == none ]] ||
    fail "recovery flush of $1: $state: $("$CCFS" status "$1" --json)"
  echo "$state"
}

# `ccfs flush --recover`: a crashed mount's changes flushed without mounting.
do_mount "$WS" "$mnt"
echo "recovered without a mount" >"$mnt/recover.txt"
python3 -c 'import os, sys; os.fsync(os.open(sys.argv[1], os.O_RDONLY))' "$mnt/recover.txt"
pid=$(cat "$mnt.pid")
kill -KILL "$pid"
wait_gone "$pid"
fusermount3 -u -z "$mnt"
"$CCFS" flush --recover "$WS" --store "$STORE" --cache "$MOUNT_CACHE" 2>"$T/recover.err" ||
  fail "flush --recover: $(cat "$T/recover.err")"
grep -q "resumed" "$T/recover.err" || fail "flush --recover does not say what it found"
check "pull" "$CCFS" pull "$WS" "$T/pulled-r" --store "$STORE" >/dev/null
[[ $(cat "$T/pulled-r/recover.txt") == "recovered without a mount" ]] || fail "flush --recover lost data"
"$CCFS" flush --recover "$WS" --store "$STORE" --cache "$T/no-such-cache" 2>/dev/null &&
  fail "flush --recover of a missing cache succeeded"

# Crash trials.
trials=${CCFS_CRASH_TRIALS:-10}
manifest=$T/manifest
: >"$manifest"
cat >"$T/writer.py" <<'PY'
# writer.py MOUNT TRIAL MANIFEST: new files and transcript appends, each
# fsync'd and only then recorded as "path length sha256-of-the-first-length-bytes".
import hashlib, os, random, sys
mnt, trial, manifest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(trial)
out = open(manifest, "a", buffering=1)
os.makedirs(os.path.join(mnt, "crash", "t%d" % trial), exist_ok=True)
logs = ["projects/crash/s%d.jsonl" % k for k in range(3)]
os.makedirs(os.path.join(mnt, "projects/crash"), exist_ok=True)
for i in range(400):
    if rng.random() < 0.5:
        rel = "crash/t%d/f%03d.bin" % (trial, i)
        data = rng.randbytes(rng.randint(1, 64 * 1024))
        fd = os.open(os.path.join(mnt, rel), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    else:
        rel = rng.choice(logs)
        data = (('{"trial":%d,"i":%d,"pad":"%s"}\n' % (trial, i, "x" * rng.randint(0, 4000)))
                .encode())
        fd = os.open(os.path.join(mnt, rel), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    with open(os.path.join(mnt, rel), "rb") as f:
        content = f.read()
    out.write("%s %d %s\n" % (rel, len(content), hashlib.sha256(content).hexdigest()))
PY
cat >"$T/verify.py" <<'PY'
# verify.py DIR MANIFEST: every recorded (fsync'd) prefix is in DIR; prints
# "<fsync'd bytes> <lost bytes>" and the first problems on stderr.
import hashlib, os, sys
root, manifest = sys.argv[1], sys.argv[2]
latest = {}
for line in open(manifest):
    parts = line.split()
    if len(parts) != 3:
        continue  # a line cut by the kill: its fsync had returned, its record had not
    rel, n, sha = parts[0], int(parts[1]), parts[2]
    if n >= latest.get(rel, (0, ""))[0]:
        latest[rel] = (n, sha)
total = lost = 0
for rel, (n, sha) in sorted(latest.items()):
    total += n
    try:
        with open(os.path.join(root, rel), "rb") as f:
            head = f.read(n)
    except OSError as e:
        print("missing %s: %s" % (rel, e), file=sys.stderr)
        lost += n
        continue
    if len(head) < n or hashlib.sha256(head).hexdigest() != sha:
        print("%s: fsync'd prefix of %d bytes differs (have %d)" % (rel, n, len(head)),
              file=sys.stderr)
        lost += n
print(total, lost)
PY
for ((i = 1; i <= trials; i++)); do
  do_mount "$WS" "$mnt"
  wait_recovered "$mnt" >/dev/null
  pid=$(cat "$mnt.pid")
  before=$(wc -l <"$manifest")
  python3 "$T/writer.py" "$mnt" "$i" "$manifest" 2>/dev/null &
  writer=$!
  # Kill at a random point after the first fsync'd write of this trial.
  for _ in $(seq 300); do (($(wc -l <"$manifest") > before)) && break; sleep 0.1; done
  (($(wc -l <"$manifest") > before)) || fail "trial $i: the writer made no progress"
  flusher=""
  during=no
  if ((RANDOM % 2)); then
    during=yes
    (sleep "0.$((RANDOM % 10))"; "$CCFS" flush "$mnt" >/dev/null 2>&1) &
    flusher=$!
  fi
  sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  kill -KILL "$pid"
  written=$(($(wc -l <"$manifest") - before))
  wait_gone "$pid"
  wait "$writer" 2>/dev/null || true
  [[ -n $flusher ]] && { wait "$flusher" 2>/dev/null || true; }
  remount "$WS" "$mnt"
  grep -q "cleaned up a stale ccfs mount" "$T/remount.err" ||
    fail "trial $i: stale mount not cleaned: $(cat "$T/remount.err")"
  state=$(wait_recovered "$mnt")
  check "trial $i: umount" timeout 300 "$CCFS" umount "$mnt"
  rm -rf "$T/pulled-t"
  check "trial $i: pull" "$CCFS" pull "$WS" "$T/pulled-t" --store "$STORE" >/dev/null
  read -r total lost < <(python3 "$T/verify.py" "$T/pulled-t" "$manifest" 2>"$T/verify.err")
  echo "trial $i: $written fsync'd writes before the kill ($total bytes fsync'd in all), recovery $state," \
    "concurrent flush: $during, lost $lost"
  ((lost == 0)) || fail "trial $i lost fsync'd bytes: $(head -5 "$T/verify.err")"
done
(($(wc -l <"$manifest") > 0)) || fail "the writer recorded nothing"
echo "crash trials: $trials, fsync'd bytes lost: 0"
echo "PASS"
