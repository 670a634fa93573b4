#include "sync/sessions/session_tree.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace ccfs {
namespace {

bool IsNode(const IndexedLine& l, bool sidechain_file) {
  if (!l.error.empty() || l.uuid.empty()) return false;
  if (l.is_sidechain && !sidechain_file) return false;
  return l.type == "user" || l.type == "assistant" || l.type == "system";
}

}  // namespace

SessionTree BuildSessionTree(const std::vector<IndexedLine>& lines, bool sidechain_file) {
  SessionTree tree;
  std::unordered_map<std::string, size_t> by_uuid;
  std::vector<size_t> nodes;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!IsNode(lines[i], sidechain_file)) continue;
    if (by_uuid.emplace(lines[i].uuid, i).second) nodes.push_back(i);  // first copy wins
  }
  // Effective parent: parentUuid, or across a compaction boundary the
  // logical parent. SIZE_MAX for a root.
  std::unordered_map<size_t, size_t> parent_of;
  std::unordered_map<size_t, std::vector<size_t>> children;
  std::vector<size_t> roots;
  for (size_t i : nodes) {
    const IndexedLine& l = lines[i];
    const std::string& p = !l.parent_uuid.empty() ? l.parent_uuid : l.logical_parent_uuid;
    auto it = p.empty() ? by_uuid.end() : by_uuid.find(p);
    if (it == by_uuid.end()) {
      if (!p.empty()) tree.orphans.push_back(i);
      roots.push_back(i);
      parent_of[i] = SIZE_MAX;
    } else {
      parent_of[i] = it->second;
      children[it->second].push_back(i);
    }
  }

  if (!nodes.empty()) tree.leaf = nodes.back();
  std::unordered_set<size_t> on_active;
  for (size_t cur = tree.leaf; cur != SIZE_MAX && on_active.insert(cur).second;) {
    tree.active.push_back(cur);
    cur = parent_of[cur];
  }
  std::reverse(tree.active.begin(), tree.active.end());

  // Alternatives at each parent; dead-end tool results are inline instead.
  std::unordered_map<size_t, std::vector<size_t>> branches;
  for (size_t i : nodes) {
    auto it = children.find(i);
    if (it == children.end()) continue;
    std::vector<size_t> alt, inline_results;
    for (size_t c : it->second) {
      bool dead_end_result = lines[c].role == LineRole::kToolResult && !children.count(c);
      if (dead_end_result && !on_active.count(c) && it->second.size() > 1) {
        inline_results.push_back(c);
      } else {
        alt.push_back(c);
      }
    }
    if (!inline_results.empty()) tree.inline_results.emplace_back(i, inline_results);
    if (alt.size() > 1) {
      SessionFork fork;
      fork.parent = i;
      fork.children = alt;
      for (size_t c : alt) {
        if (on_active.count(c)) fork.active_child = c;
      }
      tree.forks.push_back(std::move(fork));
    }
    branches[i] = std::move(alt);
  }

  // Depth-first walk for --all-branches, without recursion (chains are long).
  struct Pending {
    size_t line;
    std::string label;
    bool starts_branch;
    size_t fork_parent = SIZE_MAX;
  };
  std::vector<Pending> stack;
  for (size_t r = roots.size(); r-- > 0;) {
    stack.push_back({roots[r], roots.size() > 1 ? std::to_string(r + 1) : "1", r > 0});
  }
  std::unordered_set<size_t> seen;
  while (!stack.empty()) {
    Pending p = std::move(stack.back());
    stack.pop_back();
    bool first = p.starts_branch;
    for (size_t cur = p.line; cur != SIZE_MAX && seen.insert(cur).second;) {
      tree.all_branches.push_back({cur, p.label, first, first ? p.fork_parent : SIZE_MAX});
      first = false;
      auto it = branches.find(cur);
      if (it == branches.end() || it->second.empty()) break;
      const std::vector<size_t>& alt = it->second;
      if (alt.size() == 1) {
        cur = alt.front();
        continue;
      }
      for (size_t k = alt.size(); k-- > 0;) {
        stack.push_back({alt[k], p.label + "." + std::to_string(k + 1), true, cur});
      }
      break;
    }
  }
  return tree;
}

}  // namespace ccfs
