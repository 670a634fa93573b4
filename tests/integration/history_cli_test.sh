#!/usr/bin/env bash
# The layout-v2 history commands.
# Part 1, on the file:// store: a pushed v1 workspace is upgraded to
# generation 1; log, export (current and WS@1), diff, gc --dry-run and ls see
# it; the refusals (a second upgrade, an unknown generation, a workspace that
# does not exist) exit non-zero with a message that says why
# (tests/unit/workspace_generations_test.cc runs diff, restore and gc on
# several generations through this same binary).
# Part 2, past generations (WS@GEN) on RGW through a real FUSE mount: three
# generations (upgrade, a push, a writable mount's flush); `pull WS@2` and
# `cat WS@2` give generation 2's bytes; `mount WS@2 --read-only` shows its
# tree (diff -r against the pulled copy and the source) from a cache of its
# own, while a writable mount of the current workspace holds unflushed
# changes; writes there fail with EROFS; the store's current generation is
# unchanged and the writer's changes flush afterwards; the refusals (no
# --read-only, an unknown or collected generation, a v1 workspace) exit
# non-zero, mount nothing and leave nothing behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"

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

check "push (v1)" ccfs push "$src" "$ws" --store "$store" --layout v1 >/dev/null
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
grep -E "^$ws .* v2 gen 1, [0-9]+ files, " "$T/ls2"
 >/dev/null || fail "ls does not show v2 gen 1: $(cat "$T/ls2")"

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
leftovers() { grep -q . <<<"$(find "$T" -maxdepth 1 -name '*.ccfs-export-*')"; }
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

# ---------------------------------------------------------------------------
# Part 2: past generations (WS@GEN) on RGW, through a real FUSE mount.
require_s3
STORE=$(s3_store)
pws=past-$$
# Default caches (no --cache) land here, so that the choice of cache dir is
# tested and nothing outside $T is touched.
export XDG_CACHE_HOME=$T/xdg
# The default cache dir of a workspace name (WS or WS@GEN) in $STORE.
cache_of() { echo "$XDG_CACHE_HOME/ccfs/$(printf '%s' "$STORE" | sha256sum | cut -c1-16)/$1"; }
s3() { ccfs "$@" --store "$STORE"; }
current_generation() {
  s3 ls --json | python3 -c '
import json, sys
print({w["workspace"]: w["v2_generation"] for w in json.load(sys.stdin)}[sys.argv[1]])' "$pws"
}
# mount_default REF MP [flags...]: like do_mount, with the default cache.
mount_default() {
  local ref=$1 mp=$2
  shift 2
  mkdir -p "$mp"
  _mounts+=("$mp")
  timeout 120 "$CCFS" mount "$ref" "$mp" --store "$STORE" "$@" || fail "ccfs mount $ref $mp failed"
  mountpoint -q "$mp" || fail "$mp is not a mountpoint after ccfs mount $ref returned"
  mount_pid "$mp" >"$mp.pid"
}
# The files a mount keeps in its cache (its log, lock, databases and scratch
# space aside), with their sizes.
cache_files() {
  (cd "$1" && find . -path ./tmp -prune -o -type f ! -name mount.log \
    ! -name lock ! -name '*.db*' -printf '%P %s\n' | LC_ALL=C sort)
}

# Generation 1: the tree of part 1, adopted.
cp -a "$src" "$T/g1"
check "push $pws (v1)" s3 push "$T/g1" "$pws" --layout v1 >/dev/null
check "upgrade $pws" s3 upgrade "$pws" >/dev/null
# Generation 2: a push onto the v2 workspace (a file changed, one added, a
# directory removed, a transcript appended).
cp -a "$T/g1" "$T/g2"
echo '{"generation": 2}' >"$T/g2/gen.json"
echo "changed in 2" >"$T/g2/notes/deep/er/hello.txt"
rm -r "$T/g2/empty-dir"
echo '{"type":"user","message":"generation 2"}' >>"$T/g2/$tr"
check "push generation 2" s3 push "$T/g2" "$pws" --force >/dev/null
[[ $(current_generation) == 2 ]] || fail "after the push: generation $(current_generation), want 2"
# Generation 3: a writable mount (default cache) edits and unmounts.
cur=$T/cur
mount_default "$pws" "$cur"
echo '{"generation": 3}' >"$cur/gen.json"
rm "$cur/links/hello"
echo '{"type":"user","message":"generation 3"}' >>"$cur/$tr"
check "umount commits generation 3" timeout 120 "$CCFS" umount "$cur" 2>/dev/null
[[ $(current_generation) == 3 ]] || fail "after the mount: generation $(current_generation), want 3"

# pull and cat of WS@2: generation 2's bytes; WS and WS@1 their own.
check "pull $pws@2" s3 pull "$pws@2" "$T/pulled2" >"$T/pull.out"
grep -q "pulled $pws@2" "$T/pull.out" || fail "pull does not name $pws@2: $(cat "$T/pull.out")"
diff -r "$T/g2" "$T/pulled2" || fail "pull $pws@2 differs from generation 2's source"
diff <(shape "$T/g2") <(shape "$T/pulled2") || fail "pull $pws@2: types, modes or link targets differ"
[[ $(s3 cat "$pws@2" gen.json) == '{"generation": 2}' ]] || fail "cat $pws@2 gen.json"
[[ $(s3 cat "$pws" gen.json) == '{"generation": 3}' ]] || fail "cat $pws gen.json (current)"
s3 cat "$pws@2" "$tr" | cmp - "$T/g2/$tr" || fail "cat $pws@2 $tr differs from generation 2's"
s3 cat "$pws@1" "$tr" | cmp - "$T/g1/$tr" || fail "cat $pws@1 $tr differs from generation 1's"
expect_fail "cat of a file generation 1 lacks" "no such file in $pws@1" s3 cat "$pws@1" gen.json

# A writable mount of the current workspace holds unflushed changes (and the
# lease) while generation 2 is mounted: the past mount needs no lease and
# must not touch that mount's cache.
mount_default "$pws" "$cur"
echo "not flushed yet" >"$cur/unflushed.txt"
sync -f "$cur/unflushed.txt"
# Its background hydration done, only a write changes its cache.
for _ in $(seq 600); do
  [[ $(status_field "$cur" hydration.stream_done) == True ]] && break
  sleep 0.1
done
[[ $(status_field "$cur" hydration.stream_done) == True ]] || fail "the writer never hydrated"
cache_files "$(cache_of "$pws")" >"$T/cur-cache.before"
[[ -s $T/cur-cache.before ]] || fail "the writer's cache $(cache_of "$pws") holds no file"

past=$T/past2
mount_default "$pws@2" "$past" --read-only
[[ $(status_field "$past" cache) == "$(cache_of "$pws@2")" ]] ||
  fail "$pws@2 cache is $(status_field "$past" cache), want $(cache_of "$pws@2")"
[[ $(status_field "$past" generation) == 2 ]] || fail "status does not say generation 2"
grep -q "workspace $pws@2 (a past generation)" <<<"$("$CCFS" status "$past")" ||
  fail "ccfs status does not name $pws@2: $("$CCFS" status "$past")"
diff -r "$T/pulled2" "$past" || fail "mount $pws@2 differs from the pulled copy of generation 2"
diff -r "$T/g2" "$past" || fail "mount $pws@2 differs from generation 2's source"
diff <(shape "$T/g2") <(shape "$past") || fail "mount $pws@2: types or link targets differ"

python3 - "$past" <<'PY' || fail "a write to $pws@2 was not refused with EROFS"
import errno, os, sys
mp = sys.argv[1]
p = lambda *a: os.path.join(mp, *a)
attempts = [
    ("append", lambda: open(p("gen.json"), "a").write("x")),
    ("create", lambda: open(p("new-file"), "w")),
    ("mkdir", lambda: os.mkdir(p("new-dir"))),
    ("unlink", lambda: os.unlink(p("gen.json"))),
    ("rename", lambda: os.rename(p("gen.json"), p("moved.json"))),
    ("chmod", lambda: os.chmod(p("gen.json"), 0o600)),
    ("truncate", lambda: os.truncate(p("gen.json"), 0)),
    ("symlink", lambda: os.symlink("gen.json", p("link"))),
]
bad = []
for what, fn in attempts:
    try:
        fn()
        bad.append(what + ": succeeded")
    except OSError as e:
        if e.errno != errno.EROFS:
            bad.append(f"{what}: {errno.errorcode.get(e.errno, e.errno)}")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
check "gen.json unchanged after the refused writes" cmp "$past/gen.json" "$T/g2/gen.json"
"$CCFS" flush "$past" 2>"$T/flush.err" || fail "flush of $pws@2: $(cat "$T/flush.err")"
grep -q "nothing to flush" "$T/flush.err" || fail "flush of $pws@2 did not say nothing to flush"
"$CCFS" umount "$past" 2>"$T/umount.err" || fail "umount of $pws@2: $(cat "$T/umount.err")"
grep -q "nothing to flush" "$T/umount.err" || fail "umount of $pws@2 did not say nothing to flush"
mountpoint -q "$past" && fail "$past still mounted after ccfs umount"
[[ $(current_generation) == 3 ]] || fail "the past mount moved the store to $(current_generation)"
s3 log "$pws" >"$T/log2"
[[ $(sed -n 2p "$T/log2" | cut -d' ' -f1) == 3 && $(wc -l <"$T/log2") == 4 ]] ||
  fail "log after the past mount: $(cat "$T/log2")"

# A remount of generation 2 reuses its own cache and shows the same tree.
mount_default "$pws@2" "$past" --read-only
grep -q "reused the cache" <<<"$(status_field "$past" prepared)" ||
  fail "remount of $pws@2 did not reuse its cache: $(status_field "$past" prepared)"
diff -r "$T/g2" "$past" || fail "remount of $pws@2 differs from generation 2"
check "umount $pws@2 again" "$CCFS" umount "$past" 2>/dev/null

# The writer's cache and changes are as they were; its flush is generation 4.
cache_files "$(cache_of "$pws")" >"$T/cur-cache.after"
diff "$T/cur-cache.before" "$T/cur-cache.after" || fail "the past mount changed the writer's cache"
[[ $(cat "$cur/unflushed.txt") == "not flushed yet" ]] || fail "the writer lost its change"
check "umount of the writer" timeout 120 "$CCFS" umount "$cur" 2>/dev/null
[[ $(current_generation) == 4 ]] || fail "the writer's flush: generation $(current_generation), want 4"
[[ $(s3 cat "$pws" unflushed.txt) == "not flushed yet" ]] || fail "the writer's change is not in 4"
expect_fail "cat $pws@2 of a file only 4 has" "no such file in $pws@2" s3 cat "$pws@2" unflushed.txt

# Refusals: nothing mounted, no cache left, nothing pulled.
refused=$T/refused
mkdir -p "$refused"
expect_fail "mount $pws@3 without --read-only" "--read-only" s3 mount "$pws@3" "$refused"
mountpoint -q "$refused" && fail "a refused mount mounted"
[[ -e $(cache_of "$pws@3") ]] && fail "a refused mount left a cache"
rc=0
s3 mount "$pws@3" "$refused" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "mount $pws@3 without --read-only: exit $rc, want 2 (usage)"
expect_fail "mount of an unknown generation" "no generation 9" \
  s3 mount "$pws@9" "$refused" --read-only
mountpoint -q "$refused" && fail "a mount of an unknown generation mounted"
[[ -e $(cache_of "$pws@9") ]] && fail "a refused mount of $pws@9 left a cache"
expect_fail "pull of an unknown generation" "no generation 9" s3 pull "$pws@9" "$T/p9"
[[ -e $T/p9 ]] && fail "a refused pull created its directory"
expect_fail "cat of an unknown generation" "no generation 9" s3 cat "$pws@9" gen.json
check "push a v1 workspace" s3 push "$T/g1" "$pws-v1" --layout v1 >/dev/null

for cmd in "mount $pws-v1@1 $refused --read-only" "pull $pws-v1@1 $T/pv1" "cat $pws-v1@1 gen.json"; do
  # shellcheck disable=SC2086 # word splitting of $cmd is the point
  expect_fail "$cmd" "has no history yet.*ccfs upgrade $pws-v1" s3 $cmd
done
mountpoint -q "$refused" && fail "a mount of a v1 workspace's past generation mounted"
[[ -e $T/pv1 ]] && fail "a refused pull of $pws-v1@1 created its directory"
[[ -e $(cache_of "$pws-v1@1") ]] && fail "a refused mount of $pws-v1@1 left a cache"
grep -q '"v2_generation": 0' <<<"$(s3 ls --json)" || fail "the v1 workspace is no longer v1"
expect_fail "mount of a workspace that does not exist" "workspace 'nosuch' not found" \
  s3 mount nosuch@1 "$refused" --read-only

# A generation gc collected is gone for pull, cat and mount alike.
sleep 1.1
check "gc" s3 gc "$pws" --keep 1 --keep-days 0 --grace-hours 0 >/dev/null
expect_fail "pull of a collected generation" "no generation 2" s3 pull "$pws@2" "$T/p2gc"
[[ -e $T/p2gc ]] && fail "a refused pull of a collected generation created its directory"
expect_fail "cat of a collected generation" "no generation 2" s3 cat "$pws@2" gen.json
expect_fail "mount of a collected generation" "no generation 2" \
  s3 mount "$pws@2" "$refused" --read-only --cache "$T/gc-cache"
mountpoint -q "$refused" && fail "a mount of a collected generation mounted"
[[ -e $T/gc-cache ]] && fail "a refused mount of a collected generation left its cache"
check "pull $pws@4 (kept)" s3 pull "$pws@4" "$T/p4" >/dev/null
[[ $(cat "$T/p4/unflushed.txt") == "not flushed yet" ]] || fail "pull $pws@4"

echo "PASS: history_cli_test"
