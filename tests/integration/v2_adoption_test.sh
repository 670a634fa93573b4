#!/usr/bin/env bash
# A workspace made by another tool (`tar czf`, no ccfs index) moves to layout
# v2 on real RGW and a real FUSE mount:
# - a writable mount (no flag: layout v2 is the default) adopts it: the tarball is read once (the mount's own
#   byte counters: at most its size plus a little), packed again, and
#   committed as generation 1; the mount shows the same tree, with the
#   transcripts' mtimes from the tarball;
# - changes flush as generation 2, and a pull gives source + changes;
# - a plain tar.gz PUT over the v1 key after that (an older ccfs's flush) is
#   taken in by the next writable mount as generation 3: a file only it
#   changed shows its bytes, a file both sides changed keeps ours with theirs
#   beside it as a conflict copy, a new file appears; a read-only mount
#   before that only warns, and the mount after it finds nothing new;
# - `ccfs upgrade` does the same for a second such workspace; a hostile
#   member ('..' traversal) is left out and named, and nothing is written
#   outside the scratch space.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
prefix=${STORE#s3://"$CCFS_TEST_S3_BUCKET"/}
seed=${CCFS_TEST_SEED:-$RANDOM}
echo "seed $seed (CCFS_TEST_SEED=$seed reproduces)"

# s3_put FILE KEY: a plain PUT, as another tool would make it.
s3_put() {
  curl -sSf --max-time 60 --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    -T "$1" "$AWS_ENDPOINT_URL/$CCFS_TEST_S3_BUCKET/$prefix/$2" >/dev/null ||
    fail "PUT of $1 to $2 failed"
}

src=$T/src
gen_workspace "$src" small "$seed"
old=$(cd "$src" && find projects -name '*.jsonl' | sort | sed -n 1p)
touch -d '2026-01-02 03:04:05' "$src/$old"  # older than Claude Code's 30 days
tar czf "$T/plain.tgz" -C "$src" .
tgz_bytes=$(stat -c %s "$T/plain.tgz")
WS=foreign-$$
s3_put "$T/plain.tgz" "$WS/claude-home.tar.gz"

mnt=$T/mnt
do_mount "$WS" "$mnt" --hydrate lazy
base=$(status_field "$mnt" base_etag)
[[ $base == v2:* ]] || fail "base after a writable mount of a plain tar.gz is $base, not a v2 root"

down=$(status_field "$mnt" store_stats.bytes_received)
echo "adoption of a $tgz_bytes B plain tar.gz: $down B down before any read"
((down <= tgz_bytes + 65536)) || fail "adoption downloaded $down B of a $tgz_bytes B tarball"
check "adopted tree equals the source" diff -r "$src" "$mnt"
[[ $(stat -c %Y "$mnt/$old") == $(stat -c %Y "$src/$old") ]] ||
  fail "$old: mtime $(stat -c %Y "$mnt/$old") on the mount, $(stat -c %Y "$src/$old") in the tarball"

cp -a "$src" "$T/expect"
for d in "$mnt" "$T/expect"; do
  echo '{"type":"user","message":"after adoption"}' >>"$d/$old"
  echo '{"numStartups": 9}' >"$d/.claude.json"
  mkdir -p "$d/todos" && echo '[]' >"$d/todos/new.json"
done
check "umount" timeout 300 "$CCFS" umount "$mnt"
"$CCFS" log "$WS" --store "$STORE" --json >"$T/log.json" || fail "ccfs log failed"
python3 - "$T/log.json" <<'EOF' || fail "log is not generations 2, 1: $(cat "$T/log.json")"
import json, sys
gens = [g["generation"] for g in json.load(open(sys.argv[1]))]
sys.exit(0 if gens == [2, 1] else 1)
EOF
check "pull" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
check "pull equals source + changes" diff -r "$T/expect" "$T/pulled"

# A late v1 write: an older writer's tarball, from the tree as adopted
# (generation 1) with its own changes.
cp -a "$src" "$T/late"
echo 'late writer only' >"$T/late/CLAUDE.md"
echo '{"numStartups": 1000}' >"$T/late/.claude.json"  # ours changed it too
echo 'created by the late writer' >"$T/late/late-new.txt"
tar czf "$T/late.tgz" -C "$T/late" .
s3_put "$T/late.tgz" "$WS/claude-home.tar.gz"
ro=$T/ro
do_mount "$WS" "$ro" --read-only
[[ ! -e $ro/late-new.txt ]] || fail "a read-only mount changed the workspace"
[[ $(status_field "$ro" prepared) == *"v1 tarball was rewritten"* ]] ||
  fail "a read-only mount does not say the late tarball is not in its tree: $(status_field "$ro" prepared)"
check "umount read-only" timeout 120 "$CCFS" umount "$ro"
mnt2=$T/mnt2
do_mount "$WS" "$mnt2"
[[ $(cat "$mnt2/CLAUDE.md") == "late writer only" ]] || fail "the late writer's CLAUDE.md is not taken"
[[ $(cat "$mnt2/late-new.txt") == "created by the late writer" ]] || fail "the late new file is missing"
[[ $(cat "$mnt2/.claude.json") == '{"numStartups": 9}' ]] || fail "ours .claude.json was replaced"
copy=$(cd "$mnt2" && ls -a | grep '^\.claude\.json\.conflict-v1-' || true)
[[ -n $copy ]] || fail "no conflict copy of .claude.json: $(ls -a "$mnt2")"
[[ $(cat "$mnt2/$copy") == '{"numStartups": 1000}' ]] || fail "the conflict copy holds $(cat "$mnt2/$copy")"
[[ $(tail -n 1 "$mnt2/$old") == '{"type":"user","message":"after adoption"}' ]] ||
  fail "our transcript append was lost"
check "umount" timeout 300 "$CCFS" umount "$mnt2"
gens=$("$CCFS" log "$WS" --store "$STORE" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[[ $gens == 3 ]] || fail "after the late tarball there are $gens generations, not 3"
do_mount "$WS" "$mnt2"
check "umount" timeout 300 "$CCFS" umount "$mnt2"
gens=$("$CCFS" log "$WS" --store "$STORE" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[[ $gens == 3 ]] || fail "the late tarball was taken in twice ($gens generations)"

# `ccfs upgrade` of a plain tar.gz with a hostile member.
WS2=foreign2-$$
mkdir -p "$T/src2/projects/p"
echo '{"a":1}' >"$T/src2/projects/p/s.jsonl"
echo 'kept' >"$T/src2/notes.txt"
python3 - "$T/src2" "$T/hostile.tgz" <<'EOF'
import sys, tarfile
src, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w:gz") as tar:
    tar.add(src, arcname=".")
    bad = tarfile.TarInfo("../escaped.txt")
    data = b"must not land outside\n"
    bad.size = len(data)
    import io
    tar.addfile(bad, io.BytesIO(data))
EOF
s3_put "$T/hostile.tgz" "$WS2/claude-home.tar.gz"
mkdir -p "$T/scratch"
TMPDIR=$T/scratch "$CCFS" upgrade "$WS2" --store "$STORE" >"$T/upgrade.out" 2>&1 ||
  fail "upgrade of a plain tar.gz failed: $(cat "$T/upgrade.out")"
cat "$T/upgrade.out"
grep -q "generation 1" "$T/upgrade.out" || fail "upgrade did not commit generation 1"
grep -q "escaped.txt" "$T/upgrade.out" || fail "the hostile member is not named as left out"
[[ ! -e $T/escaped.txt && ! -e $T/scratch/escaped.txt ]] || fail "a hostile member was written"
[[ -z $(ls -A "$T/scratch") ]] || fail "upgrade left scratch files: $(ls -A "$T/scratch")"
check "pull upgraded" "$CCFS" pull "$WS2" "$T/pulled2" --store "$STORE" >/dev/null
check "upgraded tree equals the source" diff -r "$T/src2" "$T/pulled2"
echo "PASS v2_adoption"
