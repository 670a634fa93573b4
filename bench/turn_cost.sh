#!/usr/bin/env bash
# Figure 8: the bytes one agent turn moves, counted by tests/tools/fault_proxy.py
# between the client and RGW, as a share of the workspace's stored bytes.
#
# The turn (issue 12): read settings.json; rewrite .claude.json (temp + fsync +
# rename); append 40 lines of ~450 B to an existing transcript over 100 KB;
# write a todo, a shell snapshot and a file-history entry. Measured three ways,
# in the same run:
#   turn_cold_pct   ccfs exec on an empty cache
#   turn_stale_pct  ccfs exec on a cache another machine's flush made stale
#   turn_seed_pct   (peer) what ccfs replaces: GET the plain tar.gz, tar xzf,
#                   the turn, tar czf, PUT
# then, after `ccfs upgrade` moved the workspace to layout v2 (server-side
# copies, not counted), the same two ccfs measurements again:
#   turn_v2_cold_pct, turn_v2_stale_pct
#
#   bench/turn_cost.sh SIZE WS SRC WORKDIR STORE_BYTES PLAIN_KEY
# WS is a workspace of its own (the turns change it); PLAIN_KEY the peer's
# plain tar.gz of the same tree, which stays as it was (the peer PUTs its
# result beside it). Needs BENCH_CCFS, BENCH_STORE, BENCH_RAW and the RGW
# environment.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

size=$1 ws=$2 src=$3 work=$4 store_bytes=$5 plain_key=$6
tc=$work/turn-cost
rm -rf "$tc"
mkdir -p "$tc"
proxy_pid=
cleanup() {
  [[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
  rm -rf "$tc"
}
trap cleanup EXIT

upstream=${AWS_ENDPOINT_URL#http://}
upstream=${upstream%%/*}
python3 "$root/tests/tools/fault_proxy.py" --upstream "$upstream" --port-file "$tc/proxy.port" \
  --control-port-file "$tc/proxy.ctl" --parent-pid $$ --max-runtime 1800 --log "$tc/proxy.log" &
proxy_pid=$!
for _ in $(seq 100); do [[ -s $tc/proxy.port && -s $tc/proxy.ctl ]] && break; sleep 0.1; done
[[ -s $tc/proxy.port && -s $tc/proxy.ctl ]] || die "turn_cost: the counting proxy did not start"
proxy_url="http://127.0.0.1:$(cat "$tc/proxy.port")"
proxy_ctl="http://127.0.0.1:$(cat "$tc/proxy.ctl")"
# The proxy's byte counters only grow (POST /config does not reset them), so
# each measurement is the difference from a reading taken just before it.
proxy_bytes() {
  curl -sf --max-time 5 "$proxy_ctl/stats" |
    python3 -c 'import json,sys; b=json.load(sys.stdin)["bytes"]; print(b["up"] + b["down"])'
}
counted_from=0
reset_counts() { counted_from=$(proxy_bytes); }
# moved: bytes up + down since the last reset_counts.
moved() { echo $(($(proxy_bytes) - counted_from)); }
pct() { awk -v m="$1" -v s="$store_bytes" 'BEGIN { printf "%.4f", 100 * m / s }'; }

# The turn itself, on the config directory $1.
cat >"$tc/turn.sh" <<'TURN'
set -euo pipefail
d=$1
cat "$d/settings.json" >/dev/null 2>&1 || true
python3 - "$d" <<'PY'
import json, os, sys, uuid
d = sys.argv[1]
p = os.path.join(d, ".claude.json")
try:
    state = json.load(open(p))
except (OSError, ValueError):
    state = {}
state["numStartups"] = state.get("numStartups", 0) + 1
tmp = f"{p}.tmp.{os.getpid()}"
with open(tmp, "w") as f:
    json.dump(state, f)
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, p)
transcripts = []
for top, _, files in os.walk(os.path.join(d, "projects")):
    for name in files:
        path = os.path.join(top, name)
        if name.endswith(".jsonl") and os.path.getsize(path) > 100 * 1024:
            transcripts.append(path)
transcripts.sort()
if not transcripts:
    sys.exit("turn: no transcript over 100 KB")
with open(transcripts[0], "a") as f:  # O_APPEND, no fsync, like Claude Code
    for i in range(40):
        line = {"type": "assistant", "uuid": str(uuid.uuid4()), "n": i, "text": "x" * 380}
        f.write(json.dumps(line) + "\n")
session = str(uuid.uuid4())
for rel, body in [(f"todos/{session}-agent-{session}.json", "[]"),
                  (f"shell-snapshots/snapshot-bash-{session}.sh", "export PATH=/usr/bin\n" * 20),
                  (f"file-history/{session}/0123456789abcdef@v1", "print('hello')\n" * 30)]:
    path = os.path.join(d, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(body)
PY
TURN

# The v1 figures first: exec would move a v1 workspace to v2 on the way in
# (the default), so they keep it v1; after `ccfs upgrade` the default.
layout=(--layout v1)
ccfs_turn() { # CACHE: one `ccfs exec` turn through the proxy
  AWS_ENDPOINT_URL=$proxy_url "$BENCH_CCFS" exec "$ws" --store "$BENCH_STORE" --cache "$1" \
    "${layout[@]}" -- \
    bash -c 'bash "$0" "$CLAUDE_CONFIG_DIR"' "$tc/turn.sh" >/dev/null
}

# cold_and_stale CACHE OTHER_CACHE: sets `cold` (the turn on an empty CACHE),
# then, after another machine's flush (through OTHER_CACHE, not counted)
# made CACHE stale, `stale` (the turn again on CACHE).
cold_and_stale() {
  reset_counts
  ccfs_turn "$1"
  cold=$(moved)
  "$BENCH_CCFS" exec "$ws" --store "$BENCH_STORE" --cache "$2" "${layout[@]}" -- \
    bash -c 'echo "# from another machine" >>"$CLAUDE_CONFIG_DIR/CLAUDE.md"' >/dev/null
  reset_counts
  ccfs_turn "$1"
  stale=$(moved)
}
cold_and_stale "$tc/cache-a" "$tc/cache-b"

# The peer: download, extract, the turn, pack, upload, all through the proxy.
reset_counts
mkdir -p "$tc/seed"
AWS_ENDPOINT_URL=$proxy_url curl_s3 "$(AWS_ENDPOINT_URL=$proxy_url s3_url "$plain_key")" -o "$tc/seed.tgz"
tar xzf "$tc/seed.tgz" -C "$tc/seed"
bash "$tc/turn.sh" "$tc/seed"
tar czf "$tc/seed-new.tgz" -C "$tc/seed" .
AWS_ENDPOINT_URL=$proxy_url curl_s3 -T "$tc/seed-new.tgz" \
  "$(AWS_ENDPOINT_URL=$proxy_url s3_url "$plain_key.turn")" >/dev/null
seed=$(moved)

log "turn cost $size: cold $cold B, stale $stale B, seed's way $seed B, stored $store_bytes B"
record "$size" 1 turn_cold_pct "$(pct "$cold")" "$(pct "$seed")"
record "$size" 1 turn_stale_pct "$(pct "$stale")" "$(pct "$seed")"

# Layout v2: the same workspace, upgraded in place.
"$BENCH_CCFS" upgrade "$ws" --store "$BENCH_STORE" >/dev/null
layout=()
cold_and_stale "$tc/cache-c" "$tc/cache-d"
v2_cold=$cold v2_stale=$stale
log "turn cost $size, layout v2: cold $v2_cold B, stale $v2_stale B"
record "$size" 1 turn_v2_cold_pct "$(pct "$v2_cold")" "$(pct "$seed")"
record "$size" 1 turn_v2_stale_pct "$(pct "$v2_stale")" "$(pct "$seed")"
