#!/usr/bin/env bash
# The layout-v2 history commands on the file:// store (no S3 needed): a
# pushed v1 workspace is upgraded to generation 1; log, export (current and
# WS@1), diff, gc --dry-run and ls see it; the refusals (a second upgrade, an
# unknown generation, a workspace that does not exist) exit non-zero with a
# message that says why. A second generation needs a v2 writer, which only
# the store level has so far: tests/unit/workspace_generations_test.cc runs
# diff, restore and gc on two generations through this same binary.
source "$(dirname "$0")/lib.sh"

SEED=${CCFS_TEST_SEED:-$RANDOM}
echo "seed: $SEED (rerun with CCFS_TEST_SEED=$SEED)"

store="file://$T/store"
ws=hist
src=$T/src
# A small tree: dirs (some empty), files of several modes, transcripts under
# projects/<dir>/<uuid>.jsonl, and a relative symlink added by hand (the
# generator makes one only for some seeds).
python3 "$GEN" "$src" --size small --seed "$SEED" --sessions 3 --projects 2 --bulk-mb 0 \
  --plugin-files 25 >/dev/null
mkdir -p "$src/notes/deep/er" "$src/links" "$src/empty-dir"
echo "seed $SEED" >"$src/notes/deep/er/hello.txt"
ln -s ../notes/deep/er/hello.txt "$src/links/hello"
tr=$(cd "$src" && find projects -maxdepth 2 -name '*.jsonl' -print -quit)
[[ -n $tr ]] || fail "the generated tree has no transcript"

# Every ccfs call is bounded: a hang fails the test instead of stalling ctest.
ccfs() { timeout 120 "$CCFS" "$@"; }

# expect_fail WHAT PATTERN CMD...: CMD must exit non-zero and say PATTERN on stderr.
expect_fail() {
  local what=$1 pattern=$2
  shift 2
  local rc=0
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  ((rc != 0)) || fail "$what: exit 0, want non-zero (stdout: $(cat "$T/out"))"
  ((rc != 124)) || fail "$what: timed out"
  grep -q -- "$pattern" "$T/err" || fail "$what: stderr lacks '$pattern': $(cat "$T/err")"
  echo "ok: $what (exit $rc): $(head -1 "$T/err")"
}

# A tree's shape: path, type, mode and symlink target of every entry.
shape() { (cd "$1" && find . -mindepth 1 -printf '%P %y %m %l\n' | LC_ALL=C sort); }

check "push (v1)" ccfs push "$src" "$ws" --store "$store" >/dev/null
ccfs ls --store "$store" >"$T/ls1"
grep -E "^$ws .* v1\$" "$T/ls1" >/dev/null || fail "ls before upgrade does not say v1: $(cat "$T/ls1")"

expect_fail "log of a v1 workspace" "ccfs upgrade $ws" ccfs log "$ws" --store "$store"

ccfs upgrade "$ws" --store "$store" >"$T/upgrade" || fail "upgrade: $(cat "$T/upgrade")"
cat "$T/upgrade"
grep -q "generation 1" "$T/upgrade" || fail "upgrade does not print the generation"
grep -q "downloaded" "$T/upgrade" || fail "upgrade does not print bytes downloaded"

expect_fail "a second upgrade" "already layout v2 (generation 1)" \
  ccfs upgrade "$ws" --store "$store"
rc=0
ccfs upgrade "$ws" --store "$store" 2>/dev/null || rc=$?
[[ $rc == 3 ]] || fail "a second upgrade: exit $rc, want 3 (precondition)"
expect_fail "upgrade of a workspace that does not exist" "workspace 'nosuch' not found" \
  ccfs upgrade nosuch --store "$store"
ccfs ls --store "$store" >"$T/ls-after"
grep -q "nosuch" "$T/ls-after" && fail "a refused upgrade created workspace nosuch"

# log: one generation, with its writer and totals.
ccfs log "$ws" --store "$store" >"$T/log"
cat "$T/log"
[[ $(wc -l <"$T/log") == 2 ]] || fail "log: want a header and one generation"
read -r gen when writer files _ < <(sed -n 2p "$T/log")
[[ $gen == 1 ]] || fail "log: generation '$gen', want 1"
[[ $when =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
  fail "log: time '$when' is not UTC ISO 8601"
[[ $writer == "$(hostname)/"* ]] || fail "log: writer '$writer' is not this host/pid"
want_files=$(cd "$src" && find . -type f | wc -l)
[[ $files == "$want_files" ]] || fail "log: $files files, want $want_files"
ccfs log "$ws" --store "$store" --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert [g["generation"] for g in j] == [1], j
assert j[0]["bytes"] > 0, j' || fail "log --json"

ccfs ls --store "$store" >"$T/ls2"
grep -E "^$ws .* v2 gen 1\$" "$T/ls2" >/dev/null || fail "ls does not show v2 gen 1: $(cat "$T/ls2")"

# export: the current tree and WS@1 both extract to the pushed tree.
for ref in "$ws" "$ws@1"; do
  out=$T/export-${ref//@/-}.tar.gz
  ccfs export "$ref" "$out" --store "$store" || fail "export $ref"
  gzip -t "$out" || fail "export $ref: not a gzip stream"
  x=$T/x-${ref//@/-}
  mkdir "$x"
  tar xzpf "$out" -C "$x" || fail "export $ref: tar xzf failed"
  diff -r "$src" "$x" || fail "export $ref: the extracted tree differs from the pushed one"
  [[ -L $x/links/hello && $(readlink "$x/links/hello") == ../notes/deep/er/hello.txt ]] ||
    fail "export $ref: symlink links/hello missing or retargeted"
  diff <(shape "$src") <(shape "$x") || fail "export $ref: types, modes or link targets differ"
  cmp "$src/$tr" "$x/$tr" || fail "export $ref: transcript $tr differs"
  [[ $(stat -c %a "$out") == 600 ]] || fail "export $ref: archive mode $(stat -c %a "$out"), want 600"
done
leftovers() { find "$T" -maxdepth 1 -name '*.ccfs-export-*' | grep -q .; }
leftovers && fail "export left a temp file behind"

# Export errors leave nothing behind and exit non-zero.
expect_fail "export of an unknown generation" "no generation 7" \
  ccfs export "$ws@7" "$T/bad.tar.gz" --store "$store"
[[ -e $T/bad.tar.gz ]] && fail "a failed export left its output"
leftovers && fail "a failed export left a temp file"
expect_fail "export WS@0" "bad generation" ccfs export "$ws@0" "$T/bad.tar.gz" --store "$store"
expect_fail "export WS@x" "bad generation" ccfs export "$ws@x" "$T/bad.tar.gz" --store "$store"
expect_fail "export into a missing directory" "No such file" \
  ccfs export "$ws" "$T/no/such/dir/out.tar.gz" --store "$store"

# diff of a generation with itself is empty; gc --dry-run deletes nothing.
ccfs diff "$ws" 1 1 --store "$store" >"$T/diff" || fail "diff $ws 1 1"
[[ ! -s $T/diff ]] || fail "diff $ws 1 1 is not empty: $(cat "$T/diff")"
expect_fail "diff with an unknown generation" "no generation 2" ccfs diff "$ws" 1 2 --store "$store"
find "$T/store" -type f | LC_ALL=C sort >"$T/objects.before"
ccfs gc "$ws" --dry-run --store "$store" >"$T/gc" || fail "gc --dry-run"
cat "$T/gc"
grep -q "would delete 0 objects" "$T/gc" || fail "gc --dry-run on one generation would delete something"
find "$T/store" -type f | LC_ALL=C sort >"$T/objects.after"
diff "$T/objects.before" "$T/objects.after" || fail "gc --dry-run changed the store"
ccfs gc "$ws" --store "$store" >/dev/null || fail "gc"
ccfs export "$ws" "$T/after-gc.tar.gz" --store "$store" || fail "export after gc"
expect_fail "restore of an unknown generation" "no generation 9" \
  ccfs restore "$ws" 9 --store "$store"
ccfs restore "$ws" 1 --store "$store" >"$T/restore" || fail "restore of the current generation"
grep -q "nothing to restore" "$T/restore" || fail "restore of the current tree committed: $(cat "$T/restore")"

# A workspace that does not exist is named in the error.
for cmd in "log nosuch" "diff nosuch 1 1" "restore nosuch 1" "gc nosuch" "export nosuch $T/n.tar.gz"; do
  # shellcheck disable=SC2086 # word splitting of $cmd is the point
  expect_fail "$cmd" "workspace 'nosuch' not found" ccfs $cmd --store "$store"
done
expect_fail "a bad workspace name" "bad workspace name" ccfs log "a/b" --store "$store"

echo "PASS: history_cli_test"
