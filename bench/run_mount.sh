#!/usr/bin/env bash
# The ccfs side of one benchmark run, on one cold mount of workspace WS, in
# the order a developer's session goes:
#   1. ccfs mount -> first read of settings.json                 (first_read)
#   2. mount -> background hydration done (tarball + transcripts) (hydrate)
#   3. warm sequential read of the whole tree, warm grep -r over every
#      transcript; the same on the local copy SRC, in the same run (warm_read_mbps, grep_mbps)
#   5. ccfs flush after appending one line to CLAUDE.md          (flush_one)
#   4. O_APPEND latency of 200 B-10 KiB lines and open-write-close of small
#      files, on the mount and in a local directory (append_p50/p99, small_p50/p99)
#   7. VmHWM of the mount process before unmount, metadata bytes per file (rss_mb, meta_bytes_per_file)
# The peers of 1, 2 and 5 are in bench/run_peers.sh.
#
#   bench/run_mount.sh SIZE RUN WS SRC WORKDIR [--lines N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

size=$1 run=$2 ws=$3 src=$4 work=$5
shift 5
lines=5000
while (($#)); do
  case "$1" in
    --lines) lines=$2; shift ;;
    *) die "run_mount: unknown option $1" ;;
  esac
  shift
done

mnt=$work/mnt cache=$work/cache local=$work/local-writes
mkdir -p "$mnt" "$local"
rm -rf "$cache"
daemon_pid=
cleanup() {
  unmount_quietly "$mnt"
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait_pid_gone "$daemon_pid" 20 || kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$cache" "$local"
}
trap cleanup EXIT

# --- 1. cold mount -> first read -------------------------------------------
cold
t0=$(now)
"$BENCH_CCFS" mount "$ws" "$mnt" --store "$BENCH_STORE" --cache "$cache" --hydrate background
cat "$mnt/settings.json" >/dev/null
first_read=$(elapsed "$t0")
record "$size" "$run" first_read "$first_read" null
daemon_pid=$(status_json "$mnt" | json_get pid)

# --- 2. full hydration ------------------------------------------------------
# Polled every 20 ms through the control socket: the figure is at most that
# much late, which matters only for the small workspace.
deadline=$(($(date +%s) + 900))
until status_json "$mnt" | grep -Eq '"stream_done": ?true'; do
  (($(date +%s) < deadline)) || die "hydration of $ws did not finish in 900 s"
  sleep 0.02
done
hydrate=$(elapsed "$t0")
record "$size" "$run" hydrate "$hydrate" null
st=$(status_json "$mnt")
[[ $(json_get hydration.failures <<<"$st") == 0 ]] || die "hydration reported failures: $st"
[[ $(json_get remote_files <<<"$st") == 0 ]] || die "files still remote after the stream: $st"

# --- 3. warm sequential read and grep, mount vs local ------------------------
# The bytes are counted once (same tree); each tree is read once to warm it,
# then timed. GNU tar skips reading when writing to /dev/null, hence the cat.
bytes=$(tree_bytes "$src")
read_tree() { (cd "$1" && tar cf - . | cat >/dev/null); }
grep_transcripts() { LC_ALL=C grep -rc --include='*.jsonl' '"tool_use"' "$1/projects" >/dev/null || true; }
read_tree "$mnt"
read_tree "$src"
t0=$(now); read_tree "$mnt"; t_mnt=$(elapsed "$t0")
t0=$(now); read_tree "$src"; t_loc=$(elapsed "$t0")
record "$size" "$run" warm_read_mbps "$(awk -v b="$bytes" -v t="$t_mnt" 'BEGIN { printf "%.2f", b / t / 1e6 }')" \
  "$(awk -v b="$bytes" -v t="$t_loc" 'BEGIN { printf "%.2f", b / t / 1e6 }')"
tbytes=$(find "$src/projects" -name '*.jsonl' -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
grep_transcripts "$mnt"
grep_transcripts "$src"
t0=$(now); grep_transcripts "$mnt"; t_mnt=$(elapsed "$t0")
t0=$(now); grep_transcripts "$src"; t_loc=$(elapsed "$t0")
record "$size" "$run" grep_mbps "$(awk -v b="$tbytes" -v t="$t_mnt" 'BEGIN { printf "%.2f", b / t / 1e6 }')" \
  "$(awk -v b="$tbytes" -v t="$t_loc" 'BEGIN { printf "%.2f", b / t / 1e6 }')"

# --- 5. flush after changing one file --------------------------------------
echo "one more line, run $run" >>"$mnt/CLAUDE.md"
t0=$(now)
"$BENCH_CCFS" flush "$mnt" --store "$BENCH_STORE" >/dev/null
record "$size" "$run" flush_one "$(elapsed "$t0")" null

# --- 4. appends and small files, mount vs local ------------------------------
# In a scratch directory (removed again), so the final flush has little to do.
mkdir -p "$mnt/projects/-bench" "$mnt/bench-small"
fields() { python3 -c 'import json,sys
for l in sys.stdin: j = json.loads(l); print(j["p50_us"], j["p99_us"])'; }
out=$("$BENCH_APPEND" --dir "$mnt/projects/-bench" --dir "$local" --lines "$lines" --min 200 --max 10240 | fields)
read -r m50 m99 <<<"$(sed -n 1p <<<"$out")"
read -r l50 l99 <<<"$(sed -n 2p <<<"$out")"
record "$size" "$run" append_p50_us "$m50" "$l50"
record "$size" "$run" append_p99_us "$m99" "$l99"
out=$("$BENCH_APPEND" --pattern files --dir "$mnt/bench-small" --dir "$local" --lines $((lines / 5)) \
  --min 200 --max 10240 | fields)
read -r m50 m99 <<<"$(sed -n 1p <<<"$out")"
read -r l50 l99 <<<"$(sed -n 2p <<<"$out")"
record "$size" "$run" small_p50_us "$m50" "$l50"
record "$size" "$run" small_p99_us "$m99" "$l99"
rmdir "$mnt/projects/-bench" "$mnt/bench-small"

# --- 7. memory and metadata --------------------------------------------------
files=$(status_json "$mnt" | json_get files)
meta=$(find "$cache" -maxdepth 1 -name 'meta.db*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
idx=$( (find "$cache/index" -type f -printf '%s\n' 2>/dev/null || true) | awk '{ s += $1 } END { print s + 0 }')
record "$size" "$run" meta_bytes_per_file "$(awk -v m="$meta" -v i="$idx" -v f="$files" 'BEGIN { printf "%.1f", (m + i) / f }')" null
record "$size" "$run" rss_mb "$(awk -v k="$(vmhwm_kb "$daemon_pid")" 'BEGIN { printf "%.1f", k / 1024 }')" null

"$BENCH_CCFS" umount "$mnt" --store "$BENCH_STORE" >/dev/null
wait_pid_gone "$daemon_pid" 60 || die "mount process $daemon_pid did not exit after umount"
daemon_pid=
