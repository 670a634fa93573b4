#include "sync/common/github_url.h"

#include <algorithm>

namespace ccfs {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsOwnerChar(char c) { return IsAlnum(c) || c == '-'; }
bool IsRepoChar(char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; }

// Reads a run of chars satisfying `pred` from `s` at `*pos`.
std::string_view TakeWhile(std::string_view s, size_t* pos, bool (*pred)(char)) {
  size_t begin = *pos;
  while (*pos < s.size() && pred(s[*pos])) ++*pos;
  return s.substr(begin, *pos - begin);
}

bool Consume(std::string_view s, size_t* pos, std::string_view lit) {
  if (s.substr(*pos, lit.size()) != lit) return false;
  *pos += lit.size();
  return true;
}

// Parses "<owner>/<repo>/(commit|pull)/<ref>" at `pos` (just after
// "github.com/"); `end` receives the position after the ref.
std::optional<GitHubRef> ParseAfterHost(std::string_view s, size_t pos, size_t* end) {
  GitHubRef ref;
  ref.owner = std::string(TakeWhile(s, &pos, IsOwnerChar));
  if (ref.owner.empty() || !Consume(s, &pos, "/")) return std::nullopt;
  ref.repo = std::string(TakeWhile(s, &pos, IsRepoChar));
  if (ref.repo.empty() || ref.repo == "." || ref.repo == ".." || !Consume(s, &pos, "/")) {
    return std::nullopt;
  }
  if (Consume(s, &pos, "commit/")) {
    std::string_view sha = TakeWhile(s, &pos, IsHex);
    if (sha.size() < 7 || sha.size() > 40) return std::nullopt;
    ref.link_type = "commit";
    ref.ref = std::string(sha);
    std::transform(ref.ref.begin(), ref.ref.end(), ref.ref.begin(),
                   [](char c) { return static_cast<char>(c >= 'A' && c <= 'F' ? c + 32 : c); });
  } else if (Consume(s, &pos, "pull/")) {
    std::string_view num = TakeWhile(s, &pos, IsDigit);
    if (num.empty() || num.size() > 12) return std::nullopt;
    ref.link_type = "pull_request";
    ref.ref = std::string(num);
  } else {
    return std::nullopt;
  }
  // The ref must end at a word boundary ("commit/abc123x" is not a SHA).
  if (pos < s.size() && (IsAlnum(s[pos]) || s[pos] == '_')) return std::nullopt;
  ref.url = "https://github.com/" + ref.owner + "/" + ref.repo + "/" +
            (ref.link_type == "commit" ? "commit/" : "pull/") + ref.ref;
  *end = pos;
  return ref;
}

}  // namespace

std::optional<GitHubRef> ParseGitHubUrl(std::string_view url) {
  size_t pos = 0;
  if (!Consume(url, &pos, "https://") && !Consume(url, &pos, "http://")) return std::nullopt;
  Consume(url, &pos, "www.");
  if (!Consume(url, &pos, "github.com/")) return std::nullopt;
  size_t end = 0;
  return ParseAfterHost(url, pos, &end);
}

std::vector<std::string> FindGitHubUrls(std::string_view text) {
  static constexpr std::string_view kHost = "github.com/";
  std::vector<std::string> urls;
  size_t pos = 0;
  while ((pos = text.find(kHost, pos)) != std::string_view::npos) {
    // Only real URLs: "github.com/" right after "://" or "://www.".
    size_t host = pos;
    if (host >= 4 && text.substr(host - 4, 4) == "www.") host -= 4;
    bool is_url = host >= 3 && text.substr(host - 3, 3) == "://";
    pos += kHost.size();
    if (!is_url) continue;
    size_t end = pos;
    if (auto ref = ParseAfterHost(text, pos, &end)) {
      if (std::find(urls.begin(), urls.end(), ref->url) == urls.end()) urls.push_back(ref->url);
      pos = end;
    }
  }
  return urls;
}

}  // namespace ccfs
