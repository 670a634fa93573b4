#!/usr/bin/env bash
# A scripted session in the style of Claude Code with CLAUDE_CONFIG_DIR on a
# mount, run identically on a local copy: .claude.json rewritten by temp file
# + fsync + rename, mkdir locks, thousands of O_APPEND transcript lines (one
# open/append/close each, like appendFileSync), a subagent transcript, a
# debug/latest symlink replaced atomically, copy_file_range, pread/pwrite,
# ftruncate, O_EXCL, flock, unlink-while-open; `tail -F` sees the appended
# lines, `grep -r` finds them; after umount, the pulled workspace equals the
# local copy.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=cs-$$
LINES=${CCFS_SESSION_LINES:-3000}

gen_workspace "$T/src" small 14
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
cp -a "$T/src" "$T/expect"
mnt=$T/mnt
do_mount "$WS" "$mnt"

cat >"$T/session.py" <<'PY'
import errno, fcntl, json, os, sys, time
d, lines = sys.argv[1], int(sys.argv[2])
proj = os.path.join(d, "projects", "-home-dev-session-test")
sid = "11111111-2222-4333-8444-555555555555"
os.makedirs(proj, exist_ok=True)
transcript = os.path.join(proj, sid + ".jsonl")

def write_config(n):
    with open(os.path.join(d, ".claude.json")) as f:
        cfg = json.load(f)
    cfg["numStartups"] = cfg.get("numStartups", 0) + 1
    cfg["lastSession"] = n
    tmp = os.path.join(d, ".claude.json.tmp.%d" % n)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.write(fd, json.dumps(cfg, indent=2).encode())
    os.fsync(fd)
    os.close(fd)
    os.rename(tmp, os.path.join(d, ".claude.json"))

for n in range(20):
    lock = os.path.join(d, ".claude.json.lock")
    os.mkdir(lock)
    try:
        os.mkdir(lock)
        sys.exit("mkdir lock: second mkdir succeeded")
    except FileExistsError:
        pass
    write_config(n)
    os.rmdir(lock)

start = time.monotonic()
for i in range(lines):
    rec = {"type": "user" if i % 2 == 0 else "assistant", "uuid": "u-%06d" % i,
           "sessionId": sid, "message": {"content": "line %d " % i + "x" * (i % 300)}}
    fd = os.open(transcript, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, (json.dumps(rec) + "\n").encode())
    os.close(fd)
elapsed = time.monotonic() - start
sub = os.path.join(proj, sid, "subagents")
os.makedirs(sub, exist_ok=True)
with open(os.path.join(sub, "agent-a1.jsonl"), "a") as f:
    for i in range(200):
        f.write(json.dumps({"agent": i}) + "\n")
        f.flush()

# debug log + debug/latest replaced atomically
os.makedirs(os.path.join(d, "debug"), exist_ok=True)
log = os.path.join(d, "debug", sid + ".txt")
with open(log, "a") as f:
    for i in range(50):
        f.write("[DEBUG] step %d\n" % i)
tmp = os.path.join(d, "debug", "latest.tmp")
os.symlink(sid + ".txt", tmp)
os.rename(tmp, os.path.join(d, "debug", "latest"))
assert os.readlink(os.path.join(d, "debug", "latest")) == sid + ".txt"
try:
    os.readlink(log)
    sys.exit("readlink of a regular file succeeded")
except OSError as e:
    assert e.errno == errno.EINVAL, e

# copy_file_range into file-history
os.makedirs(os.path.join(d, "file-history", sid), exist_ok=True)
src = os.open(transcript, os.O_RDONLY)
dst = os.open(os.path.join(d, "file-history", sid, "abc@v1"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
left = os.fstat(src).st_size
while left > 0:
    n = os.copy_file_range(src, dst, left)
    if n == 0:
        break
    left -= n
os.close(src)
os.close(dst)

# pread/pwrite, ftruncate, O_EXCL
todo = os.path.join(d, "todos", sid + ".json")
os.makedirs(os.path.dirname(todo), exist_ok=True)
fd = os.open(todo, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"[" + b" " * 100 + b"]", 0)
os.pwrite(fd, b'{"todo":1}', 1)
assert os.pread(fd, 10, 1) == b'{"todo":1}'
os.ftruncate(fd, 50)
os.close(fd)
try:
    os.open(todo, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    sys.exit("O_EXCL on an existing file succeeded")
except FileExistsError:
    pass

# flock: a second open file description cannot take the lock
lockf = os.path.join(d, "ide.lock")
a = os.open(lockf, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
b = os.open(lockf, os.O_RDWR)
try:
    fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
    sys.exit("a second flock succeeded")
except BlockingIOError:
    pass
os.close(b)
os.close(a)
os.unlink(lockf)

# unlink while open
p = os.path.join(d, "scratch.tmp")
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
os.unlink(p)
os.write(fd, b"still here")
assert os.pread(fd, 10, 0) == b"still here"
os.close(fd)
assert not os.path.exists(p)

os.statvfs(d)
os.chmod(os.path.join(d, "settings.json"), 0o600)
os.rename(os.path.join(d, "plans"), os.path.join(d, "plans-old"))
print("%d appends in %.3f s (%.0f/s)" % (lines, elapsed, lines / elapsed))
PY

transcript=projects/-home-dev-session-test/11111111-2222-4333-8444-555555555555.jsonl
mkdir -p "$mnt/projects/-home-dev-session-test"
tail -n +1 -F "$mnt/$transcript" >"$T/tail.out" 2>/dev/null &
tail_pid=$!
on_exit "kill $tail_pid 2>/dev/null"

echo -n "local disk: "
check "session on local disk" timeout 300 python3 "$T/session.py" "$T/expect" "$LINES"
echo -n "mount:      "
check "session on the mount" env CLAUDE_CONFIG_DIR="$mnt" timeout 300 python3 "$T/session.py" "$mnt" "$LINES"

for _ in $(seq 100); do
  [[ $(wc -l <"$T/tail.out") -ge $LINES ]] && break
  sleep 0.1
done
kill "$tail_pid" 2>/dev/null || true
[[ $(wc -l <"$T/tail.out") -ge $LINES ]] || fail "tail -F saw $(wc -l <"$T/tail.out") of $LINES lines"
check "tail -F saw exactly the transcript" cmp "$T/tail.out" "$mnt/$transcript"

check "grep -r finds the session" grep -rq "u-00$((LINES / 2 + 100))" "$mnt/projects"
[[ $(grep -rl sessionId "$mnt/projects" | wc -l) == $(grep -rl sessionId "$T/expect/projects" | wc -l) ]] ||
  fail "grep -r over the mount finds other files than over the local copy"
check "cp --reflink=never" cp --reflink=never "$mnt/$transcript" "$mnt/copied.jsonl"
cp --reflink=never "$T/expect/$transcript" "$T/expect/copied.jsonl"
check "mount equals the local copy" diff -r "$T/expect" "$mnt"

check "umount" timeout 300 "$CCFS" umount "$mnt"
check "pull" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
check "pulled workspace equals the local copy" diff -r "$T/expect" "$T/pulled"
[[ $(readlink "$T/pulled/debug/latest") == 11111111-2222-4333-8444-555555555555.txt ]] ||
  fail "debug/latest"
echo "PASS"
