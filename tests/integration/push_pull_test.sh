#!/usr/bin/env bash
# push -> pull round trips of a generated medium (~100 MB) workspace on
# file:// in layout v1 and on RGW in layout v2 (the default); preconditions;
# the stored v1 tarball, and the v2 workspace's export, extract with tar; one
# member is read through a ranged GET without fetching the whole object.
source "$(dirname "$0")/lib.sh"
require_s3

src=$T/src
gen_workspace "$src" medium 7
# What the tarball must hold: the tree minus transcripts.
mkdir "$T/expect-tar"
(cd "$src" && tar cf - --exclude='projects/*.jsonl' --exclude='projects/*/*.jsonl' \
  --exclude='projects/*/*/*/*.jsonl' --exclude='projects/*/*/*.jsonl' .) | tar xf - -C "$T/expect-tar"
grep -q . <<<"$(find "$T/expect-tar/projects" -name '*.jsonl')" && fail "expected tree still has transcripts"

etag_of() { # etag_of STORE WS
  "$CCFS" ls --store "$1" --json | python3 -c \
    'import json,sys; print(next(w["etag"] for w in json.load(sys.stdin) if w["workspace"]==sys.argv[1]))' "$2"
}

# fetch_tarball STORE WS OUT: the stored object's raw bytes, fetched without ccfs.
fetch_tarball() {
  case "$1" in
    file://*) cp "${1#file://}/$2/claude-home.tar.gz" "$3" ;;
    s3://*)
      local path=${1#s3://}
      curl -sf --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -o "$3" "$AWS_ENDPOINT_URL/$path/$2/claude-home.tar.gz" ;;
  esac
}

for store in "file://$T/store" "$(s3_store)"; do
  layout=v2
  [[ $store == file://* ]] && layout=v1
  echo "== $store, layout $layout"
  ws=medium
  check "push creates the workspace" "$CCFS" push "$src" "$ws" --store "$store" --layout "$layout"
  v2_generation=$("$CCFS" ls --store "$store" --json | python3 -c \
    'import json,sys; print(next(w["v2_generation"] for w in json.load(sys.stdin) if w["workspace"]==sys.argv[1]))' "$ws")
  if [[ $layout == v2 ]]; then
    [[ $v2_generation == 1 ]] || fail "a new workspace pushed in layout v2 is at generation $v2_generation"
  else
    [[ $v2_generation == 0 ]] || fail "push --layout v1 made a v2 workspace (generation $v2_generation)"
  fi
  out=$T/pulled-$RANDOM
  check "pull" "$CCFS" pull "$ws" "$out" --store "$store"
  check "pulled tree equals the source" diff -r "$src" "$out"
  # Modes survive: .credentials.json stays 0600, hooks stay executable.
  [[ $(stat -c %a "$out/.credentials.json") == 600 ]] || fail ".credentials.json mode not 600"
  hook=$(cd "$src" && find plugins -name '*.sh' -print -quit)
  [[ $(stat -c %a "$out/$hook") == 755 ]] || fail "$hook mode not 755"

  # The stored tarball (v1), or the export (v2: the whole tree, transcripts
  # included), is a plain tar.gz: gzip -t, tar xzf, bsdtar.
  expect=$T/expect-tar
  if [[ $layout == v1 ]]; then
    fetch_tarball "$store" "$ws" "$T/tarball.tgz"
  else
    check "export" "$CCFS" export "$ws" "$T/tarball.tgz" --store "$store"
    expect=$src
  fi
  check "gzip -t" gzip -t "$T/tarball.tgz"
  mkdir "$T/x-gnu-$$" "$T/x-bsd-$$"
  check "tar xzf" tar xzf "$T/tarball.tgz" -C "$T/x-gnu-$$"
  check "tar xzf yields the tree ($layout)" diff -r "$expect" "$T/x-gnu-$$"
  check "bsdtar -xzf" bsdtar -xzf "$T/tarball.tgz" -C "$T/x-bsd-$$"
  check "bsdtar yields the same tree" diff -r "$expect" "$T/x-bsd-$$"

  rm -rf "$T/x-gnu-$$" "$T/x-bsd-$$" "$out"

  # One member through a ranged GET: a small fraction of the object is fetched.
  total=$(stat -c %s "$T/tarball.tgz")
  "$CCFS" cat "$ws" settings.json --store "$store" --stats >"$T/settings.out" 2>"$T/stats.err"
  check "cat settings.json content" cmp "$src/settings.json" "$T/settings.out"
  fetched=$(sed -n 's/.*fetched \([0-9]*\) bytes.*/\1/p' "$T/stats.err")
  [[ -n $fetched ]] || fail "cat --stats printed no byte count: $(cat "$T/stats.err")"
  echo "cat settings.json fetched $fetched of $total bytes"
  ((fetched * 20 < total)) || fail "ranged read fetched $fetched of $total bytes (want < 5%)"
  tr=$(cd "$src" && find projects -name '*.jsonl' -print -quit)
  "$CCFS" cat "$ws" "$tr" --store "$store" >"$T/tr.out"
  check "cat of a transcript" cmp "$src/$tr" "$T/tr.out"

  # Preconditions: an existing workspace is not replaced by accident.
  set +e
  "$CCFS" push "$src" "$ws" --store "$store" 2>"$T/err"
  rc=$?
  set -e
  [[ $rc == 3 ]] || fail "second push without --if-match: exit $rc, want 3"
  grep -q -- "--if-match" "$T/err" || fail "refusal does not say what to do: $(cat "$T/err")"
  etag=$(etag_of "$store" "$ws")
  [[ -n $etag ]] || fail "ls --json gave no etag"
  echo "new line" >>"$src/CLAUDE.md"
  tr_new=projects/-home-dev-new/11111111-2222-4333-8444-555555555555.jsonl
  mkdir -p "$src/$(dirname "$tr_new")"
  echo '{"type":"user"}' >"$src/$tr_new"
  tr_gone=$(cd "$src" && find projects -name '*.jsonl' | sort | tail -1)
  rm "$src/$tr_gone"
  set +e
  "$CCFS" push "$src" "$ws" --store "$store" --if-match "0123456789abcdef" 2>"$T/err"
  rc=$?
  set -e
  [[ $rc == 3 ]] || fail "push with a stale --if-match: exit $rc, want 3"
  check "push --if-match current" "$CCFS" push "$src" "$ws" --store "$store" --if-match "$etag"
  [[ $(etag_of "$store" "$ws") != "$etag" ]] || fail "ETag did not change after an update"
  out=$T/pulled2-$RANDOM
  check "pull after update" "$CCFS" pull "$ws" "$out" --store "$store"
  check "updated tree round-trips (new and deleted transcripts)" diff -r "$src" "$out"
  rm -rf "$out"
  # Restore the source for the next store.
  rm "$src/$tr_new"
  rmdir "$src/$(dirname "$tr_new")"
  sed -i '$ d' "$src/CLAUDE.md"
  gen_workspace "$T/regen" medium 7
  cp "$T/regen/$tr_gone" "$src/$tr_gone"
  rm -rf "$T/regen"

  # pull refuses a non-empty destination, and a missing workspace is a clear error.
  set +e
  "$CCFS" pull "$ws" "$src" --store "$store" 2>"$T/err"
  rc=$?
  "$CCFS" pull nosuchws "$T/nope" --store "$store" 2>"$T/err2"
  rc2=$?
  set -e
  ((rc != 0)) || fail "pull into a non-empty dir succeeded"
  grep -q "not empty" "$T/err" || fail "pull into non-empty dir: unclear error: $(cat "$T/err")"
  ((rc2 != 0)) || fail "pull of a missing workspace succeeded"
  grep -q "not found" "$T/err2" || fail "missing workspace: unclear error: $(cat "$T/err2")"
done

# More transcripts than the soft limit on open files (a v2 push keeps one
# descriptor per chunked file until its commit): ccfs raises the limit to
# the hard one, and the tree comes back whole.
many=$T/many
mkdir -p "$many/projects/-p"
for i in $(seq 400); do echo "{\"i\":$i}" >"$many/projects/-p/s$i.jsonl"; done
(
  ulimit -Sn 256
  "$CCFS" push "$many" many --store "file://$T/store" >"$T/many.out" 2>&1
) || fail "push of 400 transcripts under a soft limit of 256 open files: $(cat "$T/many.out")"
check "pull of the 400 transcripts" "$CCFS" pull many "$T/many-pulled" --store "file://$T/store"
check "400 transcripts round-trip" diff -r "$many" "$T/many-pulled"
echo "PASS push_pull"
