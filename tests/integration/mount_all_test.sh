#!/usr/bin/env bash
# `ccfs mount --all`: every workspace of a store under MOUNTPOINT/<ws>/,
# read-only and lazily hydrated, on RGW. Three generated workspaces are
# pushed; the view lists them, each tree equals its source (diff -r), writes
# fail with EROFS, grep -r over the whole view finds a string of each, ccfs
# sessions reads a workspace through it, reading one file moves only a small
# part of the bytes, and ccfs status / umount work on it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
export XDG_CACHE_HOME=$T/xdg  # the sessions index and any default cache stay in $T
MP=$T/mnt
CACHE=$T/allcache
names=(laptop-$$ cloud-$$ cluster-$$)

# status_json KEY[.KEY...]: a value from `ccfs status $MP --json`.
status_json() { status_field "$MP" "$1"; }

# Three workspaces from different seeds.
seed=1
for ws in "${names[@]}"; do
  gen_workspace "$T/src-$ws" small "$seed"
  check "push $ws" "$CCFS" push "$T/src-$ws" "$ws" --store "$STORE" >/dev/null
  seed=$((seed + 1))
done

# Usage errors are refused before anything is mounted.
mkdir -p "$MP"
rc=0
"$CCFS" mount --all not-a-url "$MP" --store "$STORE" 2>"$T/usage.err" || rc=$?
((rc == 2)) || fail "mount --all with a non-URL STORE: exit $rc, want 2"
rc=0
"$CCFS" mount only-a-workspace --store "$STORE" 2>/dev/null || rc=$?
((rc == 2)) || fail "mount without MOUNTPOINT: exit $rc, want 2"
rc=0
"$CCFS" mount --all "$MP" --store "$STORE" --hydrate background 2>/dev/null || rc=$?
((rc == 2)) || fail "mount --all --hydrate background: exit $rc, want 2"
mountpoint -q "$MP" && fail "a refused mount --all left $MP mounted"

# The STORE-as-argument form.
_mounts+=("$MP")
timeout 120 "$CCFS" mount --all "$STORE" "$MP" --cache "$CACHE" || fail "ccfs mount --all failed"
mountpoint -q "$MP" || fail "$MP is not a mountpoint after ccfs mount --all returned"
mount_pid "$MP" >"$MP.pid"

# The root lists the workspaces; nothing has been opened yet.
ls "$MP" >"$T/ls.out" || fail "ls $MP failed"
printf '%s\n' "${names[@]}" | sort >"$T/ls.want"
check "ls lists the three workspaces" diff "$T/ls.want" "$T/ls.out"
[[ $(status_json workspace_count) == 3 ]] || fail "status: workspace_count is not 3"
[[ $(status_json opened_workspaces) == 0 ]] || fail "listing the root opened a workspace"
"$CCFS" status "$MP" >"$T/status.txt" || fail "ccfs status $MP failed"
grep -q "read-only" "$T/status.txt" || fail "ccfs status does not say read-only: $(cat "$T/status.txt")"

# Reading one file opens one workspace and fetches a small part of it.
ws=${names[0]}
before=$(status_json store_stats.bytes_received)
check "read one file" cmp "$MP/$ws/settings.json" "$T/src-$ws/settings.json"
after=$(status_json store_stats.bytes_received)
stored=$("$CCFS" ls --store "$STORE" --json | python3 -c '
import json, sys
for w in json.load(sys.stdin):
    if w["workspace"] == sys.argv[1]:
        print(w["v2_bytes"] if w["v2_generation"] else w["tarball_bytes"] + w["transcript_bytes"])' "$ws")

fetched=$((after - before))
echo "one file of $ws: $fetched bytes fetched of $stored stored"
((fetched > 0)) || fail "reading a file fetched nothing (status not counting?)"
((fetched * 4 < stored)) || fail "reading one file fetched $fetched of $stored bytes (not lazy)"
[[ $(status_json opened_workspaces) == 1 ]] || fail "reading one file opened more than its workspace"

# Every tree equals its source.
for ws in "${names[@]}"; do
  check "diff -r $ws" diff -r "$MP/$ws" "$T/src-$ws"
done

# Writes are refused with EROFS, at the root and inside a workspace.
python3 - "$MP" "${names[0]}" <<'EOF' || fail "a write to the view was not refused with EROFS"
import errno, os, sys
mp, ws = sys.argv[1], sys.argv[2]
attempts = [
    ("append", lambda: open(os.path.join(mp, ws, "settings.json"), "a").write("x")),
    ("create", lambda: open(os.path.join(mp, ws, "new-file"), "w")),
    ("mkdir root", lambda: os.mkdir(os.path.join(mp, "new-ws"))),
    ("mkdir", lambda: os.mkdir(os.path.join(mp, ws, "new-dir"))),
    ("unlink", lambda: os.unlink(os.path.join(mp, ws, "settings.json"))),
    ("rename", lambda: os.rename(os.path.join(mp, ws, "settings.json"),
                                 os.path.join(mp, ws, "moved.json"))),
    ("chmod", lambda: os.chmod(os.path.join(mp, ws, "settings.json"), 0o600)),
    ("truncate", lambda: os.truncate(os.path.join(mp, ws, "settings.json"), 0)),
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
EOF
check "settings.json unchanged after the refused writes" \
  cmp "$MP/${names[0]}/settings.json" "$T/src-${names[0]}/settings.json"

# grep -r over the whole view finds a session id of each workspace.
for ws in "${names[@]}"; do
  sid=$(cd "$T/src-$ws/projects" && find . -maxdepth 2 -name '*.jsonl' | sort | head -1)
  sid=$(basename "$sid" .jsonl)
  grep -rl --include='*.jsonl' "$sid" "$MP" >"$T/grep.$ws" || fail "grep -r $MP found no $sid"
  grep -q "^$MP/$ws/projects/" "$T/grep.$ws" || fail "grep -r did not find $sid under $MP/$ws"
done

# ccfs sessions reads a workspace through the view as from its source.
ws=${names[1]}
sessions_ids() {
  "$CCFS" sessions ls --dir "$1" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d["sessions"] if isinstance(d, dict) else d
print("\n".join(sorted(r.get("id") or r.get("session_id") for r in rows)))'
}
sessions_ids "$MP/$ws" >"$T/sessions.mount" || fail "ccfs sessions ls --dir $MP/$ws failed"
sessions_ids "$T/src-$ws" >"$T/sessions.src" || fail "ccfs sessions ls --dir source failed"
[[ -s $T/sessions.mount ]] || fail "ccfs sessions ls over the view found no session"
check "sessions over the view equal the source's" diff "$T/sessions.src" "$T/sessions.mount"

# umount: nothing to flush, the mount and its process are gone.
pid=$(cat "$MP.pid")
"$CCFS" umount "$MP" 2>"$T/umount.err" || fail "ccfs umount failed: $(cat "$T/umount.err")"
grep -q "nothing to flush" "$T/umount.err" || fail "umount did not say nothing to flush"
mountpoint -q "$MP" && fail "$MP still mounted after ccfs umount"
wait_gone "$pid"
"$CCFS" status "$MP" >/dev/null 2>&1 && fail "ccfs status still answers for $MP after umount"

# The --store form; the caches of the first view are reused.
timeout 120 "$CCFS" mount --all "$MP" --store "$STORE" --cache "$CACHE" ||
  fail "ccfs mount --all MOUNTPOINT --store failed"
mount_pid "$MP" >"$MP.pid"
check "read after remount" cmp "$MP/${names[2]}/settings.json" "$T/src-${names[2]}/settings.json"
check "umount after remount" "$CCFS" umount "$MP"
mountpoint -q "$MP" && fail "$MP still mounted after the second umount"
echo "mount --all: ok"
