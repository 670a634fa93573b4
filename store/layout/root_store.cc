#include "store/layout/root_store.h"

#include <cstdio>
#include <random>

namespace ccfs {

namespace {

std::string V2(const std::string& workspace) { return workspace + "/v2/"; }

}  // namespace

std::string NewRootNonce() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out.push_back(kHex[rd() % 16]);
  return out;
}

std::string RootKey(const std::string& workspace) { return V2(workspace) + "root"; }

std::string HistoryPrefix(const std::string& workspace) { return V2(workspace) + "roots/"; }

std::string HistoryRootKey(const std::string& workspace, uint64_t generation,
                           const std::string& nonce) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(generation));
  return HistoryPrefix(workspace) + digits + "-" + nonce;
}

std::string SegmentKey(const std::string& workspace, const std::string& name) {
  return V2(workspace) + "index/" + name;
}

std::string PackKey(const std::string& workspace, const std::string& name) {
  return V2(workspace) + "packs/" + name + ".tar.gz";
}

std::string ChunkKey(const std::string& workspace, const std::string& name) {
  return V2(workspace) + "chunks/" + name;
}

Status ReadRoot(ObjectStore& store, const std::string& workspace, CurrentRoot* out) {
  const std::string key = RootKey(workspace);
  std::string text;
  ObjectInfo info;
  Status s = store.Get(
      key, GetOptions{},
      [&](const char* data, size_t len) {
        text.append(data, len);
        return Status::OK();
      },
      &info);
  CCFS_RETURN_IF_ERROR(s);
  Result<WorkspaceRoot> root = DecodeRoot(text);
  if (!root.ok()) return root.status().Annotate(store.Describe() + "/" + key);
  out->root = std::move(root).value();
  out->etag = info.etag;
  return Status::OK();
}

Status PutImmutable(ObjectStore& store, const std::string& key, const std::string& body) {
  PutOptions opts;
  opts.if_none_match_any = true;
  Status s = store.PutBytes(key, body, opts, nullptr);
  if (s.IsPreconditionFailed()) return Status::OK();  // named by content: the same bytes
  return s;
}

Status CommitRoot(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& next,
                  const std::string& parent_etag, std::string* new_etag) {
  const std::string body = EncodeRoot(next);
  PutOptions opts;
  opts.content_type = "application/json";
  if (parent_etag.empty()) {
    opts.if_none_match_any = true;
  } else {
    opts.if_match = parent_etag;
  }
  ObjectInfo info;
  Status put = store.PutBytes(RootKey(workspace), body, opts, &info);
  if (put.IsPreconditionFailed()) return put;
  if (!put.ok()) {
    // The PUT may have landed without our hearing so: the root says.
    CurrentRoot now;
    Status read = ReadRoot(store, workspace, &now);
    const std::string context = "committing generation " + std::to_string(next.generation);
    // Unreadable, still absent, or still the parent: ours did not land and
    // nobody else's did; the caller may retry the same commit.
    if (!read.ok() || now.etag == parent_etag) return put.Annotate(context);
    if (now.root.nonce != next.nonce) {
      return Status::PreconditionFailed(context +
                                        ": another commit replaced the root while ours "
                                        "had no answer (" +
                                        put.ToString() + ")");
    }
    info.etag = now.etag;
  }
  if (new_etag != nullptr) *new_etag = info.etag;
  // History is best effort: the commit stands without its copy, which is
  // then missing from `ccfs log` (logged by the caller's report).
  Status history =
      PutImmutable(store, HistoryRootKey(workspace, next.generation, next.nonce), body);
  IgnoreError(history, "the commit stands; only its history copy is missing");
  return Status::OK();
}

}  // namespace ccfs
