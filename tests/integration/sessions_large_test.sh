#!/usr/bin/env bash
# ccfs sessions ls --json on a generated large (~1 GB, ~25k files) tree: every
# transcript's session is listed and its token totals equal the sums of the
# usage fields in the files, computed independently here (each API message
# counted once per session, keyed by message.id + requestId, as ccusage does).
# Read from the directory (cold, then warm from the index); the smaller
# sessions_test covers the store and the mount.
source "$(dirname "$0")/lib.sh"

export XDG_CACHE_HOME=$T/cache
gen_workspace "$T/src" large 7
ntranscripts=$(find "$T/src/projects" -name '*.jsonl' | wc -l)
((ntranscripts > 1000)) || fail "the large tree has only $ntranscripts transcripts"

start=$(date +%s.%N)
timeout 600 "$CCFS" sessions ls --dir "$T/src" --json >"$T/cold.json" ||
  fail "sessions ls (cold) failed"
mid=$(date +%s.%N)
timeout 600 "$CCFS" sessions ls --dir "$T/src" --json >"$T/warm.json" ||
  fail "sessions ls (warm) failed"
end=$(date +%s.%N)
check "warm listing equals cold listing" cmp "$T/cold.json" "$T/warm.json"

python3 - "$T/src" "$T/cold.json" <<'EOF' || fail "sessions ls --json disagrees with the files"
import json, os, sys
root, listing = sys.argv[1], sys.argv[2]
want = {}
for dirpath, _, names in os.walk(os.path.join(root, "projects")):
    for n in names:
        if not n.endswith(".jsonl"):
            continue
        parts = os.path.relpath(os.path.join(dirpath, n), root).split("/")
        if len(parts) == 3:
            sid = n[:-6]
        elif len(parts) == 5 and parts[3] == "subagents":
            sid = parts[2]
        else:
            continue
        s = want.setdefault(sid, {"seen": set(), "t": [0, 0, 0, 0]})
        with open(os.path.join(dirpath, n), encoding="utf-8") as f:
            for raw in f:
                try:
                    j = json.loads(raw)
                except ValueError:
                    continue
                m = j.get("message") if isinstance(j.get("message"), dict) else {}
                u = m.get("usage")
                if j.get("type") != "assistant" or not isinstance(u, dict):
                    continue
                key = (m.get("id"), j.get("requestId"))
                if all(key):
                    if key in s["seen"]:
                        continue
                    s["seen"].add(key)
                for i, k in enumerate(("input_tokens", "output_tokens",
                                       "cache_creation_input_tokens", "cache_read_input_tokens")):
                    s["t"][i] += u.get(k, 0)
got = {s["session_id"]: s for s in json.load(open(listing))}
errs = []
if set(got) != set(want):
    errs.append("sessions differ: %d missing, %d extra" % (len(set(want) - set(got)),
                                                           len(set(got) - set(want))))
for sid, w in want.items():
    g = got.get(sid)
    if g is None:
        continue
    t = g["tokens"]
    have = [t["input"], t["output"], t["cache_creation"], t["cache_read"]]
    if have != w["t"]:
        errs.append("%s: tokens %s, files say %s" % (sid, have, w["t"]))
total = sum(sum(w["t"]) for w in want.values())
if total == 0:
    errs.append("no usage at all in the tree: the check would prove nothing")
for e in errs[:20]:
    print(e, file=sys.stderr)
print("sessions: %d listed, token totals equal the files' (%d tokens)" % (len(got), total))
sys.exit(1 if errs else 0)
EOF
echo "sessions ls on $ntranscripts transcripts: cold $(echo "$mid - $start" | bc) s," \
  "warm $(echo "$end - $mid" | bc) s"
