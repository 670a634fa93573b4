#!/usr/bin/env bash
# A generated workspace on RGW, mounted: the tree equals the source; the usual
# edits (create, append, truncate, rename over, delete files and dirs, mkdir
# locks, symlinks, chmod) made through the mount and, in parallel, to a local
# copy; `ccfs umount` flushes; `ccfs pull` and a second mount both show the
# copy exactly; the workspace (layout v2, the default) exports as a tar.gz
# that extracts with tar to the copy; `fusermount3 -u` flushes too;
# `ccfs unmount` is `ccfs umount`; `ccfs umount /proc` says it is not ours;
# link counts are ext4's (2 + subdirectories; 0 for an open unlinked file);
# chown, atime, set-group-ID directories, FIFOs and sockets behave as locally,
# device nodes are refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=rt-$$

src=$T/src
gen_workspace "$src" small 11
check "push" "$CCFS" push "$src" "$WS" --store "$STORE" >/dev/null
mnt=$T/mnt
do_mount "$WS" "$mnt"
check "mounted tree equals the source" diff -r "$src" "$mnt"
[[ $(stat -c %a "$mnt/.credentials.json") == 600 ]] || fail ".credentials.json is not 0600"

# The same edits on the mount and on a local copy.
cp -a "$src" "$T/expect"
edit() {
  local d=$1 t1 t2
  echo '{"created":true}' >"$d/new-file.json"
  printf '%s\n' '{"display":"appended"}' >>"$d/history.jsonl"
  truncate -s 10 "$d/CLAUDE.md"
  echo '{"numStartups": 43}' >"$d/.claude.json.tmp.1"
  chmod 600 "$d/.claude.json.tmp.1"
  mv -f "$d/.claude.json.tmp.1" "$d/.claude.json"
  rm "$d/settings.json"
  rm -r "$d/agents"
  mkdir "$d/todos/lock"
  mkdir "$d/todos/lock" 2>/dev/null && fail "mkdir of an existing dir succeeded in $d"
  rmdir "$d/todos/lock"
  mkdir -p "$d/a/b/c" && echo deep >"$d/a/b/c/f" && mv "$d/a" "$d/renamed-dir"
  ln -s ../CLAUDE.md "$d/debug/latest.new" && mv -T "$d/debug/latest.new" "$d/debug/latest"
  chmod 700 "$d/hooks/notify.sh"
  # Transcripts: append to one, add one, delete one.
  t1=$(cd "$d" && find projects -maxdepth 2 -name '*.jsonl' | sort | sed -n 1p)
  t2=$(cd "$d" && find projects -maxdepth 2 -name '*.jsonl' | sort | sed -n 2p)
  echo '{"type":"user","message":"more"}' >>"$d/$t1"
  echo '{"type":"user","message":"new session"}' >"$(dirname "$d/$t1")/new-session.jsonl"
  chmod 644 "$(dirname "$d/$t1")/new-session.jsonl"
  chmod 640 "$d/$t1"
  rm "$d/$t2"
}
edit "$T/expect"
edit "$mnt"
check "mount equals the edited copy" diff -r "$T/expect" "$mnt"
[[ $(readlink "$mnt/debug/latest") == ../CLAUDE.md ]] || fail "readlink debug/latest"
readlink "$mnt/CLAUDE.md" >/dev/null 2>&1 && fail "readlink of a regular file succeeded"
# Link counts as ext4 has them on the copy: a directory 2 + its subdirectories.
links() { (cd "$1" && find . -printf '%p %n\n' | sort); }
diff <(links "$T/expect") <(links "$mnt") >"$T/links.diff" ||
  fail "link counts differ from the local copy's: $(head -5 "$T/links.diff")"
# An open file that lost its name has none.
exec 7<"$mnt/new-file.json"
rm "$mnt/new-file.json"
[[ $(stat -L -c %h /proc/self/fd/7) == 0 ]] || fail "an open unlinked file shows $(stat -L -c %h /proc/self/fd/7) links"
exec 7<&-
echo '{"created":true}' >"$mnt/new-file.json"

# Owners, access times, FIFOs and sockets as on the local copy's filesystem
# (the mount keeps them in its cache; the store keeps none of them).
posix_edits() {
  local d=$1/posix
  mkdir "$d"
  echo data >"$d/owned"
  chown 65534:100 "$d/owned"
  touch -a -d '2001-02-03 04:05:06.123456789' "$d/owned"
  mkfifo -m 0640 "$d/fifo"
  python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/sock"
  mkdir -m 2775 "$d/sgid" && chgrp 100 "$d/sgid"
  mkdir "$d/sgid/sub" && touch "$d/sgid/f"
  (cd "$d" && find . -printf '%p %y %U:%G %m %n\n' | sort && stat -c 'atime %x' owned)
}
posix_edits "$T" >"$T/posix.local"
posix_edits "$mnt" >"$T/posix.mnt"
check "owners, atime, FIFOs and sockets as on the local filesystem" diff "$T/posix.local" "$T/posix.mnt"
grep -q "^./owned f 65534:100 " "$T/posix.mnt" || fail "chown did not show: $(cat "$T/posix.mnt")"
(timeout 10 sh -c 'echo through-the-fifo >"$1"' sh "$mnt/posix/fifo" &)
[[ $(timeout 10 cat "$mnt/posix/fifo") == through-the-fifo ]] || fail "no data through a FIFO on the mount"
mknod "$mnt/posix/null" c 1 3 2>"$T/mknod.err" && fail "mknod of a device node succeeded"
grep -q "not permitted" "$T/mknod.err" || fail "mknod of a device: $(cat "$T/mknod.err")"
rm -r "$T/posix" "$mnt/posix"

# status: the base ETag, the dirty files, hydration; `ccfs status` lists it.
[[ $(status_field "$mnt" dirty_files) -ge 7 ]] || fail "status shows $(status_field "$mnt" dirty_files) dirty files"
[[ -n $(status_field "$mnt" base_etag) ]] || fail "status shows no base ETag"
grep -q "$mnt" <<<"$("$CCFS" status)" || fail "ccfs status does not list $mnt"

pid=$(cat "$mnt.pid")
check "ccfs umount" timeout 300 "$CCFS" umount "$mnt"
mountpoint -q "$mnt" && fail "still mounted after ccfs umount"
wait_gone "$pid"

check "pull" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
check "pulled tree equals the edited copy" diff -r "$T/expect" "$T/pulled"
# Transcript modes come back too (S3 keeps none: the modes object has them).
transcript_modes() { (cd "$1" && find projects -name '*.jsonl' -printf '%P %m\n' | sort); }
transcript_modes "$T/expect" >"$T/modes.expect"
grep -q " 644$" "$T/modes.expect" || fail "no 0644 transcript to check modes with"
transcript_modes "$T/pulled" >"$T/modes.pulled"
check "pulled transcript modes" diff "$T/modes.expect" "$T/modes.pulled"
[[ $(stat -c %a "$T/pulled/.claude.json") == 600 ]] || fail ".claude.json mode lost"

mnt2=$T/mnt2
do_mount "$WS" "$mnt2" --hydrate lazy
check "second mount equals the edited copy" diff -r "$T/expect" "$mnt2"
transcript_modes "$mnt2" >"$T/modes.mnt2"
check "second mount's transcript modes" diff "$T/modes.expect" "$T/modes.mnt2"

# The workspace is in layout v2 (created so by the push), and its export is
# a plain tar.gz of the whole tree, transcripts included.
[[ $(status_field "$mnt2" base_etag) == v2:* ]] || fail "the pushed workspace is not in layout v2"
check "export" "$CCFS" export "$WS" "$T/new.tgz" --store "$STORE"
mkdir "$T/x"
check "tar xzf of the export" tar xzf "$T/new.tgz" -C "$T/x"
(cd "$T/expect" && find . | sort) >"$T/expect.list"
(cd "$T/x" && find . | sort) >"$T/x.list"
check "export holds the tree" diff "$T/expect.list" "$T/x.list"
check "export content" diff -r "$T/expect" "$T/x"


# Plain fusermount3 -u flushes too.
echo "via fusermount" >"$mnt2/fusermount.txt"
echo "via fusermount" >"$T/expect/fusermount.txt"
pid=$(cat "$mnt2.pid")
check "fusermount3 -u" fusermount3 -u "$mnt2"
wait_gone "$pid"
check "pull after fusermount3 -u" "$CCFS" pull "$WS" "$T/pulled2" --store "$STORE" >/dev/null
check "fusermount3 -u flushed" diff -r "$T/expect" "$T/pulled2"

# A non-empty mountpoint is refused (a mount would hide its files) unless
# --allow-non-empty; the files are there again after the unmount.
full=$T/full
mkdir "$full" && echo mine >"$full/keep.txt"
_mounts+=("$full")
"$CCFS" mount "$WS" "$full" --store "$STORE" --cache "$full.cache" >"$T/full.out" 2>&1 &&
  fail "mounted over a non-empty directory"
grep -q "is not empty" "$T/full.out" || fail "non-empty refusal says: $(cat "$T/full.out")"
mountpoint -q "$full" && fail "$full got mounted"
do_mount "$WS" "$full" --allow-non-empty
[[ -e $full/keep.txt ]] && fail "keep.txt shows through the mount"
check "umount over non-empty" timeout 60 "$CCFS" umount "$full"
[[ $(cat "$full/keep.txt") == mine ]] || fail "keep.txt is gone after the unmount"

# A mountpoint with a space (mountinfo writes it as \040): a crashed daemon's
# mount there is recognised as such and cleaned up by the next mount.
sp="$T/with space"
do_mount "$WS" "$sp"
kill -KILL "$(cat "$sp.pid")"
wait_gone "$(cat "$sp.pid")"
"$CCFS" umount "$sp" >"$T/sp.out" 2>&1 && fail "umount of a crashed mount succeeded"
grep -q "no ccfs process answers" "$T/sp.out" || fail "crashed mount with a space: $(cat "$T/sp.out")"
do_mount "$WS" "$sp" 2>"$T/sp2.out"
check "remount with a space equals the workspace" diff -r "$T/expect" "$sp"
check "umount with a space" timeout 60 "$CCFS" umount "$sp"

# Read-only: everything readable, nothing writable, nothing flushed.
ro=$T/ro
do_mount "$WS" "$ro" --read-only
check "read-only mount equals the workspace" diff -r "$T/expect" "$ro"
touch "$ro/nope" 2>"$T/ro.err" && fail "created a file on a read-only mount"
grep -q "Read-only" "$T/ro.err" || fail "read-only error: $(cat "$T/ro.err")"
check "unmount (the alias) of the read-only mount" timeout 60 "$CCFS" unmount "$ro"
mountpoint -q "$ro" && fail "still mounted after ccfs unmount"

# Someone else's mount is not a ccfs mount, and ccfs never suggests
# unmounting it.
"$CCFS" umount /proc >"$T/proc.out" 2>&1 && fail "ccfs umount /proc succeeded"
grep -q "/proc is not a ccfs mount (it is a proc mount)" "$T/proc.out" ||
  fail "ccfs umount /proc: $(cat "$T/proc.out")"
grep -q fusermount3 "$T/proc.out" && fail "ccfs umount /proc suggests fusermount3: $(cat "$T/proc.out")"
mountpoint -q /proc || fail "/proc is gone"
echo "PASS"
