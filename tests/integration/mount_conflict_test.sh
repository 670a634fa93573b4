#!/usr/bin/env bash
# Conflicts: while a mount has local changes, another machine pushes a new
# version. `ccfs flush` merges with it (theirs taken, ours applied onto it:
# fs/flush/merge.h) and says what it merged; the mount shows the merged tree.
# When the store's version cannot be merged with (a tarball another tool
# wrote), `ccfs flush` and `ccfs umount` exit 3 with an explanation and lose
# nothing: the next mount resumes the local state; `ccfs flush --force` then
# writes it. Also: a workspace that does not exist yet mounts empty and is
# created by the flush (If-None-Match: *). mount_merge_test.sh has two
# mounts racing and the random trials.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=cf-$$

gen_workspace "$T/src" small 12
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
mnt=$T/mnt
do_mount "$WS" "$mnt"
echo "local change" >"$mnt/mine.txt"
echo '{"line":"local"}' >>"$mnt/history.jsonl"
[[ -e $mnt/theirs.txt ]] && fail "theirs.txt exists before anyone wrote it"  # a negative entry now

# Another machine replaces the workspace.
cp -a "$T/src" "$T/other"
echo "their change" >"$T/other/theirs.txt"
etag=$("$CCFS" ls --store "$STORE" --json | python3 -c \
  'import json,sys; print(next(w["etag"] for w in json.load(sys.stdin) if w["workspace"]==sys.argv[1]))' "$WS")
# The mount holds the lease: a push is refused, naming the holder, even
# with the right ETag or --force; --ignore-lease overrides it.
for flags in "--if-match $etag" "--force"; do
  set +e
  # shellcheck disable=SC2086 # two words on purpose
  "$CCFS" push "$T/other" "$WS" --store "$STORE" $flags >/dev/null 2>"$T/push.err"
  rc=$?
  set -e
  [[ $rc == 1 ]] || fail "push $flags under a live mount's lease exited $rc, not 1: $(cat "$T/push.err")"
  grep -q "is held writable by .*(pid $(cat "$mnt.pid"))" "$T/push.err" ||
    fail "refusal does not name the holder: $(cat "$T/push.err")"
  grep -q -- "--ignore-lease" "$T/push.err" || fail "refusal does not say how to override: $(cat "$T/push.err")"
done
check "the other machine pushes" "$CCFS" push "$T/other" "$WS" --store "$STORE" --if-match "$etag" --ignore-lease >/dev/null

set +e
"$CCFS" flush "$mnt" 2>"$T/flush.err"
rc=$?
set -e
[[ $rc == 0 ]] || fail "ccfs flush against a moved base exited $rc, not 0 (merged): $(cat "$T/flush.err")"
grep -q "merged: theirs.txt (taken from the store)" "$T/flush.err" ||
  fail "flush does not say what it took: $(cat "$T/flush.err")"
grep -q "merged: mine.txt (local change applied)" "$T/flush.err" ||
  fail "flush does not say what it applied: $(cat "$T/flush.err")"
# The mount shows the merged tree at once (the kernel's caches were told).
[[ $(cat "$mnt/theirs.txt") == "their change" ]] || fail "theirs.txt not visible in the mount"
[[ $(cat "$mnt/mine.txt") == "local change" ]] || fail "local change lost by the merge"
"$CCFS" status "$mnt" >"$T/status.out"
grep -q "merged:    theirs.txt (from remote)" "$T/status.out" ||
  fail "status does not show the last flush's merge: $(cat "$T/status.out")"
check "umount" timeout 300 "$CCFS" umount "$mnt"
cp -a "$T/other" "$T/expect"
echo "local change" >"$T/expect/mine.txt"
echo '{"line":"local"}' >>"$T/expect/history.jsonl"
check "pull merged" "$CCFS" pull "$WS" "$T/merged" --store "$STORE" >/dev/null
check "the store has both sides' changes" diff -r "$T/expect" "$T/merged"

# A version that cannot be merged with: a plain `tar czf` tarball (no ccfs
# index) dropped over the tarball of a v1 workspace in a file:// store (in
# layout v2 the tarball is no longer read once adopted, and a late one is
# taken in: v2_adoption_test.sh).
FSTORE=file://$T/fstore
check "push (file store)" "$CCFS" push "$T/src" fws --store "$FSTORE" --layout v1 >/dev/null
fmnt=$T/fmnt
STORE=$FSTORE do_mount fws "$fmnt" --layout v1
echo "local change" >"$fmnt/mine.txt"
echo '{"line":"local"}' >>"$fmnt/history.jsonl"
# (--force below packs every file from the cache: let the background stream finish.)
for _ in $(seq 600); do
  [[ $(status_field "$fmnt" remote_files) == 0 ]] && break
  sleep 0.1
done
[[ $(status_field "$fmnt" remote_files) == 0 ]] || fail "background hydration did not finish"
tar czf "$T/foreign.tgz" -C "$T/other" .
mv "$T/foreign.tgz" "$T/fstore/fws/claude-home.tar.gz"

set +e
"$CCFS" flush "$fmnt" 2>"$T/flush.err"
rc=$?
set -e
[[ $rc == 3 ]] || fail "ccfs flush against an unmergeable base exited $rc, not 3: $(cat "$T/flush.err")"
grep -q "conflict" "$T/flush.err" || fail "no conflict explanation: $(cat "$T/flush.err")"
grep -q -- "--force" "$T/flush.err" || fail "the error does not say how to go on"
[[ $(cat "$fmnt/mine.txt") == "local change" ]] || fail "local change lost after a failed flush"

pid=$(cat "$fmnt.pid")
set +e
timeout 300 "$CCFS" umount "$fmnt" 2>"$T/umount.err"
rc=$?
set -e
[[ $rc == 3 ]] || fail "ccfs umount against an unmergeable base exited $rc, not 3: $(cat "$T/umount.err")"
wait_gone "$pid"
mountpoint -q "$fmnt" && fail "still mounted"

# The store still has their version, untouched.
check "pull theirs" "$CCFS" pull fws "$T/theirs" --store "$FSTORE" >/dev/null
check "the store keeps their version" diff -r "$T/other" "$T/theirs"

# Nothing lost: the same cache resumes the local state...
STORE=$FSTORE do_mount fws "$fmnt" --layout v1

[[ $(cat "$fmnt/mine.txt") == "local change" ]] || fail "local change not resumed"
grep -q local <<<"$(tail -1 "$fmnt/history.jsonl")" || fail "local append not resumed"
[[ -e $fmnt/theirs.txt ]] && fail "a resumed mount should show the local version"
# ...and --force writes it over theirs.
check "flush --force" "$CCFS" flush --force "$fmnt"
check "umount" timeout 300 "$CCFS" umount "$fmnt"
check "pull mine" "$CCFS" pull fws "$T/mine" --store "$FSTORE" >/dev/null
[[ $(cat "$T/mine/mine.txt") == "local change" ]] || fail "forced flush did not write mine.txt"
[[ -e $T/mine/theirs.txt ]] && fail "forced flush kept theirs.txt"

# A workspace that does not exist yet.
NEW=new-$$
do_mount "$NEW" "$T/new"
[[ -z $(ls -A "$T/new") ]] || fail "a new workspace is not empty"
mkdir -p "$T/new/projects/p"
echo '{"first":1}' >"$T/new/projects/p/s.jsonl"
echo '{}' >"$T/new/settings.json"
check "umount creates the workspace" timeout 300 "$CCFS" umount "$T/new"
check "pull the new workspace" "$CCFS" pull "$NEW" "$T/new-pulled" --store "$STORE" >/dev/null
[[ $(cat "$T/new-pulled/projects/p/s.jsonl") == '{"first":1}' ]] || fail "new transcript"
[[ $(cat "$T/new-pulled/settings.json") == '{}' ]] || fail "new settings.json"
echo "PASS"
