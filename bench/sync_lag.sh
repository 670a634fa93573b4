#!/usr/bin/env bash
# bench/sync_lag.sh --ccfs PATH [--seconds N] [--rate LINES_PER_S] [--line-bytes B]
#
# Transcript sync through a real mount (store file:// in a temp dir, a local
# `ccfs sync-server` on loopback), measured in one run:
#   1. append->ack lag at a steady load (default 200 lines/s of 1 KiB for 30 s,
#      open(O_APPEND)/write/close per line as Claude Code does): the time from
#      the close(2) of a line to the moment the server's read-back shows it
#      (polled every 5 ms over one keep-alive connection), p50/p99/max;
#   2. lines per second at full load: 4 writers append as fast as they can;
#      the rate is lines / (time until the server holds the last one), and
#      the backlog left when they stop / the time it took to send it;
#   3. the O_APPEND latency the sidecar adds: the same open/append/close of
#      1 KiB lines on a mount with --sync-url and on one without, interleaved
#      in blocks, p50/p99 each.
# Prints a table, then (last line) one JSON object with the figures.
set -euo pipefail

CCFS_BIN=""
SECONDS_STEADY=30
RATE=200
LINE_BYTES=1024
while (($#)); do
  case $1 in
    --ccfs) CCFS_BIN=$2; shift 2 ;;
    --seconds) SECONDS_STEADY=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --line-bytes) LINE_BYTES=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sync_lag.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $CCFS_BIN ]] || { echo "sync_lag.sh: --ccfs PATH to the built ccfs binary is required" >&2; exit 2; }
CCFS_BIN=$(realpath "$CCFS_BIN")

W=$(mktemp -d /tmp/ccfs-sync-bench.XXXXXX)
export CCFS_RUNTIME_DIR=$W/run
STORE=file://$W/store
server_pid=""
mounts=()
cleanup() {
  local mp
  for mp in "${mounts[@]}"; do
    timeout 120 "$CCFS_BIN" umount "$mp" >/dev/null 2>&1 || fusermount3 -u -z "$mp" 2>/dev/null || true
  done
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    timeout 10 tail --pid="$server_pid" -f /dev/null 2>/dev/null || kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$W"
}
trap cleanup EXIT

TOKEN="bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$TOKEN" >"$W/token"
chmod 600 "$W/token"
mkdir -p "$W/src/projects"
echo '{}' >"$W/src/settings.json"
for ws in synced plain; do
  "$CCFS_BIN" push "$W/src" "bench-$ws" --store "$STORE" >/dev/null
done

"$CCFS_BIN" sync-server --listen 127.0.0.1:0 --db "$W/server.db" --token-file "$W/token" \
  >"$W/server.log" 2>&1 &
server_pid=$!
URL=""
for _ in $(seq 100); do
  URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$W/server.log")
  [[ -n $URL ]] && break
  sleep 0.1
done
[[ -n $URL ]] || { echo "sync_lag.sh: the sync server did not start: $(cat "$W/server.log")" >&2; exit 1; }

mount_ws() { # WS MP [flags]
  local ws=$1 mp=$2
  shift 2
  mkdir -p "$mp"
  mounts+=("$mp")
  timeout 120 "$CCFS_BIN" mount "$ws" "$mp" --store "$STORE" --cache "$mp.cache" "$@"
}
mount_ws bench-synced "$W/synced" --sync-url "$URL" --sync-token-file "$W/token" --sync-drain-timeout 60
mount_ws bench-plain "$W/plain"

python3 - "$W/synced" "$W/plain" "$URL" "$W/token" "$SECONDS_STEADY" "$RATE" "$LINE_BYTES" <<'PY'
import http.client, json, os, statistics, sys, threading, time, urllib.parse, uuid
synced, plain, url, token_file, seconds, rate, line_bytes = sys.argv[1:8]
seconds, rate, line_bytes = float(seconds), float(rate), int(line_bytes)
token = open(token_file).read().strip()
host = urllib.parse.urlparse(url)

def line(tag, i):
    rec = {"type": "assistant", "sessionId": tag, "i": i, "uuid": str(uuid.uuid4()),
           "timestamp": "2025-06-01T12:00:00.000Z",
           "message": {"role": "assistant", "content": [{"type": "text", "text": ""}]}}
    pad = line_bytes - len(json.dumps(rec, separators=(",", ":"))) - 1
    rec["message"]["content"][0]["text"] = "x" * max(0, pad)
    return (json.dumps(rec, separators=(",", ":")) + "\n").encode()

def append(path, data):
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, data)
    os.close(fd)
    return time.perf_counter() - t0

class Server:
    def __init__(self):
        self.c = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    def line_counts(self):
        self.c.request("GET", "/api/v1/sessions", headers={"Authorization": "Bearer " + token})
        r = self.c.getresponse()
        body = json.loads(r.read())
        return {(s["external_id"], f["file_name"]): f["line_count"]
                for s in body["sessions"] for f in s["files"]}

def session_file(root, sid):
    d = os.path.join(root, "projects", "-home-u-bench")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, sid + ".jsonl")

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]

# 1. Steady load: lag from close() to the server showing the line.
sid = str(uuid.uuid4())
path = session_file(synced, sid)
key = (sid, sid + ".jsonl")
n = int(seconds * rate)
written_at = [0.0] * n
acked_at = [0.0] * n
done = threading.Event()
def poll():
    srv, seen = Server(), 0
    while seen < n:
        c = srv.line_counts().get(key, 0)
        now = time.monotonic()
        for i in range(seen, min(c, n)):
            acked_at[i] = now
        seen = max(seen, c)
        if done.is_set() and time.monotonic() > done.deadline:
            break
        time.sleep(0.005)
poller = threading.Thread(target=poll)
poller.start()
start = time.monotonic()
steady_append = []
for i in range(n):
    target = start + i / rate
    delay = target - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    steady_append.append(append(path, line(sid, i)))
    written_at[i] = time.monotonic()
done.deadline = time.monotonic() + 120
done.set()
poller.join()
lags = [(acked_at[i] - written_at[i]) * 1000 for i in range(n) if acked_at[i] > 0]
missing = n - len(lags)
achieved = n / (written_at[-1] - start) if n > 1 else 0

# 2. Full load: 4 writers in threads (the GIL is released during the syscalls).
full_n, writers = 5000, 4
sids = [str(uuid.uuid4()) for _ in range(writers)]
t0 = time.monotonic()
def writer(k):
    p = session_file(synced, sids[k])
    for i in range(full_n):
        append(p, line(sids[k], i))
ts = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
for t in ts: t.start()
for t in ts: t.join()
t_written = time.monotonic()
srv = Server()
counts = srv.line_counts()
backlog = full_n * writers - sum(counts.get((s, s + ".jsonl"), 0) for s in sids)
deadline = time.monotonic() + 300
while True:
    counts = srv.line_counts()
    got = sum(counts.get((s, s + ".jsonl"), 0) for s in sids)
    if got >= full_n * writers or time.monotonic() > deadline:
        break
    time.sleep(0.005)
t_acked = time.monotonic()
full_total = full_n * writers
full_rate = got / (t_acked - t0)
# How fast the sidecar works off what the writers left behind.
catchup_rate = backlog / (t_acked - t_written) if backlog > 0 and t_acked > t_written else None
write_rate = full_total / (t_written - t0)

# 3. Append latency with and without the sidecar, interleaved in blocks.
lat = {"sync": [], "plain": []}
sa, sb = str(uuid.uuid4()), str(uuid.uuid4())
pa, pb = session_file(synced, sa), session_file(plain, sb)
for block in range(6):
    for name, p, s in (("sync", pa, sa), ("plain", pb, sb)) if block % 2 == 0 else (("plain", pb, sb), ("sync", pa, sa)):
        for i in range(500):
            lat[name].append(append(p, line(s, block * 500 + i)) * 1e6)

res = {
    "bench": "sync_lag",
    "steady_seconds": seconds, "steady_rate": rate, "line_bytes": line_bytes,
    "steady_lines": n, "steady_rate_achieved": round(achieved, 1), "steady_unacked": missing,
    "lag_ms_p50": round(pct(lags, 50), 2) if lags else None,
    "lag_ms_p99": round(pct(lags, 99), 2) if lags else None,
    "lag_ms_max": round(max(lags), 2) if lags else None,
    "full_lines": full_total, "full_writers": writers, "full_acked": got,
    "full_write_lines_per_s": round(write_rate),
    "full_synced_lines_per_s": round(full_rate),
    "full_backlog_at_write_end": backlog,
    "full_catchup_lines_per_s": round(catchup_rate) if catchup_rate else None,
    "append_us_p50_sync": round(pct(lat["sync"], 50), 1),
    "append_us_p99_sync": round(pct(lat["sync"], 99), 1),
    "append_us_p50_nosync": round(pct(lat["plain"], 50), 1),
    "append_us_p99_nosync": round(pct(lat["plain"], 99), 1),
}
res["append_us_p50_extra"] = round(res["append_us_p50_sync"] - res["append_us_p50_nosync"], 1)
res["append_us_p99_extra"] = round(res["append_us_p99_sync"] - res["append_us_p99_nosync"], 1)
rows = [
    ("steady load", "%d lines/s x %d B for %gs (achieved %.0f/s)" % (rate, line_bytes, seconds, achieved)),
    ("append->ack lag p50", "%s ms" % res["lag_ms_p50"]),
    ("append->ack lag p99", "%s ms" % res["lag_ms_p99"]),
    ("append->ack lag max", "%s ms (%d lines not acked in time)" % (res["lag_ms_max"], missing)),
    ("full load", "%d writers x %d lines: written at %d lines/s" % (writers, full_n, write_rate)),
    ("full load synced", "%d lines/s (write start -> last ack; %d/%d acked)" % (full_rate, got, full_total)),
    ("backlog catch-up", "%d lines behind when the writers stopped, sent at %s lines/s"
     % (backlog, res["full_catchup_lines_per_s"])),
    ("O_APPEND p50 with / without sync", "%.1f / %.1f us (+%.1f)" % (res["append_us_p50_sync"], res["append_us_p50_nosync"], res["append_us_p50_extra"])),
    ("O_APPEND p99 with / without sync", "%.1f / %.1f us (+%.1f)" % (res["append_us_p99_sync"], res["append_us_p99_nosync"], res["append_us_p99_extra"])),
]
w = max(len(r[0]) for r in rows)
print("transcript sync through a mount (open/append/close per line, local sync-server)")
for k, v in rows:
    print("  %-*s  %s" % (w, k, v))
print(json.dumps(res))
PY
