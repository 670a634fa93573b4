#!/usr/bin/env bash
# Mounted transcripts behave like local files for the shell tools people use
# on them: `ccusage daily --json --offline` (npm ccusage@20.0.24) prints the
# same JSON over a lazy mount as over a local copy of the tree; grep -r, jq,
# less and tail -f see the same bytes as on local disk.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=tools-$$

CCUSAGE=${CCFS_CCUSAGE:-/opt/ccfs-tools/node_modules/.bin/ccusage}
[[ -x $CCUSAGE ]] || fail "ccusage not found at $CCUSAGE (scripts/install-deps --test installs it)"
grep -qw "20\.0\.24" <<<"$("$CCUSAGE" --version)" || fail "ccusage at $CCUSAGE is not version 20.0.24"

python3 "$GEN" "$T/src" --size small --sessions 30 --seed 21 >/dev/null
ntranscripts=$(find "$T/src/projects" -name '*.jsonl' | wc -l)
((ntranscripts >= 30)) || fail "generator wrote only $ntranscripts transcripts"
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
do_mount "$WS" "$T/mnt" --hydrate lazy

# ccusage: every transcript is read through the mount (lazily fetched), then
# the same over a local copy made from the mount and over the source tree.
# HOME is private so ccusage finds no other Claude data; TZ fixes the days.
usage() {
  env HOME="$T/home" TZ=UTC CLAUDE_CONFIG_DIR="$1" timeout 120 "$CCUSAGE" daily --json --offline
}
mkdir -p "$T/home"
usage "$T/mnt" >"$T/usage.mount.json" || fail "ccusage over the mount failed"
check "copy the mounted tree" cp -a "$T/mnt" "$T/copy"
usage "$T/copy" >"$T/usage.copy.json" || fail "ccusage over the local copy failed"
usage "$T/src" >"$T/usage.src.json" || fail "ccusage over the source tree failed"
days=$(jq '.daily | length' "$T/usage.mount.json")
tokens=$(jq '.totals.totalTokens' "$T/usage.mount.json")
((days > 0 && tokens > 0)) || fail "ccusage over the mount saw no usage (days=$days tokens=$tokens)"
check "ccusage JSON over the mount equals over a local copy" \
  cmp "$T/usage.mount.json" "$T/usage.copy.json"
check "ccusage JSON over the mount equals over the source tree" \
  cmp "$T/usage.mount.json" "$T/usage.src.json"
echo "ccusage: identical JSON over mount and local copy ($days days, $tokens tokens," \
  "$ntranscripts transcripts)"
check "copy equals source" diff -r "$T/src" "$T/copy"

# grep -r over all transcripts: same matches, same order.
(cd "$T/mnt" && grep -r -c '"type":"assistant"' projects | sort) >"$T/grep.mount"
(cd "$T/src" && grep -r -c '"type":"assistant"' projects | sort) >"$T/grep.src"
check "grep -r counts over the mount equal local disk" cmp "$T/grep.mount" "$T/grep.src"
[[ -s $T/grep.mount ]] || fail "grep -r found no transcript"

# jq over one transcript, less as a pager that dumps the file.
one=$(cd "$T/src" && find projects -name '*.jsonl' | sort | head -1)
jq -c '.type' "$T/mnt/$one" >"$T/jq.mount" || fail "jq over the mounted $one failed"
jq -c '.type' "$T/src/$one" >"$T/jq.src"
check "jq over the mount equals local disk" cmp "$T/jq.mount" "$T/jq.src"
LESS= less -FX "$T/mnt/$one" >"$T/less.out" </dev/null || fail "less over the mount failed"
check "less shows the mounted file's bytes" cmp "$T/less.out" "$T/src/$one"

# tail -f on a mounted transcript sees appends made through the mount.
tail -n 0 -f "$T/mnt/$one" >"$T/tail.out" 2>/dev/null &
tail_pid=$!
on_exit "kill $tail_pid 2>/dev/null"
sleep 0.5
for i in 1 2 3; do
  echo "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"tail line $i\"}}" \
    >>"$T/mnt/$one"
  sleep 0.2
done
for _ in $(seq 1 50); do
  (($(wc -l <"$T/tail.out") >= 3)) && break
  sleep 0.2
done
kill "$tail_pid" 2>/dev/null || true
[[ $(grep -c 'tail line' "$T/tail.out") == 3 ]] ||
  fail "tail -f saw $(grep -c 'tail line' "$T/tail.out") of 3 appended lines"

check "umount" "$CCFS" umount "$T/mnt"
echo "shell tools over the mount: ok"
