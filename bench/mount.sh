#!/usr/bin/env bash
# Benchmark of the mount on RGW, each figure next to a peer measured in the
# same run:
#   1. ccfs mount -> first `cat settings.json`  vs  GET + tar xzf of the whole tarball
#   2. O_APPEND latency of 1 KiB lines on the mount  vs  on local disk
#   3. ccfs flush after changing one file  vs  tar czf + PUT of the whole tree
#   4. bytes fetched by a lazy mount that reads one file and changes one file,
#      flush included  vs  the workspace's size in the store
#   bench/mount.sh [--size small|medium|large]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=large
while (($#)); do
  case "$1" in
    --size) size=$2; shift ;;
    *) echo "mount bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
build=$("$root/scripts/build" --release --bench)
ccfs=$build/cli/ccfs
work=$(mktemp -d /tmp/ccfs-bench.XXXXXX)
export CCFS_S3_DIR=$work/s3 CCFS_RUNTIME_DIR=$work/run
mnt=$work/mnt
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u -z "$mnt"
  "$root/scripts/s3-server" stop "$CCFS_S3_DIR" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$root/scripts/s3-server" start "$CCFS_S3_DIR" >&2
eval "$("$root/scripts/s3-server" env "$CCFS_S3_DIR")"
store=s3://$CCFS_TEST_S3_BUCKET/bench
curl_s3() {
  curl -sf --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
stat_json() { "$ccfs" status "$1" --json | python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$2"; }

python3 "$root/scripts/gen-workspace" "$work/src" --size "$size" --seed 1 >&2
"$ccfs" push "$work/src" ws --store "$store" --layout v1 >&2  # its peer GETs the v1 tarball
tar_bytes=$("$ccfs" ls --store "$store" --json | python3 -c 'import json,sys; w=json.load(sys.stdin)[0]; print(w["tarball_bytes"]+w["transcript_bytes"])')
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true

# 1. first read
mkdir "$mnt"
t0=$(now)
"$ccfs" mount ws "$mnt" --store "$store" --cache "$work/cache1" --hydrate lazy
cat "$mnt/settings.json" >/dev/null
t1=$(now)
first_read=$(secs "$t0" "$t1")
mkdir "$work/x"
t0=$(now)
curl_s3 "$AWS_ENDPOINT_URL/$CCFS_TEST_S3_BUCKET/bench/ws/claude-home.tar.gz" | tar xzf - -C "$work/x"
t1=$(now)
full_extract=$(secs "$t0" "$t1")
rm -rf "$work/x"

# 2. O_APPEND latency, 1 KiB lines
mkdir -p "$mnt/projects/bench" "$work/local"
app=$("$build/bench/ccfs_append_bench" --dir "$mnt/projects/bench" --dir "$work/local" --lines 5000 --min 1024 --max 1024)
mnt_p50=$(echo "$app" | sed -n 1p | python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_us"])')
mnt_p99=$(echo "$app" | sed -n 1p | python3 -c 'import json,sys; print(json.load(sys.stdin)["p99_us"])')
loc_p50=$(echo "$app" | sed -n 2p | python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_us"])')
loc_p99=$(echo "$app" | sed -n 2p | python3 -c 'import json,sys; print(json.load(sys.stdin)["p99_us"])')
"$ccfs" umount "$mnt" --store "$store" >&2

# 3. flush after changing one file (background-hydrated mount, as a developer's)
"$ccfs" mount ws "$mnt" --store "$store" --cache "$work/cache2" --hydrate background
for i in $(seq 1 600); do
  [[ $(stat_json "$mnt" hydration.stream_done) == True ]] && break
  sleep 0.5
done
echo "one more line" >>"$mnt/CLAUDE.md"
t0=$(now)
"$ccfs" flush "$mnt" --store "$store" >&2
t1=$(now)
flush=$(secs "$t0" "$t1")
"$ccfs" umount "$mnt" --store "$store" >&2
t0=$(now)
tar czf "$work/plain.tgz" -C "$work/src" .
curl_s3 -T "$work/plain.tgz" "$AWS_ENDPOINT_URL/$CCFS_TEST_S3_BUCKET/plain.tgz" >/dev/null
t1=$(now)
repack=$(secs "$t0" "$t1")
rm -f "$work/plain.tgz"

# 4. a lazy turn: read one file, change one file, flush
"$ccfs" mount ws "$mnt" --store "$store" --cache "$work/cache3" --hydrate lazy
cat "$mnt/settings.json" >/dev/null
echo "turn" >>"$mnt/CLAUDE.md"
"$ccfs" flush "$mnt" --store "$store" >&2
turn_bytes=$(stat_json "$mnt" store_stats.bytes_received)
"$ccfs" umount "$mnt" --store "$store" >&2

printf '\nworkspace: %s (%s bytes in the store)\n' "$size" "$tar_bytes"
printf '%-44s %12s %12s %8s\n' figure ccfs peer ratio
printf '%-44s %12.3f %12.3f %8.4f\n' "mount+first read vs GET|tar xzf (s)" "$first_read" "$full_extract" "$(echo "$first_read / $full_extract" | bc -l)"
printf '%-44s %12.1f %12.1f %8.2f\n' "O_APPEND 1 KiB p50 (us) mount vs local" "$mnt_p50" "$loc_p50" "$(echo "$mnt_p50 / $loc_p50" | bc -l)"
printf '%-44s %12.1f %12.1f %8.2f\n' "O_APPEND 1 KiB p99 (us) mount vs local" "$mnt_p99" "$loc_p99" "$(echo "$mnt_p99 / $loc_p99" | bc -l)"
printf '%-44s %12.2f %12.2f %8.3f\n' "flush 1 changed file vs tar czf+PUT (s)" "$flush" "$repack" "$(echo "$flush / $repack" | bc -l)"
printf '%-44s %12d %12d %8.4f\n' "lazy turn bytes fetched vs workspace" "$turn_bytes" "$tar_bytes" "$(echo "$turn_bytes / $tar_bytes" | bc -l)"
