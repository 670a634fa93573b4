#!/usr/bin/env bash
# A mount through tests/tools/fault_proxy.py (between ccfs and RGW) under each
# fault kind and a mix: added latency, a bandwidth cap, resets before a
# request, mid-upload and mid-response, bursts of 503 with Retry-After. In
# every run the mount hydrates (lazy reads of every file, 8 in parallel,
# racing the background stream) and every byte read matches the source
# (sha256); then it flushes changes (new files, appends, a removal, a rename)
# through the same faults, and a pull straight from RGW equals the expected
# tree (sha256 of every file). Each run must have met its faults.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mount_lib.sh"
require_s3

PROXY="$CCFS_SOURCE_DIR/tests/tools/fault_proxy.py"
upstream=${AWS_ENDPOINT_URL#http://}
upstream=${upstream%%/*}
python3 "$PROXY" --upstream "$upstream" --port-file "$T/proxy.port" \
  --control-port-file "$T/proxy.ctl" --parent-pid $$ --max-runtime 1100 --log "$T/faults.log" &
proxy_pid=$!
on_exit "kill $proxy_pid 2>/dev/null; wait $proxy_pid 2>/dev/null"
for _ in $(seq 100); do [[ -s $T/proxy.port && -s $T/proxy.ctl ]] && break; sleep 0.1; done
[[ -s $T/proxy.port ]] || fail "fault proxy did not start"
port=$(cat "$T/proxy.port")
ctl=$(cat "$T/proxy.ctl")
set_faults() { curl -sf --max-time 5 -X POST --data "$1" "http://127.0.0.1:$ctl/config" >/dev/null; }
pstat() {
  curl -sf --max-time 5 "http://127.0.0.1:$ctl/stats" |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# shas DIR: "sha256  ./path" for every file, sorted by path.
shas() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }

STORE=$(s3_store)
WS=fm-$$
gen_workspace "$T/src" small 41
# Incompressible bulk, so that the tarball has many blocks to fetch.
mkdir -p "$T/src/file-history/bulk"
for i in $(seq 8); do head -c 500000 /dev/urandom >"$T/src/file-history/bulk/b$i"; done
check "push (no faults)" "$CCFS" push "$T/src" "$WS" --store "$STORE" >/dev/null
cp -a "$T/src" "$T/expect"
runs=0

# run NAME CONFIG [FAULT_KIND...]
run() {
  local name=$1 config=$2
  shift 2
  local mnt=$T/m-$name kind n summary="" reqs t0
  local -A before
  set_faults "$config"
  for kind in "$@"; do before[$kind]=$(pstat "s['faults']['$kind']"); done
  reqs=$(pstat "s['requests']")
  t0=$(date +%s.%N)
  # The daemon inherits the endpoint: every request it makes meets the faults.
  AWS_ENDPOINT_URL="http://127.0.0.1:$port" do_mount "$WS" "$mnt" --hydrate background
  # Lazy reads of every file, racing the background stream.
  (cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 -r -P 8 -n 8 sha256sum) |
    sort -k2 >"$T/read.sha" || fail "$name: reading the mount failed"
  shas "$T/expect" | sort -k2 >"$T/expect.sha"
  diff "$T/expect.sha" "$T/read.sha" >"$T/read.diff" ||
    fail "$name: bytes read differ from the source: $(head -5 "$T/read.diff")"
  for _ in $(seq 600); do
    [[ $(status_field "$mnt" hydration.stream_done) == True ]] && break
    sleep 0.2
  done
  [[ $(status_field "$mnt" hydration.stream_done) == True ]] || fail "$name: stream never finished"
  [[ $(status_field "$mnt" remote_files) == 0 ]] || fail "$name: files left unhydrated"

  # Changes, mirrored in $T/expect.
  head -c 300000 /dev/urandom >"$T/new.bin"
  for d in "$mnt" "$T/expect"; do
    cp "$T/new.bin" "$d/new-$name.bin"
    echo "{\"run\":\"$name\"}" >>"$d/history.jsonl"
    mkdir -p "$d/projects/faults"
    echo "{\"session\":\"$name\"}" >"$d/projects/faults/$name.jsonl"
  done
  victim=$(cd "$T/expect" && find plugins -type f | sort | sed -n 1p)
  [[ -n $victim ]] && rm "$mnt/$victim" "$T/expect/$victim"
  mv "$mnt/CLAUDE.md" "$mnt/CLAUDE.$name.md"
  mv "$T/expect/CLAUDE.md" "$T/expect/CLAUDE.$name.md"
  cp "$T/expect/CLAUDE.$name.md" "$mnt/CLAUDE.md"
  cp "$T/expect/CLAUDE.$name.md" "$T/expect/CLAUDE.md"
  "$CCFS" flush "$mnt" >"$T/flush.out" 2>&1 || fail "$name: flush through faults: $(cat "$T/flush.out")"
  check "$name: umount" timeout 300 "$CCFS" umount "$mnt"

  rm -rf "$T/pulled"
  check "$name: pull (no faults)" "$CCFS" pull "$WS" "$T/pulled" --store "$STORE" >/dev/null
  shas "$T/pulled" >"$T/pulled.sha"
  shas "$T/expect" >"$T/expect.sha"
  diff "$T/expect.sha" "$T/pulled.sha" >"$T/pulled.diff" ||
    fail "$name: the store differs from the expected tree: $(head -5 "$T/pulled.diff")"
  for kind in "$@"; do
    n=$(($(pstat "s['faults']['$kind']") - ${before[$kind]}))
    ((n > 0)) || fail "$name: no $kind fault was injected"
    summary+=" $kind=$n"
  done
  runs=$((runs + 1))
  printf '%-15s ok in %5.1fs: %4d requests,%s\n' "$name" \
    "$(python3 -c "import time; print(time.time() - $t0)")" \
    $(($(pstat "s['requests']") - reqs)) "${summary:- delays only}"
}

run latency '{"latency_ms": 40}'
run bandwidth '{"bandwidth_bps": 2000000}'
run reset-before '{"reset_before_every": 3}' reset_before
run reset-upload '{"reset_mid_request_every": 2}' reset_mid_request
run reset-download '{"reset_mid_response_every": 2}' reset_mid_response
run slowdown '{"error503_every": 4, "error503_burst": 2, "retry_after": 1}' error503
run mix '{"latency_ms": 2, "bandwidth_bps": 50000000, "reset_before_every": 7,
  "reset_mid_request_every": 5, "reset_mid_response_every": 5, "error503_every": 23,
  "error503_burst": 2, "retry_after": 1}' reset_before reset_mid_request reset_mid_response error503
echo "fault runs completed: $runs of 7"
((runs == 7)) || fail "only $runs of 7 runs completed"
echo "PASS"
