# shellcheck shell=bash
# Helpers shared by the bench/*.sh scripts (sourced, not run).
#
# The driver (scripts/bench) exports:
#   BENCH_CCFS      the ccfs binary            BENCH_APPEND  ccfs_append_bench
#   BENCH_STORE     s3://bucket/prefix         BENCH_RAW     file the samples go to
#   AWS_*, CCFS_TEST_S3_BUCKET from `scripts/s3-server env`
# Every measurement is one JSON line in $BENCH_RAW:
#   {"size":"large","run":1,"key":"first_read","ccfs":0.41,"peer":27.3}
# and bench/report.py turns the lines into medians, ratios, the table and the chart.

now() { date +%s.%N; }

# elapsed T0 [T1]: seconds between two `now` stamps (T1 defaults to now).
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.6f", b - a }'; }

die() {
  echo "bench: $*" >&2
  exit 1
}

log() { echo "bench: $*" >&2; }

# record SIZE RUN KEY CCFS PEER: one sample; PEER may be "null" (no peer).
record() {
  printf '{"size":"%s","run":%s,"key":"%s","ccfs":%s,"peer":%s}\n' "$1" "$2" "$3" "$4" "$5" >>"$BENCH_RAW"
}

# note TEXT: a line for the report's notes (said once however often it is noted).
note() {
  python3 -c 'import json,sys; print(json.dumps({"note": sys.argv[1]}))' "$1" >>"$BENCH_RAW"
}

# curl_s3 ARGS... URL: curl signing with SigV4 (curl >= 7.75; Debian 12 has 7.88).
# RGW insists on x-amz-content-sha256; UNSIGNED-PAYLOAD lets bodies stream.
curl_s3() {
  curl -sSf --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

# s3_url KEY: the path-style URL of KEY in the bench bucket.
s3_url() { echo "$AWS_ENDPOINT_URL/$CCFS_TEST_S3_BUCKET/$1"; }

# drop_caches: write dirty pages and drop the page cache, dentries and inodes, so
# that a "cold" measurement reads from the store or the disk, not from memory.
# Returns 1 where the kernel does not let us (not root, read-only /proc/sys).
drop_caches() {
  sync
  { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null
}

# cold: drop_caches, remembering in the notes when that was impossible.
cold() {
  drop_caches || note "page cache could not be dropped (/proc/sys/vm/drop_caches not writable): cold figures ran with whatever was cached"
}

# status_json MP: `ccfs status MP --json` in one line.
status_json() { "$BENCH_CCFS" status "$1" --json; }

# json_get KEY[.KEY...] < JSON: one value (Python's spelling: True/False/None).
json_get() {
  python3 -c 'import json,sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k]
print(v)' "$1"
}

# vmhwm_kb PID: the peak resident set of PID in KiB (VmHWM).
vmhwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# wait_mounted MP PID TIMEOUT_S: waits for MP to become a mountpoint while PID lives.
wait_mounted() {
  local mp=$1 pid=$2 deadline=$(($(date +%s) + $3))
  until mountpoint -q "$mp"; do
    kill -0 "$pid" 2>/dev/null || return 1
    (($(date +%s) < deadline)) || return 1
    sleep 0.01
  done
}

# unmount_quietly MP: lazy unmount if still mounted (cleanup paths only).
unmount_quietly() {
  if mountpoint -q "$1" 2>/dev/null; then
    fusermount3 -u -z "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true
  fi
}

# wait_pid_gone PID TIMEOUT_S
wait_pid_gone() {
  timeout "$2" tail --pid="$1" -f /dev/null 2>/dev/null
}

# tree_bytes DIR: bytes in the regular files under DIR.
tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
