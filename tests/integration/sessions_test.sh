#!/usr/bin/env bash
# ccfs sessions ls|show|grep on generated Claude Code trees (forks, compaction
# boundaries, summaries, subagents, one content-block line per message with
# shared usage), read straight from RGW (no mount) and from a directory.
# Every number is checked against an independent python3 reading of the
# files: token totals count each API message once per session, keyed by
# message.id + requestId (ccusage's rule); lines lacking either count alone.
source "$(dirname "$0")/lib.sh"
require_s3

export XDG_CACHE_HOME=$T/cache  # the index caches live under the test's temp dir
src=$T/src
python3 "$GEN" "$src" --sessions 24 --turns 24 --projects 4 --bulk-mb 1 --plugin-files 40 \
  --seed 5 >/dev/null

# One malformed line in the middle of a transcript: reported, skipped, never fatal.
victim=$(cd "$src" && find projects -maxdepth 2 -name '*.jsonl' | sort | head -1)
python3 - "$src/$victim" <<'EOF'
import sys
p = sys.argv[1]
lines = open(p, encoding="utf-8").read().splitlines(True)
lines.insert(3, '{"type":"assistant","message":{"content":[{"type":"text","text":"cut off\n')
open(p, "w", encoding="utf-8").write("".join(lines))
EOF
victim_line=4

# expect.py DIR: what sessions ls/show must say, computed from the files alone.
cat >"$T/expect.py" <<'EOF'
import json, os, sys
root = sys.argv[1]
sessions = {}
for dirpath, _, names in os.walk(os.path.join(root, "projects")):
    for n in names:
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
        sessions.setdefault(sid, {"files": [], "project_dir": parts[1]})["files"].append((rel, sub))

out = {}
for sid, s in sessions.items():
    tok = dict(input=0, output=0, cache_creation=0, cache_read=0)
    seen, msgs, tools, users, subagents, malformed, cwd = set(), set(), 0, 0, 0, [], None
    main = None
    for rel, sub in sorted(s["files"]):
        subagents += sub
        lines = []
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            for no, raw in enumerate(f, 1):
                try:
                    j = json.loads(raw)
                except ValueError:
                    malformed.append([rel, no])
                    continue
                lines.append((no, j))
                m = j.get("message") if isinstance(j.get("message"), dict) else {}
                if not sub and not j.get("isSidechain") and cwd is None and j.get("cwd"):
                    cwd = j["cwd"]
                content = m.get("content")
                is_result = isinstance(content, list) and any(
                    isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
                if j.get("type") == "user" and not is_result and not j.get("isMeta") \
                        and not j.get("isCompactSummary"):
                    users += 1
                if j.get("type") != "assistant":
                    continue
                if isinstance(content, list):
                    tools += sum(1 for b in content if isinstance(b, dict) and b.get("type") == "tool_use")
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
        if not sub:
            main = lines
    # The conversation graph of the main transcript.
    nodes = [(no, j) for no, j in (main or []) if j.get("uuid") and not j.get("isSidechain")
             and j.get("type") in ("user", "assistant", "system")]
    by_uuid = {j["uuid"]: (no, j) for no, j in reversed(nodes)}
    def parent(j):
        p = j.get("parentUuid") or j.get("logicalParentUuid")
        return by_uuid.get(p)
    active, cur = [], nodes[-1] if nodes else None
    while cur and cur[0] not in active:
        active.append(cur[0])
        cur = parent(cur[1])
    active.reverse()
    kids = {}
    for no, j in nodes:
        p = parent(j)
        if p:
            kids.setdefault(p[0], []).append(no)
    forks = {str(p): c for p, c in kids.items() if len(c) > 1}
    compactions = sum(1 for _, j in nodes if j.get("subtype") == "compact_boundary")
    summaries = [j["summary"] for _, j in (main or []) if j.get("type") == "summary"]
    out[sid] = dict(tokens=tok, assistant=len(msgs), user=users, tool_calls=tools,
                    subagents=subagents, malformed=malformed, project=cwd,
                    project_dir=s["project_dir"], active=active, forks=forks,
                    nodes=len(nodes), compactions=compactions,
                    title=summaries[-1] if summaries else None)
json.dump(out, sys.stdout)
EOF

# check_ls EXPECT.json LS.json: every session listed, every number equal.
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
    checks = [("tokens", t, w["tokens"]), ("assistant", g["messages"]["assistant"], w["assistant"]),
              ("user", g["messages"]["user"], w["user"]), ("tool_calls", g["tool_calls"], w["tool_calls"]),
              ("subagents", g["subagents"], w["subagents"]), ("project", g["project"], w["project"]),
              ("project_dir", g["project_dir"], w["project_dir"]),
              ("malformed_lines", g["malformed_lines"], len(w["malformed"]))]
    if w["title"] is not None:
        checks.append(("title", g["title"], w["title"]))
    for name, a, b in checks:
        if a != b:
            errs.append("%s %s: ccfs says %r, files say %r" % (sid, name, a, b))
print("\n".join(errs) if errs else "ok: %d sessions, %d tokens" % (
    len(want), sum(sum(w["tokens"].values()) for w in want.values())))
sys.exit(1 if errs else 0)
EOF

python3 "$T/expect.py" "$src" >"$T/expect.json"
# The generated tree must hold what this test is about, or it proves nothing.
python3 - "$T/expect.json" <<'EOF' || fail "generated tree lacks forks, compactions, summaries or subagents"
import json, sys
e = json.load(open(sys.argv[1]))
assert any(s["forks"] for s in e.values()), "no fork"
assert any(s["compactions"] for s in e.values()), "no compaction"
assert any(s["title"] for s in e.values()), "no summary"
assert any(s["subagents"] for s in e.values()), "no subagent"
assert sum(len(s["malformed"]) for s in e.values()) == 1, "malformed line not seen"
EOF

store=$(s3_store)
ws=sessions-it
check "push" "$CCFS" push "$src" "$ws" --store "$store" >/dev/null

echo "== ls from the store (cold)"
"$CCFS" sessions ls --json --store "$store" --workspace "$ws" --stats >"$T/ls-store.json" 2>"$T/ls-store.err" ||
  fail "sessions ls --store failed: $(cat "$T/ls-store.err")"
check "ls --store matches the files" python3 "$T/check_ls.py" "$T/expect.json" "$T/ls-store.json"
grep -q "$victim:$victim_line: " "$T/ls-store.err" || fail "malformed line not reported: $(cat "$T/ls-store.err")"
grep -q "0 unchanged" "$T/ls-store.err" || fail "cold run claims cached files: $(cat "$T/ls-store.err")"

echo "== ls from the store (warm)"
"$CCFS" sessions ls --json --store "$store" --workspace "$ws" --stats >"$T/ls-warm.json" 2>"$T/ls-warm.err" ||
  fail "warm sessions ls failed"
check "warm ls matches the files" python3 "$T/check_ls.py" "$T/expect.json" "$T/ls-warm.json"
n=$(cd "$src" && find projects -name '*.jsonl' | wc -l)
grep -q "$n transcripts, $n unchanged, 0 appended, 0 read whole, 0 gone; 0 bytes read" "$T/ls-warm.err" ||
  fail "warm run re-read objects: $(cat "$T/ls-warm.err")"

echo "== ls from a directory"
"$CCFS" sessions ls --json --dir "$src" >"$T/ls-dir.json" 2>"$T/ls-dir.err" || fail "sessions ls --dir failed"
check "ls --dir matches the files" python3 "$T/check_ls.py" "$T/expect.json" "$T/ls-dir.json"
grep -q "$victim:$victim_line: " "$T/ls-dir.err" || fail "malformed line not reported from --dir"

echo "== a transcript grows: only the new bytes are read"
grown=$(cd "$src" && find projects -maxdepth 2 -name '*.jsonl' | sort | tail -1)
grown_id=$(basename "$grown" .jsonl)
python3 - "$src/$grown" <<'EOF'
import json, sys
p = sys.argv[1]
last = json.loads(open(p, encoding="utf-8").read().splitlines()[-1])
base = {k: last[k] for k in ("cwd", "sessionId", "version", "gitBranch", "userType") if k in last}
u = dict(base, type="user", uuid="it-u1", parentUuid=last.get("uuid"), isSidechain=False,
         timestamp="2030-01-01T00:00:00.000Z", message={"role": "user", "content": "zebra quokka appended"})
usage = {"input_tokens": 1000, "output_tokens": 2000, "cache_creation_input_tokens": 3000,
         "cache_read_input_tokens": 4000}
a = [dict(base, type="assistant", uuid="it-a%d" % i, parentUuid="it-u1" if i == 1 else "it-a1",
          isSidechain=False, timestamp="2030-01-01T00:00:01.000Z", requestId="req_it",
          message={"id": "msg_it", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                   "content": [{"type": "text", "text": "block %d" % i}], "usage": usage})
     for i in (1, 2)]
with open(p, "a", encoding="utf-8") as f:
    for line in [u] + a:
        f.write(json.dumps(line) + "\n")
EOF
python3 "$T/expect.py" "$src" >"$T/expect2.json"
check "push the grown tree" "$CCFS" push "$src" "$ws" --store "$store" --force >/dev/null
"$CCFS" sessions ls --json --store "$store" --workspace "$ws" --stats >"$T/ls-grown.json" 2>"$T/ls-grown.err" ||
  fail "sessions ls after append failed"
check "ls after append matches the files" python3 "$T/check_ls.py" "$T/expect2.json" "$T/ls-grown.json"
grep -q "1 appended, 0 read whole" "$T/ls-grown.err" || fail "append not read incrementally: $(cat "$T/ls-grown.err")"
python3 - "$T/ls-grown.json" "$grown_id" <<'EOF' || fail "appended session is not the most recent one"
import json, sys
s = json.load(open(sys.argv[1]))
assert s[0]["session_id"] == sys.argv[2] and s[0]["last_timestamp"] == "2030-01-01T00:00:01.000Z", s[0]
EOF
"$CCFS" sessions ls --json --dir "$src" >"$T/ls-dir2.json" 2>/dev/null || fail "ls --dir after append failed"
check "ls --dir after append matches the files" python3 "$T/check_ls.py" "$T/expect2.json" "$T/ls-dir2.json"

echo "== filters"
"$CCFS" sessions ls --json --dir "$src" --since 2029-12-31 2>/dev/null >"$T/since.json"
check "--since keeps only the appended session" python3 -c \
  'import json,sys; s=json.load(open(sys.argv[1])); assert [x["session_id"] for x in s]==[sys.argv[2]], s' \
  "$T/since.json" "$grown_id"
proj=$(python3 -c 'import json,sys; print(next(iter(json.load(open(sys.argv[1])).values()))["project_dir"])' "$T/expect2.json")
"$CCFS" sessions ls --json --dir "$src" --project "$proj" 2>/dev/null >"$T/proj.json"
check "--project selects that project's sessions" python3 -c '
import json,sys
e=json.load(open(sys.argv[1])); s=json.load(open(sys.argv[2]))
assert sorted(x["session_id"] for x in s)==sorted(k for k,v in e.items() if v["project_dir"]==sys.argv[3])' \
  "$T/expect2.json" "$T/proj.json" "$proj"
grep -q "^${grown_id:0:8} " <<<"$("$CCFS" sessions ls --dir "$src" 2>/dev/null)" || fail "table does not list $grown_id"

echo "== show: active branch, forks, compaction, subagents"
# A session with a fork and a compaction boundary, if one exists; else one with a fork.
read -r fork_id agent <<<"$(python3 - "$T/expect2.json" "$src" <<'EOF'
import json, os, sys
e = json.load(open(sys.argv[1]))
best = sorted(e, key=lambda k: (not e[k]["forks"], not e[k]["compactions"], not e[k]["subagents"], k))[0]
sub = os.path.join(sys.argv[2], "projects", e[best]["project_dir"], best, "subagents")
agents = sorted(os.listdir(sub)) if os.path.isdir(sub) else []
print(best, agents[0][len("agent-"):-len(".jsonl")] if agents else "-")
EOF
)"
echo "show session $fork_id (subagent: $agent)"
"$CCFS" sessions show "${fork_id:0:13}" --json --store "$store" --workspace "$ws" >"$T/show.json" 2>/dev/null ||
  fail "sessions show $fork_id failed"
check "show: active branch and forks equal the files' parentUuid graph" python3 - "$T/expect2.json" "$T/show.json" "$fork_id" <<'EOF'
import json, sys
w = json.load(open(sys.argv[1]))[sys.argv[3]]
g = json.load(open(sys.argv[2]))
assert g["session"]["session_id"] == sys.argv[3]
assert [l["line"] for l in g["lines"]] == w["active"], ([l["line"] for l in g["lines"]], w["active"])
forks = {str(f["line"]): [c["line"] for c in f["children"]] for f in g["forks"]}
assert forks == w["forks"], (forks, w["forks"])
for f in g["forks"]:
    assert sum(c["active"] for c in f["children"]) <= 1
assert w["forks"], "picked session has no fork"
EOF
"$CCFS" sessions show "$fork_id" --all-branches --json --dir "$src" >"$T/show-all.json" 2>/dev/null ||
  fail "show --all-branches failed"
check "--all-branches shows every message line once" python3 -c '
import json,sys
w=json.load(open(sys.argv[1]))[sys.argv[3]]; g=json.load(open(sys.argv[2]))
lines=[l["line"] for l in g["lines"]]
assert len(lines)==len(set(lines))==w["nodes"], (len(lines), w["nodes"])' "$T/expect2.json" "$T/show-all.json" "$fork_id"
"$CCFS" sessions show "$fork_id" --store "$store" --workspace "$ws" >"$T/show.txt" 2>/dev/null || fail "show (text) failed"
grep -q "── active branch" "$T/show.txt" || fail "show text has no active branch"
grep -q "── forks ──" "$T/show.txt" || fail "show text lists no forks"
grep -q "→ " "$T/show.txt" || fail "show text renders no tool use"
grep -q "  tool" "$T/show.txt" || fail "show text renders no tool result"
if python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))[sys.argv[2]]["compactions"] else 1)' \
  "$T/expect2.json" "$fork_id"; then
  grep -q "system (compact_boundary)" "$T/show.txt" || fail "compaction boundary not on the active branch"
fi
if [[ $agent != - ]]; then
  grep -q "^Subagent   agent-$agent" "$T/show.txt" || fail "subagent agent-$agent not listed"
  "$CCFS" sessions show "$fork_id" --agent "$agent" --dir "$src" >"$T/agent.txt" 2>/dev/null ||
    fail "show --agent failed"
  grep -q "subagents/agent-$agent.jsonl" "$T/agent.txt" || fail "show --agent did not render the subagent"
fi
"$CCFS" sessions show "" --dir "$src" >/dev/null 2>&1 && fail "show of an ambiguous (empty) prefix succeeded"
"$CCFS" sessions show no-such-session --dir "$src" >/dev/null 2>&1 && fail "show of an unknown id succeeded"

echo "== grep"
# A prompt's words, a tool result's line: found with the right role, line and session.
read -r g_sid g_line g_prompt <<<"$(python3 - "$src" "$fork_id" "$T/expect2.json" <<'EOF'
import json, os, sys
e = json.load(open(sys.argv[3]))[sys.argv[2]]
p = os.path.join(sys.argv[1], "projects", e["project_dir"], sys.argv[2] + ".jsonl")
for no, raw in enumerate(open(p, encoding="utf-8"), 1):
    j = json.loads(raw)
    if j.get("type") == "user" and isinstance(j["message"]["content"], str) and not j.get("isCompactSummary"):
        print(sys.argv[2], no, " ".join(j["message"]["content"].split()[:6]))
        break
EOF
)"
"$CCFS" sessions grep -F "$g_prompt" --role user --json --dir "$src" >"$T/grep.json" 2>/dev/null ||
  fail "grep for a prompt found nothing"
check "grep finds the prompt at its line" python3 -c '
import json,sys
h=json.load(open(sys.argv[1]))
assert any(x["session_id"]==sys.argv[2] and x["line"]==int(sys.argv[3]) and x["role"]=="user" for x in h), h' \
  "$T/grep.json" "$g_sid" "$g_line"
"$CCFS" sessions grep -F "$g_prompt" --session "${g_sid:0:8}" --dir "$src" >"$T/grep-one.txt" 2>/dev/null ||
  fail "grep --session found nothing"
grep -v -q "^$g_sid" "$T/grep-one.txt" && fail "grep --session printed other sessions: $(cat "$T/grep-one.txt")"
grep -q "^$g_sid:$g_line: user: " "$T/grep-one.txt" || fail "grep --session output: $(cat "$T/grep-one.txt")"
"$CCFS" sessions grep 'zebra quokka' --store "$store" --workspace "$ws" >"$T/grep.txt" 2>/dev/null ||
  fail "grep for the appended prompt found nothing"
grep -q "^$grown_id:[0-9]*: user: zebra quokka appended" "$T/grep.txt" || fail "grep output: $(cat "$T/grep.txt")"
"$CCFS" sessions grep 'Status::IOError' --role tool --json --dir "$src" >"$T/grep-tool.json" 2>/dev/null ||
  fail "grep --role tool found nothing"
check "--role tool yields only tool results" python3 -c '
import json,sys; h=json.load(open(sys.argv[1])); assert h and all(x["role"]=="tool" for x in h)' "$T/grep-tool.json"
"$CCFS" sessions grep 'Status::IOError' --role user --dir "$src" >/dev/null 2>&1 &&
  fail "code from tool results matched as user text"
"$CCFS" sessions grep 'no such words anywhere 42' --dir "$src" >/dev/null 2>&1 && fail "grep without a match exits 0"

echo "== --all: every workspace of the store"
small=$T/small
gen_workspace "$small" small 9
check "push a second workspace" "$CCFS" push "$small" other-ws --store "$store" >/dev/null
"$CCFS" sessions ls --json --all --store "$store" >"$T/all.json" 2>/dev/null || fail "ls --all failed"
python3 "$T/expect.py" "$small" >"$T/expect-small.json"
check "--all lists both workspaces' sessions" python3 - "$T/all.json" "$T/expect2.json" "$T/expect-small.json" "$ws" <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))
for path, name in ((sys.argv[2], sys.argv[4]), (sys.argv[3], "other-ws")):
    want = json.load(open(path))
    mine = {s["session_id"]: s for s in got if s["workspace"] == name}
    assert set(mine) == set(want), (name, len(mine), len(want))
    for sid, w in want.items():
        t = dict(mine[sid]["tokens"]); t.pop("total")
        assert t == w["tokens"], (sid, t, w["tokens"])
EOF
echo "PASS: sessions_test"
