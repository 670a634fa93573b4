#include "store/workspace/transcript_modes.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "store/archive/tar_sanitize.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

constexpr const char* kFormat = "ccfs-transcript-modes-1";
constexpr const char* kName = ".ccfs-transcript-modes.json";

std::string Octal(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

}  // namespace

std::string TranscriptModesKey(const std::string& workspace) {
  return TranscriptPrefix(workspace) + kName;
}

std::string EncodeTranscriptModes(const TranscriptModes& modes) {
  nlohmann::json m = nlohmann::json::object();
  for (const auto& [path, mode] : modes) m[path] = Octal(mode);
  return nlohmann::json{{"format", kFormat}, {"modes", m}}.dump() + "\n";
}

Status DecodeTranscriptModes(const std::string& text, TranscriptModes* out) {
  out->clear();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("format", std::string()) != kFormat || !j.contains("modes") ||
      !j["modes"].is_object()) {
    return Status::Corruption("transcript modes: not a " + std::string(kFormat) + " document");
  }
  for (const auto& [path, value] : j["modes"].items()) {
    if (!IsTranscriptPath(path) || !IsCanonicalMemberPath(path)) {
      return Status::Corruption("transcript modes: '" + path + "' is not a transcript path");
    }
    const std::string s = value.is_string() ? value.get<std::string>() : std::string();
    uint32_t mode = 0;
    bool ok = !s.empty() && s.size() <= 4;
    for (char c : s) {
      ok = ok && c >= '0' && c <= '7';
      mode = mode * 8 + static_cast<uint32_t>(c - '0');
    }
    if (!ok) return Status::Corruption("transcript modes: invalid mode '" + s + "' for " + path);
    mode = SanitizeMode(mode);  // as for tarball members
    if (mode != kDefaultTranscriptMode) (*out)[path] = mode;
  }
  return Status::OK();
}

Status ReadTranscriptModes(ObjectStore& store, const std::string& workspace, TranscriptModes* out) {
  out->clear();
  std::string text;
  Status s = GetToString(store, TranscriptModesKey(workspace), GetOptions{}, &text);
  if (s.IsNotFound()) return Status::OK();
  CCFS_RETURN_IF_ERROR(s.Annotate("reading the transcript modes"));
  return DecodeTranscriptModes(text, out).Annotate(TranscriptModesKey(workspace));
}

Status WriteTranscriptModes(ObjectStore& store, const std::string& workspace,
                            const TranscriptModes& modes) {
  PutOptions put;
  put.content_type = "application/json";
  return store.PutBytes(TranscriptModesKey(workspace), EncodeTranscriptModes(modes), put, nullptr)
      .Annotate("writing the transcript modes");
}

TranscriptModes MergeTranscriptModes(const TranscriptModes& base, const TranscriptModes& ours,
                                     const TranscriptModes& theirs) {
  TranscriptModes merged = theirs;
  std::set<std::string> paths;
  for (const auto& [p, m] : base) paths.insert(p);
  for (const auto& [p, m] : ours) paths.insert(p);
  for (const std::string& p : paths) {
    const uint32_t was = TranscriptMode(base, p), now = TranscriptMode(ours, p);
    if (was == now) continue;
    if (now == kDefaultTranscriptMode) {
      merged.erase(p);
    } else {
      merged[p] = now;
    }
  }
  return merged;
}

}  // namespace ccfs
