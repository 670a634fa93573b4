#include "store/workspace/late_v1.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>

#include "store/archive/tar_sanitize.h"
#include "store/base/unique_fd.h"
#include "store/layout/commit.h"
#include "store/layout/file_reader.h"
#include "store/layout/history.h"
#include "store/layout/tree_reader.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

using Tree = std::map<std::string, IndexEntry>;

constexpr int kMaxRounds = 5;

Status LoadTree(ObjectStore& store, const std::string& workspace, const WorkspaceRoot& root,
                Tree* out) {
  out->clear();
  for (const SegmentRef& ref : root.segments) {
    IndexSegment seg;
    CCFS_RETURN_IF_ERROR(LoadSegment(store, workspace, ref, &seg));
    for (IndexEntry& e : seg.entries) {
      std::string path = e.path;
      (*out)[path] = std::move(e);
    }
  }
  return Status::OK();
}

// The tree as the generation that adopted tarball version `etag` had it:
// what an old writer holding that version started from.
Status LoadAdoptionTree(ObjectStore& store, const std::string& workspace, const std::string& etag,
                        Tree* out) {
  out->clear();
  if (etag.empty()) return Status::OK();
  std::vector<WorkspaceRoot> history;
  CCFS_RETURN_IF_ERROR(ListHistory(store, workspace, &history));
  for (const WorkspaceRoot& r : history) {  // oldest first: the adopting one
    if (r.adopted_v1_etag == etag) return LoadTree(store, workspace, r, out);
  }
  return Status::OK();  // history gone (retention): every difference is theirs
}

// What a side can have changed about an entry; pack locations differ
// between two adoptions of the same bytes, so they are not compared.
bool SameMeta(const IndexEntry& a, const IndexEntry& b) {
  return a.type == b.type && a.size == b.size && a.mode == b.mode &&
         a.mtime_ns / 1000000000 == b.mtime_ns / 1000000000 && a.link_target == b.link_target;
}

// A name beside `path` for their version, free in both trees.
std::string ConflictName(const std::string& path, const std::string& etag, const Tree& ours,
                         const Tree& theirs) {
  std::string tag;
  for (char c : etag) {
    if (std::isalnum(static_cast<unsigned char>(c)) && tag.size() < 8) tag += c;
  }
  std::string name = path + ".conflict-v1-" + tag;
  for (int i = 2; ours.count(name) || theirs.count(name); ++i) {
    name = path + ".conflict-v1-" + tag + "-" + std::to_string(i);
  }
  return name;
}

// The first ancestor of `path` that `tree` holds as something other than a
// directory ("" if none): their entry cannot go under it.
std::string NonDirAncestor(const std::string& path, const Tree& tree) {
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    auto it = tree.find(path.substr(0, slash));
    if (it != tree.end() && it->second.type != EntryType::kDir) return it->first;
  }
  return "";
}

struct MergePlan {
  std::vector<IndexEntry> entries;
  // Their versions of paths both sides changed, to go in under a new name:
  // a pack member is read under its own path, so the bytes move too.
  std::vector<std::pair<IndexEntry, std::string>> copies;  // theirs, new path
  std::vector<std::string> taken;
  std::vector<std::pair<std::string, std::string>> conflicts;
  std::vector<std::string> skipped;
};

void PlanMerge(const Tree& base, const Tree& theirs, const Tree& ours, const std::string& etag,
               MergePlan* plan) {
  for (const auto& [path, t] : theirs) {
    auto o = ours.find(path);
    auto b = base.find(path);
    if (o != ours.end() && SameMeta(o->second, t)) continue;  // already as theirs
    if (b != base.end() && SameMeta(b->second, t)) continue;  // they did not change it
    if (std::string blocker = NonDirAncestor(path, ours); !blocker.empty()) {
      plan->skipped.push_back(path + ": " + blocker + " is not a directory here");
      continue;
    }
    const bool ours_changed =
        o != ours.end() && (b == base.end() || !SameMeta(o->second, b->second));
    if (!ours_changed) {
      plan->entries.push_back(t);
      plan->taken.push_back(path);
      continue;
    }
    if (t.type == EntryType::kDir) continue;  // ours is there; their files come on their own
    const std::string copy_path = ConflictName(path, etag, ours, theirs);
    if (!IsCanonicalMemberPath(copy_path)) {
      plan->skipped.push_back(path + ": no room for a conflict copy beside it");
      continue;
    }
    plan->conflicts.emplace_back(path, copy_path);
    if (t.type == EntryType::kFile && t.size > 0) {
      plan->copies.emplace_back(t, copy_path);
    } else {
      IndexEntry copy = t;
      copy.path = copy_path;
      plan->entries.push_back(std::move(copy));
    }
  }
}

// Reads the bytes of their versions in `entries` into files under
// `scratch_dir`, opened for the commit's pack under their new paths.
Status FetchCopies(ObjectStore& store, const std::string& workspace,
                   const std::vector<std::pair<IndexEntry, std::string>>& entries,
                   const std::string& scratch_dir, std::vector<UniqueFd>* fds,
                   std::vector<PackFile>* files) {
  TreeFileReader reader(store, workspace);
  for (size_t i = 0; i < entries.size(); ++i) {
    const IndexEntry& e = entries[i].first;
    const std::string path =
        scratch_dir + "/late-v1-copy." + std::to_string(::getpid()) + "." + std::to_string(i);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return Status::FromErrno("creating " + path, errno);
    ::unlink(path.c_str());  // the descriptor is all the commit needs
    const int out = fd.get();
    CCFS_RETURN_IF_ERROR(reader.Read(e, 0, e.size, [&](const char* data, size_t len) {
      while (len > 0) {
        ssize_t n = ::write(out, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Status::FromErrno("writing " + path, errno);
        data += n;
        len -= static_cast<size_t>(n);
      }
      return Status::OK();
    }));
    if (::lseek(out, 0, SEEK_SET) != 0) return Status::FromErrno("seek " + path, errno);
    IndexEntry meta = e;
    meta.path = entries[i].second;
    meta.pack.clear();
    meta.pack_data_offset = 0;
    meta.chunks.clear();
    files->push_back(PackFile{std::move(meta), out});
    fds->push_back(std::move(fd));
  }
  return Status::OK();
}

}  // namespace

Status MergeLateV1Tarball(ObjectStore& store, const std::string& workspace,
                          const RootWriter& writer, const std::string& scratch_dir,
                          CurrentRoot* current, LateV1Report* report) {
  *report = LateV1Report{};
  std::string scratch = scratch_dir;
  if (scratch.empty()) {
    const char* t = std::getenv("TMPDIR");
    scratch = t != nullptr && *t != '\0' ? t : "/tmp";
  }
  ObjectInfo tarball;
  Status head = store.Head(TarballKey(workspace), &tarball);
  if (head.IsNotFound()) return Status::OK();
  CCFS_RETURN_IF_ERROR(head.Annotate("looking for a v1 tarball"));
  if (tarball.etag == current->root.adopted_v1_etag) return Status::OK();
  report->found = true;
  report->tarball_etag = tarball.etag;

  // Their tree: the tarball adopted as a pack of its own.
  std::vector<SegmentChange> adopted;
  CCFS_RETURN_IF_ERROR(AdoptTarball(store, workspace, tarball, scratch, &adopted, &report->adopted)
                           .Annotate("reading the v1 tarball written after the move to layout v2"));
  for (const std::string& why : report->adopted.skipped) report->skipped.push_back(why);
  Tree theirs;
  for (SegmentChange& c : adopted) {
    if (c.entry.has_value()) theirs[c.path] = std::move(*c.entry);
  }

  for (int round = 0;; ++round) {
    Tree base, ours;
    CCFS_RETURN_IF_ERROR(LoadAdoptionTree(store, workspace, current->root.adopted_v1_etag, &base));
    CCFS_RETURN_IF_ERROR(LoadTree(store, workspace, current->root, &ours));
    MergePlan plan;
    PlanMerge(base, theirs, ours, tarball.etag, &plan);

    // Even with nothing to take, the root records this version as merged,
    // so the next mount does not look at it again.
    CommitInput input;
    std::vector<UniqueFd> copy_fds;  // open until the commit has packed them
    CCFS_RETURN_IF_ERROR(
        FetchCopies(store, workspace, plan.copies, scratch, &copy_fds, &input.files)
            .Annotate("reading the late v1 tarball's versions of paths changed on both sides"));
    input.entries = std::move(plan.entries);
    input.writer = writer;
    input.scratch_dir = scratch;
    input.adopted_v1_etag = tarball.etag;
    CommitReport cr;
    Status s = CommitOnce(store, workspace, current, input, &cr);
    if (s.ok()) {
      *current = CurrentRoot{cr.root, cr.etag};
      report->merged = true;
      report->generation = cr.root.generation;
      report->taken = std::move(plan.taken);
      report->conflicts = std::move(plan.conflicts);
      for (std::string& why : plan.skipped) report->skipped.push_back(std::move(why));
      return Status::OK();
    }
    if (!s.IsPreconditionFailed() || round + 1 == kMaxRounds) {
      return s.Annotate("committing the late v1 tarball's changes");
    }
    // Another writer committed first: merge onto its root.
    CCFS_RETURN_IF_ERROR(ReadRoot(store, workspace, current));
    if (current->root.adopted_v1_etag == tarball.etag) {  // it took them in
      report->merged = true;
      report->generation = current->root.generation;
      return Status::OK();
    }
  }
}

namespace {

// Whether `tree` holds `path` beginning with the adopted chunk `chunk`.
bool BeginsWith(const Tree& tree, const std::string& path, const std::string& chunk) {
  auto it = tree.find(path);
  return it != tree.end() && !it->second.chunks.empty() && it->second.chunks.front().name == chunk;
}

}  // namespace

Status MergeLateV1Transcripts(ObjectStore& store, const std::string& workspace,
                              const RootWriter& writer, const std::string& scratch_dir,
                              CurrentRoot* current, LateTranscriptsReport* report) {
  *report = LateTranscriptsReport{};
  for (int round = 0;; ++round) {
    Tree base, ours;
    CCFS_RETURN_IF_ERROR(LoadAdoptionTree(store, workspace, current->root.adopted_v1_etag, &base));
    CCFS_RETURN_IF_ERROR(LoadTree(store, workspace, current->root, &ours));
    // Copy (inside the store) only the versions no tree here adopted.
    std::map<std::string, std::string> etags;  // path -> ETag of their version
    auto not_adopted = [&](const ObjectInfo& o) {
      const std::string rel = o.key.substr(workspace.size() + 1);
      const std::string chunk = AdoptedObjectName(o.key, o.etag);
      if (o.size > 0 && (BeginsWith(ours, rel, chunk) || BeginsWith(base, rel, chunk))) {
        return false;
      }
      if (o.size == 0 && (ours.count(rel) || base.count(rel))) return false;
      etags[rel] = o.etag;
      return true;
    };
    std::vector<IndexEntry> adopted;
    AdoptReport counts;
    CCFS_RETURN_IF_ERROR(AdoptTranscripts(store, workspace, not_adopted, &adopted, &counts)
                             .Annotate("reading the v1 transcripts an older ccfs wrote"));
    report->bytes_copied += counts.bytes_copied;
    if (adopted.empty()) return Status::OK();

    CommitInput input;
    LateTranscriptsReport plan;
    for (IndexEntry& t : adopted) {
      const std::string path = t.path;
      auto o = ours.find(path);
      auto b = base.find(path);
      if (std::string blocker = NonDirAncestor(path, ours); !blocker.empty()) {
        plan.skipped.push_back(path + ": " + blocker + " is not a directory here");
        continue;
      }
      const bool ours_changed =
          o != ours.end() && (b == base.end() ? true : !SameMeta(o->second, b->second));
      if (!ours_changed) {
        plan.taken.push_back(path);
        input.entries.push_back(std::move(t));
        continue;
      }
      // Both sides wrote this transcript: ours stays, theirs goes beside it.
      // The chunks are immutable objects, so the copy is an entry, not bytes.
      const Tree none;
      t.path = ConflictName(path, etags[path], ours, none);
      if (!IsCanonicalMemberPath(t.path)) {
        plan.skipped.push_back(path + ": no room for a conflict copy beside it");
        continue;
      }
      plan.conflicts.emplace_back(path, t.path);
      input.entries.push_back(std::move(t));
    }
    if (input.entries.empty()) {
      report->skipped = std::move(plan.skipped);
      return Status::OK();
    }
    input.writer = writer;
    input.scratch_dir = scratch_dir.empty() ? "/tmp" : scratch_dir;
    CommitReport cr;
    Status s = CommitOnce(store, workspace, current, input, &cr);
    if (s.ok()) {
      *current = CurrentRoot{cr.root, cr.etag};
      report->generation = cr.root.generation;
      report->taken = std::move(plan.taken);
      report->conflicts = std::move(plan.conflicts);
      report->skipped = std::move(plan.skipped);
      return Status::OK();
    }
    if (!s.IsPreconditionFailed() || round + 1 == kMaxRounds) {
      return s.Annotate("committing the v1 transcripts an older ccfs wrote");
    }
    // Another writer committed first: merge onto its root (what it took in
    // is then adopted, and not taken twice).
    CCFS_RETURN_IF_ERROR(ReadRoot(store, workspace, current));
  }
}

}  // namespace ccfs
