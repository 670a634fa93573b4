#!/usr/bin/env bash
# A mixed load on one mount for CCFS_LOAD_SECONDS (default 60; the issue's
# figure is 180): transcript appenders, a tar extractor that also deletes
# what it extracted before, a git repository committing and `rm -rf`-ing
# directories, `grep -r` readers, and a `ccfs flush` every 20 s. Every flush
# must succeed (before the fix, 2 of 14 did: "open content of X: No such file
# or directory" for files deleted while the flush ran), `git fsck` must be
# clean on the mount, and after a last flush the store must hold exactly the
# mounted tree (pull + diff -r). Seeded (CCFS_LOAD_SEED, printed).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=load-$$
seconds=${CCFS_LOAD_SECONDS:-60}
seed=${CCFS_LOAD_SEED:-$RANDOM}
echo "mount_mixed_load: seed $seed, $seconds s"
gen_workspace "$T/src" small "$seed"
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
mnt=$T/mnt
do_mount "$WS" "$mnt"
mkdir -p "$T/tarsrc/pkg/sub"
for i in $(seq 40); do head -c $((i * 997)) /dev/urandom >"$T/tarsrc/pkg/sub/f$i"; done
tar cf "$T/pkg.tar" -C "$T/tarsrc" pkg
deadline=$((SECONDS + seconds))
pids=()
on_exit 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done'

appender() {
  python3 - "$mnt" "$1" "$deadline" "$seed" <<'PY'
import os, random, sys, time
mnt, k, deadline, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = random.Random(seed * 10 + k)
os.makedirs(os.path.join(mnt, "projects", "load"), exist_ok=True)
path = os.path.join(mnt, "projects", "load", "s%d.jsonl" % k)
i = 0
while time.time() < deadline:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    os.write(fd, ('{"writer":%d,"i":%d,"pad":"%s"}\n' % (k, i, "x" * r.randint(0, 2000))).encode())
    os.close(fd)
    i += 1
    time.sleep(r.random() * 0.01)
PY
}
untarrer() {
  local n=0
  while ((SECONDS < deadline)); do
    mkdir -p "$mnt/work/untar-$n" && tar xf "$T/pkg.tar" -C "$mnt/work/untar-$n" ||
      { echo "untar $n failed" >&2; return 1; }
    if ((n > 1)); then rm -rf "$mnt/work/untar-$((n - 2))" || { echo "rm -rf untar-$((n - 2)) failed" >&2; return 1; }; fi
    n=$((n + 1))
  done
}
gitter() {
  local n=0 repo=$mnt/repo
  git init -q "$repo" && git -C "$repo" config user.email t@e && git -C "$repo" config user.name t ||
    { echo "git init failed" >&2; return 1; }
  while ((SECONDS < deadline)); do
    mkdir -p "$repo/d$((n % 5))"
    head -c $((n * 131 % 5000 + 1)) /dev/urandom | base64 >"$repo/d$((n % 5))/file$n.txt"
    if ((n % 7 == 6)); then rm -rf "${repo:?}/d$(((n + 1) % 5))"; fi
    git -C "$repo" add -A && git -C "$repo" commit -q -m "commit $n" ||
      { echo "git commit $n failed" >&2; return 1; }
    n=$((n + 1))
  done
}
reader() {
  while ((SECONDS < deadline)); do
    grep -rq "never-present-$seed" "$mnt/projects" "$mnt/work" 2>/dev/null || true # 1: no match (the point: reading)
    sleep 0.2
  done
  return 0
}
flusher() {
  local n=0 failed=0
  while ((SECONDS + 20 < deadline)); do
    sleep 20
    n=$((n + 1))
    if ! "$CCFS" flush "$mnt" >"$T/flush-$n.out" 2>&1; then
      echo "flush $n failed: $(cat "$T/flush-$n.out")" >&2
      failed=$((failed + 1))
    fi
  done
  echo "mount_mixed_load: $n periodic flushes, $failed failed"
  ((failed == 0))
}
for k in 0 1 2; do
  appender "$k" &
  pids+=($!)
done
untarrer &
pids+=($!)
gitter &
pids+=($!)
for _ in 1 2; do
  reader &
  pids+=($!)
done
flusher &
flusher_pid=$!
ok=1
names=(appender-0 appender-1 appender-2 untar git reader reader)
for i in "${!pids[@]}"; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  ((rc == 0)) || { echo "worker ${names[$i]} exited $rc" >&2; ok=0; }
done
wait "$flusher_pid" || fail "a periodic flush failed under load (see above)"
pids=()
((ok == 1)) || fail "a load worker failed"

git -C "$mnt/repo" fsck --full --no-progress >"$T/fsck.out" 2>&1 || fail "git fsck on the mount: $(cat "$T/fsck.out")"
[[ $(git -C "$mnt/repo" rev-list --count HEAD) -gt 5 ]] || fail "too few commits made"
check "last flush" "$CCFS" flush "$mnt" >/dev/null
cp -a "$mnt" "$T/expected"
check "umount" "$CCFS" umount "$mnt"
check "pull" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
diff -r --no-dereference "$T/expected" "$T/pulled" >"$T/diff.out" ||
  fail "the store differs from the mounted tree: $(head -20 "$T/diff.out")"
git -C "$T/pulled/repo" fsck --full --no-progress >"$T/fsck2.out" 2>&1 ||
  fail "git fsck on the pulled copy: $(cat "$T/fsck2.out")"
echo "mount_mixed_load: store identical to the mount, git fsck clean"
