# shellcheck shell=bash
# Helpers for the transcript sync integration tests (sourced after lib.sh and
# mount_lib.sh): a real `ccfs sync-server` on loopback with a token file and
# test endpoints, transcript writers, and an exact comparison of what the
# server holds with the files' lines.

SYNC_TOKEN="ccfs-it-sync-token-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$SYNC_TOKEN" >"$T/sync-token"
chmod 600 "$T/sync-token"
SYNC_DB=$T/sync-server.db
SYNC_PORT=0
SYNC_URL=""
_sync_pid=""
_sync_starts=0

# start_sync_server: starts it (on $SYNC_PORT, 0 = any free port the first
# time), waits (bounded) until it listens; sets SYNC_URL and SYNC_PORT.
start_sync_server() {
  _sync_starts=$((_sync_starts + 1))
  local log=$T/sync-server.$_sync_starts.log
  "$CCFS" sync-server --listen "127.0.0.1:$SYNC_PORT" --db "$SYNC_DB" \
    --token-file "$T/sync-token" --test-endpoints >>"$log" 2>&1 &
  _sync_pid=$!
  local url=""
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$log" | tail -1)
    if [[ -n $url ]] && curl -s -o /dev/null --max-time 2 "$url/api/v1/sessions"; then break; fi
    kill -0 "$_sync_pid" 2>/dev/null || fail "sync server exited: $(tail -5 "$log")"
    sleep 0.1
  done
  [[ -n $url ]] || fail "sync server did not start: $(tail -5 "$log")"
  SYNC_URL=$url
  SYNC_PORT=${url##*:}
}

# stop_sync_server: SIGTERM, bounded wait, SIGKILL.
stop_sync_server() {
  [[ -n $_sync_pid ]] || return 0
  kill -TERM "$_sync_pid" 2>/dev/null || true
  timeout 20 tail --pid="$_sync_pid" -f /dev/null 2>/dev/null || kill -KILL "$_sync_pid" 2>/dev/null
  wait "$_sync_pid" 2>/dev/null || true
  _sync_pid=""
}
on_exit stop_sync_server

# sync_api METHOD PATH [BODY]: one authenticated request; prints the body.
sync_api() {
  curl -sS --max-time 20 -X "$1" -H "Authorization: Bearer $SYNC_TOKEN" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "$SYNC_URL$2"
}

# add_fault JSON: queues a fault on the server (see sync/server/server_faults.h).
add_fault() {
  [[ $(sync_api POST /api/v1/_test/faults "$1") == *'"ok"'* ]] || fail "fault $1 not accepted"
}

# chunk_requests: how many chunk POSTs the server has seen.
chunk_requests() {
  sync_api GET /api/v1/_test/stats | python3 -c '
import json, sys
print(json.load(sys.stdin)["by_path"].get("POST /api/v1/sync/chunk", 0))'
}

# sync_mount WS MP [flags...]: do_mount with transcript sync to $SYNC_URL.
sync_mount() {
  local ws=$1 mp=$2
  shift 2
  do_mount "$ws" "$mp" --sync-url "$SYNC_URL" --sync-token-file "$T/sync-token" "$@"
}

# The writers: WRITERS processes in parallel, each owning SESSIONS sessions
# (a transcript and two subagent transcripts each) under
# projects/-home-u-app<writer>/, appending realistic JSONL lines (200 B to
# 10 KiB, most short) with open(O_APPEND)/write/close, as Claude Code does,
# at full speed. A writer stops quietly when the mount goes away.
cat >"$T/sync_writer.py" <<'PY'
import json, os, random, sys, uuid
mnt, writer, lines, sessions, rnd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(writer * 1000 + rnd)
WORDS = ("the of and to in is it that for on with as this file function test value return "
         "error line read write mount store cache sync server client change update branch "
         "commit build run check result output input data path name type size list").split()
proj = "projects/-home-u-app%d" % writer
os.makedirs(os.path.join(mnt, proj), exist_ok=True)
files = []
for s in range(sessions):
    sid = str(uuid.UUID(int=random.Random("s%d-%d" % (writer, s)).getrandbits(128), version=4))
    files.append((sid, "%s/%s.jsonl" % (proj, sid)))
    for a in range(2):
        d = "%s/%s/subagents" % (proj, sid)
        os.makedirs(os.path.join(mnt, d), exist_ok=True)
        files.append((sid, "%s/agent-%08x.jsonl" % (d, (writer << 16) + s * 4 + a)))
def size():
    r = rng.random()
    if r < 0.75: return rng.randint(200, 1000)
    if r < 0.97: return rng.randint(1000, 4096)
    return rng.randint(4096, 10240)
def line(sid, i):
    rec = {"parentUuid": str(uuid.UUID(int=rng.getrandbits(128))), "isSidechain": False,
           "userType": "external", "cwd": "/home/u/app%d" % writer, "sessionId": sid,
           "version": "1.0.62", "gitBranch": "main",
           "type": rng.choice(["user", "assistant"]),
           "message": {"role": "assistant", "model": "claude-sonnet-4",
                       "content": [{"type": "text", "text": ""}],
                       "usage": {"input_tokens": rng.randint(1, 9999), "output_tokens": rng.randint(1, 999)}},
           "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
           "timestamp": "2025-06-01T12:%02d:%02d.000Z" % (i // 60 % 60, i % 60),
           "w": writer, "round": rnd, "i": i}
    want = size()
    text = []
    n = len(json.dumps(rec))
    while n < want:
        w = rng.choice(WORDS)
        text.append(w)
        n += len(w) + 1
    rec["message"]["content"][0]["text"] = " ".join(text)
    return (json.dumps(rec, separators=(",", ":")) + "\n").encode()
written = 0
try:
    for i in range(lines):
        sid, rel = files[0 if rng.random() < 0.4 else rng.randrange(len(files))]
        fd = os.open(os.path.join(mnt, rel), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line(sid, i))
        finally:
            os.close(fd)
        written += 1
except OSError:
    pass  # the mount went away (SIGKILL scenario)
print(written)
PY

# run_writers MP LINES_EACH WRITERS SESSIONS ROUND: starts the writers in the
# background; their pids go to $writer_pids.
writer_pids=()
run_writers() {
  local mp=$1 n=$2 writers=$3 sessions=$4 round=$5 w
  writer_pids=()
  for ((w = 0; w < writers; w++)); do
    python3 "$T/sync_writer.py" "$mp" "$w" "$n" "$sessions" "$round" >"$T/writer-$w.out" 2>&1 &
    writer_pids+=($!)
  done
}
# wait_writers SECONDS: waits for them (bounded); prints the lines written.
wait_writers() {
  local deadline=$((SECONDS + $1)) pid total=0 w
  for pid in "${writer_pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < deadline)) || { kill "${writer_pids[@]}" 2>/dev/null; fail "writers still running after $1 s"; }
      sleep 0.2
    done
    wait "$pid" 2>/dev/null || true
  done
  for ((w = 0; w < ${#writer_pids[@]}; w++)); do total=$((total + $(cat "$T/writer-$w.out" 2>/dev/null || echo 0))); done
  echo "$total"
}
# shellcheck disable=SC2016  # expanded when the hook runs
on_exit 'kill "${writer_pids[@]}" 2>/dev/null'

# wait_synced MP SECONDS: until the mount's status says every complete line
# written is acked (bounded); fails with the status otherwise.
wait_synced() {
  local deadline=$((SECONDS + $2)) st
  while true; do
    st=$("$CCFS" status "$1" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)["sync"]
files = s["files"]
done = (s["pending_lines"] == 0 and s["queued_files"] == 0 and
        all(f["lines_written"] == f["lines_acked"] for f in files))
print("done" if done else "%s %d pending" % (s["state"], s["pending_lines"]))')
    [[ $st == "done" ]] && return 0
    ((SECONDS < deadline)) || fail "sync not done after $2 s ($st): $("$CCFS" status "$1")"
    sleep 0.5
  done
}

# verify_synced DIR: the server holds exactly the complete lines of every
# session and subagent transcript under DIR (same order, none missing, none
# doubled) and no file DIR lacks. Prints "<files> <lines>".
cat >"$T/sync_verify.py" <<'PY'
import hashlib, json, os, re, sys, urllib.request
root, url, token = sys.argv[1], sys.argv[2], sys.argv[3]
def get(path):
    req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)
local = {}
for d, _, names in os.walk(os.path.join(root, "projects")):
    for n in names:
        rel = os.path.relpath(os.path.join(d, n), root)
        parts = rel.split("/")
        if len(parts) == 3 and n.endswith(".jsonl"):
            key = (n[:-6], n)
        elif len(parts) == 5 and parts[3] == "subagents" and re.match(r"agent-.*\.jsonl$", n):
            key = (parts[2], n)
        else:
            continue
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read()
        lines = data.split(b"\n")[:-1]  # complete lines only
        local[key] = [l.decode() for l in lines]
remote = {}
for s in get("/api/v1/sessions")["sessions"]:
    for f in s["files"]:
        remote[(s["external_id"], f["file_name"])] = f["line_count"]
bad = []
for key in sorted(set(remote) - set(local)):
    bad.append("server has %s/%s that is not local" % key)
total = 0
for key, want in sorted(local.items()):
    total += len(want)
    got, frm = [], 1
    if key not in remote:
        if want: bad.append("%s/%s: %d local lines, unknown to the server" % (key[0], key[1], len(want)))
        continue
    while True:
        r = get("/api/v1/sessions/%s/files/%s?from_line=%d" % (key[0], key[1], frm))
        got += r["lines"]
        if r["next_from_line"] is None: break
        frm = r["next_from_line"]
    if got != want:
        h = lambda ls: hashlib.sha256("\n".join(ls).encode()).hexdigest()[:12]
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        bad.append("%s/%s: server %d lines (%s), local %d (%s), first difference at line %d"
                   % (key[0], key[1], len(got), h(got), len(want), h(want), first + 1))
for b in bad[:10]:
    print(b, file=sys.stderr)
print(len(local), total)
sys.exit(1 if bad else 0)
PY
verify_synced() {
  python3 "$T/sync_verify.py" "$1" "$SYNC_URL" "$SYNC_TOKEN" 2>"$T/verify.err" ||
    fail "server and files differ: $(cat "$T/verify.err")"
}

# no_token_leak FILE...: the sync token appears in none of them.
no_token_leak() {
  local f
  for f in "$@"; do
    [[ -e $f ]] || continue
    if grep -qF "$SYNC_TOKEN" "$f"; then fail "the sync token leaked into $f"; fi
  done
}
