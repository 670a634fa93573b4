#!/usr/bin/env bash
# Workspace leases on real mounts (RGW): a second writable mount (or exec) of
# a held workspace is refused with exit 1 and a message naming the holder;
# --read-only needs no lease; a SIGKILLed holder's lease is taken over once
# it expired (and at once by a remount of the same cache); a mount whose
# lease was taken over (SIGSTOPped past its ttl) refuses to flush as a
# conflict, keeps its data, says so in status, and flushes once the lease is
# free again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
WS=ls-$$
TTL=3

gen_workspace "$T/src" small 21
check "push" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
host=$(hostname)

# 1. Held: a second writer is refused, naming the holder.
MOUNT_CACHE=$T/c1 do_mount "$WS" "$T/m1" --lease-ttl $TTL
pid1=$(cat "$T/m1.pid")
[[ $(status_field "$T/m1" lease.held) == True ]] || fail "m1 does not hold the lease"
mkdir -p "$T/m2"
set +e
timeout 60 "$CCFS" mount "$WS" "$T/m2" --store "$STORE" --cache "$T/c2" 2>"$T/refused.err"
rc=$?
set -e
[[ $rc == 1 ]] || fail "second writable mount exited $rc, not 1: $(cat "$T/refused.err")"
mountpoint -q "$T/m2" && fail "the refused mount is mounted"
[[ -e $T/c2 ]] && fail "the refused mount left the cache directory it created ($T/c2)"
grep -q "held writable by .*@$host (pid $pid1) since 20" "$T/refused.err" ||
  fail "refusal does not name the holder: $(cat "$T/refused.err")"
echo "refused: $(cat "$T/refused.err")"
set +e
timeout 60 "$CCFS" exec "$WS" --store "$STORE" --cache "$T/c2" -- touch "$T/exec-ran" 2>"$T/exec.err"
rc=$?
set -e
[[ $rc == 1 && ! -e $T/exec-ran ]] || fail "exec of a held workspace: exit $rc: $(cat "$T/exec.err")"
grep -q "(pid $pid1)" "$T/exec.err" || fail "exec refusal does not name the holder"

# 2. Read-only mounts need no lease.
MOUNT_CACHE=$T/c3 do_mount "$WS" "$T/ro" --read-only
cmp -s "$T/src/settings.json" "$T/ro/settings.json" || fail "read-only mount content"
[[ $(status_field "$T/ro" read_only) == True ]] || fail "not read-only"
grep -q '"lease"' <<<"$("$CCFS" status "$T/ro" --json)" && fail "a read-only mount took a lease"
check "umount ro" timeout 120 "$CCFS" umount "$T/ro"

# 3. The holder is SIGSTOPped past its ttl: another mount takes the expired
# lease over; the old holder, resumed, must not flush over it.
echo "mine before the takeover" >"$T/m1/stopped.txt"
kill -STOP "$pid1"
on_exit "kill -CONT $pid1 2>/dev/null"
sleep $((TTL + 4))
MOUNT_CACHE=$T/c2 do_mount "$WS" "$T/m2" --lease-ttl 30
grep -q "took over the expired lease of .*(pid $pid1)" "$T/c2/mount.log" ||
  fail "the takeover is not logged: $(cat "$T/c2/mount.log")"
kill -CONT "$pid1"
set +e
timeout 120 "$CCFS" flush "$T/m1" 2>"$T/lost.err"
rc=$?
set -e
[[ $rc == 3 ]] || fail "flush after losing the lease exited $rc, not 3: $(cat "$T/lost.err")"
grep -q "lost its lease" "$T/lost.err" || fail "no lease-lost explanation: $(cat "$T/lost.err")"
grep -q "(pid $(cat "$T/m2.pid"))" "$T/lost.err" || fail "the new holder is not named"
[[ $(status_field "$T/m1" lease.lost) == True ]] || fail "status does not say the lease was lost"
grep -q "lease: *LOST" <<<"$("$CCFS" status "$T/m1")" || fail "plain status does not show LOST"
[[ $(cat "$T/m1/stopped.txt") == "mine before the takeover" ]] || fail "local data lost"
check "pull" "$CCFS" pull "$WS" "$T/p1" --store "$STORE" >/dev/null
[[ -e $T/p1/stopped.txt ]] && fail "the mount that lost its lease wrote anyway"
# The new holder unmounts (releasing it): the old one can now flush.
check "umount m2" timeout 120 "$CCFS" umount "$T/m2"
check "umount m1 flushes once the lease is free" timeout 120 "$CCFS" umount "$T/m1"
wait_gone "$pid1"
check "pull" "$CCFS" pull "$WS" "$T/p2" --store "$STORE" >/dev/null
[[ $(cat "$T/p2/stopped.txt") == "mine before the takeover" ]] || fail "m1's change not flushed"

# 4. A SIGKILLed holder's lease: another cache waits for the expiry, then
# takes it over; the same cache reclaims at once.
MOUNT_CACHE=$T/c1 do_mount "$WS" "$T/m1" --lease-ttl $TTL
pid1=$(cat "$T/m1.pid")
kill -KILL "$pid1"
wait_gone "$pid1"
set +e
timeout 60 "$CCFS" mount "$WS" "$T/m2" --store "$STORE" --cache "$T/c2" 2>"$T/refused2.err"
rc=$?
set -e
[[ $rc == 1 ]] || fail "mount right after the holder died exited $rc (its lease has not expired)"
sleep $((TTL + 4))
MOUNT_CACHE=$T/c2 do_mount "$WS" "$T/m2"
grep -q "took over the expired lease of .*(pid $pid1)" "$T/c2/mount.log" || fail "takeover not logged"
check "umount m2" timeout 120 "$CCFS" umount "$T/m2"

MOUNT_CACHE=$T/c2 do_mount "$WS" "$T/m2"  # default ttl 30 s
pid2=$(cat "$T/m2.pid")
kill -KILL "$pid2"
wait_gone "$pid2"
t0=$(date +%s)
MOUNT_CACHE=$T/c2 do_mount "$WS" "$T/m2"  # cleans the stale mount, reclaims the lease
(($(date +%s) - t0 < 20)) || fail "the same cache waited for its own crashed lease to expire"
grep -q "reclaimed our own lease left by .*(pid $pid2)" "$T/c2/mount.log" || fail "reclaim not logged"
check "umount m2" timeout 120 "$CCFS" umount "$T/m2"
echo "PASS"
