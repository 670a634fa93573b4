#include "store/archive/tar_sanitize.h"

#include <deque>
#include <unordered_map>

namespace ccfs {

namespace {

// Splits on '/', dropping empty segments (so "a//b/" -> {"a","b"}).
std::vector<std::string_view> SplitPath(std::string_view p) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) parts.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

std::string JoinPath(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

std::string_view ParentOf(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

// Resolves `target` from directory `dir` (canonical, "" = root), following
// symlinks found in `links` (path -> target). Returns false with *reason set
// when the walk climbs above the root or loops.
bool ResolvesInside(std::string_view dir, std::string_view target,
                    const std::unordered_map<std::string, std::string>& links,
                    std::string* reason) {
  if (!target.empty() && target.front() == '/') {
    *reason = "symlink target is absolute";
    return false;
  }
  std::vector<std::string> stack;
  for (auto part : SplitPath(dir)) stack.emplace_back(part);
  std::deque<std::string> pending;
  for (auto part : SplitPath(target)) pending.emplace_back(part);
  int hops = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.front());
    pending.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (stack.empty()) {
        *reason = hops == 0 ? "symlink target escapes the tree"
                            : "symlink target escapes the tree through another symlink";
        return false;
      }
      stack.pop_back();
      continue;
    }
    stack.push_back(std::move(part));
    if (links.empty()) continue;
    auto it = links.find(JoinPath(stack));
    if (it == links.end()) continue;
    if (++hops > 40) {
      *reason = "symlink chain loops";
      return false;
    }
    if (!it->second.empty() && it->second.front() == '/') {
      *reason = "symlink target passes through an absolute symlink";
      return false;
    }
    stack.pop_back();  // the link itself is replaced by its target
    auto sub = SplitPath(it->second);
    for (auto r = sub.rbegin(); r != sub.rend(); ++r) pending.emplace_front(*r);
  }
  return true;
}

}  // namespace

bool NormalizeMemberPath(std::string_view raw, std::string* out, std::string* reason) {
  out->clear();
  if (raw.find('\0') != std::string_view::npos) {
    *reason = "name contains a NUL byte";
    return false;
  }
  if (!raw.empty() && raw.front() == '/') {
    *reason = "absolute path";
    return false;
  }
  std::vector<std::string> stack;
  for (auto part : SplitPath(raw)) {
    if (part == ".") continue;
    if (part == "..") {
      if (stack.empty()) {
        *reason = "path escapes the archive root (..)";
        return false;
      }
      stack.pop_back();
      continue;
    }
    if (part.size() > kMaxMemberNameBytes) {
      *reason = "a path component is longer than 255 bytes";
      return false;
    }
    stack.emplace_back(part);
  }
  *out = JoinPath(stack);
  if (out->size() > kMaxMemberPathBytes) {
    *reason = "path is longer than 4095 bytes";
    out->clear();
    return false;
  }
  return true;
}

bool IsCanonicalMemberPath(std::string_view path) {
  if (path.empty() || path.size() > kMaxMemberPathBytes) return false;
  if (path.find('\0') != std::string_view::npos) return false;
  size_t i = 0;
  while (true) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == "." || part == ".." || part.size() > kMaxMemberNameBytes) {
      return false;
    }
    if (j == path.size()) return true;
    i = j + 1;
  }
}

bool SymlinkTargetStaysInside(std::string_view link_path, std::string_view target,
                              std::string* reason) {
  if (target.empty()) {
    *reason = "symlink target is empty";
    return false;
  }
  if (target.find('\0') != std::string_view::npos) {
    *reason = "symlink target contains a NUL byte";
    return false;
  }
  if (target.size() > kMaxMemberPathBytes) {
    *reason = "symlink target is longer than 4095 bytes";
    return false;
  }
  static const std::unordered_map<std::string, std::string> kNoLinks;
  return ResolvesInside(ParentOf(link_path), target, kNoLinks, reason);
}

void DropEscapingSymlinks(std::vector<TarEntry>* entries, std::vector<SkippedEntry>* skipped) {
  std::unordered_map<std::string, std::string> links;
  for (const auto& e : *entries) {
    if (e.type == EntryType::kSymlink) links[e.path] = e.link_target;
  }
  if (links.empty()) return;
  std::vector<TarEntry> kept;
  kept.reserve(entries->size());
  for (auto& e : *entries) {
    std::string reason;
    if (e.type == EntryType::kSymlink &&
        (!SymlinkTargetStaysInside(e.path, e.link_target, &reason) ||
         !ResolvesInside(ParentOf(e.path), e.link_target, links, &reason))) {
      if (skipped != nullptr) skipped->push_back({e.path, reason + " (-> " + e.link_target + ")"});
      continue;
    }
    kept.push_back(std::move(e));
  }
  *entries = std::move(kept);
}

}  // namespace ccfs
