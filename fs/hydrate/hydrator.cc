#include "fs/hydrate/hydrator.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <vector>

#include "fs/hydrate/block_stream.h"
#include "store/base/parallel.h"
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

Hydrator::Hydrator(ObjectStore* store, std::string workspace, InodeTable* table,
                   ContentCache* content, BaseVersion* base, BlockCache* blocks)
    : store_(store),
      workspace_(std::move(workspace)),
      table_(table),
      content_(content),
      base_(base),
      blocks_(blocks) {}

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
  for (int attempt = 0; attempt < 4; ++attempt) {
    NodeInfo n;
    if (table_->Get(ino, &n) != 0) return ENOENT;
    if (n.type != NodeType::kFile || n.state != ContentState::kRemote) return 0;
    TryClaim(ino, /*wait=*/true);
    if (table_->Get(ino, &n) != 0) {
      Release(ino);
      return ENOENT;
    }
    if (n.state != ContentState::kRemote) {
      Release(ino);
      return 0;
    }
    int err = Fetch(n);
    Release(ino);
    if (err != 0) return err;
    ++stats_.on_demand_files;
  }
  return EIO;  // the origin kept changing under us (flushes in a loop)
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
                            std::to_string(content_->reserve_bytes()) + " kept free for metadata)")
                .WithErrno(ENOSPC);
        break;
      }
      s = FetchTranscript(n, tmp);
      break;
    case OriginKind::kNone:
      s = Status::Corruption("remote file without an origin");
      break;
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
  size_t self = static_cast<size_t>(entry - version->index.entries.data());
  bool listed = false;
  for (const MemberRef& m : members) listed |= m.ino == n.ino;
  if (!listed) {
    members.push_back(MemberRef{self, n.ino});
    std::sort(members.begin(), members.end(),
              [](const MemberRef& a, const MemberRef& b) { return a.entry < b.entry; });
  }
  CCFS_RETURN_IF_ERROR(
      FillMembers(*version, first, last, members, n.ino, &stats_.streamed_files, nullptr));
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

Status Hydrator::FillMembers(const TarballVersion& version, size_t first, size_t last,
                             const std::vector<MemberRef>& members, uint64_t claimed,
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
  if (blocks_ != nullptr) {
    Status used = blocks_->Use(version);
    if (!used.ok()) spdlog::warn("block cache: {}", used.ToString());
  }
  Status s = StreamBlocks(*store_, TarballKey(workspace_), version, first, last, kMaxRequestBytes,
                          visit, cancel, blocks_);
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
  if (!version->seekable || version->index.blocks.empty()) return Status::OK();
  // The still-remote members of this version, in archive order.
  std::vector<MemberRef> todo;
  table_->ForEachRemote([&](const NodeInfo& n) {
    if (n.origin_kind != OriginKind::kTarball || n.origin_etag != version->etag) return;
    auto it = version->by_path.find(n.origin_path);
    if (it != version->by_path.end()) todo.push_back(MemberRef{it->second, n.ino});
  });
  std::sort(todo.begin(), todo.end(),
            [](const MemberRef& a, const MemberRef& b) { return a.entry < b.entry; });
  const auto& entries = version->index.entries;

  // Runs of blocks holding wanted data (each member's blocks within one run).
  struct Run {
    size_t first, last;
    std::vector<MemberRef> members;
  };
  std::vector<Run> runs;
  for (const MemberRef& m : todo) {
    size_t f = 0, l = 0;
    if (!BlocksOfMember(*version, entries[m.entry], &f, &l)) {
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
    CCFS_RETURN_IF_ERROR(FillMembers(*version, run.first, run.last, run.members, 0,
                                     &stats_.streamed_files, &cancel_));
  }
  return Status::OK();
}

}  // namespace ccfs
