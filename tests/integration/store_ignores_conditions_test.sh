#!/usr/bin/env bash
# A store that silently ignores If-Match / If-None-Match (as several
# S3-compatible servers do) is refused for writing, with a message naming
# what it ignored, and nothing is written; reading still works. The store is
# RGW behind tests/tools/fault_proxy.py with ignore_conditions, which drops
# both headers from every request and signs it again, so RGW never sees
# them (the proxy counts what it dropped). Control: the same proxy without
# ignore_conditions lets the same push through, and the pass is remembered.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
gen_workspace "$T/src" small 5
start_fault_proxy 600
# Verdicts of earlier runs must not decide this one.
export XDG_CACHE_HOME=$T/xdg

check "push (direct)" "$CCFS" push "$T/src" ws --store "$STORE" >/dev/null
proxy_config '{"ignore_conditions": true}'

# push: refused, nothing written.
AWS_ENDPOINT_URL=$PROXY_URL "$CCFS" push "$T/src" ws-new --store "$STORE" >"$T/push.out" 2>&1 &&
  fail "push to a store that ignores conditions succeeded"
grep -q "ignores If-None-Match" "$T/push.out" || fail "push says: $(cat "$T/push.out")"
(($(proxy_stat 's["conditions_dropped"]') >= 1)) || fail "the proxy dropped no condition"
"$CCFS" pull ws-new "$T/nothing" --store "$STORE" >/dev/null 2>&1 && fail "ws-new exists after a refused push"
grep -q "ws-new" <<<"$("$CCFS" ls --store "$STORE")" && fail "ccfs ls lists ws-new"

# Writable mount and exec: refused; no mount left behind.
mkdir -p "$T/mnt"
_mounts+=("$T/mnt")
AWS_ENDPOINT_URL=$PROXY_URL timeout 120 "$CCFS" mount ws "$T/mnt" --store "$STORE" \
  --cache "$T/mnt.cache" >"$T/mount.out" 2>&1 && fail "writable mount on an ignoring store succeeded"
grep -q "ignores If-None-Match" "$T/mount.out" || fail "mount says: $(cat "$T/mount.out")"
mountpoint -q "$T/mnt" && fail "$T/mnt is mounted"
AWS_ENDPOINT_URL=$PROXY_URL timeout 120 "$CCFS" exec ws --store "$STORE" -- true >"$T/exec.out" 2>&1 &&
  fail "exec on an ignoring store succeeded"
grep -q "ignores If-None-Match" "$T/exec.out" || fail "exec says: $(cat "$T/exec.out")"

# Reading still works: a read-only mount and a pull through the same proxy.
AWS_ENDPOINT_URL=$PROXY_URL do_mount ws "$T/ro" --read-only
check "read-only mount through the ignoring store" diff -r "$T/src" "$T/ro"
check "umount read-only" timeout 60 "$CCFS" umount "$T/ro"
AWS_ENDPOINT_URL=$PROXY_URL check "pull through the ignoring store" \
  "$CCFS" pull ws "$T/pulled" --store "$STORE"
check "pulled tree" diff -r "$T/src" "$T/pulled"

# Control: the same proxy passing conditions on lets the push through, and
# the pass is remembered (no probe the second time).
proxy_config '{}'
AWS_ENDPOINT_URL=$PROXY_URL check "push through the honest proxy" \
  "$CCFS" push "$T/src" ws-new --store "$STORE"
grep -q . <<<"$(ls "$XDG_CACHE_HOME/ccfs/store-checks/")" || fail "the pass was not remembered"
for f in push mount exec; do echo "store_ignores_conditions: $f: $(cat "$T/$f.out")"; done
echo "PASS"
