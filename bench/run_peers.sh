#!/usr/bin/env bash
# The peers of one benchmark run: what a workspace broker does today with one
# plain tar.gz of the whole tree (object KEY in the same RGW bucket; the same
# files as the ccfs workspace), each from a cold page cache:
#   1. GET the tarball to a file, tar xzf, read settings.json      (first_read)
#      GET the tarball to a file, archivemount it, read settings.json
#                                                                  (first_read_archivemount,
#                                                                   and archivemount's VmHWM: rss_mb)
#   2. curl | tar xz                                               (hydrate)
#   5. tar czf of the tree + PUT                                   (flush_one)
# The ccfs side is bench/run_mount.sh; their samples meet in $BENCH_RAW.
#
#   bench/run_peers.sh SIZE RUN KEY SRC WORKDIR [--no-repack]
# --no-repack leaves out figure 5 (scripts/bench timed the tar czf + PUT that
# made KEY as run 1's sample: it is the same work).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

size=$1 run=$2 key=$3 src=$4 work=$5
repack=1
[[ ${6:-} == --no-repack ]] && repack=0
peer=$work/peer
amnt=$peer/amnt
apid=
cleanup() {
  unmount_quietly "$amnt"
  if [[ -n $apid ]] && kill -0 "$apid" 2>/dev/null; then
    kill -TERM "$apid" 2>/dev/null || true
    wait_pid_gone "$apid" 20 || kill -KILL "$apid" 2>/dev/null || true
  fi
  rm -rf "$peer"
}
trap cleanup EXIT
rm -rf "$peer"
mkdir -p "$peer/x" "$peer/y" "$amnt"
url=$(s3_url "$key")

# --- 1a. download, then extract, then read ------------------------------------
cold
t0=$(now)
curl_s3 -o "$peer/ws.tgz" "$url"
tar xzf "$peer/ws.tgz" -C "$peer/x"
cat "$peer/x/settings.json" >/dev/null
t_extract=$(elapsed "$t0")
rm -rf "$peer/x" "$peer/ws.tgz"

# --- 1b. download, then archivemount, then read -------------------------------
# In the foreground (as a child) so that its pid, hence its VmHWM, is ours.
cold
t0=$(now)
curl_s3 -o "$peer/ws.tgz" "$url"
archivemount -f -o readonly "$peer/ws.tgz" "$amnt" 2>"$peer/archivemount.log" &
apid=$!
wait_mounted "$amnt" "$apid" 900 || die "archivemount did not mount: $(cat "$peer/archivemount.log")"
cat "$amnt/settings.json" >/dev/null
t_amount=$(elapsed "$t0")
amount_rss=$(awk -v k="$(vmhwm_kb "$apid")" 'BEGIN { printf "%.1f", k / 1024 }')
fusermount3 -u "$amnt"
wait_pid_gone "$apid" 60 || kill -KILL "$apid" 2>/dev/null || true
apid=
rm -f "$peer/ws.tgz"

# --- 2. streamed download and extraction --------------------------------------
cold
t0=$(now)
curl_s3 "$url" | tar xzf - -C "$peer/y"
t_stream=$(elapsed "$t0")
rm -rf "$peer/y"

# --- 5. full repack and upload --------------------------------------------------
# The tree is warm on both sides: ccfs's flush reads its cache, this reads SRC.
if ((repack)); then
  t0=$(now)
  tar czf "$peer/re.tgz" -C "$src" .
  curl_s3 -T "$peer/re.tgz" "$(s3_url "$key.repacked")" >/dev/null
  t_repack=$(elapsed "$t0")
fi

# Peers go in the "peer" column of the same keys as the ccfs samples.
peer_record() { printf '{"size":"%s","run":%s,"key":"%s","peer":%s}\n' "$size" "$run" "$1" "$2" >>"$BENCH_RAW"; }
peer_record first_read "$t_extract"
peer_record first_read_archivemount "$t_amount"
peer_record hydrate "$t_stream"
((repack)) && peer_record flush_one "$t_repack"
peer_record rss_mb "$amount_rss"
