// GitHub commit and pull-request URLs: recognising them in transcript text
// (the sidecar links each one to its session once) and splitting them into
// owner / repo / ref (the reference server's github-links reply).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccfs {

struct GitHubRef {
  std::string link_type;  // "commit" or "pull_request"
  std::string owner;
  std::string repo;
  std::string ref;  // commit SHA or pull-request number
  // Canonical form: https://github.com/<owner>/<repo>/(commit|pull)/<ref>
  std::string url;
};

// Parses a commit or pull-request URL (http or https, optional "www.",
// anything after the ref ignored); nullopt for anything else.
std::optional<GitHubRef> ParseGitHubUrl(std::string_view url);

// Every commit / pull-request URL in `text`, canonical, in order of first
// appearance, without duplicates.
std::vector<std::string> FindGitHubUrls(std::string_view text);

}  // namespace ccfs
