#include "fs/flush/tarball_compose.h"

#include <unordered_map>

#include "fs/flush/tarball_repack.h"
#include "fs/hydrate/block_stream.h"
#include "store/archive/seekable_tar_writer.h"
#include "store/archive/tar_sanitize.h"

namespace ccfs {

namespace {

constexpr uint64_t kTarBlock = 512;
constexpr uint64_t kMaxRequestBytes = 8ull << 20;

uint64_t Pad512(uint64_t n) { return (n + kTarBlock - 1) / kTarBlock * kTarBlock; }
int64_t Seconds(int64_t ns) {
  return ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
}

// Where the member ends in the raw stream (its header, data and padding).
uint64_t MemberEnd(const std::vector<TarEntry>& entries, size_t i) {
  if (i + 1 < entries.size()) return entries[i + 1].header_offset;
  return entries[i].data_offset + Pad512(entries[i].size);
}

// True when the tar member for `s` would be byte for byte the base's `e`.
bool SameMember(const SnapshotEntry& s, const TarEntry& e, const TarballVersion& base) {
  const NodeInfo& n = s.node;
  if (SanitizeMode(n.mode) != e.mode || Seconds(n.mtime_ns) != e.mtime) return false;
  switch (n.type) {
    case NodeType::kDir:
      return e.type == EntryType::kDir;
    case NodeType::kSymlink:
      return e.type == EntryType::kSymlink && e.link_target == n.link_target;
    case NodeType::kFifo:
    case NodeType::kSocket:
      return false;  // never stored
    case NodeType::kFile:
      return e.type == EntryType::kFile && e.size == n.size && n.state != ContentState::kDirty &&
             n.origin_kind == OriginKind::kTarball && n.origin_path == s.path &&
             n.origin_etag == base.etag;
  }
  return false;
}

// Copies base blocks [first, last] of a copy segment into `writer`, in
// pieces of about kMaxRequestBytes that each end on a member boundary.
Status CopySegment(const ComposePlan::Segment& seg, const TarballVersion& base,
                   const std::unordered_map<uint64_t, bool>& member_ends, ObjectStore& store,
                   const std::string& key, BlockCache* blocks, SeekableTarWriter* writer,
                   ComposeStats* stats) {
  std::string pending;
  size_t pending_first = seg.first_block;
  Status s = StreamBlocks(
      store, key, base, seg.first_block, seg.last_block, kMaxRequestBytes,
      [&](const TarBlock& b, const std::string&, std::string_view comp) {
        size_t i = static_cast<size_t>(&b - base.index.blocks.data());
        pending.append(comp);
        ++stats->blocks_copied;
        stats->bytes_copied += comp.size();
        bool boundary = member_ends.count(b.raw_offset + b.raw_size) != 0;
        if (i == seg.last_block || (boundary && pending.size() >= kMaxRequestBytes)) {
          // StreamBlocks verified each block's CRC already.
          CCFS_RETURN_IF_ERROR(
              writer->AppendBlocks(base.index, pending_first, i, pending, /*verify=*/false));
          pending.clear();
          pending_first = i + 1;
        }
        return Status::OK();
      },
      nullptr, blocks);
  stats->entries_copied += seg.side_end - seg.side_begin;
  return s;
}

}  // namespace

ComposePlan PlanCompose(const std::vector<const SnapshotEntry*>& side, const TarballVersion& base,
                        bool allow_copy) {
  ComposePlan plan;
  auto add_write = [&](size_t p) {
    if (!plan.segments.empty() && !plan.segments.back().copy &&
        plan.segments.back().side_end == p) {
      plan.segments.back().side_end = p + 1;
    } else {
      ComposePlan::Segment s;
      s.side_begin = p;
      s.side_end = p + 1;
      plan.segments.push_back(s);
    }
  };
  const auto& entries = base.index.entries;
  const auto& blocks = base.index.blocks;
  bool can_copy =
      allow_copy && base.seekable && base.complete && !base.etag.empty() && !blocks.empty();
  std::unordered_map<uint64_t, size_t> block_at_start, block_at_end;
  if (can_copy) {
    for (size_t i = 0; i < blocks.size(); ++i) {
      block_at_start[blocks[i].raw_offset] = i;
      block_at_end[blocks[i].raw_offset + blocks[i].raw_size] = i;
    }
  }
  size_t p = 0;
  while (p < side.size()) {
    const TarEntry* e = can_copy ? base.Find(side[p]->path) : nullptr;
    size_t first_entry = e == nullptr ? 0 : static_cast<size_t>(e - entries.data());
    auto start = e == nullptr ? block_at_start.end() : block_at_start.find(e->header_offset);
    if (e == nullptr || start == block_at_start.end() || !SameMember(*side[p], *e, base)) {
      add_write(p++);
      continue;
    }
    // Extend over consecutive unchanged members; remember the longest run
    // that ends on a block boundary.
    size_t best = 0, best_block = 0;
    for (size_t k = 0; p + k < side.size() && first_entry + k < entries.size(); ++k) {
      const TarEntry& be = entries[first_entry + k];
      if (be.path != side[p + k]->path || !SameMember(*side[p + k], be, base)) break;
      auto end = block_at_end.find(MemberEnd(entries, first_entry + k));
      if (end != block_at_end.end() && end->second >= start->second) {
        best = k + 1;
        best_block = end->second;
      }
    }
    std::vector<TarEntry> held;
    if (best == 0 ||
        !SeekableTarWriter::EntriesInBlockRun(base.index, start->second, best_block, &held).ok() ||
        held.size() != best) {
      add_write(p++);
      continue;
    }
    ComposePlan::Segment s;
    s.copy = true;
    s.first_block = start->second;
    s.last_block = best_block;
    s.first_base_entry = first_entry;
    s.side_begin = p;
    s.side_end = p + best;
    plan.segments.push_back(s);
    p += best;
  }
  return plan;
}

Status WriteComposed(const ComposePlan& plan, const std::vector<const SnapshotEntry*>& side,
                     const TarballVersion& base, ObjectStore& store, const std::string& key,
                     BlockCache* blocks, InodeTable& table, ContentCache& content,
                     const std::string& out_path, TarIndex* index, ComposeStats* stats) {
  auto writer = SeekableTarWriter::Create(out_path, SeekableTarWriter::Options{});
  CCFS_RETURN_IF_ERROR(writer.status());
  if (blocks != nullptr && base.seekable) {
    Status used = blocks->Use(base);
    if (!used.ok()) blocks = nullptr;  // a cache only: fetch instead
  }
  std::unordered_map<uint64_t, bool> member_ends;
  for (size_t i = 0; i < base.index.entries.size(); ++i) {
    member_ends[MemberEnd(base.index.entries, i)] = true;
  }
  std::vector<std::string> skipped;  // the plan already left unstorable symlinks out
  for (const ComposePlan::Segment& seg : plan.segments) {
    if (seg.copy) {
      CCFS_RETURN_IF_ERROR(
          CopySegment(seg, base, member_ends, store, key, blocks, writer->get(), stats));
      continue;
    }
    for (size_t i = seg.side_begin; i < seg.side_end; ++i) {
      CCFS_RETURN_IF_ERROR(AddToTarball(**writer, *side[i], table, content, &skipped));
      ++stats->entries_written;
    }
  }
  return (*writer)->Finish(index);
}

}  // namespace ccfs
