#!/usr/bin/env bash
# Merging at flush on real FUSE mounts and RGW: two mounts of one workspace
# (two caches, as two machines; --lease-ttl 0 so both may write) change
# things and both unmount successfully (exit 0).
#  1. disjoint changes: every change of both is in the store afterwards
#     (pull and diff against the expected tree);
#  2. the same file changed on both: theirs (the first to flush) at the path,
#     ours beside it as <name>.conflict-<host>-<time>, both byte-exact; the
#     second mount's own view shows the merged tree while still mounted;
#  3. N seeded random trials (CCFS_MERGE_TRIALS, default 20; seed
#     CCFS_MERGE_SEED) of overwrites, appends, deletes and new files on both
#     sides, counting files lost: every final version of a changed file must
#     be in the store at its path or as a conflict copy of it, and every file
#     neither side touched must be intact. The count must be 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
TRIALS=${CCFS_MERGE_TRIALS:-20}
SEED=${CCFS_MERGE_SEED:-4242}
gen_workspace "$T/src" small 7

push_ws() { check "push $1" "$CCFS" push "$T/src" "$1" --store "$STORE" >/dev/null; }
umount_ok() {  # umount_ok MP LOG: unmounts, expects exit 0
  local pid rc
  pid=$(cat "$1.pid")
  set +e
  timeout 300 "$CCFS" umount "$1" >"$2" 2>&1
  rc=$?
  set -e
  ((rc == 0)) || fail "ccfs umount $1 exited $rc: $(cat "$2")"
  wait_gone "$pid"
}

# --- 1. disjoint changes -----------------------------------------------------
WS=mg-$$
push_ws "$WS"
do_mount "$WS" "$T/a" --lease-ttl 0
do_mount "$WS" "$T/b" --lease-ttl 0
T1=projects/-home-dev-src-result-path/07cf1963-a0ef-4f12-8273-325fc4c8bc68.jsonl
echo '{"edited":"a"}' >"$T/a/settings.json"
echo "from a" >"$T/a/only-a.txt"
rm "$T/a/agents/reviewer.md"
echo '{"line":"a"}' >>"$T/a/$T1"
echo "# b was here" >>"$T/b/agents/doc-editor.md"
echo "from b" >"$T/b/only-b.txt"
mkdir -p "$T/b/projects/-home-dev-new"
echo '{"new":"b"}' >"$T/b/projects/-home-dev-new/s.jsonl"
umount_ok "$T/a" "$T/umount-a.log"
# b's base is gone: its flush merges with a's version.
echo "from b, written after a flushed" >"$T/b/late-b.txt"
umount_ok "$T/b" "$T/umount-b.log"
grep -q "merged: settings.json (taken from the store)" "$T/umount-b.log" ||
  fail "umount does not list what was merged: $(cat "$T/umount-b.log")"
grep -q "merged: only-b.txt (local change applied)" "$T/umount-b.log" ||
  fail "umount does not list the local changes applied: $(cat "$T/umount-b.log")"
grep -q "conflict" "$T/umount-b.log" && fail "disjoint changes reported a conflict"

cp -a "$T/src" "$T/expect"
echo '{"edited":"a"}' >"$T/expect/settings.json"
echo "from a" >"$T/expect/only-a.txt"
rm "$T/expect/agents/reviewer.md"
echo '{"line":"a"}' >>"$T/expect/$T1"
echo "# b was here" >>"$T/expect/agents/doc-editor.md"
echo "from b" >"$T/expect/only-b.txt"
mkdir -p "$T/expect/projects/-home-dev-new"
echo '{"new":"b"}' >"$T/expect/projects/-home-dev-new/s.jsonl"
echo "from b, written after a flushed" >"$T/expect/late-b.txt"
check "pull the merged workspace" "$CCFS" pull "$WS" "$T/pulled1" --store "$STORE" >/dev/null
diff -r "$T/expect" "$T/pulled1" >"$T/diff1" || fail "merged workspace differs: $(head -20 "$T/diff1")"

# --- 2. the same file on both sides -----------------------------------------
WS=mg2-$$
push_ws "$WS"
do_mount "$WS" "$T/c" --lease-ttl 0
do_mount "$WS" "$T/d" --lease-ttl 0
head -c 300000 /dev/urandom >"$T/theirs.bin"
head -c 123457 /dev/urandom >"$T/ours.bin"
cp "$T/theirs.bin" "$T/c/settings.json"
cp "$T/ours.bin" "$T/d/settings.json"
echo "only d" >"$T/d/only-d.txt"
check "flush c" "$CCFS" flush "$T/c"
set +e
"$CCFS" flush "$T/d" >"$T/flush-d.log" 2>&1
rc=$?
set -e
((rc == 0)) || fail "flush of d exited $rc: $(cat "$T/flush-d.log")"
grep -q "conflict: settings.json" "$T/flush-d.log" || fail "no conflict listed: $(cat "$T/flush-d.log")"
copy=$(find "$T/d" -maxdepth 1 -name "settings.json.conflict-*" -printf "%f\n")
[[ $copy =~ ^settings\.json\.conflict-.+-[0-9]{8}T[0-9]{6}Z$ ]] ||
  fail "no well-named conflict copy in the mount: '$copy'"
# The mount's own view (kernel caches included) is the merged tree.
cmp -s "$T/d/settings.json" "$T/theirs.bin" || fail "the mount does not show theirs at the path"
cmp -s "$T/d/$copy" "$T/ours.bin" || fail "the mount's conflict copy is not ours"
"$CCFS" status "$T/d" >"$T/status-d.log"
grep -q "conflict:  settings.json" "$T/status-d.log" || fail "status lacks the conflict: $(cat "$T/status-d.log")"
umount_ok "$T/c" "$T/umount-c.log"
umount_ok "$T/d" "$T/umount-d.log"
check "pull" "$CCFS" pull "$WS" "$T/pulled2" --store "$STORE" >/dev/null
cmp -s "$T/pulled2/settings.json" "$T/theirs.bin" || fail "theirs is not at the path"
cmp -s "$T/pulled2/$copy" "$T/ours.bin" || fail "ours is not byte-exact in $copy"
[[ $(cat "$T/pulled2/only-d.txt") == "only d" ]] || fail "d's other change is missing"

# --- 3. random trials --------------------------------------------------------
RANDOM=$SEED
mapfile -t CANDIDATES < <(cd "$T/src" && find . -type f | sed 's|^\./||' | sort | head -40)
lost_total=0 conflicts_total=0
for ((i = 1; i <= TRIALS; i++)); do
  WS=mgt-$$-$i
  push_ws "$WS"
  A=$T/t$i-a B=$T/t$i-b
  do_mount "$WS" "$A" --lease-ttl 0
  do_mount "$WS" "$B" --lease-ttl 0
  : >"$T/t$i.deleted"
  # A handful of files, plus a new name both sides may create.
  picks=()
  for ((k = 0; k < 6; k++)); do picks+=("${CANDIDATES[RANDOM % ${#CANDIDATES[@]}]}"); done
  picks+=("new-$i.txt")
  for side in a b; do
    mp=$([[ $side == a ]] && echo "$A" || echo "$B")
    for f in "${picks[@]}"; do
      case $((RANDOM % 5)) in
        0 | 1) ;;
        2) printf 'overwritten by %s in trial %d: %d\n' "$side" "$i" "$RANDOM" >"$mp/$f" ;;
        3) [[ -e $mp/$f ]] && printf '{"appended_by":"%s","n":%d}\n' "$side" "$RANDOM" >>"$mp/$f" ;;
        4) [[ -e $mp/$f ]] && rm "$mp/$f" && echo "$f" >>"$T/t$i.deleted" ;;
      esac
    done
    # This side's final version of every file it changed.
    for f in "${picks[@]}"; do
      if [[ -e $mp/$f ]] && ! cmp -s "$mp/$f" "$T/src/$f" 2>/dev/null; then
        mkdir -p "$(dirname "$T/t$i-final-$side/$f")"
        cp "$mp/$f" "$T/t$i-final-$side/$f"
      fi
    done
  done
  if ((RANDOM % 2)); then first=$A second=$B; else first=$B second=$A; fi
  umount_ok "$first" "$T/t$i-umount1.log"
  umount_ok "$second" "$T/t$i-umount2.log"
  check "pull trial $i" "$CCFS" pull "$WS" "$T/t$i-pulled" --store "$STORE" >/dev/null
  lost=$(python3 - "$T/src" "$T/t$i-pulled" "$T/t$i.deleted" "$T/t$i-final-a" "$T/t$i-final-b" <<'EOF'
import os, sys
src, pulled, deleted_list = sys.argv[1:4]
finals = sys.argv[4:]
deleted = set(open(deleted_list).read().split())
lost = 0
def read(p):
    with open(p, "rb") as f:
        return f.read()
def found(rel, data):
    d, name = os.path.split(os.path.join(pulled, rel))
    if not os.path.isdir(d):
        return False
    for n in os.listdir(d):
        if (n == name or n.startswith(name + ".conflict-")) and os.path.isfile(os.path.join(d, n)):
            if read(os.path.join(d, n)) == data:
                return True
    return False
changed = set()
for root in finals:
    for dp, _, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(dp, f), root)
            changed.add(rel)
            if not found(rel, read(os.path.join(dp, f))):
                print("lost: %s (%s)" % (rel, root), file=sys.stderr)
                lost += 1
for dp, _, files in os.walk(src):
    for f in files:
        rel = os.path.relpath(os.path.join(dp, f), src)
        if rel in changed or rel in deleted:
            continue
        p, sp = os.path.join(pulled, rel), os.path.join(dp, f)
        if os.path.islink(sp):  # a symlink: its target, not what it points at
            if not os.path.islink(p) or os.readlink(p) != os.readlink(sp):
                print("lost: symlink %s" % rel, file=sys.stderr)
                lost += 1
            continue
        if not os.path.isfile(p) or read(p) != read(sp):
            print("lost: untouched %s" % rel, file=sys.stderr)
            lost += 1
print(lost)
EOF
)
  lost_total=$((lost_total + lost))
  conflicts_total=$((conflicts_total + $(grep -c "conflict:" "$T/t$i-umount2.log" || true)))
  rm -rf "$A.cache" "$B.cache" "$T/t$i-pulled"
done
echo "conflict trials run: $TRIALS (seed $SEED), conflict copies made: $conflicts_total, files lost: $lost_total"
((lost_total == 0)) || fail "$lost_total files lost over $TRIALS trials"
echo "PASS"
