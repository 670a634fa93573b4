#!/usr/bin/env bash
# Who can read a mount: the cache dir is 0700 (its content can hold
# credentials) and no other user can enter it; another user (nobody, via
# setpriv) cannot read the mount without --allow-other, and can read it with
# it, while file modes still hold (0600 .credentials.json stays private, and
# nobody cannot write). Needs root (to become nobody; as root, allow_other
# needs no user_allow_other in /etc/fuse.conf: a non-root user needs it).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
(($(id -u) == 0)) || fail "this test switches to the user nobody: run it as root"
STORE=$(s3_store)
WS=ac-$$
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }

gen_workspace "$T/src" small 31
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
[[ $(stat -c %a "$T/src/.credentials.json") == 600 ]] || fail "test tree: .credentials.json not 0600"
# Let nobody reach the mountpoints (the caches are made 0700 by ccfs).
chmod 711 "$T"

do_mount "$WS" "$T/private"
[[ $(stat -c %a "$T/private.cache") == 700 ]] || fail "cache dir is $(stat -c %a "$T/private.cache"), not 700"
as_nobody ls "$T/private.cache" >/dev/null 2>&1 && fail "nobody can list the cache dir"
as_nobody cat "$T/private.cache/meta.db" >/dev/null 2>&1 && fail "nobody can read the cache"
cmp -s "$T/src/settings.json" "$T/private/settings.json" || fail "root cannot read its own mount"
as_nobody cat "$T/private/settings.json" >/dev/null 2>"$T/nobody.err" &&
  fail "nobody can read a mount made without --allow-other"
grep -qi "permission denied" "$T/nobody.err" || fail "unexpected error: $(cat "$T/nobody.err")"
as_nobody ls "$T/private" >/dev/null 2>&1 && fail "nobody can list a mount made without --allow-other"
check "umount" timeout 120 "$CCFS" umount "$T/private"

do_mount "$WS" "$T/shared" --allow-other --read-only
as_nobody cat "$T/shared/settings.json" >"$T/nobody.out" 2>"$T/nobody.err" ||
  fail "nobody cannot read a mount made with --allow-other: $(cat "$T/nobody.err")"
cmp -s "$T/src/settings.json" "$T/nobody.out" || fail "nobody read wrong bytes"
as_nobody ls "$T/shared" >/dev/null || fail "nobody cannot list an --allow-other mount"
as_nobody cat "$T/shared/.credentials.json" >/dev/null 2>&1 &&
  fail "allow-other exposed the 0600 .credentials.json to nobody"
check "umount" timeout 120 "$CCFS" umount "$T/shared"

do_mount "$WS" "$T/shared-rw" --allow-other
as_nobody cat "$T/shared-rw/CLAUDE.md" >/dev/null || fail "nobody cannot read the writable --allow-other mount"
as_nobody touch "$T/shared-rw/by-nobody" 2>/dev/null && fail "nobody could create a file in root's tree"
as_nobody sh -c "echo x >>'$T/shared-rw/settings.json'" 2>/dev/null && fail "nobody could write root's 0644 file"
[[ $(stat -c %u "$T/shared-rw/settings.json") == 0 ]] || fail "files are not owned by the mounting user"
check "umount" timeout 120 "$CCFS" umount "$T/shared-rw"
echo "PASS"
