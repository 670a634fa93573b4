#!/usr/bin/env bash
# `ccfs sessions ls --dir MOUNTPOINT` on a real mount over RGW reads the
# mount's own session index (fs/feeds/mount_sessions.h), kept current from the
# FUSE write path: no directory walk, and lines appended through the mount
# are listed right after the append. Every number is checked against an
# independent python3 reading of the mounted files (token totals count each
# API message once per session, keyed by message.id + requestId).
# Then: a transcript moved out of projects/ and one deleted are gone; a
# read-only remount lists the flushed sessions; a plain directory (and the
# mountpoint once unmounted) is walked as before.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=msess-$$
export XDG_CACHE_HOME=$T/xdg  # the CLI's own index caches (walks) live under $T

python3 "$GEN" "$T/src" --sessions 12 --turns 12 --projects 3 --bulk-mb 1 --seed 8 >/dev/null
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null

# expect.py DIR: per session, what `sessions ls --json` must say.
cat >"$T/expect.py" <<'EOF'
import json, os, sys
root = sys.argv[1]
out = {}
for dirpath, _, names in os.walk(os.path.join(root, "projects")):
    for n in sorted(names):
        if not n.endswith(".jsonl"):
            continue
        rel = os.path.relpath(os.path.join(dirpath, n), root)
        parts = rel.split("/")
        if len(parts) == 3:
            sid, sub = n[:-6], False
        elif len(parts) == 5 and parts[3] == "subagents":
            sid, sub = parts[2], True
        else:
            continue
        s = out.setdefault(sid, {"files": []})
        s["files"].append((rel, sub))
res = {}
for sid, s in out.items():
    tok = dict(input=0, output=0, cache_creation=0, cache_read=0)
    seen, msgs, users, tools, subs = set(), set(), 0, 0, 0
    for rel, sub in sorted(s["files"]):
        subs += sub
        for raw in open(os.path.join(root, rel), encoding="utf-8"):
            try:
                j = json.loads(raw)
            except ValueError:
                continue
            m = j.get("message") if isinstance(j.get("message"), dict) else {}
            c = m.get("content")
            is_result = isinstance(c, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in c)
            if j.get("type") == "user" and not is_result and not j.get("isMeta") \
                    and not j.get("isCompactSummary"):
                users += 1
            if j.get("type") != "assistant":
                continue
            if isinstance(c, list):
                tools += sum(1 for b in c if isinstance(b, dict) and b.get("type") == "tool_use")
            mid, rid = m.get("id"), j.get("requestId")
            if mid:
                msgs.add(mid)
            u = m.get("usage")
            if not isinstance(u, dict):
                continue
            if mid and rid:
                if (mid, rid) in seen:
                    continue
                seen.add((mid, rid))
            tok["input"] += u.get("input_tokens", 0)
            tok["output"] += u.get("output_tokens", 0)
            tok["cache_creation"] += u.get("cache_creation_input_tokens", 0)
            tok["cache_read"] += u.get("cache_read_input_tokens", 0)
    res[sid] = dict(tokens=tok, assistant=len(msgs), user=users, tool_calls=tools, subagents=subs)
json.dump(res, sys.stdout)
EOF
# check_ls.py EXPECT.json LS.json
cat >"$T/check_ls.py" <<'EOF'
import json, sys
want = json.load(open(sys.argv[1]))
got = {s["session_id"]: s for s in json.load(open(sys.argv[2]))}
errs = []
if set(got) != set(want):
    errs.append("sessions differ: missing %s, extra %s" % (sorted(set(want) - set(got)), sorted(set(got) - set(want))))
for sid, w in want.items():
    g = got.get(sid)
    if not g:
        continue
    t = dict(g["tokens"]); t.pop("total")
    for name, a, b in [("tokens", t, w["tokens"]), ("assistant", g["messages"]["assistant"], w["assistant"]),
                       ("user", g["messages"]["user"], w["user"]), ("tool_calls", g["tool_calls"], w["tool_calls"]),
                       ("subagents", g["subagents"], w["subagents"])]:
        if a != b:
            errs.append("%s %s: ccfs says %r, files say %r" % (sid, name, a, b))
print("\n".join(errs) if errs else "ok: %d sessions, %d tokens" % (
    len(want), sum(sum(w["tokens"].values()) for w in want.values())))
sys.exit(1 if errs else 0)
EOF

# ls_mount MP OUT: sessions ls through the mount's index (fails if it walked).
ls_mount() {
  timeout 60 "$CCFS" sessions ls --dir "$1" --json --stats >"$2" 2>"$2.err" ||
    fail "sessions ls --dir $1 failed: $(cat "$2.err")"
  grep -q "a ccfs mount: read its session index" "$2.err" ||
    fail "sessions ls did not use the mount's index: $(cat "$2.err")"
  grep -q " transcripts, .* unchanged" "$2.err" && fail "sessions ls walked the mount: $(cat "$2.err")"
  return 0
}

mnt=$T/mnt
do_mount "$WS" "$mnt"

echo "== right after mounting: the store's transcripts, indexed without a walk"
ls_mount "$mnt" "$T/ls0.json"
python3 "$T/expect.py" "$mnt" >"$T/expect0.json"
check "ls over the mount matches the mounted files" python3 "$T/check_ls.py" "$T/expect0.json" "$T/ls0.json"
[[ $(status_field "$mnt" sessions.store_indexed) == True ]] || fail "status: store not indexed"

echo "== lines appended through the mount are listed right after"
victim=$(cd "$mnt" && find projects -maxdepth 2 -name '*.jsonl' | sort | head -1)
victim_id=$(basename "$victim" .jsonl)
newproj=$mnt/projects/-home-u-fresh
new_id=dddddddd-4444-4444-8444-444444444444
mkdir -p "$newproj"
python3 - "$mnt/$victim" "$newproj/$new_id.jsonl" <<'EOF'
import json, sys
def turn(n, parent, usage):
    base = {"cwd": "/home/u/fresh", "sessionId": "x", "version": "2.0.14", "userType": "external",
            "isSidechain": False, "gitBranch": "main"}
    u = dict(base, type="user", uuid="it-u%d" % n, parentUuid=parent,
             timestamp="2030-01-01T00:00:%02d.000Z" % n,
             message={"role": "user", "content": "appended prompt %d" % n})
    blocks = [{"type": "text", "text": "reply %d" % n},
              {"type": "tool_use", "id": "toolu_it%d" % n, "name": "Bash", "input": {"command": "ls"}}]
    a = [dict(base, type="assistant", uuid="it-a%d-%d" % (n, i), parentUuid="it-u%d" % n,
              requestId="req_it%d" % n, timestamp="2030-01-01T00:00:%02d.500Z" % n,
              message={"id": "msg_it%d" % n, "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                       "content": [b], "usage": usage}) for i, b in enumerate(blocks)]
    return [u] + a
usage = {"input_tokens": 1000, "output_tokens": 2000, "cache_creation_input_tokens": 3000,
         "cache_read_input_tokens": 4000}
# One line per write(2), as Claude Code appends.
for path, first in ((sys.argv[1], 1), (sys.argv[2], 5)):
    last = None
    for n in range(first, first + 3):
        for line in turn(n, last, usage):
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
            last = line["uuid"]
EOF
ls_mount "$mnt" "$T/ls1.json"
python3 "$T/expect.py" "$mnt" >"$T/expect1.json"
check "ls after appends matches the mounted files" python3 "$T/check_ls.py" "$T/expect1.json" "$T/ls1.json"
check "the appends are in the listing" python3 - "$T/ls1.json" "$T/ls0.json" "$victim_id" "$new_id" <<'EOF'
import json, sys
now = {s["session_id"]: s for s in json.load(open(sys.argv[1]))}
before = {s["session_id"]: s for s in json.load(open(sys.argv[2]))}
v, n = sys.argv[3], sys.argv[4]
assert now[v]["tokens"]["total"] == before[v]["tokens"]["total"] + 3 * 10000, (now[v], before[v])
assert now[v]["messages"]["user"] == before[v]["messages"]["user"] + 3
assert now[n]["tokens"]["total"] == 30000 and now[n]["messages"]["assistant"] == 3, now[n]
assert now[n]["project"] == "/home/u/fresh", now[n]
EOF

echo "== moved out of projects/, deleted: gone from the index"
gone=$(cd "$mnt" && find projects -maxdepth 2 -name '*.jsonl' | sort | sed -n 2p)
moved=$(cd "$mnt" && find projects -maxdepth 2 -name '*.jsonl' | sort | sed -n 3p)
rm "$mnt/$gone"
mv "$mnt/$moved" "$mnt/moved-out.jsonl"
ls_mount "$mnt" "$T/ls2.json"
python3 "$T/expect.py" "$mnt" >"$T/expect2.json"
check "ls after rm and mv matches the mounted files" python3 "$T/check_ls.py" "$T/expect2.json" "$T/ls2.json"

echo "== a plain directory is still walked"
timeout 60 "$CCFS" sessions ls --dir "$T/src" --json --stats >"$T/lsdir.json" 2>"$T/lsdir.err" ||
  fail "sessions ls --dir src failed"
grep -q "read whole" "$T/lsdir.err" || fail "a plain directory was not walked: $(cat "$T/lsdir.err")"

check "ccfs umount" timeout 300 "$CCFS" umount "$mnt"
mountpoint -q "$mnt" && fail "still mounted after ccfs umount"
timeout 60 "$CCFS" sessions ls --dir "$mnt" --json --stats >"$T/lsgone.json" 2>"$T/lsgone.err" ||
  fail "sessions ls on the unmounted mountpoint failed: $(cat "$T/lsgone.err")"
check "the unmounted mountpoint is walked (empty)" python3 -c \
  'import json,sys; assert json.load(open(sys.argv[1])) == []' "$T/lsgone.json"

echo "== read-only remount: the flushed sessions, from the index (warm)"
ro=$T/ro
MOUNT_CACHE=$mnt.cache do_mount "$WS" "$ro" --read-only
ls_mount "$ro" "$T/ls3.json"
check "read-only ls matches the mounted files" python3 "$T/check_ls.py" "$T/expect2.json" "$T/ls3.json"
python3 "$T/expect.py" "$ro" >"$T/expect3.json"
check "the read-only tree equals what was flushed" cmp "$T/expect2.json" "$T/expect3.json"
[[ $(status_field "$ro" sessions.store_indexed) == True ]] || fail "read-only status: store not indexed"
[[ -z $(status_field "$ro" sessions.last_error) ]] || fail "session index error: $(status_field "$ro" sessions.last_error)"
check "umount read-only" timeout 60 "$CCFS" umount "$ro"
echo "PASS: mount_sessions_test"
