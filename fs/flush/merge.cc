#include "fs/flush/merge.h"

#include <algorithm>
#include <set>

#include "store/archive/tar_sanitize.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

int64_t Seconds(int64_t ns) {
  return ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
}

// One path of the base or the remote version.
struct Item {
  bool transcript = false;  // an object of its own (compared by ETag)
  const TarEntry* entry = nullptr;
  const BaseTranscript* object = nullptr;
  NodeType type() const {
    if (transcript) return NodeType::kFile;
    switch (entry->type) {
      case EntryType::kDir:
        return NodeType::kDir;
      case EntryType::kSymlink:
        return NodeType::kSymlink;
      case EntryType::kFile:
        break;
    }
    return NodeType::kFile;
  }
};

using View = std::map<std::string, Item>;

// The tree a version shows (as BuildTree does): tarball entries, except
// transcripts that also exist as objects, plus the transcript objects.
View MakeView(const TarballVersion& tarball,
              const std::map<std::string, BaseTranscript>& transcripts) {
  View v;
  for (const TarEntry& e : tarball.index.entries) {
    if (e.type == EntryType::kFile && IsTranscriptPath(e.path) && transcripts.count(e.path)) {
      continue;
    }
    v[e.path] = Item{false, &e, nullptr};
  }
  for (const auto& [path, t] : transcripts) v[path] = Item{true, nullptr, &t};
  return v;
}

const Item* Get(const View& v, const std::string& path) {
  auto it = v.find(path);
  return it == v.end() ? nullptr : &it->second;
}

// Whether the remote version differs from the base at one path.
bool Differs(const Item* b, const Item* r) {
  if (b == nullptr || r == nullptr) return b != r;
  if (b->transcript != r->transcript) return true;
  if (b->transcript)
    return b->object->etag != r->object->etag || b->object->mode != r->object->mode;
  const TarEntry& x = *b->entry;
  const TarEntry& y = *r->entry;
  if (x.type != y.type || x.mode != y.mode) return true;
  switch (x.type) {
    case EntryType::kDir:
      return false;
    case EntryType::kSymlink:
      return x.link_target != y.link_target;
    case EntryType::kFile:
      return x.size != y.size || x.mtime != y.mtime;
  }
  return true;
}

// Whether the local node `l` differs from the base at its path (the same
// test the flush uses to decide what to write: fs/flush/tarball_repack.cc).
bool LocalDiffers(const Item* b, const SnapshotEntry* l, const std::string& base_etag) {
  if (b == nullptr || l == nullptr) return (b == nullptr) != (l == nullptr);
  const NodeInfo& n = l->node;
  if (n.type != b->type()) return true;
  if (b->transcript) {
    return n.state == ContentState::kDirty || n.origin_kind != OriginKind::kTranscript ||
           n.origin_path != l->path || n.origin_etag != b->object->etag ||
           SanitizeMode(n.mode) != b->object->mode;
  }
  const TarEntry& e = *b->entry;
  if (SanitizeMode(n.mode) != e.mode) return true;
  switch (n.type) {
    case NodeType::kDir:
      return false;
    case NodeType::kSymlink:
      return n.link_target != e.link_target;
    case NodeType::kFifo:
    case NodeType::kSocket:
      return true;  // not what the store holds there
    case NodeType::kFile:
      return e.size != n.size || Seconds(n.mtime_ns) != e.mtime ||
             n.state == ContentState::kDirty || n.origin_kind != OriginKind::kTarball ||
             n.origin_path != l->path || n.origin_etag != base_etag;
  }
  return true;
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

enum class Decision { kNone, kTake, kTakeSame, kDelete, kKeepOurs, kConflict };

}  // namespace

std::string ConflictCopyPath(const std::string& path, const std::string& host,
                             const std::string& time) {
  return path + ".conflict-" + host + "-" + time;
}

bool RemoteRecord(const TarballVersion& tarball,
                  const std::map<std::string, BaseTranscript>& transcripts, const std::string& path,
                  NodeRecord* out) {
  *out = NodeRecord{};
  if (auto t = transcripts.find(path); t != transcripts.end()) {
    out->type = NodeType::kFile;
    out->mode = t->second.mode;
    out->size = t->second.size;
    out->mtime_ns = out->ctime_ns = t->second.mtime * 1000000000;
    out->state = ContentState::kRemote;
    out->origin_kind = OriginKind::kTranscript;
    out->origin_path = path;
    out->origin_etag = t->second.etag;
    return true;
  }
  const TarEntry* e = tarball.Find(path);
  if (e == nullptr) return false;
  out->mode = SanitizeMode(e->mode);
  out->mtime_ns = out->ctime_ns = e->mtime * 1000000000;
  out->origin_kind = OriginKind::kTarball;
  out->origin_path = path;
  out->origin_etag = tarball.etag;
  switch (e->type) {
    case EntryType::kFile:
      out->type = NodeType::kFile;
      out->size = e->size;
      out->state = ContentState::kRemote;
      break;
    case EntryType::kDir:
      out->type = NodeType::kDir;
      out->state = ContentState::kCached;
      break;
    case EntryType::kSymlink:
      out->type = NodeType::kSymlink;
      out->link_target = e->link_target;
      out->size = e->link_target.size();
      out->state = ContentState::kCached;
      break;
  }
  return true;
}

Status PlanMerge(const MergeInputs& in, const ContentComparer& compare, MergePlan* plan) {
  *plan = MergePlan{};
  const View base = MakeView(*in.base_tarball, *in.base_transcripts);
  const View remote = MakeView(*in.remote_tarball, *in.remote_transcripts);
  std::map<std::string, const SnapshotEntry*> local;
  for (const SnapshotEntry& e : *in.local) {
    // Directories only transcripts imply are neither side's change.
    if (e.node.type == NodeType::kDir && e.node.implicit) continue;
    local[e.path] = &e;
  }
  std::set<std::string> paths;  // every path any side has, sorted (parents first)
  for (const auto& [p, i] : base) paths.insert(p);
  for (const auto& [p, i] : remote) paths.insert(p);
  for (const auto& [p, e] : local) paths.insert(p);
  auto local_at = [&](const std::string& p) -> const SnapshotEntry* {
    auto it = local.find(p);
    return it == local.end() ? nullptr : it->second;
  };

  std::map<std::string, Decision> decision;
  for (const std::string& p : paths) {
    const Item* b = Get(base, p);
    const Item* r = Get(remote, p);
    const SnapshotEntry* l = local_at(p);
    bool theirs_changed = Differs(b, r);
    bool ours_changed = LocalDiffers(b, l, in.base_tarball->etag);
    Decision d = Decision::kNone;
    if (theirs_changed && !ours_changed) {
      d = r != nullptr ? Decision::kTake : (l != nullptr ? Decision::kDelete : Decision::kNone);
    } else if (!theirs_changed && ours_changed) {
      d = Decision::kKeepOurs;
    } else if (theirs_changed && ours_changed) {
      if (r == nullptr) {
        d = l != nullptr ? Decision::kKeepOurs : Decision::kNone;  // deleted on both: done
      } else if (l == nullptr) {
        d = Decision::kTake;  // deleted here, changed there: theirs
      } else if (l->node.type != r->type()) {
        d = Decision::kConflict;
      } else if (r->type() == NodeType::kDir) {
        d = Decision::kNone;  // both have the directory: their contents merge
      } else if (r->type() == NodeType::kSymlink) {
        d = l->node.link_target == r->entry->link_target ? Decision::kTakeSame
                                                         : Decision::kConflict;
      } else {
        NodeRecord theirs;
        RemoteRecord(*in.remote_tarball, *in.remote_transcripts, p, &theirs);
        ContentRelation rel = ContentRelation::kDifferent;
        CCFS_RETURN_IF_ERROR(compare(*l, theirs, &rel).Annotate("comparing " + p));
        if (rel == ContentRelation::kSame) {
          d = Decision::kTakeSame;
        } else if (rel == ContentRelation::kTheirsPrefixOfOurs && r->transcript) {
          d = Decision::kKeepOurs;  // a fast-forward: ours is theirs plus more lines
        } else {
          bool moved_only = false;
          if (in.theirs_same_as_base) {
            CCFS_RETURN_IF_ERROR(in.theirs_same_as_base(p, &moved_only).Annotate("comparing " + p));
          }
          d = moved_only ? Decision::kKeepOurs : Decision::kConflict;
        }
      }
    }
    decision[p] = d;
  }

  // A local directory that would go (deleted there, or replaced by their
  // non-directory) while something stays or arrives beneath it is kept: as
  // it is when deleted, moved aside as a conflict when replaced. Deepest
  // first, so a kept subdirectory keeps its parent too.
  auto stays = [&](const std::string& p) {
    Decision d = decision[p];
    if (d == Decision::kDelete) return false;
    if (d == Decision::kTake || d == Decision::kTakeSame || d == Decision::kConflict) return true;
    return local_at(p) != nullptr;
  };
  for (auto it = paths.rbegin(); it != paths.rend(); ++it) {
    const std::string& p = *it;
    const SnapshotEntry* l = local_at(p);
    Decision& d = decision[p];
    if (l == nullptr || l->node.type != NodeType::kDir) continue;
    const Item* r = Get(remote, p);
    bool goes = d == Decision::kDelete || (d == Decision::kTake && r->type() != NodeType::kDir);
    if (!goes) continue;
    bool kept = false;
    for (auto c = paths.upper_bound(p); c != paths.end() && IsUnder(*c, p); ++c) {
      if (stays(*c)) {
        kept = true;
        break;
      }
    }
    if (kept) d = d == Decision::kDelete ? Decision::kNone : Decision::kConflict;
  }
  // Whatever arrives from the store needs directories above it: a local
  // non-directory kept in the way moves aside as a conflict copy.
  for (const std::string& p : paths) {
    Decision d = decision[p];
    if (d != Decision::kTake && d != Decision::kConflict) continue;
    for (size_t slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1)) {
      std::string a = p.substr(0, slash);
      const SnapshotEntry* l = local_at(a);
      Decision& da = decision[a];
      if (l != nullptr && l->node.type != NodeType::kDir &&
          (da == Decision::kNone || da == Decision::kKeepOurs)) {
        da = Decision::kConflict;
      }
    }
  }

  // The plan.
  std::set<std::string> taken_names(paths.begin(), paths.end());
  for (const std::string& p : paths) {
    Decision d = decision[p];
    const SnapshotEntry* l = local_at(p);
    NodeRecord theirs;
    bool has_theirs = RemoteRecord(*in.remote_tarball, *in.remote_transcripts, p, &theirs);
    switch (d) {
      case Decision::kNone:
        break;
      case Decision::kKeepOurs:
        plan->applied.push_back(p);
        break;
      case Decision::kDelete:
        plan->deletes.push_back({p, l->node.ino, l->node.type == NodeType::kDir, l->node.data_gen});
        plan->taken.push_back(p);
        break;
      case Decision::kTake:
      case Decision::kTakeSame: {
        MergePlan::Take t{p, 0, 0, d == Decision::kTakeSame, theirs};
        if (l != nullptr && l->node.type == theirs.type) {
          t.ino = l->node.ino;
          t.seen_gen = l->node.data_gen;
        } else if (l != nullptr) {  // unchanged here, another type there: replace
          plan->deletes.push_back(
              {p, l->node.ino, l->node.type == NodeType::kDir, l->node.data_gen});
        }
        plan->takes.push_back(std::move(t));
        plan->taken.push_back(p);
        break;
      }
      case Decision::kConflict: {
        std::string to = ConflictCopyPath(p, in.host, in.time);
        for (int n = 2; taken_names.count(to); ++n) {
          to = ConflictCopyPath(p, in.host, in.time) + "-" + std::to_string(n);
        }
        taken_names.insert(to);
        plan->moves.push_back({p, to, l->node.ino});
        if (has_theirs) plan->takes.push_back({p, 0, 0, false, theirs});
        plan->conflicts.emplace_back(p, to);
        break;
      }
    }
  }
  std::sort(plan->deletes.begin(), plan->deletes.end(),
            [](const MergePlan::Delete& a, const MergePlan::Delete& b) { return a.path > b.path; });

  // Origins: unchanged tarball members move to the new version; local files
  // whose bytes only the old version held are fetched first.
  std::set<uint64_t> planned;
  for (const auto& t : plan->takes) planned.insert(t.ino);
  for (const auto& x : plan->deletes) planned.insert(x.ino);
  for (const auto& [p, l] : local) {
    const NodeInfo& n = l->node;
    if (planned.count(n.ino)) continue;
    bool valid = false;
    if (n.origin_kind == OriginKind::kTarball && n.origin_etag == in.base_tarball->etag) {
      const Item* b = Get(base, n.origin_path);
      const Item* r = Get(remote, n.origin_path);
      valid = b != nullptr && r != nullptr && !b->transcript && !r->transcript && !Differs(b, r);
      if (valid && n.origin_etag != in.remote_tarball->etag) plan->retarget.push_back(n.ino);
    } else if (n.origin_kind == OriginKind::kTranscript) {
      auto t = in.remote_transcripts->find(n.origin_path);
      valid = t != in.remote_transcripts->end() && t->second.etag == n.origin_etag;
    }
    if (!valid && n.type == NodeType::kFile && n.state == ContentState::kRemote) {
      plan->hydrate_first.push_back(n.ino);
    }
  }
  return Status::OK();
}

}  // namespace ccfs
