#include "store/layout/root.h"

#include <nlohmann/json.hpp>

namespace ccfs {

namespace {

using nlohmann::json;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status Bad(const std::string& what) { return Status::Corruption("workspace root: " + what); }

// Reads a member of the expected JSON type, or says which one is wrong.
template <typename T>
Status Field(const json& j, const char* name, T* out) {
  auto it = j.find(name);
  if (it == j.end()) return Bad(std::string("missing \"") + name + "\"");
  try {
    *out = it->get<T>();
  } catch (const json::exception&) {
    return Bad(std::string("\"") + name + "\" has the wrong type");
  }
  return Status::OK();
}

Status CheckFormat(const std::string& format) {
  if (format == kRootFormat) return Status::OK();
  constexpr std::string_view kFamily = "ccfs-root-";
  if (format.rfind(kFamily, 0) == 0) {
    return Status::NotSupported("workspace root format " + format +
                                " was written by a newer ccfs; upgrade to read it");
  }
  return Bad("unknown format \"" + format + "\"");
}

}  // namespace

bool IsObjectName(std::string_view name) { return name.size() == 64 && IsLowerHex(name); }

std::string EncodeRoot(const WorkspaceRoot& root) {
  json segments = json::array();
  for (const SegmentRef& s : root.segments) {
    segments.push_back({{"name", s.name},
                        {"first", s.first_path},
                        {"last", s.last_path},
                        {"entries", s.entries},
                        {"bytes", s.bytes}});
  }
  // nlohmann::json keeps object keys sorted, so the text is stable.
  json j = {
      {"format", kRootFormat},
      {"generation", root.generation},
      {"parent", root.parent_generation},
      {"nonce", root.nonce},
      {"writer",
       {{"host", root.writer.host}, {"pid", root.writer.pid}, {"holder", root.writer.holder}}},
      {"committed_unix_ms", root.committed_unix_ms},
      {"segments", segments},
      {"adopted_v1_etag", root.adopted_v1_etag},
      {"files", root.files},
      {"bytes", root.bytes}};
  return j.dump() + "\n";
}

Result<WorkspaceRoot> DecodeRoot(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad("not a JSON object");
  std::string format;
  CCFS_RETURN_IF_ERROR(Field(j, "format", &format));
  CCFS_RETURN_IF_ERROR(CheckFormat(format));

  WorkspaceRoot root;
  CCFS_RETURN_IF_ERROR(Field(j, "generation", &root.generation));
  CCFS_RETURN_IF_ERROR(Field(j, "parent", &root.parent_generation));
  CCFS_RETURN_IF_ERROR(Field(j, "nonce", &root.nonce));
  CCFS_RETURN_IF_ERROR(Field(j, "committed_unix_ms", &root.committed_unix_ms));
  CCFS_RETURN_IF_ERROR(Field(j, "adopted_v1_etag", &root.adopted_v1_etag));
  CCFS_RETURN_IF_ERROR(Field(j, "files", &root.files));
  CCFS_RETURN_IF_ERROR(Field(j, "bytes", &root.bytes));
  json writer;
  CCFS_RETURN_IF_ERROR(Field(j, "writer", &writer));
  if (!writer.is_object()) return Bad("\"writer\" is not an object");
  CCFS_RETURN_IF_ERROR(Field(writer, "host", &root.writer.host));
  CCFS_RETURN_IF_ERROR(Field(writer, "pid", &root.writer.pid));
  CCFS_RETURN_IF_ERROR(Field(writer, "holder", &root.writer.holder));

  if (root.generation == 0) return Bad("generation 0");
  if (root.parent_generation >= root.generation) {
    return Bad("parent generation " + std::to_string(root.parent_generation) +
               " is not below generation " + std::to_string(root.generation));
  }
  if (root.nonce.size() != 32 || !IsLowerHex(root.nonce)) return Bad("malformed nonce");

  json segments;
  CCFS_RETURN_IF_ERROR(Field(j, "segments", &segments));
  if (!segments.is_array()) return Bad("\"segments\" is not an array");
  for (const json& s : segments) {
    if (!s.is_object()) return Bad("a segment is not an object");
    SegmentRef ref;
    CCFS_RETURN_IF_ERROR(Field(s, "name", &ref.name));
    CCFS_RETURN_IF_ERROR(Field(s, "first", &ref.first_path));
    CCFS_RETURN_IF_ERROR(Field(s, "last", &ref.last_path));
    CCFS_RETURN_IF_ERROR(Field(s, "entries", &ref.entries));
    CCFS_RETURN_IF_ERROR(Field(s, "bytes", &ref.bytes));
    if (!IsObjectName(ref.name)) return Bad("segment name \"" + ref.name + "\" is not a SHA-256");
    if (ref.entries == 0 || ref.first_path > ref.last_path) {
      return Bad("segment " + ref.name + " has an empty or reversed path range");
    }
    if (!root.segments.empty() && !(root.segments.back().last_path < ref.first_path)) {
      return Bad("segment " + ref.name + " overlaps or precedes the one before it");
    }
    root.segments.push_back(std::move(ref));
  }
  return root;
}

}  // namespace ccfs
