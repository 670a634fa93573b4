#!/usr/bin/env bash
# Hostile workspaces in a file:// store: crafted claude-home.tar.gz files
# (tests/tools/hostile_tarballs.py: absolute paths, '..' traversal, symlink
# escapes with files "through" them, hard links, devices, a FIFO, a setuid
# file, a 1 TiB header, a truncated gzip, a damaged and a forged embedded
# index, a 10 GiB and a 1.6 GiB gzip bomb) and malformed transcript objects.
# `ccfs pull` and `ccfs cat` must end in a clear error or skip and report;
# nothing may be written outside the destination (a sibling directory and the
# destination's parent are checked after every case); memory stays bounded
# (address space capped with prlimit, peak RSS measured) and so does disk
# (the bombs are refused by the extraction caps, --max-total-size).
source "$(dirname "$0")/lib.sh"

H="$CCFS_SOURCE_DIR/tests/tools/hostile_tarballs.py"
store_dir=$T/store
store=file://$store_dir
pulls=$T/pulls  # every destination's parent
sibling=$T/sibling
mkdir -p "$store_dir" "$pulls" "$sibling/sub" "$T/logs"
echo "not to be touched" >"$sibling/file.txt"
echo "nor this" >"$sibling/sub/inner.txt"
readonly MAX_AS=$((1 << 30))      # address space for every ccfs run
MAX_RSS_KB=$((256 << 10)) # peak RSS allowed (above the sanitizer's own, see below)

tree_state() { # DIR: every path with type, size, mode and content hash
  (cd "$1" && find . -printf '%p %y %s %m\n' | sort && find . -type f -print0 | sort -z |
    xargs -0 -r sha256sum)
}
sibling_state=$(tree_state "$sibling")

# Everything under DEST is a plain file, directory or inside-pointing symlink,
# with sanitised modes and no extra hard links.
check_dest_clean() {
  local dest=$1 name=$2
  [[ -d $dest ]] || return 0
  local odd
  odd=$(find "$dest" ! -type f ! -type d ! -type l)
  [[ -z $odd ]] || fail "$name: special files created: $odd"
  odd=$(find "$dest" -type f -links +1)
  [[ -z $odd ]] || fail "$name: hard-linked files created: $odd"
  odd=$(find "$dest" ! -type l -perm /7022)
  [[ -z $odd ]] || fail "$name: setuid/setgid/sticky or group/other-writable: $odd"
  local link target real_dest
  real_dest=$(realpath "$dest")
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    [[ $target != /* ]] || fail "$name: absolute symlink $link -> $target"
    case $(realpath -m "$link") in
      "$real_dest" | "$real_dest"/*) ;;
      *) fail "$name: symlink $link -> $target leaves the destination" ;;
    esac
  done < <(find "$dest" -type l -print0)
}

# Nothing changed outside the destinations.
check_outside() {
  local name=$1
  [[ $(tree_state "$sibling") == "$sibling_state" ]] || fail "$name: the sibling directory changed"
  [[ $(ls -A "$T") == "$top_state" ]] || fail "$name: the parent of the store/pulls changed: $(ls -A "$T")"
  [[ ! -e /etc/ccfs-hostile-pwned && ! -e $T/pwned3 && ! -e $pulls/pwned3 ]] ||
    fail "$name: a file was written outside the destination"
  local leftovers
  leftovers=$(find "$pulls" -maxdepth 1 -name '.ccfs-*')
  [[ -z $leftovers ]] || fail "$name: temp files left in the destination's parent: $leftovers"
}

# An ASan build reserves terabytes of address space for its shadow memory, so
# an address-space cap cannot apply to it; peak RSS is still bounded below,
# with ASan's quarantine of freed memory (256 MB by default, counted in RSS)
# kept small so that the bound measures ccfs, not the sanitizer.
as_cap=(prlimit --as=$MAX_AS)
# (Not `ldd | grep -q`: under pipefail, grep leaving at the first match can
# kill ldd with SIGPIPE and the test would then take an ASan build for a
# plain one.)
if [[ $(ldd "$CCFS") == *libasan* ]]; then
  as_cap=()
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
  # An ASan binary idles at ~200 MB RSS (shadow of its globals): bound what
  # ccfs adds on top of what `ccfs --version` takes.
  base_kb=$(/usr/bin/time -f '%M' "$CCFS" --version 2>&1 >/dev/null | tail -1)
  MAX_RSS_KB=$((base_kb + MAX_RSS_KB))
  echo "ASan build: idle RSS ${base_kb} KB, peak RSS allowed ${MAX_RSS_KB} KB"
fi
readonly MAX_RSS_KB

# run_ccfs NAME CMD...: ccfs under an address-space cap, peak RSS measured;
# output in logs/NAME.log, exit code in $rc. A crash (signal) always fails.
run_ccfs() {
  local name=$1
  shift
  rc=0
  /usr/bin/time -f '%M' -o "$T/logs/$name.rss" "${as_cap[@]}" "$CCFS" "$@" \
    >"$T/logs/$name.log" 2>&1 || rc=$?
  ((rc < 128)) || fail "$name: ccfs died of a signal (exit $rc): $(tail -5 "$T/logs/$name.log")"
  local rss
  rss=$(tail -1 "$T/logs/$name.rss")
  ((rss < MAX_RSS_KB)) || fail "$name: peak RSS ${rss} KB"
}

# pull_case WS EXPECT [FLAGS...]: pulls WS into pulls/WS; EXPECT ok or fail.
pull_case() {
  local ws=$1 expect=$2
  shift 2
  local before
  before=$(ls -A "$pulls")
  run_ccfs "pull-$ws" pull "$ws" "$pulls/$ws" --store "$store" "$@"
  if [[ $expect == ok ]]; then
    ((rc == 0)) || fail "pull $ws: exit $rc: $(cat "$T/logs/pull-$ws.log")"
  else
    ((rc != 0)) || fail "pull $ws succeeded but should have been refused"
    grep -q "^ccfs pull: " "$T/logs/pull-$ws.log" || fail "pull $ws: no clear error message"
  fi
  # shellcheck disable=SC2010  # our own names, one per line
  [[ $(ls -A "$pulls" | grep -vx "$ws") == "$before" ]] ||
    fail "pull $ws: the destination's parent changed beyond the destination"
  check_dest_clean "$pulls/$ws" "pull $ws"
  check_outside "pull $ws"
  printf '%-16s pull %-4s (exit %d, %5s KB peak): %s\n' "$ws" "$expect" "$rc" \
    "$(tail -1 "$T/logs/pull-$ws.rss")" "$(grep -m1 '^ccfs pull: \|skipped [0-9]' "$T/logs/pull-$ws.log" |
      sed 's/^ *//' | cut -c1-110)"
}

# logged WS PATTERN: the pull's output mentions PATTERN.
logged() { grep -q -- "$2" "$T/logs/pull-$1.log" || fail "pull $1: output lacks '$2'"; }

plant() { # KIND [ARGS]: builds the crafted tarball as workspace KIND
  mkdir -p "$store_dir/$1"
  python3 "$H" "$1" "$store_dir/$1/claude-home.tar.gz" --sibling "$sibling" "${@:2}"
}

# A real workspace: the source for the damaged copies.
gen_workspace "$T/src" small 4
check "push the real workspace" "$CCFS" push "$T/src" real --store "$store" --layout v1 >/dev/null

real_tgz=$store_dir/real/claude-home.tar.gz
top_state=$(ls -A "$T")
pull_case real ok

plant abs
pull_case abs ok
logged abs "absolute path"
[[ $(cat "$pulls/abs/ok.txt") == ok ]] || fail "abs: the harmless entry is missing"

plant dotdot
pull_case dotdot ok
[[ $(grep -c "escapes the archive root" "$T/logs/pull-dotdot.log") == 3 ]] ||
  fail "dotdot: not every traversal reported"

plant symlink-escape
pull_case symlink-escape ok
for l in esc abs chain; do logged symlink-escape "skipped $l: symlink"; done
# The files "through" the dropped links landed in real directories inside.
[[ -f $pulls/symlink-escape/esc/pwned && ! -L $pulls/symlink-escape/esc ]] ||
  fail "symlink-escape: esc/pwned not kept inside the tree"

plant links-devices
pull_case links-devices ok
for e in "hl-inside: hard link" "hl-passwd: hard link" "hl-sibling: hard link" \
  "dev/null: character device" "dev/sda: block device" "fifo: FIFO"; do
  logged links-devices "skipped $e"
done
[[ $(stat -c %a "$pulls/links-devices/suid.sh") == 755 ]] || fail "setuid bits were kept"

plant huge-header
pull_case huge-header fail
logged huge-header "declares 1099511627776 bytes"
[[ ! -e $pulls/huge-header/huge.bin ]] || fail "huge-header: the 1 TiB member was created"

plant truncated --source "$real_tgz"
pull_case truncated fail
logged truncated "Corruption"

# A damaged index: pull streams the tar and CRC-checks every block, so it
# still recreates the tree; cat, which trusts the index, must refuse.
for kind in corrupt-index forged-index; do
  plant "$kind" --source "$real_tgz"
  pull_case "$kind" ok
  check "$kind: pulled tree equals the real one (minus transcripts)" \
    diff -r -x '*.jsonl' "$pulls/real" "$pulls/$kind"
  run_ccfs "cat-$kind" cat "$kind" settings.json --store "$store"
  if ((rc == 0)); then
    # Only acceptable if the bytes are right.
    tail -n +1 "$T/logs/cat-$kind.log" | cmp -s - "$T/src/settings.json" ||
      fail "cat through a $kind gave wrong bytes"
  else
    grep -q "Corruption" "$T/logs/cat-$kind.log" || fail "cat $kind: unclear error: $(cat "$T/logs/cat-$kind.log")"
  fi
  printf '%-16s cat  (exit %d): %s\n' "$kind" "$rc" "$(head -c 100 "$T/logs/cat-$kind.log")"
done

# Gzip bombs: refused by the caps before the disk fills; the destination
# stays under the cap.
plant bomb
pull_case bomb fail --max-total-size 1G
logged bomb "beyond the limit of 1073741824 bytes"
(($(du -sk "$pulls/bomb" | cut -f1) < 1024)) || fail "bomb: more than 1 MiB written"
plant many-bomb
pull_case many-bomb fail --max-total-size 64M
logged many-bomb "beyond the limit of 67108864 bytes"
(($(du -sk "$pulls/many-bomb" | cut -f1) <= 65 * 1024)) || fail "many-bomb: more than the cap written"
# cat reads around the bombs with bounded memory: the file before the
# 10 GiB member, the file after 1.6 GiB of zeros, and the bomb member itself
# into a pipe that closes after 1 MiB.
run_ccfs cat-bomb-ok cat bomb ok.txt --store "$store"
if ((rc != 0)) || [[ $(cat "$T/logs/cat-bomb-ok.log") != ok ]]; then fail "cat before the bomb"; fi
run_ccfs cat-many-after cat many-bomb after.txt --store "$store"
if ((rc != 0)) || [[ $(cat "$T/logs/cat-many-after.log") != "after the bomb" ]]; then
  fail "cat after 1.6 GiB of zeros: $(cat "$T/logs/cat-many-after.log")"
fi
(timeout 60 "${as_cap[@]}" "$CCFS" cat bomb bomb.bin --store "$store" 2>/dev/null || true) |
  head -c 1048576 >"$T/logs/bomb.head"
[[ $(stat -c %s "$T/logs/bomb.head") == 1048576 && $(tr -d '\0' <"$T/logs/bomb.head" | wc -c) == 0 ]] ||
  fail "cat of the bomb member did not stream its zeros"
check_outside "cat of the bombs"

# Malformed transcript objects next to a hostile tarball: one under a
# directory that the tarball made a symlink, binary garbage, a cut JSON line,
# a directory named like a transcript, and a symlink planted in the store dir.
mkdir -p "$store_dir/transcripts/projects/lnk" "$store_dir/transcripts/projects/p/dir.jsonl"
cp "$store_dir/symlink-escape/claude-home.tar.gz" "$store_dir/transcripts/"
echo '{"planted":true}' >"$store_dir/transcripts/projects/lnk/evil.jsonl"
head -c 4096 /dev/urandom >"$store_dir/transcripts/projects/p/garbage.jsonl"
printf '{"type":"user","message":' >"$store_dir/transcripts/projects/p/cut.jsonl"
echo x >"$store_dir/transcripts/projects/p/dir.jsonl/inner.jsonl"
ln -s "$sibling/file.txt" "$store_dir/transcripts/projects/p/link.jsonl"
pull_case transcripts ok
logged transcripts "skipped projects/lnk/evil.jsonl"
[[ ! -e $pulls/transcripts/d/evil.jsonl ]] || fail "a transcript was written through a symlink"
for f in garbage.jsonl cut.jsonl dir.jsonl/inner.jsonl; do
  check "transcript $f round-trips byte for byte" \
    cmp "$store_dir/transcripts/projects/p/$f" "$pulls/transcripts/projects/p/$f"
done
[[ ! -e $pulls/transcripts/projects/p/link.jsonl ]] || fail "a store-side symlink was followed"
run_ccfs cat-garbage cat transcripts projects/p/garbage.jsonl --store "$store"
((rc == 0)) || fail "cat of a garbage transcript failed"
check "cat of a garbage transcript is byte-exact" \
  cmp "$store_dir/transcripts/projects/p/garbage.jsonl" "$T/logs/cat-garbage.log"
run_ccfs cat-link cat transcripts projects/p/link.jsonl --store "$store"
((rc != 0)) || fail "cat followed a symlink planted in the store dir"
check_outside "transcripts"
echo "PASS hostile_pull"
