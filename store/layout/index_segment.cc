#include "store/layout/index_segment.h"

#include <map>
#include <nlohmann/json.hpp>

#include "store/archive/gzip_codec.h"
#include "store/archive/tar_sanitize.h"  // IsCanonicalMemberPath
#include "store/base/content_hash.h"
#include "store/layout/root.h"  // IsObjectName

namespace ccfs {

namespace {

using nlohmann::json;

// A sane segment's text is far smaller (~2,000 entries of ~150 bytes).
constexpr uint64_t kMaxSegmentText = 256ull << 20;

char TypeLetter(EntryType t) {
  switch (t) {
    case EntryType::kDir:
      return 'd';
    case EntryType::kSymlink:
      return 'l';
    case EntryType::kFile:
      break;
  }
  return 'f';
}

bool TypeFromLetter(const std::string& s, EntryType* t) {
  if (s == "f")
    *t = EntryType::kFile;
  else if (s == "d")
    *t = EntryType::kDir;
  else if (s == "l")
    *t = EntryType::kSymlink;
  else
    return false;
  return true;
}

json EntryJson(const IndexEntry& e, const std::map<std::string, size_t>& pack_ids) {
  json j = {
      {"p", e.path}, {"t", std::string(1, TypeLetter(e.type))}, {"m", e.mode}, {"mt", e.mtime_ns}};
  if (e.type == EntryType::kFile) j["s"] = e.size;
  if (e.type == EntryType::kSymlink) j["l"] = e.link_target;
  if (!e.pack.empty()) {
    j["pk"] = pack_ids.at(e.pack);
    j["po"] = e.pack_data_offset;
  }
  if (!e.chunks.empty()) {
    json chunks = json::array();
    for (const ChunkRef& c : e.chunks) {
      json chunk = json::array({c.name, c.size});
      if (c.raw) chunk.push_back("raw");
      chunks.push_back(std::move(chunk));
    }
    j["ch"] = std::move(chunks);
  }
  return j;
}

Status BadLine(size_t line, const std::string& what) {
  return Status::Corruption("index segment, line " + std::to_string(line) + ": " + what);
}

// Reads one entry line; the checks that need the neighbours are the caller's.
Status ParseEntry(const json& j, size_t line, const std::vector<std::string>& packs,
                  IndexEntry* e) {
  if (!j.is_object()) return BadLine(line, "not a JSON object");
  try {
    e->path = j.at("p").get<std::string>();
    if (!TypeFromLetter(j.at("t").get<std::string>(), &e->type)) {
      return BadLine(line, "unknown type");
    }
    e->mode = j.at("m").get<uint32_t>();
    e->mtime_ns = j.at("mt").get<int64_t>();
    if (e->type == EntryType::kFile) e->size = j.at("s").get<uint64_t>();
    if (e->type == EntryType::kSymlink) e->link_target = j.at("l").get<std::string>();
    if (j.contains("pk")) {
      const size_t id = j.at("pk").get<size_t>();
      if (id >= packs.size()) return BadLine(line, "pack number out of the table");
      e->pack = packs[id];
      e->pack_data_offset = j.at("po").get<uint64_t>();
    }
    if (j.contains("ch")) {
      for (const json& c : j.at("ch")) {
        ChunkRef ref{c.at(0).get<std::string>(), c.at(1).get<uint64_t>(), false};
        if (c.size() > 2) {
          if (c.at(2) != "raw") return BadLine(line, "unknown chunk encoding");
          ref.raw = true;
        }
        e->chunks.push_back(std::move(ref));
      }
    }
  } catch (const json::exception& ex) {
    return BadLine(line, std::string("malformed entry (") + ex.what() + ")");
  }
  if (!IsCanonicalMemberPath(e->path)) return BadLine(line, "unsafe path \"" + e->path + "\"");
  if (e->mode > 07777) return BadLine(line, e->path + ": mode out of range");
  if (e->type == EntryType::kSymlink && e->link_target.empty()) {
    return BadLine(line, e->path + ": symlink without a target");
  }
  const bool has_pack = !e->pack.empty();
  const bool has_chunks = !e->chunks.empty();
  if (e->type != EntryType::kFile || e->size == 0) {
    if (has_pack || has_chunks)
      return BadLine(line, e->path + ": location on an entry without bytes");
    return Status::OK();
  }
  if (has_pack == has_chunks) {
    return BadLine(line, e->path + ": a file's bytes must be in a pack or in chunks");
  }
  if (has_pack && !IsObjectName(e->pack)) return BadLine(line, e->path + ": bad pack name");
  uint64_t sum = 0;
  for (const ChunkRef& c : e->chunks) {
    if (!IsObjectName(c.name) || c.size == 0) return BadLine(line, e->path + ": bad chunk");
    if (c.size > e->size - sum) return BadLine(line, e->path + ": chunks exceed the file size");
    sum += c.size;
  }
  if (has_chunks && sum != e->size)
    return BadLine(line, e->path + ": chunks do not add up to the size");
  return Status::OK();
}

}  // namespace

std::string EncodeSegmentText(const IndexSegment& segment) {
  // Packs numbered in order of first use, so the text is a function of the
  // entries alone.
  std::map<std::string, size_t> pack_ids;
  json packs = json::array();
  for (const IndexEntry& e : segment.entries) {
    if (!e.pack.empty() && pack_ids.emplace(e.pack, pack_ids.size()).second)
      packs.push_back(e.pack);
  }
  std::string out =
      json({{"format", kSegmentFormat}, {"entries", segment.entries.size()}, {"packs", packs}})
          .dump();
  out += '\n';
  for (const IndexEntry& e : segment.entries) {
    out += EntryJson(e, pack_ids).dump();
    out += '\n';
  }
  return out;
}

Result<std::string> EncodeSegment(const IndexSegment& segment) {
  const std::string text = EncodeSegmentText(segment);
  std::string stored;
  GzipMemberDeflater deflater(6);
  const ByteSink collect = [&stored](const char* data, size_t len) {
    stored.append(data, len);
    return Status::OK();
  };
  CCFS_RETURN_IF_ERROR(deflater.Begin());
  CCFS_RETURN_IF_ERROR(deflater.Write(text.data(), text.size(), collect));
  CCFS_RETURN_IF_ERROR(deflater.Finish(collect));
  return stored;
}

Result<IndexSegment> DecodeSegment(std::string_view stored) {
  // ISIZE, the member's last 4 bytes: the text's length mod 2^32.
  if (stored.size() < 18) return Status::Corruption("index segment: too short to be gzip");
  const auto* tail = reinterpret_cast<const unsigned char*>(stored.data() + stored.size() - 4);
  const uint64_t size = static_cast<uint64_t>(tail[0]) | static_cast<uint64_t>(tail[1]) << 8 |
                        static_cast<uint64_t>(tail[2]) << 16 | static_cast<uint64_t>(tail[3]) << 24;
  if (size > kMaxSegmentText) return Status::Corruption("index segment: claims an oversized text");
  std::string text;
  Status s = InflateGzipMember(stored, size, &text);
  if (!s.ok()) return s.Annotate("index segment");
  return DecodeSegmentText(text);
}

Result<IndexSegment> DecodeSegmentText(std::string_view text) {
  size_t line = 0;
  size_t pos = 0;
  auto next_line = [&](std::string_view* out) {
    if (pos >= text.size()) return false;
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    *out = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line;
    return true;
  };
  std::string_view header_text;
  if (!next_line(&header_text)) return Status::Corruption("index segment: empty");
  json header = json::parse(header_text.begin(), header_text.end(), nullptr, false);
  if (header.is_discarded() || !header.is_object() || !header.contains("format") ||
      !header["format"].is_string() || !header.contains("entries") ||
      !header["entries"].is_number_unsigned()) {
    return BadLine(1, "not a segment header");
  }
  std::vector<std::string> packs;
  if (header.contains("packs")) {
    if (!header["packs"].is_array()) return BadLine(1, "\"packs\" is not an array");
    for (const json& p : header["packs"]) {
      if (!p.is_string() || !IsObjectName(p.get<std::string>())) return BadLine(1, "bad pack name");
      packs.push_back(p.get<std::string>());
    }
  }
  const std::string format = header["format"].get<std::string>();
  if (format != kSegmentFormat) {
    if (format.rfind("ccfs-index-", 0) == 0) {
      return Status::NotSupported("index segment format " + format +
                                  " was written by a newer ccfs; upgrade to read it");
    }
    return BadLine(1, "unknown format \"" + format + "\"");
  }
  const uint64_t expected = header["entries"].get<uint64_t>();
  IndexSegment segment;
  std::string_view entry_text;
  while (next_line(&entry_text)) {
    json j = json::parse(entry_text.begin(), entry_text.end(), nullptr, false);
    if (j.is_discarded()) return BadLine(line, "not JSON");
    IndexEntry e;
    CCFS_RETURN_IF_ERROR(ParseEntry(j, line, packs, &e));
    if (!segment.entries.empty() && !(segment.entries.back().path < e.path)) {
      return BadLine(line, e.path + ": out of order or repeated");
    }
    segment.entries.push_back(std::move(e));
  }
  if (segment.entries.size() != expected) {
    return Status::Corruption("index segment: header says " + std::to_string(expected) +
                              " entries, found " + std::to_string(segment.entries.size()) +
                              " (truncated?)");
  }
  return segment;
}

std::string ObjectNameOf(std::string_view bytes) {
  return HashBytes(std::string(bytes)).sha256_hex;
}

std::vector<IndexSegment> SplitIntoSegments(const std::vector<IndexEntry>& sorted,
                                            size_t target_entries) {
  std::vector<IndexSegment> out;
  if (target_entries == 0) target_entries = 1;
  for (size_t i = 0; i < sorted.size(); i += target_entries) {
    IndexSegment s;
    size_t end = std::min(sorted.size(), i + target_entries);
    s.entries.assign(sorted.begin() + static_cast<std::ptrdiff_t>(i),
                     sorted.begin() + static_cast<std::ptrdiff_t>(end));
    out.push_back(std::move(s));
  }
  return out;
}

std::string EntryBytesTag(const IndexEntry& e) {
  std::string key =
      std::to_string(e.size) + "|" + e.pack + "@" + std::to_string(e.pack_data_offset);
  for (const ChunkRef& c : e.chunks) key += "|" + c.name + ":" + std::to_string(c.size);
  return "v2c:" + ObjectNameOf(key).substr(0, 32);
}

}  // namespace ccfs
