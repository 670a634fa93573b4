#include "fs/tree/base_version.h"

namespace ccfs {

std::shared_ptr<const TarballVersion> TarballVersion::Make(std::string etag, uint64_t size,
                                                           bool seekable, TarIndex index,
                                                           bool complete) {
  auto v = std::make_shared<TarballVersion>();
  v->complete = complete;
  v->etag = std::move(etag);
  v->size = size;
  v->seekable = seekable;
  v->index = std::move(index);
  for (size_t i = 0; i < v->index.entries.size(); ++i) v->by_path[v->index.entries[i].path] = i;
  return v;
}

}  // namespace ccfs
