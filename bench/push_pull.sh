#!/usr/bin/env bash
# Benchmark: `ccfs push` / `ccfs pull` of a generated workspace on RGW, next to
# the peer a workspace broker uses today: `tar czf` + one plain PUT, and one
# plain GET + `tar xzf`, measured in the same run. Prints a table and JSON.
#
#   bench/push_pull.sh [--size small|medium|large] [--runs N]
# Needs a built ccfs (scripts/build --release) and starts its own RGW.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=large
runs=1
while (($#)); do
  case "$1" in
    --size) size=$2; shift ;;
    --runs) runs=$2; shift ;;
    *) echo "push_pull: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
build=$("$root/scripts/build" --release)
ccfs=$build/cli/ccfs
work=$(mktemp -d /tmp/ccfs-bench.XXXXXX)
export CCFS_S3_DIR=$work/s3
cleanup() {
  "$root/scripts/s3-server" stop "$CCFS_S3_DIR" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$root/scripts/s3-server" start "$CCFS_S3_DIR" >&2
eval "$("$root/scripts/s3-server" env "$CCFS_S3_DIR")"
store=s3://$CCFS_TEST_S3_BUCKET/bench

python3 "$root/scripts/gen-workspace" "$work/src" --size "$size" --seed 1 >&2
src_bytes=$(du -sb "$work/src" | cut -f1)
src_files=$(find "$work/src" -type f | wc -l)

now() { date +%s.%N; }
curl_s3() { # curl_s3 ARGS... URL-PATH
  curl -sf --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -a t_push t_pull t_tarput t_gettar
for ((r = 1; r <= runs; r++)); do
  ws=ws$r
  sync; t0=$(now)
  "$ccfs" push "$work/src" "$ws" --store "$store" >&2
  t1=$(now); t_push+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now)
  "$ccfs" pull "$ws" "$work/pulled$r" --store "$store" >&2
  t1=$(now); t_pull+=("$(echo "$t1 - $t0" | bc)")
  diff -r "$work/src" "$work/pulled$r" >/dev/null || { echo "pull differs from source" >&2; exit 1; }
  rm -rf "$work/pulled$r"

  sync; t0=$(now)
  tar czf "$work/plain.tgz" -C "$work/src" .
  curl_s3 -T "$work/plain.tgz" "$AWS_ENDPOINT_URL/$CCFS_TEST_S3_BUCKET/plain/$ws.tgz" >/dev/null
  t1=$(now); t_tarput+=("$(echo "$t1 - $t0" | bc)")
  mkdir "$work/plain$r"
  t0=$(now)
  curl_s3 "$AWS_ENDPOINT_URL/$CCFS_TEST_S3_BUCKET/plain/$ws.tgz" | tar xzf - -C "$work/plain$r"
  t1=$(now); t_gettar+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$work/plain$r" "$work/plain.tgz"
done

push=$(printf '%s\n' "${t_push[@]}" | median)
pull=$(printf '%s\n' "${t_pull[@]}" | median)
tarput=$(printf '%s\n' "${t_tarput[@]}" | median)
gettar=$(printf '%s\n' "${t_gettar[@]}" | median)
printf '\nworkspace: %s, %d files, %.1f MB; %d run(s), median seconds\n' "$size" "$src_files" \
  "$(echo "$src_bytes / 1000000" | bc -l)" "$runs"
printf '%-28s %10s %10s %8s\n' figure ccfs peer ratio
printf '%-28s %10.2f %10.2f %8.2f\n' "push vs tar czf + PUT" "$push" "$tarput" "$(echo "$push / $tarput" | bc -l)"
printf '%-28s %10.2f %10.2f %8.2f\n' "pull vs GET | tar xzf" "$pull" "$gettar" "$(echo "$pull / $gettar" | bc -l)"
printf '{"size":"%s","files":%d,"bytes":%d,"runs":%d,"push_s":%s,"tar_czf_put_s":%s,"pull_s":%s,"get_tar_xzf_s":%s}\n' \
  "$size" "$src_files" "$src_bytes" "$runs" "$push" "$tarput" "$pull" "$gettar"
