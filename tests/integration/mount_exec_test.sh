#!/usr/bin/env bash
# ccfs exec: the command runs with CLAUDE_CONFIG_DIR on a private lazy mount;
# reading one file moves a small fraction of the workspace; its exit code
# comes back; its changes are flushed; a failed flush exits 75 and keeps the
# changes in the cache; its log is kept in <cache>/mount.log (--verbose: on
# stderr too).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=ex-$$
export CCFS

python3 "$GEN" "$T/src" --size small --bulk-mb 24 --seed 13 >/dev/null
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
total=$(du -sb "$T/src" | cut -f1)

set +e
"$CCFS" exec "$WS" --store "$STORE" --cache "$T/exec-cache" -- bash -c '
  set -e
  [[ -n $CLAUDE_CONFIG_DIR ]] && mountpoint -q "$CLAUDE_CONFIG_DIR"
  echo "$CLAUDE_CONFIG_DIR" >"'"$T"'/dir"
  cat "$CLAUDE_CONFIG_DIR/settings.json" >"'"$T"'/settings.out"
  "$CCFS" status "$CLAUDE_CONFIG_DIR" --json >"'"$T"'/status.json"
  echo "{\"display\":\"from exec\"}" >>"$CLAUDE_CONFIG_DIR/history.jsonl"
  exit 7' 2>"$T/exec.err"
rc=$?
set -e
[[ $rc == 7 ]] || fail "exec exited $rc, not the command's 7 (stderr: $(cat "$T/exec.err"))"
# The turn leaves its log in the cache; stderr (the command's too) stays quiet.
grep -q "the command exited with 7" "$T/exec-cache/mount.log" ||
  fail "no log of the turn in the cache: $(cat "$T/exec-cache/mount.log" 2>&1)"
grep -q "flush: done" "$T/exec-cache/mount.log" || fail "the log does not say the flush ended"
grep -q "\[info\]" "$T/exec.err" && fail "exec printed its info log on stderr: $(cat "$T/exec.err")"
"$CCFS" exec "$WS" --store "$STORE" --cache "$T/exec-cache" --verbose -- true 2>"$T/exec-v.err" ||
  fail "exec --verbose -- true failed: $(cat "$T/exec-v.err")"
grep -q "the command exited with 0" "$T/exec-v.err" || fail "--verbose does not show the log: $(cat "$T/exec-v.err")"
check "the command read settings.json" cmp "$T/src/settings.json" "$T/settings.out"
[[ -e $(cat "$T/dir") ]] && fail "exec left its mountpoint $(cat "$T/dir") behind"
fetched=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["store_stats"]["bytes_received"])' "$T/status.json")
hydrate=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hydrate"])' "$T/status.json")
[[ $hydrate == lazy ]] || fail "exec hydrates $hydrate by default, not lazy"
echo "lazy exec reading one file fetched $fetched of $total bytes"
((fetched * 20 < total)) || fail "reading one file fetched $fetched bytes, more than 5% of $total"

check "pull" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
grep -q "from exec" <<<"$(tail -1 "$T/pulled/history.jsonl")" || fail "exec's append was not flushed"

check "exec true" "$CCFS" exec "$WS" --store "$STORE" -- true
set +e
"$CCFS" exec "$WS" --store "$STORE" -- false
rc=$?
set -e
[[ $rc == 1 ]] || fail "exec false exited $rc"

# The workspace changes under a running turn: the flush merges (exit 0) and
# the store has both the turn's change and the other machine's.
cp -a "$T/src" "$T/other"
echo other >"$T/other/other.txt"
"$CCFS" exec "$WS" --store "$STORE" --cache "$T/exec-cache" -- bash -c '
  echo "turn output" >"$CLAUDE_CONFIG_DIR/turn.txt"
  "$CCFS" push "'"$T"'/other" "'"$WS"'" --store "'"$STORE"'" --force --ignore-lease >/dev/null' 2>"$T/exec.err" ||
  fail "exec whose workspace moved on did not merge: $(cat "$T/exec.err")"
check "pull merged" "$CCFS" pull "$WS" "$T/merged" --store "$STORE" >/dev/null
[[ $(cat "$T/merged/turn.txt") == "turn output" ]] || fail "the turn's change is not in the store"
[[ $(cat "$T/merged/other.txt") == "other" ]] || fail "the other machine's change was overwritten"

# A version the flush cannot merge with (a plain `tar czf` tarball, no ccfs
# index, dropped over a v1 workspace's tarball in a file:// store): exit 75,
# the change waits in the cache.
FSTORE=file://$T/fstore
check "push (file store)" "$CCFS" push "$T/src" fws --store "$FSTORE" --layout v1 >/dev/null
tar czf "$T/foreign.tgz" -C "$T/other" .
set +e
"$CCFS" exec fws --store "$FSTORE" --cache "$T/exec-cache2" --layout v1 -- bash -c '
  echo "turn output" >"$CLAUDE_CONFIG_DIR/turn.txt"
  mv "'"$T"'/foreign.tgz" "'"$T"'/fstore/fws/claude-home.tar.gz"' 2>"$T/exec.err"
rc=$?
set -e
[[ $rc == 75 ]] || fail "exec with a failed flush exited $rc, not 75: $(cat "$T/exec.err")"
grep -q conflict "$T/exec.err" || fail "exec did not explain the conflict: $(cat "$T/exec.err")"
STORE=$FSTORE MOUNT_CACHE=$T/exec-cache2 do_mount fws "$T/mnt" --layout v1

[[ $(cat "$T/mnt/turn.txt") == "turn output" ]] || fail "the turn's change was lost"
echo "PASS"
