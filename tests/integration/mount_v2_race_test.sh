#!/usr/bin/env bash
# Two mounts of one layout-v2 workspace on RGW commit as fast as they can:
# each writes a file of its own and appends a line to a shared-history
# .jsonl of its own, then flushes, 100 times. Flushes that lose the race
# merge with the winning root and commit again. At the end every file and
# every line is there, and `ccfs log` shows generations 1..N with no gap and
# no repeat: every success was generation + 1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=v2race-$$
ROUNDS=${CCFS_RACE_ROUNDS:-100}

mkdir -p "$T/seed/projects/p"
echo '{}' >"$T/seed/.claude.json"
mkdir "$T/seed/a" "$T/seed/b"
ma=$T/ma mb=$T/mb
do_mount "$WS" "$ma" --layout v2 --hydrate lazy --lease-ttl 0
cp -a "$T/seed/." "$ma/"
check "first commit" timeout 120 "$CCFS" flush "$ma" >/dev/null
do_mount "$WS" "$mb" --hydrate lazy --lease-ttl 0

writer() {
  local mp=$1 id=$2 i tries
  for ((i = 1; i <= ROUNDS; i++)); do
    echo "$id $i" >"$mp/$id/f$i"
    echo "{\"w\":\"$id\",\"i\":$i}" >>"$mp/projects/p/$id.jsonl"
    # A flush that loses three merges in a row reports a conflict and keeps
    # everything: it is simply run again.
    for ((tries = 0; tries < 20; tries++)); do
      timeout 120 "$CCFS" flush "$mp" >/dev/null 2>>"$T/$id.err" && break
    done
    ((tries < 20)) || { echo "writer $id: flush $i never succeeded" >&2; return 1; }
  done
}
writer "$ma" a &
pa=$!
writer "$mb" b &
pb=$!
wait "$pa" || fail "writer a failed: $(tail -3 "$T/a.err")"
wait "$pb" || fail "writer b failed: $(tail -3 "$T/b.err")"
check "umount a" timeout 120 "$CCFS" umount "$ma"
check "umount b" timeout 120 "$CCFS" umount "$mb"

mc=$T/mc
do_mount "$WS" "$mc" --hydrate lazy
for id in a b; do
  n=$(ls "$mc/$id" | wc -l)
  ((n == ROUNDS)) || fail "$id: $n of $ROUNDS files"
  lines=$(grep -c "\"w\":\"$id\"" "$mc/projects/p/$id.jsonl")
  ((lines == ROUNDS)) || fail "$id: $lines of $ROUNDS lines"
  check "$id's lines in order, once each" diff <(seq 1 "$ROUNDS") \
    <(python3 -c 'import json,sys; [print(json.loads(l)["i"]) for l in open(sys.argv[1])]' \
      "$mc/projects/p/$id.jsonl")
done
grep -q conflict <<<"$(ls "$mc")" && fail "conflict copies: $(ls "$mc" | grep conflict)"
check "umount c" timeout 120 "$CCFS" umount "$mc"

"$CCFS" log "$WS" --store "$STORE" --json >"$T/log.json" || fail "ccfs log"
python3 - "$T/log.json" <<'PY' || fail "generations are not 1..N once each"
import json, sys
gens = sorted(g["generation"] for g in json.load(open(sys.argv[1])))
assert gens == list(range(1, len(gens) + 1)), gens[:20]
print(f"{len(gens)} generations, 1..{gens[-1]}, no gap, no repeat")
PY
echo "conflict reports a: $(grep -c . "$T/a.err" || true), b: $(grep -c . "$T/b.err" || true)"
echo "PASS"
