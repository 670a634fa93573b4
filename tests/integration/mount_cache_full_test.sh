#!/usr/bin/env bash
# A full cache filesystem never undoes a namespace change that succeeded.
# The mount's cache lives on a 64 MiB tmpfs. Each trial (CCFS_CACHE_FULL_TRIALS,
# default 5; seeded by CCFS_CACHE_FULL_SEED, printed) fills the cache with a
# large file written through the mount, then runs rm (of a hydrated file and
# of one never read), mv, touch, mkdir, chmod and an append to a file never
# read, recording each exit code; the directories are fsync'd and `sync` run;
# the daemon is SIGKILLed and the same cache remounted. Every operation that
# returned 0 must be there after the crash and every one that failed must
# have changed nothing (before the fix: an rm made on a full cache came back
# as an empty file, and that empty file was then flushed to the store). A
# failure must say ENOSPC ("No space left on device"), not EIO; with the
# data side stopped at a reserve kept for metadata, rm, mv, touch and mkdir
# on a full cache succeed (and so let the user free space). Then the
# filler is removed, the unmount flushes, and the pulled tree must equal the
# expected one (diff -r): 0 operations undone, 0 files emptied.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=full-$$
trials=${CCFS_CACHE_FULL_TRIALS:-5}
seed=${CCFS_CACHE_FULL_SEED:-$RANDOM}
echo "mount_cache_full: seed $seed, $trials trial(s)"

expected=$T/expected
gen_workspace "$expected" small "$seed"
check "push" "$CCFS" push "$expected" "$WS" --store "$STORE" >/dev/null

cachefs=$T/cachefs
mkdir -p "$cachefs"
mount -t tmpfs -o size=64m tmpfs "$cachefs" || fail "cannot mount a tmpfs for the cache"
on_exit "umount -l '$cachefs' 2>/dev/null"
export MOUNT_CACHE=$cachefs/cache
mnt=$T/mnt
on_exit "fusermount3 -u -z '$mnt' 2>/dev/null"

# pick SEED N: N distinct regular files of the expected tree (not transcripts,
# which have their own objects), chosen by SEED.
pick() {
  (cd "$expected" && find . -type f ! -name '*.jsonl' ! -name 'filler*' -printf '%P\n' | sort) |
    python3 -c 'import random,sys; r=random.Random(int(sys.argv[1])); l=sys.stdin.read().split();
print("\n".join(r.sample(l, int(sys.argv[2]))))' "$1" "$2"
}
# op NAME CMD...: runs CMD on the mount, records NAME's exit code in $ops.
op() {
  local name=$1 rc=0
  shift
  "$@" 2>"$T/op.err" || rc=$?
  if ((rc != 0)); then
    grep -q "No space left on device" "$T/op.err" ||
      fail "$name failed with something other than ENOSPC: $(cat "$T/op.err")"
  fi
  echo "$name $rc" >>"$ops"
  eval "rc_$name=$rc"
}

for ((t = 1; t <= trials; t++)); do
  ops=$T/ops-$t
  : >"$ops"
  mapfile -t files < <(pick "$((seed + t))" 5)
  read_rm=${files[0]} cold_rm=${files[1]} moved=${files[2]} modded=${files[3]} appended=${files[4]}
  mkdir -p "$mnt"
  _mounts+=("$mnt")
  timeout 120 "$CCFS" mount "$WS" "$mnt" --store "$STORE" --cache "$MOUNT_CACHE" --hydrate lazy ||
    fail "trial $t: mount"
  mount_pid "$mnt" >"$mnt.pid"
  cat "$mnt/$read_rm" "$mnt/$moved" >/dev/null # hydrated: local content to lose
  # Fill the cache: data stops with ENOSPC where the reserve kept for
  # metadata begins (8 MiB), and a second file gets nothing either.
  dd if=/dev/zero of="$mnt/filler" bs=1M count=100 conv=fsync status=none 2>"$T/dd.err" &&
    fail "trial $t: 100 MiB fit in a 64 MiB cache"
  grep -q "No space left on device" "$T/dd.err" || fail "trial $t: filling: $(cat "$T/dd.err")"
  dd if=/dev/zero of="$mnt/filler2" bs=64k count=200 conv=fsync status=none 2>/dev/null &&
    fail "trial $t: data went into the metadata reserve"
  echo "mount_cache_full: trial $t: $(df --output=avail "$cachefs" | tail -1) KiB free after filling"
  [[ $(df --output=avail "$cachefs" | tail -1) -lt 16384 ]] || fail "trial $t: the cache is not full"

  op rm_read rm "$mnt/$read_rm"
  op rm_cold rm "$mnt/$cold_rm"
  op mv mv "$mnt/$moved" "$mnt/$moved.moved"
  op touch touch "$mnt/touched-$t"
  op mkdir mkdir "$mnt/made-$t"
  op chmod chmod 0600 "$mnt/$modded"
  op append bash -c 'echo "appended in trial $1" >>"$2"' _ "$t" "$mnt/$appended"
  python3 -c '
import os, sys
for d in sys.argv[1:]:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)' "$mnt" "$(dirname "$mnt/$read_rm")" "$(dirname "$mnt/$moved")" 2>/dev/null || true
  sync
  echo "mount_cache_full: trial $t: $(tr '\n' ' ' <"$ops")"

  pid=$(cat "$mnt.pid")
  kill -KILL "$pid"
  wait_gone "$pid"
  fusermount3 -u -z "$mnt"
  timeout 120 "$CCFS" mount "$WS" "$mnt" --store "$STORE" --cache "$MOUNT_CACHE" --hydrate lazy \
    2>"$T/remount.err" || fail "trial $t: remount on a full cache: $(cat "$T/remount.err")"
  mount_pid "$mnt" >"$mnt.pid"
  grep -q "is now empty" "$MOUNT_CACHE/mount.log" 2>/dev/null && fail "trial $t: a file was recreated empty"

  # Every success survived the crash; every failure changed nothing.
  # shellcheck disable=SC2154 # set by op
  {
    if ((rc_rm_read == 0)); then [[ ! -e $mnt/$read_rm ]] || fail "trial $t: rm of $read_rm undone"; else
      [[ -e $mnt/$read_rm ]] || fail "trial $t: a failed rm removed $read_rm"; fi
    if ((rc_rm_cold == 0)); then [[ ! -e $mnt/$cold_rm ]] || fail "trial $t: rm of $cold_rm undone"; else
      [[ -e $mnt/$cold_rm ]] || fail "trial $t: a failed rm removed $cold_rm"; fi
    if ((rc_mv == 0)); then
      [[ ! -e $mnt/$moved && -e $mnt/$moved.moved ]] || fail "trial $t: mv of $moved undone"
    else
      [[ -e $mnt/$moved && ! -e $mnt/$moved.moved ]] || fail "trial $t: a failed mv changed the tree"
    fi
    if ((rc_touch == 0)); then [[ -e $mnt/touched-$t ]] || fail "trial $t: touch undone"; else
      [[ ! -e $mnt/touched-$t ]] || fail "trial $t: a failed touch left a file"; fi
    if ((rc_mkdir == 0)); then [[ -d $mnt/made-$t ]] || fail "trial $t: mkdir undone"; else
      [[ ! -e $mnt/made-$t ]] || fail "trial $t: a failed mkdir left a directory"; fi
    mode=$(stat -c %a "$mnt/$modded")
    if ((rc_chmod == 0)); then [[ $mode == 600 ]] || fail "trial $t: chmod undone ($mode)"; fi
  }

  # Room again: the filler goes (through the mount), the unmount flushes.
  rm -f "$mnt/filler" "$mnt/filler2" 2>"$T/rm.err" ||
    fail "trial $t: rm of the filler on a full cache: $(cat "$T/rm.err") ($(df --output=avail "$cachefs" | tail -1) KiB free; $(du -sk "$MOUNT_CACHE"/* | tr "\n" " "))"
  ((rc_rm_read == 0)) && rm "$expected/$read_rm"
  ((rc_rm_cold == 0)) && rm "$expected/$cold_rm"
  ((rc_mv == 0)) && mv "$expected/$moved" "$expected/$moved.moved"
  ((rc_touch == 0)) && touch "$expected/touched-$t"
  ((rc_mkdir == 0)) && mkdir "$expected/made-$t"
  if ((rc_append == 0)); then
    # Not fsync'd before the kill: the line may or may not have reached the
    # cache, but whatever the mount shows now is what the store must get.
    cat "$mnt/$appended" >"$expected/$appended"
  fi
  check "trial $t: umount flushes" timeout 300 "$CCFS" umount "$mnt"
  rm -rf "$MOUNT_CACHE"
  check "trial $t: pull" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
  diff -r --no-dereference "$expected" "$T/pulled" >"$T/diff.out" ||
    fail "trial $t: the store differs from the expected tree: $(head -20 "$T/diff.out")"
  empty=$(find "$T/pulled" -type f -empty -printf '%P\n' | sort)
  want_empty=$(find "$expected" -type f -empty -printf '%P\n' | sort)
  [[ $empty == "$want_empty" ]] || fail "trial $t: files emptied: $empty"
  rm -rf "$T/pulled"
done
echo "mount_cache_full: $trials trial(s), 0 operations undone, 0 files emptied"

# A flush whose new tarball does not fit in the cache fails, says how much
# space it needs, and keeps the change; with room again it goes through.
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(24 << 20))' \
  "$seed" >"$expected/big.bin"
check "push the grown tree" "$CCFS" push "$expected" "$WS" --store "$STORE" --force --ignore-lease >/dev/null
mkdir -p "$mnt"
_mounts+=("$mnt")
timeout 120 "$CCFS" mount "$WS" "$mnt" --store "$STORE" --cache "$MOUNT_CACHE" --hydrate lazy ||
  fail "mount of the grown tree"
mount_pid "$mnt" >"$mnt.pid"
# The change first, fsync'd: with the kernel's writeback cache a write into a
# full cache fails only when its pages are written back (fsync or close, and
# the shell's `>` ignores close), so a change made after filling it may never
# have reached the cache at all.
echo "changed on a full cache" >"$mnt/changed.txt"
check "fsync of the change" sync "$mnt/changed.txt"
dd if=/dev/zero of="$mnt/filler" bs=1M count=100 conv=fsync status=none 2>/dev/null || true
"$CCFS" flush "$mnt" >"$T/flush.out" 2>&1 && fail "a flush needing ~25 MiB succeeded with the cache full"
grep -q "needs about [0-9]* MiB free" "$T/flush.out" ||
  fail "the failed flush does not say how much space it needs: $(cat "$T/flush.out")"
echo "mount_cache_full: $(grep -o 'needs about [0-9]* MiB free ([0-9]* MiB are)' "$T/flush.out")"
rm -f "$mnt/filler"
check "flush once there is room" "$CCFS" flush "$mnt" >/dev/null
[[ $("$CCFS" cat "$WS" changed.txt --store "$STORE") == "changed on a full cache" ]] ||
  fail "the change kept through the failed flush did not reach the store"
check "umount" "$CCFS" umount "$mnt"
