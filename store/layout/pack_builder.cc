#include "store/layout/pack_builder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unordered_map>

#include "store/archive/seekable_tar_writer.h"
#include "store/base/content_hash.h"
#include "store/base/unique_fd.h"
#include "store/layout/root_store.h"

namespace ccfs {

Status BuildPack(const std::string& out_path, const std::vector<PackFile>& files, BuiltPack* out) {
  *out = BuiltPack{};
  auto writer = SeekableTarWriter::Create(out_path, SeekableTarWriter::Options{});
  if (!writer.ok()) return writer.status();
  for (const PackFile& f : files) {
    if (f.entry.type != EntryType::kFile) {
      return Status::InvalidArgument("pack: " + f.entry.path + " is not a regular file");
    }
    TarEntry e;
    e.path = f.entry.path;
    e.mode = f.entry.mode;
    e.mtime = f.entry.mtime_ns / 1000000000;  // the index keeps nanoseconds
    if (::lseek(f.fd, 0, SEEK_SET) != 0) return Status::FromErrno("pack: seek " + e.path, errno);
    CCFS_RETURN_IF_ERROR((*writer)->AddFileFromFd(e, f.fd));
  }
  TarIndex index;
  CCFS_RETURN_IF_ERROR((*writer)->Finish(&index));

  std::unordered_map<std::string, const TarEntry*> by_path;
  for (const TarEntry& e : index.entries) by_path[e.path] = &e;
  UniqueFd fd(::open(out_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno("pack: open " + out_path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("pack: stat " + out_path, errno);
  ContentHashes hashes;
  CCFS_RETURN_IF_ERROR(HashFileRange(fd.get(), 0, static_cast<uint64_t>(st.st_size), &hashes));
  out->name = hashes.sha256_hex;
  out->path = out_path;
  out->bytes = static_cast<uint64_t>(st.st_size);
  for (const PackFile& f : files) {
    auto it = by_path.find(f.entry.path);
    if (it == by_path.end())
      return Status::Corruption("pack: " + f.entry.path + " missing from its index");
    IndexEntry e = f.entry;
    e.size = it->second->size;
    e.chunks.clear();
    e.pack = e.size == 0 ? "" : out->name;  // an empty file has no bytes to point at
    e.pack_data_offset = e.size == 0 ? 0 : it->second->data_offset;
    out->entries.push_back(std::move(e));
  }
  return Status::OK();
}

IndexEntry EntryFromPackMember(const TarEntry& t, const std::string& pack) {
  IndexEntry e;
  e.path = t.path;
  e.type = t.type;
  e.mode = t.mode;
  e.mtime_ns = t.mtime * 1000000000;
  e.link_target = t.link_target;
  if (t.type == EntryType::kFile) {
    e.size = t.size;
    if (t.size > 0) {
      e.pack = pack;
      e.pack_data_offset = t.data_offset;
    }
  }
  return e;
}

Status PutPack(ObjectStore& store, const std::string& workspace, const std::string& name,
               const std::string& path) {
  PutOptions opts;
  opts.if_none_match_any = true;
  opts.content_type = "application/gzip";
  Status s = store.PutFile(PackKey(workspace, name), path, opts, nullptr);
  return s.IsPreconditionFailed() ? Status::OK() : s;
}

Status HashAndPutPack(ObjectStore& store, const std::string& workspace, const std::string& path,
                      std::string* name, uint64_t* bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno("open " + path, errno);
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0) return Status::FromErrno("seek " + path, errno);
  ContentHashes hashes;
  CCFS_RETURN_IF_ERROR(HashFileRange(fd.get(), 0, static_cast<uint64_t>(size), &hashes));
  *name = hashes.sha256_hex;
  *bytes = static_cast<uint64_t>(size);
  return PutPack(store, workspace, *name, path).Annotate("uploading the pack");
}

}  // namespace ccfs
