#!/usr/bin/env bash
# Directory listings are never stale. The kernel keeps a mount's readdir
# results across opens (cache_readdir + keep_cache) and must drop them
# whenever the directory changes through the mount. Before the fix, a listing
# taken at opendir could be cached as current after a concurrent create, and
# 750 of 2,000 listings right after a create + rename lacked the new name
# (some still 40 s later). Here one thread creates a temp file, renames it
# into place (as git and Claude Code do) and lists the directory, 2,000
# times, while two others list the same directory in a loop (so the kernel
# is filling its cache while the names change) and a fourth creates and
# removes other names; every listing must hold exactly the names that exist
# at that moment: 0 stale of 2,000. Seeded (CCFS_READDIR_SEED, printed).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
STORE=file://$T/store
WS=rd-$$
seed=${CCFS_READDIR_SEED:-$RANDOM}
echo "mount_readdir_fresh: seed $seed"
gen_workspace "$T/src" small "$seed"
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
mnt=$T/mnt
do_mount "$WS" "$mnt"
mkdir "$mnt/busy"

python3 - "$mnt/busy" "$seed" <<'PY' || fail "stale directory listings (see above)"
import os, random, sys, threading
d, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
stop = threading.Event()
errors = []

def lister():
    while not stop.is_set():
        try:
            os.listdir(d)
        except OSError as e:
            errors.append("listdir: %s" % e)

def churner():
    r = random.Random(seed + 1)
    while not stop.is_set():
        name = os.path.join(d, "churn-%d" % r.randint(0, 50))
        try:
            if os.path.exists(name):
                os.unlink(name)
            else:
                open(name, "w").close()
        except OSError:
            pass  # the other churn step may have raced it

threads = [threading.Thread(target=lister) for _ in range(2)] + [threading.Thread(target=churner)]
for t in threads:
    t.start()
stale = 0
first = []
try:
    for i in range(2000):
        tmp = os.path.join(d, "tmp_obj_%d_%d" % (i, rng.randint(0, 1 << 30)))
        final = os.path.join(d, "f%04d" % i)
        with open(tmp, "w") as f:
            f.write("x" * rng.randint(0, 100))
        os.rename(tmp, final)
        names = set(os.listdir(d))
        bad = []
        if os.path.basename(final) not in names:
            bad.append("missing " + os.path.basename(final))
        if os.path.basename(tmp) in names:
            bad.append("still lists " + os.path.basename(tmp))
        if i > 0 and "f%04d" % (i - 1) in names and i % 2 == 0:
            os.unlink(os.path.join(d, "f%04d" % (i - 1)))  # removals must show too
            if "f%04d" % (i - 1) in set(os.listdir(d)):
                bad.append("still lists removed f%04d" % (i - 1))
        if bad:
            stale += 1
            if len(first) < 5:
                first.append("listing %d: %s" % (i, ", ".join(bad)))
finally:
    stop.set()
    for t in threads:
        t.join()
print("mount_readdir_fresh: %d of 2000 listings stale" % stale)
for line in first:
    print("  " + line)
if errors:
    print("errors: %s" % errors[:3])
sys.exit(1 if stale or errors else 0)
PY
check "umount" "$CCFS" umount "$mnt"
