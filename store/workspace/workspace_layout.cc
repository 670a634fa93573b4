#include "store/workspace/workspace_layout.h"

namespace ccfs {

Status ValidateWorkspaceName(const std::string& w) {
  if (w.empty() || w.size() > 128 || w.front() == '.') {
    return Status::InvalidArgument("bad workspace name '" + w +
                                   "': 1-128 chars of [A-Za-z0-9._-], not starting with '.'");
  }
  for (char c : w) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("bad workspace name '" + w +
                                     "': only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  return Status::OK();
}

std::string TarballKey(const std::string& w) { return w + "/" + kTarballName; }
std::string LeaseKey(const std::string& w) { return w + "/" + kLeaseName; }
std::string TranscriptPrefix(const std::string& w) { return w + "/projects/"; }
std::string TranscriptKey(const std::string& w, const std::string& rel) { return w + "/" + rel; }

bool IsTranscriptPath(const std::string& rel) {
  static constexpr std::string_view kDir = "projects/";
  static constexpr std::string_view kExt = ".jsonl";
  if (rel.size() <= kDir.size() + kExt.size()) return false;
  if (rel.compare(0, kDir.size(), kDir) != 0) return false;
  return rel.compare(rel.size() - kExt.size(), kExt.size(), kExt) == 0;
}

}  // namespace ccfs
