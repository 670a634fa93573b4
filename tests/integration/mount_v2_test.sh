#!/usr/bin/env bash
# Layout v2 through a real mount on RGW (docs/layout-v2-plan.md):
# - `mount --layout v2` adopts a pushed v1 workspace, downloading only its
#   index; the tree equals the source;
# - the usual edits flush as one commit; a second mount (no flag: the root
#   says v2) shows them, modes and symlinks included;
# - one agent turn (read settings.json, rewrite .claude.json, append 40 lines
#   to a transcript, write three small files) moves a few percent of the
#   tree, counted by the client's own byte counters;
# - two mounts writing at once merge (both changes kept, a conflict copy for
#   the file both changed);
# - a SIGKILLed mount's fsync'd change survives the remount and its flush;
# - `ccfs log` lists the generations and `ccfs export` equals the last tree;
# - `ccfs push` onto the v2 workspace commits the next generation (a stale
#   --if-match is refused), and `pull`, `cat` and a mount show it, with the
#   transcripts' mtimes as they were on the pushing machine; `ccfs sessions
#   --workspace` reads the same sessions from the v2 store;
# - an append to a 2 MB transcript on a cold cache downloads a few KB (its
#   last page), and cat, tail -c and jq then read old + new bytes exactly.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=v2-$$
seed=${CCFS_TEST_SEED:-$RANDOM}
echo "seed $seed (CCFS_TEST_SEED=$seed reproduces)"

src=$T/src
gen_workspace "$src" small "$seed"
check "push" "$CCFS" push "$src" "$WS" --store "$STORE" --layout v1 >/dev/null

tree_bytes=$(du -sb "$src" | cut -f1)

# Adoption: server-side copies; what comes down is the index and a LIST.
mnt=$T/mnt
do_mount "$WS" "$mnt" --layout v2 --hydrate lazy
base=$(status_field "$mnt" base_etag)
[[ $base == v2:* ]] || fail "base after --layout v2 is $base, not a v2 root"
adopt_down=$(status_field "$mnt" store_stats.bytes_received)
echo "adoption + mount: $adopt_down B down (tree $tree_bytes B)"
((adopt_down * 10 < tree_bytes)) || fail "adoption downloaded $adopt_down B of a $tree_bytes B tree"
check "adopted tree equals the source" diff -r "$src" "$mnt"

cp -a "$src" "$T/expect"
edit() {
  local d=$1 t1 t2
  echo '{"created":true}' >"$d/new-file.json"
  printf '%s\n' '{"display":"appended"}' >>"$d/history.jsonl"
  truncate -s 10 "$d/CLAUDE.md"
  echo '{"numStartups": 43}' >"$d/.claude.json.tmp.1"
  chmod 600 "$d/.claude.json.tmp.1"
  mv -f "$d/.claude.json.tmp.1" "$d/.claude.json"
  rm "$d/settings.json"
  rm -r "$d/agents"
  mkdir -p "$d/a/b/c" && echo deep >"$d/a/b/c/f" && mv "$d/a" "$d/renamed-dir"
  : >"$d/renamed-dir/empty"
  ln -s ../CLAUDE.md "$d/debug/latest.new" && mv -T "$d/debug/latest.new" "$d/debug/latest"
  chmod 700 "$d/hooks/notify.sh"
  t1=$(cd "$d" && find projects -maxdepth 2 -name '*.jsonl' | sort | sed -n 1p)
  t2=$(cd "$d" && find projects -maxdepth 2 -name '*.jsonl' | sort | sed -n 2p)
  echo '{"type":"user","message":"more"}' >>"$d/$t1"
  echo '{"type":"user","message":"new session"}' >"$(dirname "$d/$t1")/new-session.jsonl"
  chmod 644 "$(dirname "$d/$t1")/new-session.jsonl"
  chmod 640 "$d/$t1"
  rm "$d/$t2"
}
edit "$T/expect"
edit "$mnt"
check "mount equals the edited copy" diff -r "$T/expect" "$mnt"
check "ccfs umount" timeout 120 "$CCFS" umount "$mnt"

modes() { (cd "$1" && find . -printf '%P %y %m\n' | sort); }
mnt2=$T/mnt2
do_mount "$WS" "$mnt2" --hydrate lazy
[[ $(status_field "$mnt2" base_etag) == v2:* ]] || fail "a v2 workspace mounted without the flag is not v2"
check "second mount equals the edited copy" diff -r "$T/expect" "$mnt2"
check "modes and types" diff <(modes "$T/expect") <(modes "$mnt2")
[[ $(readlink "$mnt2/debug/latest") == ../CLAUDE.md ]] || fail "readlink debug/latest"

# One agent turn, as Claude Code makes it.
moved() {
  local mp=$1
  echo $(($(status_field "$mp" store_stats.bytes_received) + $(status_field "$mp" store_stats.bytes_sent)))
}
before=$(moved "$mnt2")
turn() {
  local d=$1 t i
  cat "$d/CLAUDE.md" >/dev/null
  t=$(cd "$d" && find projects -name '*.jsonl' | sort | sed -n 3p)
  for i in $(seq 40); do
    printf '{"type":"assistant","i":%d,"seed":%d,"text":"%s"}\n' "$i" "$seed" \
      "$(head -c 200 /dev/urandom | base64 -w0)" >>"$d/$t"
  done
  { cat "$d/.claude.json"; echo '{"turn":1}'; } >"$d/.claude.json.tmp.2"
  mv -f "$d/.claude.json.tmp.2" "$d/.claude.json"
  mkdir -p "$d/todos" "$d/shell-snapshots" "$d/file-history"
  echo '[]' >"$d/todos/turn-agent.json"
  echo 'export PATH=/usr/bin' >"$d/shell-snapshots/snapshot-turn.sh"
  echo 'old bytes' >"$d/file-history/turn-1"
}
turn "$mnt2"
check "flush of the turn" timeout 120 "$CCFS" flush "$mnt2" >/dev/null
after=$(moved "$mnt2")
turn_bytes=$((after - before))
echo "turn: $turn_bytes B moved for a $tree_bytes B tree ($((turn_bytes * 1000 / tree_bytes)) per mille)"
((turn_bytes * 20 < tree_bytes)) || fail "the turn moved $turn_bytes B, over 5% of the $tree_bytes B tree"
cp -a "$mnt2" "$T/expect2"
check "umount after the turn" timeout 120 "$CCFS" umount "$mnt2"

# Two writers at once.
wa=$T/wa wb=$T/wb
do_mount "$WS" "$wa" --hydrate lazy
do_mount "$WS" "$wb" --hydrate lazy --lease-ttl 0
ta=$(cd "$wa" && find projects -name '*.jsonl' | sort | sed -n 1p)
tb=$(cd "$wa" && find projects -name '*.jsonl' | sort | sed -n 3p)
echo "from a" >"$wa/a.txt"
echo '{"from":"a"}' >>"$wa/$ta"
echo "ours (a)" >"$wa/both.txt"
echo "from b" >"$wb/b.txt"
echo '{"from":"b"}' >>"$wb/$tb"
echo "theirs (b)" >"$wb/both.txt"
check "flush a" timeout 120 "$CCFS" flush "$wa" >/dev/null
check "flush b merges" timeout 120 "$CCFS" flush "$wb" >/dev/null
check "umount a" timeout 120 "$CCFS" umount "$wa"
check "umount b" timeout 120 "$CCFS" umount "$wb"
w3=$T/w3
do_mount "$WS" "$w3" --hydrate lazy
[[ $(cat "$w3/a.txt") == "from a" && $(cat "$w3/b.txt") == "from b" ]] || fail "a merged change is missing"
grep -q '"from":"a"' <<<"$(tail -n1 "$w3/$ta")" || fail "a's transcript line is missing"
grep -q '"from":"b"' <<<"$(tail -n1 "$w3/$tb")" || fail "b's transcript line is missing"
[[ $(cat "$w3/both.txt") == "ours (a)" ]] || fail "both.txt is not the first writer's"
copy=$(ls "$w3" | grep '^both.txt.conflict-' || true)
[[ -n $copy && $(cat "$w3/$copy") == "theirs (b)" ]] || fail "no conflict copy with b's both.txt"

# SIGKILL with an fsync'd change, then remount on the same cache.
echo "survives" >"$w3/crash.txt"
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$w3/crash.txt"
pid=$(cat "$w3.pid")
kill -KILL "$pid"
wait_gone "$pid"
fusermount3 -u -z "$w3" 2>/dev/null || true
do_mount "$WS" "$w3" --hydrate lazy
[[ $(cat "$w3/crash.txt") == survives ]] || fail "the fsync'd file did not survive SIGKILL"
cp -a "$w3" "$T/expect3"
check "umount after the crash" timeout 120 "$CCFS" umount "$w3"

# History and export see the same tree.
"$CCFS" log "$WS" --store "$STORE" >"$T/log" || fail "ccfs log"
[[ $(grep -c . "$T/log") -ge 5 ]] || fail "ccfs log shows $(grep -c . "$T/log") generations: $(cat "$T/log")"
check "export" "$CCFS" export "$WS" "$T/out.tar.gz" --store "$STORE"
mkdir "$T/x" && tar xzf "$T/out.tar.gz" -C "$T/x"
check "export equals the last mount" diff -r "$T/expect3" "$T/x"

# Push onto v2.
cp -a "$T/expect3" "$T/p"
echo pushed >"$T/p/pushed.txt"
rm "$T/p/a.txt"
t=$(cd "$T/p" && find projects -name '*.jsonl' | sort | sed -n 2p)
touch -d '2026-01-02 03:04:05' "$T/p/$t"
"$CCFS" push "$T/p" "$WS" --store "$STORE" >"$T/push.out" 2>&1 && fail "push over v2 without --if-match succeeded"
grep -q "already exists" "$T/push.out" || fail "refused push says: $(cat "$T/push.out")"
"$CCFS" push "$T/p" "$WS" --store "$STORE" --if-match 0123 >/dev/null 2>&1 &&
  fail "push with a stale --if-match succeeded"
rootetag=$(grep -o 'root ETag [^ )]*' "$T/push.out" | head -1 | cut -d' ' -f3 | tr -d ';')
[[ -n $rootetag ]] || fail "no root ETag in: $(cat "$T/push.out")"
check "push --if-match onto v2" "$CCFS" push "$T/p" "$WS" --store "$STORE" --if-match "$rootetag" >/dev/null
check "pull of v2" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
check "pulled equals the pushed tree" diff -r "$T/p" "$T/pulled"
[[ $("$CCFS" cat "$WS" pushed.txt --store "$STORE") == pushed ]] || fail "ccfs cat of a v2 file"
w4=$T/w4
do_mount "$WS" "$w4" --hydrate lazy
check "mount after push equals the pushed tree" diff -r "$T/p" "$w4"
[[ $(stat -c %Y "$w4/$t") == $(stat -c %Y "$T/p/$t") ]] ||
  fail "transcript mtime $(stat -c %Y "$w4/$t") on the mount, $(stat -c %Y "$T/p/$t") pushed"
[[ $(stat -c %Y "$T/pulled/$t") == $(stat -c %Y "$T/p/$t") ]] || fail "transcript mtime lost by pull"
check "umount after push" timeout 120 "$CCFS" umount "$w4"

# A new workspace created as v2 (no v1 object at all): listed, pulled back.
n2=$T/n2
do_mount "new-$WS" "$n2" --layout v2 --hydrate lazy
echo fresh >"$n2/fresh.txt"
check "umount of a new v2 workspace" timeout 120 "$CCFS" umount "$n2"
grep -q "v2 gen 1" <<<"$("$CCFS" ls --store "$STORE" | grep "^new-$WS ")" ||
  fail "ccfs ls does not show new-$WS as v2 gen 1: $("$CCFS" ls --store "$STORE")"
check "pull of a new v2 workspace" "$CCFS" pull "new-$WS" "$T/n2pulled" --store "$STORE" >/dev/null
[[ $(cat "$T/n2pulled/fresh.txt") == fresh ]] || fail "the new v2 workspace lost fresh.txt"

# `ccfs sessions` straight from the v2 store sees what the pushed dir has.
sessions() { python3 -c '
import json, sys
for s in sorted(json.load(sys.stdin), key=lambda s: s["session_id"]):
    print(s["session_id"], s["lines"], s["messages"], s["tokens"])'; }
"$CCFS" sessions ls --json --store "$STORE" --workspace "$WS" 2>"$T/ss.err" | sessions >"$T/ss.store" ||
  fail "sessions ls --workspace on v2: $(cat "$T/ss.err")"
"$CCFS" sessions ls --json --dir "$T/p" 2>/dev/null | sessions >"$T/ss.dir" || fail "sessions ls --dir"
[[ -s $T/ss.dir ]] || fail "no sessions in the pushed tree"
check "sessions from the v2 store equal those of the pushed dir" diff "$T/ss.dir" "$T/ss.store"

# An append to a transcript not in the cache (a cold cache: `>>`, as Claude
# Code's O_APPEND writes) downloads the page holding its end, not the
# transcript, and flushes as a chunk of the new bytes; reading it whole
# afterwards gives the old bytes then the new ones. The transcript is 2 MB,
# adopted from v1 (one raw chunk), then appended to on two cold caches (the
# second time its end spans that chunk and the first append's).
big=projects/-tail/big.jsonl
mkdir -p "$T/tailsrc/projects/-tail"
python3 -c '
import json, random, sys
r = random.Random(int(sys.argv[2]))
with open(sys.argv[1], "w") as f:
    n = 0
    while f.tell() < 2 * 1024 * 1024:
        f.write(json.dumps({"type": "assistant", "i": n,
                            "text": "".join(r.choice("abcdefgh ") for _ in range(300))}) + "\n")
        n += 1' "$T/tailsrc/$big" "$seed"
echo '{}' >"$T/tailsrc/settings.json"
check "push the big transcript" "$CCFS" push "$T/tailsrc" "tail-$WS" --store "$STORE" >/dev/null
w5=$T/w5
do_mount "tail-$WS" "$w5" --layout v2 --hydrate lazy
check "umount after adopting" timeout 120 "$CCFS" umount "$w5"
size=$(stat -c %s "$T/tailsrc/$big")
cp "$T/tailsrc/$big" "$T/big.expect"
for round in 1 2; do
  w6=$T/w6-$round
  do_mount "tail-$WS" "$w6" --hydrate lazy
  down0=$(status_field "$w6" store_stats.bytes_received)
  line="{\"type\":\"user\",\"tail\":\"appended on a cold cache, round $round\"}"
  printf '%s\n' "$line" >>"$w6/$big"
  printf '%s\n' "$line" >>"$T/big.expect"
  check "flush of the cold append ($round)" timeout 120 "$CCFS" flush "$w6" >/dev/null
  down=$(($(status_field "$w6" store_stats.bytes_received) - down0))
  echo "cold append + flush, round $round: $down B down for a $size B transcript" \
    "(tail-only files: $(status_field "$w6" hydration.tail_files))"
  ((down * 100 < size)) || fail "a cold append downloaded $down B of a $size B transcript"
  check "tail -c of the cold-appended transcript" cmp <(tail -c 300 "$T/big.expect") <(tail -c 300 "$w6/$big")
  check "cat gives the old bytes then the new" cmp "$T/big.expect" "$w6/$big"
  check "jq reads every line" jq -c . "$w6/$big" >/dev/null
  check "umount after the cold append" timeout 120 "$CCFS" umount "$w6"
done
w7=$T/w7
do_mount "tail-$WS" "$w7" --hydrate lazy
check "the store has the old bytes then the new" cmp "$T/big.expect" "$w7/$big"
check "umount of the check" timeout 120 "$CCFS" umount "$w7"
echo "PASS"
