// SessionTree: the conversation graph of one transcript file, from each
// line's uuid / parentUuid, as `ccfs sessions show` renders it.
//
// The active branch is the path from the leaf back to a root:
//  - the leaf is the last line in file order that is a non-sidechain
//    user/assistant/system message: Claude Code appends to the branch it is
//    on, so after a rewind the newest line is on the new branch. (A summary
//    line's leafUuid names the leaf when the summary was made, which is this
//    line or an older one, so it is not consulted.)
//  - walking back follows parentUuid; at a compaction boundary (parentUuid
//    null) it continues at logicalParentUuid, the last line before /compact.
// A fork is a line with more than one child: a rewound prompt, an edited
// message, a retried reply. A child that is a tool result with no children
// of its own is not an alternative branch (parallel tool calls answer that
// way) and is shown inline with its parent instead.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sync/sessions/session_index.h"

namespace ccfs {

struct SessionFork {
  size_t parent = 0;               // index into the lines
  std::vector<size_t> children;    // first line of each alternative, file order
  size_t active_child = SIZE_MAX;  // the one on the active branch, if any
};

struct SessionTree {
  std::vector<size_t> active;      // the active branch, root to leaf (indices into lines)
  std::vector<SessionFork> forks;  // in file order of the parent
  size_t leaf = SIZE_MAX;
  // Lines that are messages but hang off a parent the file does not hold.
  std::vector<size_t> orphans;
  // For --all-branches: every message line in depth-first order, alternatives
  // in file order, with the branch label each belongs to ("1", "1.2", ...).
  struct Step {
    size_t line = 0;
    std::string branch;
    bool starts_branch = false;     // first line of an alternative
    size_t fork_parent = SIZE_MAX;  // for starts_branch: the line it branches from
  };
  std::vector<Step> all_branches;
  // Dead-end tool results shown inline with their parent: parent -> results.
  std::vector<std::pair<size_t, std::vector<size_t>>> inline_results;
};

// `lines` are one file's lines in line order (SessionIndex::ReadLines). In a
// main transcript sidechain lines (old-style inline subagents) are left out;
// a subagent's file (`sidechain_file`) is all sidechain and all of it counts.
SessionTree BuildSessionTree(const std::vector<IndexedLine>& lines, bool sidechain_file);

}  // namespace ccfs
