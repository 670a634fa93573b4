#include "fs/hydrate/remote_tree.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "fs/tree/inode_table.h"
#include "store/archive/seekable_tar_reader.h"
#include "store/archive/tar_sanitize.h"
#include "store/archive/tar_scanner.h"
#include "store/objects/local_file.h"
#include "store/workspace/transcript_modes.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {

namespace {

constexpr const char* kSeekableTag = "ccfs-index seekable";
constexpr const char* kPartialTag = "ccfs-index seekable-partial";  // entries were dropped
constexpr const char* kForeignTag = "ccfs-index foreign";

Status ReadWholeFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::OK();
}

std::string ForeignIndexJson(const TarIndex& index) {
  nlohmann::json arr = nlohmann::json::array();
  for (const TarEntry& e : index.entries) {
    arr.push_back({{"p", e.path},
                   {"t", int(e.type)},
                   {"m", e.mode},
                   {"s", e.size},
                   {"mt", e.mtime},
                   {"l", e.link_target}});
  }
  return arr.dump();
}

Status ParseForeignIndexJson(const std::string& text, TarIndex* index) {
  try {
    auto arr = nlohmann::json::parse(text);
    index->entries.clear();
    for (const auto& j : arr) {
      TarEntry e;
      e.path = j.at("p").get<std::string>();
      e.type = static_cast<EntryType>(j.at("t").get<int>());
      e.mode = j.at("m").get<uint32_t>();
      e.size = j.at("s").get<uint64_t>();
      e.mtime = j.at("mt").get<int64_t>();
      e.link_target = j.at("l").get<std::string>();
      if (!IsCanonicalMemberPath(e.path)) return Status::Corruption("bad path in cached index");
      index->entries.push_back(std::move(e));
    }
  } catch (const std::exception& ex) {
    return Status::Corruption(std::string("cached foreign index: ") + ex.what());
  }
  return Status::OK();
}

// Unpacks a foreign tarball (already downloaded to `path`) into numbered
// files, building an entries-only index. A later entry for a path replaces
// an earlier one, as extraction would.
Status UnpackForeign(const std::string& path, const CacheDir& cache, TarIndex* index,
                     ForeignContent* foreign) {
  auto scanner = TarScanner::OpenFile(path);
  CCFS_RETURN_IF_ERROR(scanner.status());
  std::unordered_map<std::string, size_t> pos;
  std::vector<TarEntry> entries;
  std::vector<std::string> files;
  for (size_t n = 0;; ++n) {
    TarEntry e;
    bool done = false;
    CCFS_RETURN_IF_ERROR((*scanner)->Next(&e, &done));
    if (done) break;
    std::string file;
    if (e.type == EntryType::kFile) {
      file = cache.TmpDir() + "/foreign." + std::to_string(::getpid()) + "." + std::to_string(n);
      int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) return Status::FromErrno("create " + file, errno);
      ScopedFd guard(fd);
      CCFS_RETURN_IF_ERROR((*scanner)->ReadData(
          [&](const char* d, size_t len) { return WriteAll(fd, d, len, file); }));
    }
    if (auto it = pos.find(e.path); it != pos.end()) {
      if (!files[it->second].empty()) ::unlink(files[it->second].c_str());
      entries[it->second] = std::move(e);
      files[it->second] = std::move(file);
    } else {
      pos[e.path] = entries.size();
      entries.push_back(std::move(e));
      files.push_back(std::move(file));
    }
  }
  for (const SkippedEntry& s : (*scanner)->skipped()) {
    spdlog::warn("tarball entry {} skipped: {}", s.path, s.reason);
  }
  // Symlinks escaping through other symlinks go too (and with them nothing else).
  std::vector<TarEntry> kept = entries;
  std::vector<SkippedEntry> dropped;
  DropEscapingSymlinks(&kept, &dropped);
  std::unordered_map<std::string, bool> keep;
  for (const TarEntry& e : kept) keep[e.path] = true;
  index->entries.clear();
  foreign->content_files.clear();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!keep.count(entries[i].path)) continue;
    index->entries.push_back(std::move(entries[i]));
    foreign->content_files.push_back(std::move(files[i]));
  }
  index->raw_size = (*scanner)->raw_size();
  return Status::OK();
}

}  // namespace

Status HeadTarball(ObjectStore& store, const std::string& workspace, ObjectInfo* info) {
  Status s = store.Head(TarballKey(workspace), info);
  if (s.IsNotFound()) {
    *info = ObjectInfo{};
    return Status::OK();
  }
  return s;
}

Status ListTranscripts(ObjectStore& store, const std::string& workspace,
                       std::vector<BaseTranscript>* out) {
  ListOptions opts;
  opts.prefix = TranscriptPrefix(workspace);
  ListResult result;
  CCFS_RETURN_IF_ERROR(store.List(opts, &result));
  out->clear();
  const std::string modes_key = TranscriptModesKey(workspace);
  bool has_modes = false;
  for (const ObjectInfo& o : result.objects) {
    if (o.key == modes_key) {
      has_modes = true;
      continue;
    }
    std::string rel = o.key.substr(workspace.size() + 1);
    if (!IsTranscriptPath(rel) || !IsCanonicalMemberPath(rel)) {
      spdlog::warn("ignoring object {}: not a transcript path", o.key);
      continue;
    }
    out->push_back(BaseTranscript{rel, o.etag, o.size, o.mtime_unix});
  }
  if (has_modes) {
    TranscriptModes modes;
    Status s = ReadTranscriptModes(store, workspace, &modes);
    if (s.IsCorruption()) {
      // Damaged modes cost the modes only: the default, and the next flush
      // writes the modes object anew.
      spdlog::warn("{}; transcripts show mode 0600", s.ToString());
    } else {
      CCFS_RETURN_IF_ERROR(s);
    }
    for (BaseTranscript& t : *out) t.mode = TranscriptMode(modes, t.path);
  }
  return Status::OK();
}

Status SaveCachedIndex(const CacheDir& cache, const TarballVersion& v) {
  if (v.etag.empty()) return Status::OK();
  const char* tag = !v.seekable ? kForeignTag : (v.complete ? kSeekableTag : kPartialTag);
  std::string text =
      std::string(tag) + "\n" + (v.seekable ? v.index.Serialize() : ForeignIndexJson(v.index));
  std::string path = cache.IndexPath(v.etag);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return Status::IOError("write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  return Status::OK();
}

Status LoadCachedVersion(const CacheDir& cache, const std::string& etag, uint64_t size,
                         std::shared_ptr<const TarballVersion>* out) {
  if (etag.empty()) {
    *out = TarballVersion::Make("", 0, false, {});
    return Status::OK();
  }
  std::string text;
  CCFS_RETURN_IF_ERROR(ReadWholeFile(cache.IndexPath(etag), &text));
  size_t nl = text.find('\n');
  std::string tag = text.substr(0, nl == std::string::npos ? text.size() : nl);
  std::string body = nl == std::string::npos ? "" : text.substr(nl + 1);
  TarIndex index;
  if (tag == kSeekableTag || tag == kPartialTag) {
    auto parsed = TarIndex::Parse(body);
    CCFS_RETURN_IF_ERROR(parsed.status());
    index = std::move(parsed).value();
  } else if (tag == kForeignTag) {
    CCFS_RETURN_IF_ERROR(ParseForeignIndexJson(body, &index));
  } else {
    return Status::Corruption("cached index " + cache.IndexPath(etag) + " has no valid header");
  }
  *out = TarballVersion::Make(etag, size, tag != kForeignTag, std::move(index), tag != kPartialTag);
  return Status::OK();
}

Status LoadTarballVersion(ObjectStore& store, const std::string& workspace, const ObjectInfo& head,
                          const CacheDir& cache, std::shared_ptr<const TarballVersion>* out,
                          ForeignContent* foreign) {
  foreign->content_files.clear();
  if (head.etag.empty()) {
    *out = TarballVersion::Make("", 0, false, {});
    return Status::OK();
  }
  Status cached = LoadCachedVersion(cache, head.etag, head.size, out);
  if (cached.ok() && (*out)->seekable) return Status::OK();

  const std::string key = TarballKey(workspace);
  RangeFetcher fetch = [&](uint64_t off, uint64_t len, std::string* data) {
    GetOptions opts;
    opts.range = ByteRange{off, len};
    opts.if_match = head.etag;
    return GetToString(store, key, opts, data);
  };
  TarIndex index;
  std::vector<SkippedEntry> dropped;
  Status s = ReadSeekableIndex(head.size, fetch, &index, &dropped);
  for (const SkippedEntry& d : dropped)
    spdlog::warn("tarball entry {} dropped: {}", d.path, d.reason);
  if (s.ok()) {
    *out = TarballVersion::Make(head.etag, head.size, true, std::move(index), dropped.empty());
  } else if (s.IsNotFound()) {
    // Not ours: one streaming pass (download, then unpack while indexing).
    spdlog::info("{} has no ccfs index: unpacking it whole", key);
    std::string tmp = cache.TmpDir() + "/foreign-download." + std::to_string(::getpid());
    GetOptions opts;
    opts.if_match = head.etag;
    s = DownloadToFile(store, key, opts, tmp);
    if (s.ok()) s = UnpackForeign(tmp, cache, &index, foreign);
    ::unlink(tmp.c_str());
    CCFS_RETURN_IF_ERROR(s.Annotate("unpacking tarball without a ccfs index"));
    *out = TarballVersion::Make(head.etag, head.size, false, std::move(index));
  } else {
    return s.Annotate("reading the tarball index");
  }
  Status saved = SaveCachedIndex(cache, **out);
  if (!saved.ok()) spdlog::warn("caching the tarball index: {}", saved.ToString());
  return Status::OK();
}

std::vector<NodeRecord> BuildTree(const TarballVersion& tarball,
                                  const std::vector<BaseTranscript>& transcripts, int64_t now_ns) {
  std::vector<NodeRecord> nodes;
  std::unordered_map<std::string, size_t> by_path;  // path -> position in nodes
  NodeRecord root;
  root.ino = kRootIno;
  root.type = NodeType::kDir;
  root.mode = 0755;
  root.mtime_ns = root.ctime_ns = now_ns;
  nodes.push_back(root);
  by_path[""] = 0;
  uint64_t next_ino = kRootIno + 1;

  // The directory for `path`, created (implicit) with its parents if missing;
  // npos when a non-directory is in the way.
  std::function<size_t(const std::string&)> dir_for = [&](const std::string& path) -> size_t {
    if (auto it = by_path.find(path); it != by_path.end()) {
      return nodes[it->second].type == NodeType::kDir ? it->second : std::string::npos;
    }
    size_t slash = path.rfind('/');
    std::string parent_path = slash == std::string::npos ? "" : path.substr(0, slash);
    size_t parent = dir_for(parent_path);
    if (parent == std::string::npos) return parent;
    NodeRecord d;
    d.ino = next_ino++;
    d.parent = nodes[parent].ino;
    d.name = slash == std::string::npos ? path : path.substr(slash + 1);
    d.type = NodeType::kDir;
    d.mode = 0755;
    d.mtime_ns = d.ctime_ns = now_ns;
    d.implicit = true;
    by_path[path] = nodes.size();
    nodes.push_back(d);
    return nodes.size() - 1;
  };
  auto add = [&](NodeRecord n, const std::string& path) {
    size_t slash = path.rfind('/');
    size_t parent = dir_for(slash == std::string::npos ? "" : path.substr(0, slash));
    if (parent == std::string::npos || by_path.count(path) != 0) {
      spdlog::warn("skipping {}: its path is already taken or its parent is not a directory", path);
      return;
    }
    n.ino = next_ino++;
    n.parent = nodes[parent].ino;
    n.name = slash == std::string::npos ? path : path.substr(slash + 1);
    by_path[path] = nodes.size();
    nodes.push_back(std::move(n));
  };

  for (const TarEntry& e : tarball.index.entries) {
    if (e.type == EntryType::kFile && IsTranscriptPath(e.path)) {
      // Transcripts live as their own objects; one inside a tarball (a
      // foreign one, say) still shows, unless an object of that path exists.
      bool shadowed = false;
      for (const BaseTranscript& t : transcripts) shadowed |= t.path == e.path;
      if (shadowed) continue;
    }
    NodeRecord n;
    n.mode = SanitizeMode(e.mode);
    n.mtime_ns = n.ctime_ns = e.mtime * 1000000000;
    n.origin_kind = OriginKind::kTarball;
    n.origin_path = e.path;
    n.origin_etag = tarball.etag;
    switch (e.type) {
      case EntryType::kFile:
        n.type = NodeType::kFile;
        n.size = e.size;
        n.state = ContentState::kRemote;
        break;
      case EntryType::kDir:
        n.type = NodeType::kDir;
        n.state = ContentState::kCached;
        break;
      case EntryType::kSymlink:
        n.type = NodeType::kSymlink;
        n.link_target = e.link_target;
        n.size = e.link_target.size();
        n.state = ContentState::kCached;
        break;
    }
    if (auto it = by_path.find(e.path); it != by_path.end() && e.type == EntryType::kDir &&
                                        nodes[it->second].type == NodeType::kDir) {
      // A directory entry after something implied it: make the implied one real.
      NodeRecord& d = nodes[it->second];
      d.mode = n.mode;
      d.mtime_ns = d.ctime_ns = n.mtime_ns;
      d.implicit = false;
      d.origin_kind = n.origin_kind;
      d.origin_path = n.origin_path;
      d.origin_etag = n.origin_etag;
      continue;
    }
    add(std::move(n), e.path);
  }
  for (const BaseTranscript& t : transcripts) {
    NodeRecord n;
    n.type = NodeType::kFile;
    n.mode = t.mode;
    n.size = t.size;
    n.mtime_ns = n.ctime_ns = (t.mtime != 0 ? t.mtime * 1000000000 : now_ns);
    n.state = ContentState::kRemote;
    n.origin_kind = OriginKind::kTranscript;
    n.origin_path = t.path;
    n.origin_etag = t.etag;
    add(std::move(n), t.path);
  }
  return nodes;
}

}  // namespace ccfs
