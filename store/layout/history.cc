#include "store/layout/history.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "store/base/clock.h"
#include "store/layout/root_store.h"
#include "store/layout/tree_reader.h"

namespace ccfs {

namespace {

Status GetText(ObjectStore& store, const std::string& key, std::string* out) {
  out->clear();
  return store.Get(
      key, GetOptions{},
      [out](const char* data, size_t len) {
        out->append(data, len);
        return Status::OK();
      },
      nullptr);
}

// Every entry of the segments of `root` whose names are not in `skip`.
Status EntriesOutside(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& root,
                      const std::set<std::string>& skip, std::map<std::string, IndexEntry>* out) {
  for (const SegmentRef& ref : root.segments) {
    if (skip.count(ref.name) != 0) continue;
    IndexSegment seg;
    CCFS_RETURN_IF_ERROR(LoadSegment(store, workspace, ref, &seg));
    for (IndexEntry& e : seg.entries) {
      std::string path = e.path;
      out->emplace(std::move(path), std::move(e));
    }
  }
  return Status::OK();
}

bool SameEntry(const IndexEntry& a, const IndexEntry& b) {
  if (a.type != b.type || a.mode != b.mode || a.size != b.size || a.mtime_ns != b.mtime_ns ||
      a.link_target != b.link_target || a.pack != b.pack ||
      a.pack_data_offset != b.pack_data_offset || a.chunks.size() != b.chunks.size()) {
    return false;
  }
  for (size_t i = 0; i < a.chunks.size(); ++i) {
    if (a.chunks[i].name != b.chunks[i].name) return false;
  }
  return true;
}

}  // namespace

Status ListHistory(ObjectStore& store, const std::string& workspace,
                   std::vector<WorkspaceRoot>* roots, std::vector<std::string>* damaged) {
  roots->clear();
  ListOptions opts;
  opts.prefix = HistoryPrefix(workspace);
  ListResult listed;
  CCFS_RETURN_IF_ERROR(store.List(opts, &listed));
  std::string text;
  for (const ObjectInfo& o : listed.objects) {
    CCFS_RETURN_IF_ERROR(GetText(store, o.key, &text));
    Result<WorkspaceRoot> root = DecodeRoot(text);
    if (!root.ok() || HistoryRootKey(workspace, root->generation, root->nonce) != o.key) {
      spdlog::warn("history: {} is damaged ({}); skipped", o.key,
                   root.ok() ? "its name does not match its content" : root.status().ToString());
      if (damaged != nullptr) damaged->push_back(o.key);
      continue;
    }
    roots->push_back(std::move(root).value());
  }
  // Keys hold the zero-padded generation, so the LIST order is oldest first.
  return Status::OK();
}

Status ReadGeneration(ObjectStore& store, const std::string& workspace, uint64_t generation,
                      WorkspaceRoot* out) {
  ListOptions opts;
  char digits[32];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(generation));
  opts.prefix = HistoryPrefix(workspace) + digits + "-";
  ListResult listed;
  CCFS_RETURN_IF_ERROR(store.List(opts, &listed));
  if (listed.objects.empty()) {
    return Status::NotFound(workspace + ": no generation " + std::to_string(generation) +
                            " in the history");
  }
  if (listed.objects.size() > 1) {
    return Status::Corruption(workspace + ": generation " + std::to_string(generation) + " has " +
                              std::to_string(listed.objects.size()) + " history copies");
  }
  std::string text;
  CCFS_RETURN_IF_ERROR(GetText(store, listed.objects[0].key, &text));
  Result<WorkspaceRoot> root = DecodeRoot(text);
  if (!root.ok()) return root.status().Annotate(listed.objects[0].key);
  if (root->generation != generation) {
    return Status::Corruption(listed.objects[0].key + ": holds generation " +
                              std::to_string(root->generation));
  }
  *out = std::move(root).value();
  return Status::OK();
}

Status DiffRoots(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& from,
                 const WorkspaceRoot& to, TreeDiff* out) {
  *out = TreeDiff{};
  std::set<std::string> in_from, shared;
  for (const SegmentRef& r : from.segments) in_from.insert(r.name);
  for (const SegmentRef& r : to.segments) {
    if (in_from.count(r.name) != 0) shared.insert(r.name);
  }
  std::map<std::string, IndexEntry> a, b;
  CCFS_RETURN_IF_ERROR(EntriesOutside(store, workspace, from, shared, &a));
  CCFS_RETURN_IF_ERROR(EntriesOutside(store, workspace, to, shared, &b));
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      out->removed.push_back((ia++)->first);
    } else if (ia == a.end() || ib->first < ia->first) {
      out->added.push_back((ib++)->first);
    } else {
      if (!SameEntry(ia->second, ib->second)) out->changed.push_back(ia->first);
      ++ia;
      ++ib;
    }
  }
  return Status::OK();
}

Status RestoreGeneration(ObjectStore& store, const std::string& workspace, uint64_t generation,
                         const RootWriter& writer, WorkspaceRoot* out) {
  WorkspaceRoot old;
  CCFS_RETURN_IF_ERROR(ReadGeneration(store, workspace, generation, &old));
  for (const SegmentRef& ref : old.segments) {
    IndexSegment seg;
    CCFS_RETURN_IF_ERROR(LoadSegment(store, workspace, ref, &seg));
    for (const IndexEntry& e : seg.entries) {
      ObjectInfo info;
      if (!e.pack.empty()) CCFS_RETURN_IF_ERROR(store.Head(PackKey(workspace, e.pack), &info));
      for (const ChunkRef& c : e.chunks) {
        CCFS_RETURN_IF_ERROR(store.Head(ChunkKey(workspace, c.name), &info));
      }
    }
  }
  CurrentRoot current;
  CCFS_RETURN_IF_ERROR(ReadRoot(store, workspace, &current));
  WorkspaceRoot next = old;
  next.generation = current.root.generation + 1;
  next.parent_generation = current.root.generation;
  next.nonce = NewRootNonce();
  next.writer = writer;
  next.committed_unix_ms = NowUnixMs();
  next.adopted_v1_etag = current.root.adopted_v1_etag;
  CCFS_RETURN_IF_ERROR(CommitRoot(store, workspace, next, current.etag, nullptr));
  *out = std::move(next);
  return Status::OK();
}

}  // namespace ccfs
