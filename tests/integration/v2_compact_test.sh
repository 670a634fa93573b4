#!/usr/bin/env bash
# Compaction and gc of a layout-v2 workspace on RGW while a FUSE mount reads it.
# - 20 flushed turns (append 40 lines to a transcript, rewrite .claude.json,
#   write a todo) leave a transcript of 21 chunks and 20 mostly dead packs;
# - `gc --dry-run` prints the plan and changes nothing;
# - a second mount (cold cache, lazy) reads every file and checks its bytes,
#   three passes, while `ccfs gc --grace-hours 0` compacts and collects from
#   another process: every read is correct;
# - that mount then appends and flushes: the flush meets the compacted root,
#   merges, and loses nothing; a file it rewrote that the compaction had
#   moved keeps its new bytes, with no conflict copy;
# - a gc keeping only the newest generation (grace 0) deletes the objects
#   compaction left behind, and the mount and a fresh pull still read the
#   whole tree exactly; a cold read-only mount opened before the compaction,
#   whose root's objects gc deleted, re-reads the root on the 404s and reads
#   the files compaction only moved; the two changed since fail with EIO.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=compact-$$
seed=${CCFS_TEST_SEED:-$RANDOM}
echo "seed $seed (CCFS_TEST_SEED=$seed reproduces)"
ccfs() { timeout 300 "$CCFS" "$@"; }

src=$T/src
gen_workspace "$src" small "$seed"
check "push" ccfs push "$src" "$WS" --store "$STORE" --layout v1 >/dev/null


w=$T/w
# This writer does not compact after its flushes, so that gc has work.
CCFS_AUTO_COMPACT=0 do_mount "$WS" "$w" --layout v2 --hydrate lazy
tr=$(cd "$w" && find projects -maxdepth 2 -name '*.jsonl' | sort | sed -n 1p)
[[ -n $tr ]] || fail "the generated tree has no transcript"
mkdir -p "$w/todos"
for turn in $(seq 1 20); do
  for i in $(seq 1 40); do
    printf '{"type":"assistant","turn":%d,"line":%d,"seed":%d,"text":"%s"}\n' \
      "$turn" "$i" "$seed" "$(head -c 300 /dev/zero | tr '\0' x)" >>"$w/$tr"
  done
  echo "{\"numStartups\": $turn}" >"$w/.claude.json.tmp"
  mv -f "$w/.claude.json.tmp" "$w/.claude.json"
  echo "[\"todo $turn\"]" >"$w/todos/compact-$turn.json"
  check "flush of turn $turn" ccfs flush "$w" >/dev/null
done
cp -a "$w" "$T/expect"
check "umount the writer" ccfs umount "$w"

# The plan, without changing anything.
objects() { aws --endpoint-url "$AWS_ENDPOINT_URL" s3 ls --recursive "${STORE%/}/$WS/v2/" | wc -l; }
ccfs gc "$WS" --store "$STORE" --dry-run >"$T/dry" || fail "gc --dry-run: $(cat "$T/dry")"
cat "$T/dry"
grep -q "would rewrite 1 transcripts" "$T/dry" || fail "the dry run does not plan the transcript"
grep -q "$tr: 21 chunks -> 1" "$T/dry" || fail "the dry run does not name $tr's 21 chunks"
gen_before=$(ccfs log "$WS" --store "$STORE" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["generation"])')

# A cold read-only mount on this root, read only after gc has taken the
# objects its root names (below): the reader re-reads the root on the 404s.
cp -a "$T/expect" "$T/expect-old"
old=$T/old
do_mount "$WS" "$old" --hydrate lazy --read-only

# A cold mount reads everything while gc compacts and collects.
r=$T/r
do_mount "$WS" "$r" --hydrate lazy
(cd "$T/expect" && find . -type f | sort) >"$T/files"
(
  for pass in 1 2 3; do
    while read -r f; do
      cmp -s "$T/expect/$f" "$r/$f" || { echo "pass $pass: $f differs or unreadable"; exit 1; }
    done <"$T/files"
  done
  echo ok
) >"$T/reader.out" 2>&1 &
reader=$!
ccfs gc "$WS" --store "$STORE" --grace-hours 0 >"$T/gc1" || fail "gc: $(cat "$T/gc1")"
timeout 300 tail --pid="$reader" -f /dev/null || fail "the reader did not finish"
wait "$reader" || fail "reader during gc: $(cat "$T/reader.out")"
cat "$T/gc1"
grep -q "rewrote 1 transcripts" "$T/gc1" || fail "gc did not compact the transcript"
grep -q "committed as generation $((gen_before + 1))" "$T/gc1" || fail "compaction is not generation $((gen_before + 1))"
echo "reader during gc: $(cat "$T/reader.out") ($(wc -l <"$T/files") files x 3 passes)"

# The mount's own change after the compaction: merged, nothing lost.
echo '{"type":"user","message":"after compaction"}' >>"$r/$tr"
echo '{"type":"user","message":"after compaction"}' >>"$T/expect/$tr"
echo "written after compaction" >"$r/after.txt"
echo "written after compaction" >"$T/expect/after.txt"
# A file the compaction moved (todos of old turns sat in mostly dead packs),
# rewritten here: theirs only moved its bytes, so ours wins without a
# conflict copy.
echo '["rewritten after compaction"]' >"$r/todos/compact-1.json"
echo '["rewritten after compaction"]' >"$T/expect/todos/compact-1.json"
check "flush after the compaction" ccfs flush "$r" >"$T/flush-after"
cat "$T/flush-after"
conflicts=$(cd "$r" && find . -name '*.conflict-*' | head -5)
[[ -z $conflicts ]] || fail "the flush after compaction made conflict copies: $conflicts"

# Only the newest generation kept: what compaction left behind goes.
before=$(objects)
ccfs gc "$WS" --store "$STORE" --grace-hours 0 --keep 1 --keep-days 0 >"$T/gc2" ||
  fail "gc --keep 1: $(cat "$T/gc2")"
cat "$T/gc2"
after=$(objects)
echo "objects under $WS/v2/: $before before the second gc, $after after"
((after < before)) || fail "the second gc deleted nothing ($before -> $after)"
check "the mount reads the tree exactly after gc" diff -r "$T/expect" "$r"
# Its files only moved read exactly; the two changed since its root (the
# transcript appended to, the todo rewritten) are gone in the version it
# shows: EIO and a message to remount, never other bytes.
while read -r f; do
  case "$f" in
    "./$tr" | ./todos/compact-1.json)
      if out=$(cat "$old/$f" 2>&1 >/dev/null); then fail "$f changed since the old root, yet it read"; fi
      [[ $out == *"Input/output error"* ]] || fail "$f: not EIO: $out"
      ;;
    *) cmp -s "$T/expect-old/$f" "$old/$f" || fail "the old mount reads $f wrong after gc" ;;
  esac
done <"$T/files"
moved=$(grep -c "its bytes moved" "$old.cache/mount.log" || true)
echo "files the old mount read from the current root after a 404: $moved"
((moved > 0)) || fail "the old mount met no 404 (did gc delete what its root named?)"
grep -q "remount to see the current tree" "$old.cache/mount.log" ||
  fail "the old mount's log does not say why the changed files failed"
check "umount the old mount" ccfs umount "$old"
check "pull after gc" ccfs pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
check "the pulled tree is exact" diff -r "$T/expect" "$T/pulled"
ccfs gc "$WS" --store "$STORE" --grace-hours 0 >"$T/gc3" || fail "gc 3"
grep -q "nothing to compact" "$T/gc3" || fail "a third gc compacted again: $(cat "$T/gc3")"

# Automatic compaction: 20 more turns on a mount that compacts after its
# flushes (the default) keep the transcript's chunk list short, and the tree
# exact.
for turn in $(seq 21 40); do
  for i in $(seq 1 40); do
    printf '{"type":"assistant","turn":%d,"line":%d}\n' "$turn" "$i" | tee -a "$T/expect/$tr" >>"$r/$tr"
  done
  echo "{\"numStartups\": $turn}" | tee "$T/expect/.claude.json" >"$r/.claude.json"
  echo "[\"todo $turn\"]" | tee "$T/expect/todos/compact-$turn.json" >"$r/todos/compact-$turn.json"
  check "flush of turn $turn (auto compaction)" ccfs flush "$r" >/dev/null
done
ccfs gc "$WS" --store "$STORE" --dry-run >"$T/dry2" || fail "gc --dry-run 2"
cat "$T/dry2"
grep -q "chunks -> 1" "$T/dry2" && fail "after automatic compaction a transcript still has over 16 chunks"
ccfs log "$WS" --store "$STORE" >"$T/log2"
echo "generations after 40 turns: $(($(wc -l <"$T/log2") - 1))"
check "the mount's tree is exact after automatic compaction" diff -r "$T/expect" "$r"
check "umount the reader" ccfs umount "$r"
check "pull after automatic compaction" ccfs pull "$WS" "$T/pulled2" --store "$STORE" >/dev/null
check "the pulled tree is exact after automatic compaction" diff -r "$T/expect" "$T/pulled2"
echo PASS
