#!/usr/bin/env bash
# Two writers racing on a workspace whose tarball is over 64 MiB (and over
# 200 MiB): the size at which uploads used to go multipart, where RGW ignores
# the If-Match on CompleteMultipartUpload and a stale flush silently replaced
# a newer version (both writers exited 0, the other one's files were gone).
#
# tests/tools/fault_proxy.py holds the commit (the tarball PUT, or a
# multipart Complete) of both writers with its last byte unsent: a mount's
# `ccfs flush` and a `ccfs push --ignore-lease` (alternately --if-match the
# base ETag, and --force), both started from the same base. Then one is let
# go, then the other. Direction A lets the push commit first: the flush must
# then be refused by the store and merge (exit 0, both writers' files in the
# store). Direction B lets the flush commit first: the push must exit 3 and
# change nothing (or, forced, replace it and say so). After every trial each writer's marker file is checked in the
# store, and at the end of each size the pulled tree is compared with the
# expected one (diff -r): 0 files lost.
#
#   CCFS_RACE_TRIALS   trials per size and direction (default 1)
#   CCFS_RACE_SIZES    MiB of incompressible data in the tree (default "70 210")
#   CCFS_RACE_SEED     seed of the generated tree and the data (default: random, printed)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3
STORE=$(s3_store)
trials=${CCFS_RACE_TRIALS:-1}
sizes=${CCFS_RACE_SIZES:-70 210}
seed=${CCFS_RACE_SEED:-$RANDOM}
echo "flush_race: seed $seed, $trials trial(s) per size and direction, sizes (MiB): $sizes"
start_fault_proxy 1800
# A held commit must outlast the other writer's preparation (packing 210 MiB
# takes longer than ccfs's default 30 s stall limit under ASan): without this
# the held request would be given up and retried instead of let go.
export CCFS_S3_STALL_TIMEOUT=900

# The commit of the tarball: a single PUT (no query), or a multipart Complete.
hold_commits='{"hold_match": "^(PUT [^ ?]*/claude-home\\.tar\\.gz |POST [^ ]*/claude-home\\.tar\\.gz\\?uploadId=)", "hold_max": 2, "hold_timeout_s": 300}'

# wait_held N PID OUT: until the proxy holds N commits (bounded); fails if
# PID (the writer to be held) exited first.
wait_held() {
  for _ in $(seq 2400); do
    (($(proxy_stat 's["holding"]') >= $1)) && return 0
    kill -0 "$2" 2>/dev/null || fail "the writer to hold exited first: $(cat "$3")"
    sleep 0.25
  done
  fail "commit $1 was never held (proxy: $(proxy_stat 's'))"
}
release() { curl -sf --max-time 5 -X POST "$PROXY_CTL/release?n=$1" >/dev/null || fail "release $1"; }
# finish PID: waits (bounded) for a background writer; its exit code in $rc.
finish() {
  rc=0
  timeout 600 tail --pid="$1" -f /dev/null || fail "writer $1 did not finish"
  wait "$1" || rc=$?
}
current_etag() {
  "$CCFS" ls --store "$STORE" --json | python3 -c \
    'import json,sys; print(next(w["etag"] for w in json.load(sys.stdin) if w["workspace"]==sys.argv[1]))' "$1"
}
# in_store WS FILE CONTENT: the store's current version has FILE with CONTENT.
in_store() {
  local got
  got=$("$CCFS" cat "$1" "$2" --store "$STORE" 2>"$T/cat.err") || return 1
  [[ $got == "$3" ]]
}
not_in_store() { ! "$CCFS" cat "$1" "$2" --store "$STORE" >/dev/null 2>&1; }

for mib in $sizes; do
  ws=race-$mib
  expected=$T/expected-$mib # what the store must hold: both writers' accepted changes
  gen_workspace "$expected" small "$seed"
  python3 -c '
import random, sys
r = random.Random(int(sys.argv[2]))
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[3])):
        f.write(r.randbytes(1 << 20))' "$expected/big.bin" "$seed" "$mib"
  # Layout v1: this race is on the tarball (mount_v2_race_test races v2 roots).
  check "push $ws" "$CCFS" push "$expected" "$ws" --store "$STORE" --layout v1 >/dev/null
  tar_bytes=$("$CCFS" ls --store "$STORE" --json | python3 -c \
    'import json,sys; print(next(w["tarball_bytes"] for w in json.load(sys.stdin) if w["workspace"]==sys.argv[1]))' "$ws")
  ((tar_bytes > mib * 1024 * 1024)) || fail "the tarball is only $tar_bytes bytes"
  echo "flush_race: $ws: tarball $tar_bytes bytes"

  for ((i = 1; i <= trials; i++)); do
    for dir in A B; do
      trial=$mib-$i-$dir
      mnt=$T/mnt-$trial
      base=$(current_etag "$ws")
      # Both writers go through the proxy; each one's commit is held there
      # (the push's first: packing it takes longest), then they are let go
      # one after the other: A lets the push commit first, B the flush.
      AWS_ENDPOINT_URL=$PROXY_URL do_mount "$ws" "$mnt" --hydrate lazy --layout v1

      echo "mine $trial" >"$mnt/mine-$trial.txt"
      echo "settings of $trial" >"$mnt/settings-edit.txt"
      cp -a "$expected" "$T/theirs"
      echo "theirs $trial" >"$T/theirs/theirs-$trial.txt"
      how=(--if-match "$base")
      ((i % 2 == 0)) && how=(--force)

      proxy_config "$hold_commits"
      AWS_ENDPOINT_URL=$PROXY_URL "$CCFS" push "$T/theirs" "$ws" --store "$STORE" "${how[@]}" \
        --ignore-lease >"$T/push.out" 2>&1 &
      push_pid=$!
      wait_held 1 "$push_pid" "$T/push.out"
      "$CCFS" flush "$mnt" >"$T/flush.out" 2>&1 &
      flush_pid=$!
      wait_held 2 "$flush_pid" "$T/flush.out"
      [[ $(proxy_stat 's["held_lines"][1]') == *claude-home.tar.gz* ]] || fail "$trial: wrong request held"
      # Hold 1 is the push's commit, hold 2 the flush's.
      if [[ $dir == A ]]; then order=(1 2); else order=(2 1); fi
      for n in "${order[@]}"; do
        release "$n"
        if ((n == 1)); then
          finish "$push_pid"
          push_rc=$rc
        else
          finish "$flush_pid"
          flush_rc=$rc
        fi
      done
      if [[ $dir == A ]]; then
        [[ $push_rc == 0 ]] || fail "$trial: push exited $push_rc: $(cat "$T/push.out")"
        [[ $flush_rc == 0 ]] ||
          fail "$trial: the stale flush exited $flush_rc, not 0 (merged): $(cat "$T/flush.out")"
        grep -q "merged: theirs-$trial.txt (taken from the store)" "$T/flush.out" ||
          fail "$trial: the stale flush did not merge with the push: $(cat "$T/flush.out")"
        in_store "$ws" "theirs-$trial.txt" "theirs $trial" || fail "$trial: the push's file was lost"
        cp "$T/theirs/theirs-$trial.txt" "$expected/"
        cp "$mnt/mine-$trial.txt" "$mnt/settings-edit.txt" "$expected/"
      else
        [[ $flush_rc == 0 ]] || fail "$trial: the flush exited $flush_rc: $(cat "$T/flush.out")"
        if [[ ${how[0]} == --force ]]; then
          # Forced on purpose: it replaces what the flush wrote, and says so
          # by succeeding; the mount's next flush merges onto it.
          [[ $push_rc == 0 ]] || fail "$trial: forced push exited $push_rc: $(cat "$T/push.out")"
          in_store "$ws" "theirs-$trial.txt" "theirs $trial" || fail "$trial: forced push not in store"
          rm -rf "$expected"
          cp -a "$T/theirs" "$expected"
          echo "after $trial" >"$mnt/after-$trial.txt"
          check "$trial: flush after a forced push" "$CCFS" flush "$mnt" >"$T/flush2.out" 2>&1
          cp "$mnt/after-$trial.txt" "$expected/"
          in_store "$ws" "theirs-$trial.txt" "theirs $trial" ||
            fail "$trial: the next flush undid the forced push"
        else
          [[ $push_rc == 3 ]] ||
            fail "$trial: push against a moved base exited $push_rc, not 3: $(cat "$T/push.out")"
          not_in_store "$ws" "theirs-$trial.txt" || fail "$trial: a refused push changed the store"
          cp "$mnt/mine-$trial.txt" "$mnt/settings-edit.txt" "$expected/"
        fi
      fi
      [[ $(proxy_stat 's["held"]') == 2 ]] || fail "$trial: not both commits were held"
      check "$trial: umount" "$CCFS" umount "$mnt"
      if [[ -e $expected/mine-$trial.txt ]]; then
        in_store "$ws" "mine-$trial.txt" "mine $trial" || fail "$trial: the mount's file was lost"
      fi
      rm -rf "$T/theirs" "$mnt.cache"
      echo "flush_race: trial $trial ok (push ${how[0]}: rc $push_rc; flush rc $flush_rc)"
    done
  done
  check "pull $ws" "$CCFS" pull "$ws" "$T/pulled" --store "$STORE" >/dev/null
  diff -r --no-dereference "$expected" "$T/pulled" >"$T/diff.out" || fail "$ws: store differs from the expected tree: $(head -20 "$T/diff.out")"
  rm -rf "$T/pulled" "$expected"
done
echo "flush_race: all trials passed, 0 files lost"
