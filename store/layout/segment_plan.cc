#include "store/layout/segment_plan.h"

#include <algorithm>
#include <map>

namespace ccfs {

namespace {

// The segment a path belongs to: the first whose range ends at or after it,
// else the last. Paths between two ranges go to the later one, so inserts
// spread over the tree rather than piling onto one segment.
size_t SegmentFor(const std::vector<SegmentRef>& segments, const std::string& path) {
  auto it =
      std::lower_bound(segments.begin(), segments.end(), path,
                       [](const SegmentRef& s, const std::string& p) { return s.last_path < p; });
  if (it == segments.end()) return segments.size() - 1;
  return static_cast<size_t>(it - segments.begin());
}

// Adds (sign +1) or takes away (-1) an entry from the plan's totals.
void Count(const IndexEntry& e, int sign, SegmentPlan* out) {
  if (e.type != EntryType::kFile) return;
  out->files_delta += sign;
  out->bytes_delta += sign * static_cast<int64_t>(e.size);
}

Status Emit(std::vector<IndexEntry> entries, SegmentPlan* out) {
  IndexSegment segment;
  segment.entries = std::move(entries);
  SegmentToWrite w;
  Result<std::string> stored = EncodeSegment(segment);
  if (!stored.ok()) return stored.status();
  w.bytes = std::move(stored).value();
  w.ref.name = ObjectNameOf(w.bytes);
  w.ref.first_path = segment.entries.front().path;
  w.ref.last_path = segment.entries.back().path;
  w.ref.entries = segment.entries.size();
  w.ref.bytes = w.bytes.size();
  out->segments.push_back(w.ref);
  out->written.push_back(std::move(w));
  return Status::OK();
}

// Cuts `entries` (sorted) into even pieces of at most 2 * target.
Status EmitCut(std::vector<IndexEntry> entries, size_t target, SegmentPlan* out) {
  if (entries.empty()) return Status::OK();
  const size_t pieces = entries.size() > 2 * target ? (entries.size() + target - 1) / target : 1;
  const size_t per = (entries.size() + pieces - 1) / pieces;
  for (size_t i = 0; i < entries.size(); i += per) {
    size_t end = std::min(entries.size(), i + per);
    CCFS_RETURN_IF_ERROR(
        Emit(std::vector<IndexEntry>(
                 std::make_move_iterator(entries.begin() + static_cast<std::ptrdiff_t>(i)),
                 std::make_move_iterator(entries.begin() + static_cast<std::ptrdiff_t>(end))),
             out));
  }
  return Status::OK();
}

}  // namespace

Status PlanSegments(const std::vector<SegmentRef>& old, std::vector<SegmentChange> changes,
                    const SegmentLoader& load, size_t target_entries, SegmentPlan* out) {
  *out = SegmentPlan{};
  if (target_entries == 0) target_entries = 1;
  for (const SegmentChange& c : changes) {
    if (c.entry.has_value() && c.entry->path != c.path) {
      return Status::InvalidArgument("segment change for " + c.path + " holds " + c.entry->path);
    }
  }
  if (old.empty()) {
    std::vector<IndexEntry> entries;
    for (SegmentChange& c : changes) {
      if (!c.entry.has_value()) continue;
      Count(*c.entry, +1, out);
      entries.push_back(std::move(*c.entry));
    }
    std::sort(entries.begin(), entries.end(),
              [](const IndexEntry& a, const IndexEntry& b) { return a.path < b.path; });
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i - 1].path == entries[i].path) {
        return Status::InvalidArgument("two changes for " + entries[i].path);
      }
    }
    return EmitCut(std::move(entries), target_entries, out);
  }

  std::map<size_t, std::map<std::string, std::optional<IndexEntry>>> by_segment;
  for (SegmentChange& c : changes) {
    auto& slot = by_segment[SegmentFor(old, c.path)];
    if (!slot.emplace(c.path, std::move(c.entry)).second) {
      return Status::InvalidArgument("two changes for " + c.path);
    }
  }
  for (size_t i = 0; i < old.size(); ++i) {
    auto touched = by_segment.find(i);
    if (touched == by_segment.end()) {
      out->segments.push_back(old[i]);
      continue;
    }
    IndexSegment segment;
    CCFS_RETURN_IF_ERROR(load(old[i], &segment));
    ++out->loaded;
    // Merge the sorted entries with the sorted changes.
    std::vector<IndexEntry> merged;
    merged.reserve(segment.entries.size() + touched->second.size());
    auto change = touched->second.begin();
    auto take = [&](std::optional<IndexEntry>& c) {
      if (!c.has_value()) return;
      Count(*c, +1, out);
      merged.push_back(std::move(*c));
    };
    for (IndexEntry& e : segment.entries) {
      for (; change != touched->second.end() && change->first < e.path; ++change)
        take(change->second);
      if (change != touched->second.end() && change->first == e.path) {
        Count(e, -1, out);  // replaced or removed
        take(change->second);
        ++change;
        continue;
      }
      merged.push_back(std::move(e));
    }
    for (; change != touched->second.end(); ++change) take(change->second);
    CCFS_RETURN_IF_ERROR(EmitCut(std::move(merged), target_entries, out));
  }
  return Status::OK();
}

}  // namespace ccfs
