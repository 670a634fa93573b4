#include "fs/flush/tarball_repack.h"

#include "fs/tree/settled_copy.h"
#include "store/archive/tar_sanitize.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

int64_t Seconds(int64_t ns) {
  return ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
}

}  // namespace

bool OnTarballSide(const SnapshotEntry& e) {
  switch (e.node.type) {
    case NodeType::kFile:
      return !IsTranscriptPath(e.path);
    case NodeType::kDir:
      return !e.node.implicit;
    case NodeType::kSymlink:
      return true;
    case NodeType::kFifo:
    case NodeType::kSocket:
      return false;  // never stored (Snapshot leaves them out)
  }
  return true;
}

bool SameAsBase(const std::vector<const SnapshotEntry*>& side, const TarballVersion& base) {
  if (base.etag.empty()) return false;
  size_t base_count = 0;
  for (const TarEntry& e : base.index.entries) {
    // A foreign tarball may hold transcripts; they are not tarball-side here.
    if (!(e.type == EntryType::kFile && IsTranscriptPath(e.path))) ++base_count;
  }
  if (side.size() != base_count) return false;
  for (const SnapshotEntry* s : side) {
    const TarEntry* e = base.Find(s->path);
    if (e == nullptr || SanitizeMode(s->node.mode) != e->mode) return false;
    const NodeInfo& n = s->node;
    switch (n.type) {
      case NodeType::kDir:
        if (e->type != EntryType::kDir) return false;
        break;  // directory mtimes alone are not worth a new tarball
      case NodeType::kSymlink:
        if (e->type != EntryType::kSymlink || e->link_target != n.link_target) return false;
        break;
      case NodeType::kFifo:
      case NodeType::kSocket:
        return false;  // never on the tarball side (OnTarballSide)
      case NodeType::kFile:
        if (e->type != EntryType::kFile || e->size != n.size || Seconds(n.mtime_ns) != e->mtime ||
            n.state == ContentState::kDirty || n.origin_kind != OriginKind::kTarball ||
            n.origin_path != s->path || n.origin_etag != base.etag) {
          return false;
        }
        break;
    }
  }
  return true;
}

Status AddToTarball(SeekableTarWriter& writer, const SnapshotEntry& s, InodeTable& table,
                    ContentCache& content, std::vector<std::string>* skipped) {
  TarEntry e;
  e.path = s.path;
  e.mode = SanitizeMode(s.node.mode);
  e.mtime = Seconds(s.node.mtime_ns);
  switch (s.node.type) {
    case NodeType::kDir:
      return writer.AddDirectory(e);
    case NodeType::kSymlink: {
      std::string why;
      if (!SymlinkTargetStaysInside(e.path, s.node.link_target, &why)) {
        skipped->push_back(e.path + " (symlink: " + why + ")");
        return Status::OK();
      }
      e.type = EntryType::kSymlink;
      e.link_target = s.node.link_target;
      return writer.AddSymlink(e);
    }
    case NodeType::kFifo:
    case NodeType::kSocket:
      return Status::OK();  // never stored (Snapshot leaves them out)
    case NodeType::kFile: {
      // The file may be written while the flush runs: pack a copy no write
      // tore, never the live bytes.
      SettledCopy copy;
      CCFS_RETURN_IF_ERROR(CopySettled(table, content, s.node.ino, &copy).Annotate(s.path));
      if (copy.gone) {
        // Deleted since the flush's snapshot: not part of the tree any more
        // (the deletion is a change of its own: the next flush sees it).
        skipped->push_back(e.path + " (removed while the flush ran)");
        return Status::OK();
      }
      // The copy may be newer than the snapshot (its node then stays dirty
      // for the next flush); its mtime goes with its bytes.
      e.mtime = Seconds(copy.node.mtime_ns);
      if (!copy.temp_path.empty()) return writer.AddFile(e, copy.temp_path).Annotate(s.path);
      return writer.AddFileFromBytes(e, copy.bytes).Annotate(s.path);
    }
  }
  return Status::OK();
}

}  // namespace ccfs
