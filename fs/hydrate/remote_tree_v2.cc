#include "fs/hydrate/remote_tree_v2.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "store/archive/tar_sanitize.h"
#include "store/base/unique_fd.h"
#include "store/layout/file_reader.h"
#include "store/layout/tree_reader.h"

namespace ccfs {

namespace {

constexpr std::string_view kTagPrefix = "v2:";

int64_t Seconds(int64_t ns) {
  return ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
}

std::string SegmentPath(const CacheDir& cache, const std::string& name) {
  return cache.root() + "/index/v2-segment-" + name;
}

std::string RootPath(const CacheDir& cache, const std::string& tag) {
  return cache.root() + "/index/v2-root-" + ObjectNameOf(tag).substr(0, 32);
}

Status ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::OK();
}

// Written whole or not at all: a crash leaves the old file or none.
Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (raw < 0) return Status::FromErrno("create " + tmp, errno);
  UniqueFd fd(raw);
  CCFS_RETURN_IF_ERROR(WriteAll(fd.get(), bytes.data(), bytes.size(), tmp));
  if (::close(fd.release()) != 0) return Status::FromErrno("close " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  return Status::OK();
}

Status TreeFromSegments(const CurrentRoot& root,
                        const std::function<Status(const SegmentRef&, IndexSegment*)>& load,
                        std::shared_ptr<const V2Tree>* out) {
  auto tree = std::make_shared<V2Tree>();
  tree->root = root;
  for (const SegmentRef& ref : root.root.segments) {
    IndexSegment seg;
    CCFS_RETURN_IF_ERROR(load(ref, &seg).Annotate("index segment " + ref.name));
    for (IndexEntry& e : seg.entries) {
      std::string path = e.path;
      tree->entries.emplace(std::move(path), std::move(e));
    }
  }
  *out = std::move(tree);
  return Status::OK();
}

}  // namespace

std::string V2VersionTag(const std::string& root_etag) {
  return std::string(kTagPrefix) + root_etag;
}

bool IsV2VersionTag(const std::string& tag) { return tag.rfind(kTagPrefix, 0) == 0; }

std::string V2FileTag(const IndexEntry& e) { return EntryBytesTag(e); }

std::shared_ptr<const TarballVersion> MakeV2Version(std::shared_ptr<const V2Tree> tree,
                                                    std::vector<BaseTranscript>* transcripts) {
  TarIndex index;
  transcripts->clear();
  for (const auto& [path, e] : tree->entries) {
    if (e.type == EntryType::kFile) {
      transcripts->push_back(
          BaseTranscript{path, V2FileTag(e), e.size, Seconds(e.mtime_ns), SanitizeMode(e.mode)});
      continue;
    }
    TarEntry t;
    t.path = path;
    t.type = e.type;
    t.mode = SanitizeMode(e.mode);
    t.size = e.type == EntryType::kFile ? e.size : 0;
    t.mtime = Seconds(e.mtime_ns);
    t.link_target = e.link_target;
    index.entries.push_back(std::move(t));
  }
  auto made =
      TarballVersion::Make(V2VersionTag(tree->root.etag), 0, /*seekable=*/false, std::move(index));
  // Make returns the version read-only; this one is still ours alone.
  auto version = std::const_pointer_cast<TarballVersion>(made);
  version->v2 = std::move(tree);
  return version;
}

Status LoadV2Segment(ObjectStore& store, const std::string& workspace, const CacheDir& cache,
                     const SegmentRef& ref, IndexSegment* out) {
  const std::string path = SegmentPath(cache, ref.name);
  std::string stored;
  if (ReadFile(path, &stored).ok() && ObjectNameOf(stored) == ref.name) {
    auto seg = DecodeSegment(stored);
    if (seg.ok()) {
      *out = std::move(seg).value();
      return Status::OK();
    }
  }
  // Not cached, or the copy is damaged: the store's is checked by its name.
  CCFS_RETURN_IF_ERROR(LoadSegment(store, workspace, ref, out));
  auto encoded = EncodeSegment(*out);
  if (encoded.ok() && ObjectNameOf(*encoded) == ref.name) {
    IgnoreError(SaveV2Segment(cache, ref.name, *encoded), "a cache miss next time, no more");
  }
  return Status::OK();
}

Status SaveV2Segment(const CacheDir& cache, const std::string& name, const std::string& stored) {
  return WriteFileAtomically(SegmentPath(cache, name), stored);
}

Status LoadV2Tree(ObjectStore& store, const std::string& workspace, const CacheDir& cache,
                  const CurrentRoot& root, std::shared_ptr<const V2Tree>* out) {
  return TreeFromSegments(
      root,
      [&](const SegmentRef& ref, IndexSegment* seg) {
        return LoadV2Segment(store, workspace, cache, ref, seg);
      },
      out);
}

Status LoadPackVersion(ObjectStore& store, const std::string& workspace, const std::string& pack,
                       std::shared_ptr<const TarballVersion>* out) {
  TarIndex index;
  uint64_t size = 0;
  CCFS_RETURN_IF_ERROR(ReadPackIndex(store, workspace, pack, &index, &size));
  *out = TarballVersion::Make("", size, /*seekable=*/true, std::move(index));
  return Status::OK();
}

Status SaveCachedV2Root(const CacheDir& cache, const CurrentRoot& root) {
  if (root.etag.empty()) return Status::OK();  // no root yet: nothing to keep
  // The ETag first (it is not part of the root), then the root's own text.
  return WriteFileAtomically(RootPath(cache, V2VersionTag(root.etag)),
                             root.etag + "\n" + EncodeRoot(root.root));
}

Status LoadCachedV2Tree(const CacheDir& cache, const std::string& tag,
                        std::shared_ptr<const V2Tree>* out) {
  if (!IsV2VersionTag(tag)) return Status::InvalidArgument(tag + " is not a layout-v2 base");
  CurrentRoot root;
  if (tag != V2VersionTag("")) {
    std::string text;
    CCFS_RETURN_IF_ERROR(ReadFile(RootPath(cache, tag), &text));
    const size_t nl = text.find('\n');
    if (nl == std::string::npos) return Status::Corruption("cached root for " + tag);
    root.etag = text.substr(0, nl);
    auto decoded = DecodeRoot(std::string_view(text).substr(nl + 1));
    CCFS_RETURN_IF_ERROR(decoded.status());
    root.root = std::move(decoded).value();
    if (V2VersionTag(root.etag) != tag) return Status::Corruption("cached root for " + tag);
  }
  return TreeFromSegments(
      root,
      [&](const SegmentRef& ref, IndexSegment* seg) {
        std::string stored;
        CCFS_RETURN_IF_ERROR(ReadFile(SegmentPath(cache, ref.name), &stored));
        if (ObjectNameOf(stored) != ref.name) {
          return Status::Corruption("cached segment " + ref.name + " is damaged");
        }
        auto decoded = DecodeSegment(stored);
        CCFS_RETURN_IF_ERROR(decoded.status());
        *seg = std::move(decoded).value();
        return Status::OK();
      },
      out);
}

}  // namespace ccfs
