#include "store/archive/tar_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ccfs {

namespace {
// Created once and never freed: a locale_t must outlive every thread using it.
locale_t Utf8CtypeLocale() {
  static const locale_t loc = [] {
    for (const char* name : {"C.UTF-8", "C.utf8", "en_US.UTF-8"}) {
      locale_t l = newlocale(LC_CTYPE_MASK, name, static_cast<locale_t>(nullptr));
      if (l != static_cast<locale_t>(nullptr)) return l;
    }
    return static_cast<locale_t>(nullptr);
  }();
  return loc;
}
}  // namespace

ScopedUtf8Locale::ScopedUtf8Locale() {
  locale_t loc = Utf8CtypeLocale();
  if (loc != static_cast<locale_t>(nullptr)) previous_ = uselocale(loc);
}

ScopedUtf8Locale::~ScopedUtf8Locale() {
  if (previous_ != static_cast<locale_t>(nullptr)) uselocale(previous_);
}

int OpenDirBeneath(int root_fd, const std::string& rel, bool create, ScopedFd* out,
                   std::vector<std::string>* created) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  ScopedFd cur(::openat(root_fd, ".", kFlags));
  if (!cur.valid()) return errno;
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    const std::string part = rel.substr(i, j - i);
    i = j + 1;
    if (part.empty()) continue;
    ScopedFd next(::openat(cur.get(), part.c_str(), kFlags));
    if (!next.valid() && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), part.c_str(), 0700) == 0) {
        if (created != nullptr) created->push_back(rel.substr(0, j));
      } else if (errno != EEXIST) {
        return errno;
      }
      next.reset(::openat(cur.get(), part.c_str(), kFlags));
    }
    if (!next.valid()) return errno;
    cur = std::move(next);
  }
  *out = std::move(cur);
  return 0;
}

std::string ArchiveError(archive* a, const std::string& context) {
  const char* msg = a != nullptr ? archive_error_string(a) : nullptr;
  return context + ": " + (msg != nullptr ? msg : "libarchive error");
}

}  // namespace ccfs
