#include "store/layout/tree_reader.h"

#include <algorithm>

#include "store/layout/root_store.h"

namespace ccfs {

Status LoadSegment(ObjectStore& store, const std::string& workspace, const SegmentRef& ref,
                   IndexSegment* out) {
  std::string text;
  CCFS_RETURN_IF_ERROR(store.Get(
      SegmentKey(workspace, ref.name), GetOptions{},
      [&](const char* data, size_t len) {
        text.append(data, len);
        return Status::OK();
      },
      nullptr));
  if (ObjectNameOf(text) != ref.name) {
    return Status::Corruption("index segment " + ref.name + ": its bytes do not match its name");
  }
  Result<IndexSegment> seg = DecodeSegment(text);
  if (!seg.ok()) return seg.status();
  *out = std::move(seg).value();
  return Status::OK();
}

size_t SegmentIndexFor(const WorkspaceRoot& root, const std::string& path) {
  const auto& segs = root.segments;
  auto it =
      std::lower_bound(segs.begin(), segs.end(), path,
                       [](const SegmentRef& s, const std::string& p) { return s.last_path < p; });
  if (it == segs.end()) return segs.size() - 1;
  return static_cast<size_t>(it - segs.begin());
}

Status LookupEntry(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& root,
                   const std::string& path, IndexEntry* out) {
  if (root.segments.empty()) return Status::NotFound(path);
  IndexSegment seg;
  CCFS_RETURN_IF_ERROR(
      LoadSegment(store, workspace, root.segments[SegmentIndexFor(root, path)], &seg));
  auto it = std::lower_bound(seg.entries.begin(), seg.entries.end(), path,
                             [](const IndexEntry& e, const std::string& p) { return e.path < p; });
  if (it == seg.entries.end() || it->path != path) return Status::NotFound(path);
  *out = *it;
  return Status::OK();
}

}  // namespace ccfs
