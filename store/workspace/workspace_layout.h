// Workspace layout v1: where a workspace's pieces live in a store.
//
//   <W>/claude-home.tar.gz   every file of the tree except transcripts (seekable tar.gz)
//   <W>/<path>               each transcript: projects/**/*.jsonl, as its own object
//   <W>/lease                who holds the workspace writable
#pragma once

#include <string>

#include "store/base/status.h"

namespace ccfs {

inline constexpr const char* kTarballName = "claude-home.tar.gz";
inline constexpr const char* kLeaseName = "lease";

// Workspace names are one key segment: letters, digits, '.', '_', '-', not
// starting with '.', at most 128 chars.
Status ValidateWorkspaceName(const std::string& workspace);

std::string TarballKey(const std::string& workspace);
std::string LeaseKey(const std::string& workspace);
// Prefix under which the workspace's transcripts live ("<W>/projects/").
std::string TranscriptPrefix(const std::string& workspace);
// Key of the transcript at tree-relative path `rel` ("projects/x/y.jsonl").
std::string TranscriptKey(const std::string& workspace, const std::string& rel);

// True for tree-relative paths stored as their own objects: every file under
// projects/ whose name ends in ".jsonl" (sessions and subagents alike).
bool IsTranscriptPath(const std::string& rel);

}  // namespace ccfs
