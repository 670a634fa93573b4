#!/usr/bin/env bash
# Conflicts: while a mount has local changes, another machine pushes a new
# version. `ccfs flush` and `ccfs umount` exit 3 with an explanation and lose
# nothing: the next mount resumes the local state; `ccfs flush --force` then
# writes it. Also: a workspace that does not exist yet mounts empty and is
# created by the flush (If-None-Match: *).
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

# Another machine replaces the workspace.
cp -a "$T/src" "$T/other"
echo "their change" >"$T/other/theirs.txt"
etag=$("$CCFS" ls --store "$STORE" --json | python3 -c \
  'import json,sys; print(next(w["etag"] for w in json.load(sys.stdin) if w["workspace"]==sys.argv[1]))' "$WS")
check "the other machine pushes" "$CCFS" push "$T/other" "$WS" --store "$STORE" --if-match "$etag" >/dev/null

set +e
"$CCFS" flush "$mnt" 2>"$T/flush.err"
rc=$?
set -e
[[ $rc == 3 ]] || fail "ccfs flush against a moved base exited $rc, not 3: $(cat "$T/flush.err")"
grep -q "conflict" "$T/flush.err" || fail "no conflict explanation: $(cat "$T/flush.err")"
grep -q -- "--force" "$T/flush.err" || fail "the error does not say how to go on"
[[ $(cat "$mnt/mine.txt") == "local change" ]] || fail "local change lost after a failed flush"

pid=$(cat "$mnt.pid")
set +e
timeout 300 "$CCFS" umount "$mnt" 2>"$T/umount.err"
rc=$?
set -e
[[ $rc == 3 ]] || fail "ccfs umount against a moved base exited $rc, not 3: $(cat "$T/umount.err")"
wait_gone "$pid"
mountpoint -q "$mnt" && fail "still mounted"

# The store still has their version, untouched.
check "pull theirs" "$CCFS" pull "$WS" "$T/theirs" --store "$STORE" >/dev/null
check "the store keeps their version" diff -r "$T/other" "$T/theirs"

# Nothing lost: the same cache resumes the local state...
do_mount "$WS" "$mnt"
[[ $(cat "$mnt/mine.txt") == "local change" ]] || fail "local change not resumed"
tail -1 "$mnt/history.jsonl" | grep -q local || fail "local append not resumed"
[[ -e $mnt/theirs.txt ]] && fail "a resumed mount should show the local version"
# ...and --force writes it over theirs.
check "flush --force" "$CCFS" flush --force "$mnt"
check "umount" timeout 300 "$CCFS" umount "$mnt"
check "pull mine" "$CCFS" pull "$WS" "$T/mine" --store "$STORE" >/dev/null
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
