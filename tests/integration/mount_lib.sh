# Helpers for the mount integration tests (sourced after lib.sh).
# Every mount gets its own cache under $T and is unmounted (fusermount3 -u -z)
# and its process killed on any exit of the test.
export CCFS_RUNTIME_DIR=$T/run  # control sockets of this test's mounts only
_mounts=()

_cleanup_mounts() {
  local mp pid
  for mp in "${_mounts[@]}"; do
    pid=$(cat "$mp.pid" 2>/dev/null || true)
    mountpoint -q "$mp" 2>/dev/null && fusermount3 -u -z "$mp" 2>/dev/null
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  return 0
}
on_exit _cleanup_mounts

# mount_pid MP: the pid of the process serving MP.
mount_pid() {
  "$CCFS" status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'
}

# json_field MP KEY[.KEY...]: a value from `ccfs status MP --json`.
status_field() {
  "$CCFS" status "$1" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k]
print(v)' "$2"
}

# do_mount WS MP [flags...]: mounts (daemonised, bounded wait) with the cache
# $MOUNT_CACHE, else $MP.cache; remembers it for cleanup.
do_mount() {
  local ws=$1 mp=$2
  shift 2
  mkdir -p "$mp"
  _mounts+=("$mp")
  timeout 120 "$CCFS" mount "$ws" "$mp" --store "$STORE" --cache "${MOUNT_CACHE:-$mp.cache}" "$@" ||
    fail "ccfs mount $ws $mp failed"
  mountpoint -q "$mp" || fail "$mp is not a mountpoint after ccfs mount returned"
  mount_pid "$mp" >"$mp.pid"
}

# wait_gone PID: waits (bounded) until the process exited.
wait_gone() {
  timeout 60 tail --pid="$1" -f /dev/null || fail "process $1 did not exit"
}
