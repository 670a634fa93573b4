#include "fs/hydrate/hydrator.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <vector>

#include "fs/hydrate/block_stream.h"
#include "fs/hydrate/remote_tree_v2.h"
#include "store/base/parallel.h"
#include "store/layout/root_store.h"
#include "store/layout/tree_reader.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

// Compressed bytes asked per ranged GET: one for a typical member, a few
// large ones for the background stream.
constexpr uint64_t kMaxRequestBytes = 8ull << 20;

Result<UniqueFd> CreateTemp(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("create " + path, errno);
  return UniqueFd(fd);
}

}  // namespace

void Hydrator::IncludeMember(std::vector<MemberRef>* members, MemberRef self) {
  for (const MemberRef& m : *members) {
    if (m.ino == self.ino) return;
  }
  members->push_back(self);
  std::sort(members->begin(), members->end(),
            [](const MemberRef& a, const MemberRef& b) { return a.entry < b.entry; });
}

Hydrator::Hydrator(ObjectStore* store, std::string workspace, InodeTable* table,
                   ContentCache* content, BaseVersion* base, BlockCache* blocks)
    : store_(store),
      workspace_(std::move(workspace)),
      table_(table),
      content_(content),
      base_(base),
      blocks_(blocks),
      v2_reader_(*store, workspace_) {}

Hydrator::~Hydrator() { StopBackground(); }

bool Hydrator::TryClaim(uint64_t ino, bool wait) {
  std::unique_lock<std::mutex> lock(mu_);
  while (claimed_.count(ino) != 0) {
    if (!wait) return false;
    cv_.wait(lock);
  }
  claimed_[ino] = true;
  return true;
}

void Hydrator::Release(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  claimed_.erase(ino);
  cv_.notify_all();
}

void Hydrator::NoteError(const std::string& what, const Status& s) {
  ++stats_.failures;
  std::string msg = what + ": " + s.ToString();
  if (s.IsPreconditionFailed()) {
    msg +=
        " (the workspace was replaced in the store after this mount started; files not "
        "hydrated before that cannot be read; unmount and mount again)";
  }
  spdlog::error("hydrate {}", msg);
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = msg;
}

std::string Hydrator::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

int Hydrator::EnsureLocal(uint64_t ino) {
  // Whole: not remote, and no hole below a tail-only watermark.
  auto whole = [](const NodeInfo& n) {
    return n.type != NodeType::kFile || (n.state != ContentState::kRemote && n.local_from == 0);
  };
  for (int attempt = 0; attempt < 4; ++attempt) {
    NodeInfo n;
    if (table_->Get(ino, &n) != 0) return ENOENT;
    if (whole(n)) return 0;
    TryClaim(ino, /*wait=*/true);
    if (table_->Get(ino, &n) != 0) {
      Release(ino);
      return ENOENT;
    }
    if (whole(n)) {
      Release(ino);
      return 0;
    }
    const bool remote = n.state == ContentState::kRemote;
    int err = remote ? Fetch(n) : Complete(n);
    Release(ino);
    if (err == EAGAIN) continue;  // the node changed under the fetch: look again
    if (err != 0) return err;
    if (remote) ++stats_.on_demand_files;
  }
  return EIO;  // the origin kept changing under us (flushes in a loop)
}

namespace {

// Tail-only content starts at a page boundary: the kernel's writeback cache
// reads the page holding the old end of file before an append into it.
constexpr uint64_t kTailPage = 4096;
// A tail fetch is for the last pages only (an append; the kernel's read of
// the page, or of a large folio, it appends into); a read further from the
// end fetches the file whole as before.
constexpr uint64_t kMaxTailBytes = 1ull << 20;

}  // namespace

int Hydrator::EnsureFrom(uint64_t ino, uint64_t from) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    NodeInfo n;
    if (table_->Get(ino, &n) != 0) return ENOENT;
    if (n.type != NodeType::kFile) return 0;
    if (n.state != ContentState::kRemote) {
      // Local from the watermark on: enough for anything at or past it.
      if (n.local_from == 0 || from >= n.local_from) return 0;
      return EnsureLocal(ino);
    }
    const uint64_t start = std::min(from, n.size) / kTailPage * kTailPage;
    if (start == 0 || n.size - start > kMaxTailBytes || n.origin_kind != OriginKind::kTranscript ||
        base_->tarball()->v2 == nullptr) {
      return EnsureLocal(ino);
    }
    TryClaim(ino, /*wait=*/true);
    if (table_->Get(ino, &n) != 0) {
      Release(ino);
      return ENOENT;
    }
    if (n.state != ContentState::kRemote || n.size / kTailPage * kTailPage < start) {
      Release(ino);
      continue;  // fetched or changed meanwhile: decide again
    }
    int err = FetchTail(n, start);
    Release(ino);
    if (err == EAGAIN) continue;
    return err;
  }
  return EIO;
}

Status Hydrator::CurrentV2Entry(const NodeInfo& n, IndexEntry* out) {
  auto version = base_->tarball();  // keeps the tree alive while reading
  if (version->v2 == nullptr) return Status::PreconditionFailed("the base is no longer layout v2");
  auto it = version->v2->entries.find(n.origin_path);
  if (it == version->v2->entries.end() || n.origin_kind != OriginKind::kTranscript ||
      n.origin_etag != V2FileTag(it->second)) {
    return Status::PreconditionFailed("file of version " + n.origin_etag + ", base is now " +
                                      version->etag);
  }
  *out = it->second;
  return Status::OK();
}

int Hydrator::FetchTail(const NodeInfo& n, uint64_t from) {
  IndexEntry e;
  Status s = CurrentV2Entry(n, &e);
  if (s.ok() && (!e.pack.empty() || e.type != EntryType::kFile || e.size != n.size)) {
    return Fetch(n);  // not a file of chunks (a pack member): fetched whole
  }
  ContentCache::DataTicket ticket;
  if (s.ok() && content_->AdmitData(n.size - from, &ticket) != 0) {
    s = Status::IOError("the cache filesystem is full (" + n.origin_path + " needs " +
                        std::to_string(n.size - from) + " bytes beyond the " +
                        std::to_string(content_->reserve_bytes()) + " kept free for metadata)")
            .WithErrno(ENOSPC);
  }
  const std::string tmp = content_->TempPath("tail-" + std::to_string(n.ino));
  if (s.ok()) {
    s = [&]() -> Status {
      auto fd = CreateTemp(tmp);
      CCFS_RETURN_IF_ERROR(fd.status());
      // The full size, with [0, from) left a hole: never read as content
      // (the watermark below says so) until Complete fills it.
      if (::ftruncate(fd->get(), static_cast<off_t>(n.size)) != 0 ||
          ::lseek(fd->get(), static_cast<off_t>(from), SEEK_SET) < 0) {
        return Status::FromErrno("size " + tmp, errno);
      }
      uint64_t got = 0;
      const int raw_fd = fd->get();
      auto restart = [&]() -> Status {
        got = 0;
        if (::lseek(raw_fd, static_cast<off_t>(from), SEEK_SET) < 0) {
          return Status::FromErrno("seek " + tmp, errno);
        }
        return Status::OK();
      };
      CCFS_RETURN_IF_ERROR(
          ReadV2Bytes(n, e, from, n.size - from, restart, [&](const char* data, size_t len) {
            got += len;
            return WriteAll(raw_fd, data, len, tmp);
          }));
      if (::close(fd->release()) != 0) return Status::FromErrno("close " + tmp, errno);
      if (got != n.size - from) {
        return Status::Corruption("read " + std::to_string(got) + " bytes of the tail of " +
                                  n.origin_path + ", wanted " + std::to_string(n.size - from));
      }
      return Status::OK();
    }();
  }
  if (s.ok()) s = content_->Install(n.ino, tmp);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    NoteError(n.origin_path, s);
    return ErrnoOr(s, EIO);
  }
  // The content file is in place before meta.db says so: a crash between
  // leaves the file remote, its content file replaced at the next fetch.
  int err = table_->NoteTailFetched(n.ino, n.origin_kind, n.origin_path, n.origin_etag, from);
  if (err == 0) ++stats_.tail_files;
  return err;
}

int Hydrator::Complete(const NodeInfo& n) {
  const uint64_t upto = n.local_from;
  IndexEntry e;
  Status s = CurrentV2Entry(n, &e);
  if (s.ok() && (e.type != EntryType::kFile || e.size < upto || n.size < upto)) {
    s = Status::Corruption("the origin of " + n.origin_path + " is " + std::to_string(e.size) +
                           " bytes, the file " + std::to_string(n.size) +
                           ", and its local bytes start at " + std::to_string(upto));
  }
  ContentCache::DataTicket ticket;
  if (s.ok() && content_->AdmitData(upto, &ticket) != 0) {
    s = Status::IOError("the cache filesystem is full (" + n.origin_path + " needs " +
                        std::to_string(upto) + " bytes beyond the " +
                        std::to_string(content_->reserve_bytes()) + " kept free for metadata)")
            .WithErrno(ENOSPC);
  }
  if (s.ok()) {
    // In place: writes only ever land at or past the watermark until it is
    // gone (anything below waits for this claim), so filling the hole races
    // nothing, and the descriptors writers hold stay the file's. A crash
    // half way leaves the watermark recorded, and the fill is redone.
    s = [&]() -> Status {
      auto fd = content_->Open(n.ino);
      CCFS_RETURN_IF_ERROR(fd.status());
      const int raw_fd = (*fd)->get();
      uint64_t at = 0;
      auto restart = [&]() -> Status {
        at = 0;  // pwrite by offset: the second read simply writes over the first
        return Status::OK();
      };
      CCFS_RETURN_IF_ERROR(ReadV2Bytes(n, e, 0, upto, restart, [&](const char* data, size_t len) {
        if (at + len > upto) return Status::Corruption("more bytes than asked for");
        size_t done = 0;
        while (done < len) {
          ssize_t w = ::pwrite(raw_fd, data + done, len - done, static_cast<off_t>(at + done));
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) return Status::FromErrno("fill " + content_->Path(n.ino), errno);
          done += static_cast<size_t>(w);
        }
        at += len;
        return Status::OK();
      }));
      if (at != upto) {
        return Status::Corruption("read " + std::to_string(at) + " bytes of " + n.origin_path +
                                  " to complete it, wanted " + std::to_string(upto));
      }
      // Durable before the watermark goes: meta.db must never call zeros
      // content after a power loss.
      if (::fdatasync(raw_fd) != 0)
        return Status::FromErrno("sync " + content_->Path(n.ino), errno);
      return Status::OK();
    }();
  }
  if (!s.ok()) {
    if (s.IsNotFound() && n.state == ContentState::kCached) {
      table_->NoteContentLost(n.ino);  // fetched again, whole, by the caller's next look
      return EAGAIN;
    }
    NoteError("completing " + n.origin_path, s);
    return ErrnoOr(s, EIO);
  }
  int err = table_->NoteCompleted(n.ino, upto);
  if (err == 0) ++stats_.completed_files;
  return err;
}

int Hydrator::DiscardRemote(uint64_t ino) {
  TryClaim(ino, /*wait=*/true);
  NodeInfo n;
  int err = table_->Get(ino, &n);
  if (err == 0 && n.type == NodeType::kFile && n.state == ContentState::kRemote) {
    Status s = content_->CreateEmpty(ino);
    if (!s.ok()) {
      spdlog::error("truncate inode {}: {}", ino, s.ToString());
      err = ErrnoOr(s, EIO);
    } else {
      err = table_->DropRemoteContent(ino);
    }
  } else if (err == 0 && n.type == NodeType::kFile && n.local_from != 0) {
    // A tail-only file is completed, not dropped: the truncate that follows
    // then works on a whole file, and no step of it can leave meta.db and
    // the content file disagreeing about where the holes are. (Rare: an
    // O_TRUNC open of a transcript appended to but never read.)
    err = Complete(n);
  }
  Release(ino);
  return err;
}

int Hydrator::Fetch(const NodeInfo& n) {
  std::string tmp = content_->TempPath("hydrate-" + std::to_string(n.ino));
  Status s;
  ContentCache::DataTicket ticket;
  if (n.size == 0) {
    s = content_->CreateEmpty(n.ino);
    if (!s.ok()) {
      NoteError(n.origin_path, s);
      return ErrnoOr(s, EIO);
    }
    table_->NoteHydrated(n.ino, n.origin_kind, n.origin_path);
    return 0;
  }
  const bool v2 = base_->tarball()->v2 != nullptr;
  if (v2 && n.origin_kind != OriginKind::kNone) {
    if (content_->AdmitData(n.size, &ticket) != 0) {
      s = Status::IOError("the cache filesystem is full (" + n.origin_path + " needs " +
                          std::to_string(n.size) + " bytes beyond the " +
                          std::to_string(content_->reserve_bytes()) + " kept free for metadata)")
              .WithErrno(ENOSPC);
    } else {
      bool installed = false;
      s = FetchV2(n, tmp, &installed);
      if (installed) {  // a pack member: FillMembers installed it
        if (!s.ok()) NoteError(n.origin_path, s);
        return s.ok() ? 0 : ErrnoOr(s, EIO);
      }
    }
  } else {
    switch (n.origin_kind) {
      case OriginKind::kTarball:
        // Installs the content itself (with its block neighbours).
        s = FetchTarballMember(n);
        if (!s.ok()) NoteError(n.origin_path, s);
        return s.ok() ? 0 : ErrnoOr(s, EIO);
      case OriginKind::kTranscript:
        if (content_->AdmitData(n.size, &ticket) != 0) {
          s = Status::IOError("the cache filesystem is full (" + n.origin_path + " needs " +
                              std::to_string(n.size) + " bytes beyond the " +
                              std::to_string(content_->reserve_bytes()) +
                              " kept free for metadata)")
                  .WithErrno(ENOSPC);
          break;
        }
        s = FetchTranscript(n, tmp);
        break;
      case OriginKind::kNone:
        s = Status::Corruption("remote file without an origin");
        break;
    }
  }
  if (s.ok()) s = content_->Install(n.ino, tmp);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    NoteError(n.origin_path, s);
    return ErrnoOr(s, EIO);
  }
  table_->NoteHydrated(n.ino, n.origin_kind, n.origin_path);
  return 0;
}

Status Hydrator::FetchV2(const NodeInfo& n, const std::string& tmp, bool* installed) {
  *installed = false;
  auto version = base_->tarball();  // keeps the tree alive while reading
  if (version->v2 == nullptr) return Status::PreconditionFailed("the base is no longer layout v2");
  auto it = version->v2->entries.find(n.origin_path);
  bool current = it != version->v2->entries.end();
  if (current && n.origin_kind == OriginKind::kTarball) {
    current = n.origin_etag == version->etag;
  } else if (current) {
    current = n.origin_etag == V2FileTag(it->second);
  }
  if (!current) {
    return Status::PreconditionFailed("file of version " + n.origin_etag + ", base is now " +
                                      version->etag);
  }
  IndexEntry e = it->second;
  if (e.type != EntryType::kFile || e.size != n.size) {
    return Status::Corruption("not a file of " + std::to_string(n.size) + " bytes in the index");
  }
  if (!e.pack.empty()) {
    // Installs it (and its neighbours), unless gc moved it out of a pack.
    IndexEntry moved;
    Status s = FetchV2PackMemberOrMoved(n, e, &moved, installed);
    if (*installed || !s.ok()) return s;
    e = std::move(moved);
  }
  auto fd = CreateTemp(tmp);
  CCFS_RETURN_IF_ERROR(fd.status());
  uint64_t got = 0;
  const int raw_fd = fd->get();
  auto restart = [&]() -> Status {
    got = 0;
    if (::ftruncate(raw_fd, 0) != 0 || ::lseek(raw_fd, 0, SEEK_SET) < 0) {
      return Status::FromErrno("reset " + tmp, errno);
    }
    return Status::OK();
  };
  CCFS_RETURN_IF_ERROR(ReadV2Bytes(n, e, 0, e.size, restart, [&](const char* data, size_t len) {
    got += len;
    return WriteAll(raw_fd, data, len, tmp);
  }));
  if (::close(fd->release()) != 0) return Status::FromErrno("close " + tmp, errno);
  if (got != n.size) {
    return Status::Corruption("read " + std::to_string(got) + " bytes of " + n.origin_path +
                              ", the index says " + std::to_string(n.size));
  }
  return Status::OK();
}

Status Hydrator::MovedV2Entry(const NodeInfo& n, const IndexEntry& gone, const Status& why,
                              IndexEntry* out) {
  const std::string stale =
      n.origin_path + " is no longer in the store as this mount's base named it (" +
      why.ToString() + ": garbage-collected, the base being older than what the store keeps)";
  CurrentRoot now;
  CCFS_RETURN_IF_ERROR(
      ReadRoot(*store_, workspace_, &now).Annotate(stale + "; re-reading the root"));
  IndexEntry e;
  Status s = LookupEntry(*store_, workspace_, now.root, n.origin_path, &e);
  if (s.IsNotFound()) {
    return Status::NotFound(stale + ", and generation " + std::to_string(now.root.generation) +
                            " no longer has it: remount to see the current tree");
  }
  CCFS_RETURN_IF_ERROR(s.Annotate(stale + "; reading the current index"));
  if (e.type != EntryType::kFile || e.size != gone.size || e.mtime_ns != gone.mtime_ns) {
    return Status::NotFound(stale + ", and generation " + std::to_string(now.root.generation) +
                            " has another version of it: remount to see the current tree");
  }
  if (EntryBytesTag(e) == EntryBytesTag(gone)) {
    return Status::Corruption(stale + ", yet the current root still names those objects");
  }
  // A warning: the mount is on a root the store no longer keeps, so files
  // changed since then will fail to read until a remount.
  spdlog::warn("{}: its bytes moved (compaction, then gc); read from generation {}", n.origin_path,
               now.root.generation);
  ++stats_.moved_files;
  *out = std::move(e);
  return Status::OK();
}

Status Hydrator::ReadV2Bytes(const NodeInfo& n, const IndexEntry& e, uint64_t from, uint64_t length,
                             const std::function<Status()>& restart, const ByteSink& sink) {
  bool sink_failed = false;
  Status s = v2_reader_.Read(e, from, length, [&](const char* data, size_t len) {
    Status w = sink(data, len);
    sink_failed = !w.ok();
    return w;
  });
  if (!s.IsNotFound() || sink_failed) return s;
  IndexEntry moved;
  CCFS_RETURN_IF_ERROR(MovedV2Entry(n, e, s, &moved));
  CCFS_RETURN_IF_ERROR(restart());
  return v2_reader_.Read(moved, from, length, sink);
}

Status Hydrator::FetchV2PackMemberOrMoved(const NodeInfo& n, const IndexEntry& e, IndexEntry* moved,
                                          bool* installed) {
  *installed = true;
  Status s = FetchV2PackMember(n, e);
  if (!s.IsNotFound()) return s;
  CCFS_RETURN_IF_ERROR(MovedV2Entry(n, e, s, moved));
  if (moved->pack.empty()) {
    *installed = false;  // now chunks (or empty): the caller reads them
    return Status::OK();
  }
  return FetchV2PackMember(n, *moved);
}

Status Hydrator::PackVersion(const std::string& pack, std::shared_ptr<const TarballVersion>* out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = packs_.find(pack); it != packs_.end()) {
      *out = it->second;
      return Status::OK();
    }
  }
  std::shared_ptr<const TarballVersion> loaded;
  CCFS_RETURN_IF_ERROR(LoadPackVersion(*store_, workspace_, pack, &loaded));
  std::lock_guard<std::mutex> lock(mu_);
  *out = packs_.emplace(pack, std::move(loaded)).first->second;
  return Status::OK();
}

std::vector<Hydrator::MemberRef> Hydrator::PackMembersInBlocks(const TarballVersion& base,
                                                               const std::string& pack,
                                                               const TarballVersion& pv,
                                                               size_t first, size_t last) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pack_members_tag_ != base.etag) {
      pack_members_.clear();
      table_->ForEachRemote([&](const NodeInfo& n) {
        auto it = base.v2->entries.find(n.origin_path);
        if (n.origin_kind == OriginKind::kTranscript && it != base.v2->entries.end() &&
            !it->second.pack.empty() && n.origin_etag == V2FileTag(it->second)) {
          pack_members_[it->second.pack + "/" + n.origin_path] = n.ino;
        }
      });
      pack_members_tag_ = base.etag;
    }
  }
  const auto& blocks = pv.index.blocks;
  const auto& entries = pv.index.entries;
  const uint64_t lo = blocks[first].raw_offset;
  const uint64_t hi = blocks[last].raw_offset + blocks[last].raw_size;
  auto it = std::partition_point(entries.begin(), entries.end(),
                                 [&](const TarEntry& e) { return e.data_offset < lo; });
  std::vector<MemberRef> out;
  for (; it != entries.end() && it->data_offset < hi; ++it) {
    if (it->type != EntryType::kFile || it->size == 0 || it->data_offset + it->size > hi) continue;
    uint64_t ino = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto m = pack_members_.find(pack + "/" + it->path);
      if (m == pack_members_.end()) continue;
      ino = m->second;
    }
    NodeInfo n;
    if (table_->Get(ino, &n) != 0 || n.state != ContentState::kRemote ||
        n.origin_path != it->path) {
      continue;
    }
    out.push_back(MemberRef{static_cast<size_t>(it - entries.begin()), ino});
  }
  return out;
}

Status Hydrator::FetchV2PackMember(const NodeInfo& n, const IndexEntry& e) {
  auto base = base_->tarball();
  std::shared_ptr<const TarballVersion> pv;
  CCFS_RETURN_IF_ERROR(PackVersion(e.pack, &pv));
  const TarEntry* member = pv->Find(e.path);
  if (member == nullptr || member->type != EntryType::kFile ||
      member->data_offset != e.pack_data_offset || member->size != e.size) {
    return Status::Corruption("pack " + e.pack + " has no member " + e.path + " of " +
                              std::to_string(e.size) + " bytes where the index says");
  }
  size_t first = 0, last = 0;
  if (!BlocksOfMember(*pv, *member, &first, &last)) {
    return Status::Corruption("pack index does not cover the member's data");
  }
  // The neighbours in the same blocks come along: their bytes are paid for.
  std::vector<MemberRef> members = base->v2 != nullptr
                                       ? PackMembersInBlocks(*base, e.pack, *pv, first, last)
                                       : std::vector<MemberRef>{};
  IncludeMember(&members, MemberRef{static_cast<size_t>(member - pv->index.entries.data()), n.ino});
  CCFS_RETURN_IF_ERROR(FillMembers(*pv, PackKey(workspace_, e.pack), first, last, members, n.ino,
                                   &stats_.streamed_files, nullptr));
  NodeInfo now;
  if (table_->Get(n.ino, &now) == 0 && now.state == ContentState::kRemote) {
    return Status::Corruption("member data incomplete in its blocks");
  }
  return Status::OK();
}

Status Hydrator::StreamV2(const TarballVersion& base) {
  // Pack members pack by pack in archive order (each block fetched once,
  // filling every file it holds); the rest (transcript chunks) a few at a time.
  std::map<std::string, std::vector<std::pair<std::string, uint64_t>>> by_pack;
  std::vector<uint64_t> others;
  table_->ForEachRemote([&](const NodeInfo& n) {
    if (n.origin_kind == OriginKind::kNone) return;
    auto it = base.v2->entries.find(n.origin_path);
    if (it != base.v2->entries.end() && !it->second.pack.empty() &&
        n.origin_etag == V2FileTag(it->second)) {
      by_pack[it->second.pack].emplace_back(n.origin_path, n.ino);
    } else {
      others.push_back(n.ino);
    }
  });
  for (const auto& [pack, files] : by_pack) {
    if (cancel_) return Status::Unavailable("cancelled");
    std::shared_ptr<const TarballVersion> pv;
    Status s = PackVersion(pack, &pv);
    if (s.ok()) {
      std::vector<MemberRef> todo;
      for (const auto& [path, ino] : files) {
        auto at = pv->by_path.find(path);
        if (at != pv->by_path.end()) todo.push_back(MemberRef{at->second, ino});
      }
      s = StreamRuns(*pv, PackKey(workspace_, pack), std::move(todo));
    }
    if (s.IsNotFound()) {
      // gc took the pack (this base is older than the store keeps): file by
      // file below, each read where the current root has it.
      for (const auto& file : files) others.push_back(file.second);
      continue;
    }
    CCFS_RETURN_IF_ERROR(s);
  }
  return ParallelFor(others.size(), 8, [&](size_t i) {
    if (cancel_) return Status::Unavailable("cancelled");
    if (EnsureLocal(others[i]) == 0) ++stats_.streamed_files;
    return Status::OK();
  });
}

Status Hydrator::FetchTarballMember(const NodeInfo& n) {
  auto version = base_->tarball();
  if (n.origin_etag != version->etag) {
    return Status::PreconditionFailed("member of tarball version " + n.origin_etag +
                                      ", base is now " + version->etag);
  }
  if (!version->seekable) {
    return Status::NotSupported("tarball has no seekable index and its content is not cached");
  }
  const TarEntry* entry = version->Find(n.origin_path);
  if (entry == nullptr || entry->type != EntryType::kFile || entry->size != n.size) {
    return Status::Corruption("not a file of this size in the tarball index");
  }
  size_t first = 0, last = 0;
  if (!BlocksOfMember(*version, *entry, &first, &last)) {
    return Status::Corruption("tarball index does not cover the member's data");
  }
  std::vector<MemberRef> members = MembersInBlocks(*version, first, last);
  IncludeMember(&members,
                MemberRef{static_cast<size_t>(entry - version->index.entries.data()), n.ino});
  CCFS_RETURN_IF_ERROR(FillMembers(*version, TarballKey(workspace_), first, last, members, n.ino,
                                   &stats_.streamed_files, nullptr));
  NodeInfo now;
  if (table_->Get(n.ino, &now) == 0 && now.state == ContentState::kRemote) {
    return Status::Corruption("member data incomplete in its blocks");
  }
  return Status::OK();
}

std::vector<Hydrator::MemberRef> Hydrator::MembersInBlocks(const TarballVersion& version,
                                                           size_t first, size_t last) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (members_etag_ != version.etag) {
      members_.clear();
      table_->ForEachRemote([&](const NodeInfo& n) {
        if (n.origin_kind == OriginKind::kTarball && n.origin_etag == version.etag) {
          members_[n.origin_path] = n.ino;
        }
      });
      members_etag_ = version.etag;
    }
  }
  const auto& blocks = version.index.blocks;
  const auto& entries = version.index.entries;
  uint64_t lo = blocks[first].raw_offset;
  uint64_t hi = blocks[last].raw_offset + blocks[last].raw_size;
  // Entries are in archive order, so data offsets ascend.
  auto it = std::partition_point(entries.begin(), entries.end(),
                                 [&](const TarEntry& e) { return e.data_offset < lo; });
  std::vector<MemberRef> out;
  for (; it != entries.end() && it->data_offset < hi; ++it) {
    if (it->type != EntryType::kFile || it->size == 0 || it->data_offset + it->size > hi) continue;
    uint64_t ino = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto m = members_.find(it->path);
      if (m == members_.end()) continue;
      ino = m->second;
    }
    NodeInfo n;
    if (table_->Get(ino, &n) != 0 || n.state != ContentState::kRemote ||
        n.origin_kind != OriginKind::kTarball || n.origin_path != it->path) {
      continue;
    }
    out.push_back(MemberRef{static_cast<size_t>(it - entries.begin()), ino});
  }
  return out;
}

Status Hydrator::FillMembers(const TarballVersion& version, const std::string& key, size_t first,
                             size_t last, const std::vector<MemberRef>& members, uint64_t claimed,
                             std::atomic<uint64_t>* counter, const std::atomic<bool>* cancel) {
  const auto& entries = version.index.entries;
  struct Active {
    std::unique_ptr<MemberWriter> writer;
    std::string tmp;
    NodeInfo node;
    std::unique_ptr<ContentCache::DataTicket> ticket;  // its bytes, in flight
  };
  std::map<uint64_t, Active> active;
  size_t next = 0;
  auto finish = [&](uint64_t ino, Active& a, bool ok) {
    Status s = a.writer->Close(a.tmp);
    if (ok && s.ok() && a.writer->complete()) {
      s = content_->Install(ino, a.tmp);
    } else {
      ok = false;
    }
    if (ok && s.ok()) {
      if (table_->NoteHydrated(ino, a.node.origin_kind, a.node.origin_path) && counter &&
          ino != claimed) {
        ++*counter;
      }
    } else {
      ::unlink(a.tmp.c_str());
    }
    if (ino != claimed) Release(ino);
  };
  auto visit = [&](const TarBlock& b, const std::string& raw, std::string_view) -> Status {
    uint64_t block_end = b.raw_offset + b.raw_size;
    while (next < members.size() && entries[members[next].entry].data_offset < block_end) {
      MemberRef m = members[next++];
      if (m.ino != claimed && !TryClaim(m.ino, false)) continue;  // being fetched elsewhere
      NodeInfo n;
      if (table_->Get(m.ino, &n) != 0 || n.state != ContentState::kRemote) {
        if (m.ino != claimed) Release(m.ino);
        continue;
      }
      auto ticket = std::make_unique<ContentCache::DataTicket>();
      if (content_->AdmitData(n.size, ticket.get()) != 0) {
        // The cache is at its reserve: neighbours wait for a later read; the
        // file asked for fails with ENOSPC.
        if (m.ino != claimed) {
          Release(m.ino);
          continue;
        }
        return Status::IOError("the cache filesystem is full (" + n.origin_path + " needs " +
                               std::to_string(n.size) + " bytes beyond the " +
                               std::to_string(content_->reserve_bytes()) +
                               " kept free for metadata)")
            .WithErrno(ENOSPC);
      }
      std::string tmp = content_->TempPath("fill-" + std::to_string(m.ino));
      auto fd = CreateTemp(tmp);
      if (!fd.ok()) {
        if (m.ino != claimed) Release(m.ino);
        return fd.status();
      }
      active[m.ino] =
          Active{std::make_unique<MemberWriter>(entries[m.entry], std::move(fd).value()), tmp, n,
                 std::move(ticket)};
    }
    for (auto it = active.begin(); it != active.end();) {
      CCFS_RETURN_IF_ERROR(it->second.writer->Consume(b, raw));
      if (it->second.writer->complete()) {
        finish(it->first, it->second, true);
        it = active.erase(it);
      } else {
        ++it;
      }
    }
    return Status::OK();
  };
  // The block cache holds the v1 tarball's blocks only.
  BlockCache* cache = version.v2 == nullptr && key == TarballKey(workspace_) ? blocks_ : nullptr;
  if (cache != nullptr) {
    Status used = cache->Use(version);
    if (!used.ok()) spdlog::warn("block cache: {}", used.ToString());
  }
  Status s =
      StreamBlocks(*store_, key, version, first, last, kMaxRequestBytes, visit, cancel, cache);
  for (auto& [ino, a] : active) finish(ino, a, false);
  return s;
}

Status Hydrator::FetchTranscript(const NodeInfo& n, const std::string& tmp) {
  auto fd = CreateTemp(tmp);
  CCFS_RETURN_IF_ERROR(fd.status());
  GetOptions opts;
  opts.if_match = n.origin_etag;
  uint64_t got = 0;
  int raw_fd = fd->get();
  CCFS_RETURN_IF_ERROR(store_->Get(
      TranscriptKey(workspace_, n.origin_path), opts,
      [&](const char* data, size_t len) {
        got += len;
        return WriteAll(raw_fd, data, len, tmp);
      },
      nullptr));
  if (::close(fd->release()) != 0) return Status::FromErrno("close " + tmp, errno);
  if (got != n.size) {
    return Status::Corruption("transcript is " + std::to_string(got) + " bytes, listed as " +
                              std::to_string(n.size));
  }
  return Status::OK();
}

void Hydrator::StartBackground(size_t transcript_parallelism) {
  if (background_.joinable()) return;
  cancel_ = false;
  background_ = std::thread([this, transcript_parallelism] {
    try {
      RunBackground(transcript_parallelism);
    } catch (const std::exception& e) {  // never take the mount down
      NoteError("background stream", Status::IOError(e.what()));
      stats_.stream_running = false;
    }
  });
}

void Hydrator::StopBackground() {
  cancel_ = true;
  if (background_.joinable()) background_.join();
  cancel_ = false;
}

void Hydrator::RunBackground(size_t transcript_parallelism) {
  stats_.stream_running = true;
  Status s = StreamTarball();
  if (!s.ok() && !cancel_) NoteError("background stream", s);
  std::vector<uint64_t> transcripts;
  table_->ForEachRemote([&](const NodeInfo& n) {
    if (n.origin_kind == OriginKind::kTranscript) transcripts.push_back(n.ino);
  });
  Status prefetched = ParallelFor(transcripts.size(), transcript_parallelism, [&](size_t i) {
    if (cancel_) return Status::Unavailable("cancelled");
    if (EnsureLocal(transcripts[i]) == 0) ++stats_.prefetched_files;
    return Status::OK();
  });
  // Only a cancel fails it, and a cancel is not an error: a file not
  // prefetched is fetched when it is read.
  IgnoreError(prefetched, "cancelled prefetch; reads fetch on demand");
  if (!cancel_) stats_.stream_done = true;
  stats_.stream_running = false;
}

Status Hydrator::StreamTarball() {
  auto version = base_->tarball();
  if (version->v2 != nullptr) return StreamV2(*version);
  if (!version->seekable || version->index.blocks.empty()) return Status::OK();
  // The still-remote members of this version, in archive order.
  std::vector<MemberRef> todo;
  table_->ForEachRemote([&](const NodeInfo& n) {
    if (n.origin_kind != OriginKind::kTarball || n.origin_etag != version->etag) return;
    auto it = version->by_path.find(n.origin_path);
    if (it != version->by_path.end()) todo.push_back(MemberRef{it->second, n.ino});
  });
  return StreamRuns(*version, TarballKey(workspace_), std::move(todo));
}

Status Hydrator::StreamRuns(const TarballVersion& version, const std::string& key,
                            std::vector<MemberRef> todo) {
  std::sort(todo.begin(), todo.end(),
            [](const MemberRef& a, const MemberRef& b) { return a.entry < b.entry; });
  const auto& entries = version.index.entries;

  // Runs of blocks holding wanted data (each member's blocks within one run).
  struct Run {
    size_t first, last;
    std::vector<MemberRef> members;
  };
  std::vector<Run> runs;
  for (const MemberRef& m : todo) {
    size_t f = 0, l = 0;
    if (!BlocksOfMember(version, entries[m.entry], &f, &l)) {
      if (TryClaim(m.ino, false)) {  // empty file: nothing to fetch
        NodeInfo n;
        if (table_->Get(m.ino, &n) == 0 && n.state == ContentState::kRemote && n.size == 0 &&
            content_->CreateEmpty(m.ino).ok()) {
          table_->NoteHydrated(m.ino, n.origin_kind, n.origin_path);
        }
        Release(m.ino);
      }
      continue;
    }
    if (!runs.empty() && f <= runs.back().last + 1) {
      runs.back().last = std::max(runs.back().last, l);
    } else {
      runs.push_back(Run{f, l, {}});
    }
    runs.back().members.push_back(m);
  }
  for (const Run& run : runs) {
    if (cancel_) return Status::Unavailable("cancelled");
    CCFS_RETURN_IF_ERROR(FillMembers(version, key, run.first, run.last, run.members, 0,
                                     &stats_.streamed_files, &cancel_));
  }
  return Status::OK();
}

}  // namespace ccfs
