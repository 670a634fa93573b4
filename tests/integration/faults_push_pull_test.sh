#!/usr/bin/env bash
# push -> pull through tests/tools/fault_proxy.py (between ccfs and RGW on
# loopback) under each fault kind and a mix: added latency, a bandwidth cap,
# connection resets before a request, mid-upload and mid-response, and bursts
# of 503 SlowDown with Retry-After. Every run must complete and round-trip:
# the pulled tree equals the source (diff -r) and the stored tarball is
# byte-identical (sha256) to one pushed without faults. A ranged `ccfs cat`
# through resets gives the right bytes, and Retry-After is honoured. Every
# case also checks that the proxy really injected its faults.
source "$(dirname "$0")/lib.sh"
require_s3

direct=$AWS_ENDPOINT_URL
PROXY="$CCFS_SOURCE_DIR/tests/tools/fault_proxy.py"
upstream=${direct#http://}
upstream=${upstream%%/*}
start_fault_proxy 600
via_proxy() { AWS_ENDPOINT_URL=$PROXY_URL "$@"; }
set_faults() { proxy_config "$1"; }
pstat() { proxy_stat "$1"; }
now() { date +%s.%N; }
# ge A B: A >= B for decimals.
ge() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }

# The stored tarball's sha256, fetched straight from RGW (not through the proxy).
tarball_sha() { # STORE WS
  local path=${1#s3://}
  curl -sf --max-time 60 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    "$direct/$path/$2/claude-home.tar.gz" | sha256sum | cut -d' ' -f1
}

store=$(s3_store)
gen_workspace "$T/small" small 11
gen_workspace "$T/medium" medium 5
# Baselines pushed without the proxy, in layout v1: the tarball is
# deterministic for a tree, so a push through faults must store the same bytes.
check "baseline push (small)" "$CCFS" push "$T/small" base-small --store "$store" --layout v1 >/dev/null
check "baseline push (medium)" "$CCFS" push "$T/medium" base-medium --store "$store" --layout v1 >/dev/null
sha_small=$(tarball_sha "$store" base-small)
sha_medium=$(tarball_sha "$store" base-medium)
[[ ${#sha_small} == 64 && ${#sha_medium} == 64 ]] || fail "could not fetch the baseline tarballs"

# round_trip NAME SRC SHA CONFIG [FAULT_KIND...]: push and pull through the
# proxy under CONFIG; each FAULT_KIND must have been injected at least once.
# With a SHA the push is in layout v1 and its tarball must have that sha256;
# with SHA "" it is in layout v2 (the default) and the pull must give SRC back.
round_trip() {
  local name=$1 src=$2 sha=$3 config=$4
  shift 4
  local layout=(--layout v1)
  [[ -n $sha ]] || layout=()
  set_faults "$config"
  local t0 t1 out=$T/out-$name kind n summary="" reqs
  local -A before
  for kind in "$@"; do before[$kind]=$(pstat "s['faults']['$kind']"); done
  reqs=$(pstat "s['requests']")
  t0=$(now)
  via_proxy "$CCFS" push "$src" "ws-$name" --store "$store" "${layout[@]}" >"$T/push.out" 2>&1 ||
    fail "$name: push through faults failed: $(cat "$T/push.out")"
  via_proxy "$CCFS" pull "ws-$name" "$out" --store "$store" >"$T/pull.out" 2>&1 ||
    fail "$name: pull through faults failed: $(cat "$T/pull.out")"
  t1=$(now)
  check "$name: pulled tree equals the source" diff -r "$src" "$out"
  if [[ -n $sha ]]; then
    [[ $(tarball_sha "$store" "ws-$name") == "$sha" ]] ||
      fail "$name: stored tarball differs from the one pushed without faults"
  fi
  for kind in "$@"; do
    n=$(($(pstat "s['faults']['$kind']") - ${before[$kind]}))
    ((n > 0)) || fail "$name: no $kind fault was injected"
    summary+=" $kind=$n"
  done
  printf '%-15s ok in %5.1fs: %4d requests,%s\n' "$name" "$(python3 -c "print($t1-$t0)")" \
    $(($(pstat "s['requests']") - reqs)) "${summary:- delays only}"
  rm -rf "$out"
}

# Each kind alone on the small workspace, then all of them on the medium one.
round_trip latency "$T/small" "$sha_small" '{"latency_ms": 50}'
# The delay is real: a cat makes at least three requests one after another.
set_faults '{"latency_ms": 300}'
t0=$(now)
via_proxy "$CCFS" cat base-small settings.json --store "$store" >"$T/cat0.out" || fail "cat with latency"
t1=$(now)
ge "$(python3 -c "print($t1 - $t0)")" 0.9 || fail "latency not applied ($(python3 -c "print($t1-$t0)") s)"
up0=$(pstat "s['bytes']['up']")
down0=$(pstat "s['bytes']['down']")
t0=$(now)
round_trip bandwidth "$T/small" "$sha_small" '{"bandwidth_bps": 1000000}'
t1=$(now)
# The cap really held: what went through could not have been faster.
moved=$(pstat "max(s['bytes']['up'] - $up0, s['bytes']['down'] - $down0)")
ge "$(python3 -c "print($t1 - $t0)")" "$(python3 -c "print(0.9 * $moved / 1000000)")" ||
  fail "bandwidth cap not applied: $moved bytes one way in $(python3 -c "print($t1-$t0)") s"
round_trip reset-before "$T/small" "$sha_small" '{"reset_before_every": 3}' reset_before
round_trip reset-upload "$T/small" "$sha_small" '{"reset_mid_request_every": 2}' reset_mid_request
round_trip reset-download "$T/small" "$sha_small" '{"reset_mid_response_every": 2}' \
  reset_mid_response
round_trip slowdown "$T/small" "$sha_small" \
  '{"error503_every": 4, "error503_burst": 2, "retry_after": 1}' error503
round_trip mix "$T/medium" "$sha_medium" \
  '{"latency_ms": 2, "bandwidth_bps": 100000000, "reset_before_every": 7,
    "reset_mid_request_every": 5, "reset_mid_response_every": 5, "error503_every": 23,
    "error503_burst": 2, "retry_after": 1}' \
  reset_before reset_mid_request reset_mid_response error503
# Layout v2 on the small workspace: a v2 push uploads each transcript as its
# own chunk, one after another (not 8 at a time as v1 does), so on the
# medium one this mix of faults takes minutes.
round_trip v2-mix "$T/small" "" \
  '{"latency_ms": 2, "bandwidth_bps": 100000000, "reset_before_every": 7,
    "reset_mid_request_every": 5, "reset_mid_response_every": 5, "error503_every": 23,
    "error503_burst": 2, "retry_after": 1}' \
  reset_before reset_mid_request reset_mid_response error503


# A ranged read through mid-response resets: the biggest tarball member,
# resumed mid-body, byte for byte, without fetching the whole tarball.
big=$(cd "$T/medium" && find . -type f ! -name '*.jsonl' -printf '%s %P\n' | sort -n | tail -1 | cut -d' ' -f2)
[[ -n $big ]] || fail "no tarball member to read"
cuts=$(pstat "s['faults']['reset_mid_response']")
set_faults '{"reset_mid_response_every": 2}'
via_proxy "$CCFS" cat base-medium "$big" --store "$store" --stats >"$T/cat.out" 2>"$T/cat.err" ||
  fail "cat through resets failed: $(cat "$T/cat.err")"
check "cat through resets gives the right bytes" cmp "$T/medium/$big" "$T/cat.out"
(($(pstat "s['faults']['reset_mid_response']") > cuts)) || fail "cat: no response was cut"
fetched=$(sed -n 's/.*fetched \([0-9]*\) bytes.*/\1/p' "$T/cat.err")
echo "cat $big ($(stat -c %s "$T/medium/$big") bytes) through resets: fetched $fetched bytes"

# Retry-After is honoured: two 503s asking for 2 s each cost at least 4 s.
slowdowns=$(pstat "s['faults']['error503']")
set_faults '{"error503_every": 1, "error503_burst": 2, "error503_max": 1, "retry_after": 2}'
t0=$(now)
via_proxy "$CCFS" cat base-small settings.json --store "$store" >"$T/cat2.out" 2>"$T/cat2.err" ||
  fail "cat through 503s failed: $(cat "$T/cat2.err")"
t1=$(now)
check "cat through 503s gives the right bytes" cmp "$T/small/settings.json" "$T/cat2.out"
(($(pstat "s['faults']['error503']") - slowdowns == 2)) || fail "expected exactly two 503s"
ge "$(python3 -c "print($t1 - $t0)")" 4 || fail "Retry-After: 2 not honoured ($(python3 -c "print($t1-$t0)") s)"

# The proxy keeps to loopback and to its parent's lifetime.
if python3 "$PROXY" --upstream 192.0.2.1:80 --port-file "$T/x.port" --control-port-file "$T/x.ctl" \
  --max-runtime 5 2>/dev/null; then
  fail "proxy accepted a non-loopback upstream"
fi
bash -c "python3 '$PROXY' --upstream '$upstream' --port-file '$T/orphan.port' \
  --control-port-file '$T/orphan.ctl' --max-runtime 60 & echo \$! >'$T/orphan.pid'; sleep 1"
orphan=$(cat "$T/orphan.pid")
for _ in $(seq 50); do kill -0 "$orphan" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$orphan" 2>/dev/null; then
  kill "$orphan"
  fail "proxy outlived its parent"
fi
[[ ! -e $T/orphan.port ]] || fail "proxy left its port file behind"
echo "PASS faults_push_pull"
