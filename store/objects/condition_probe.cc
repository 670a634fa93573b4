#include "store/objects/condition_probe.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "store/objects/local_file.h"
#include "store/objects/sigv4.h"  // Sha256Hex

namespace ccfs {

namespace {

constexpr const char* kVerdictOk = "honours If-Match and If-None-Match";

std::string RandomSuffix() {
  std::random_device rd;
  std::ostringstream out;
  out << std::hex << rd() << rd();
  return out.str();
}

Status Ignores(const ObjectStore& store, const std::string& what) {
  return Status::NotSupported(
      "the store " + store.Describe() + " ignores " + what +
      " (checked on a scratch object): it would let two machines overwrite each other's "
      "changes with no error, so ccfs does not write to it. Use a store that implements "
      "S3's conditional writes (AWS S3, Ceph RGW, ...); reading (pull, --read-only "
      "mounts, ls) still works");
}

std::string VerdictPath(const ObjectStore& store, const std::string& verdict_dir) {
  const std::string dir =
      verdict_dir.empty() ? UserCacheBase() + "/ccfs/store-checks" : verdict_dir;
  return dir + "/" + Sha256Hex(store.Describe()).substr(0, 24);
}

// A remembered pass also tells the store the If-Match form it learned then.
bool PassedBefore(ObjectStore& store, const std::string& path) {
  std::ifstream in(path);
  std::string verdict, described, form;
  if (!std::getline(in, verdict) || !std::getline(in, described) || verdict != kVerdictOk ||
      described != store.Describe()) {
    return false;
  }
  if (std::getline(in, form) && form.rfind("if-match: ", 0) == 0) {
    store.SetIfMatchForm(form.substr(10));
  }
  return true;
}

void RememberPassed(const ObjectStore& store, const std::string& path) {
  // Best effort: without it the next write just probes again.
  std::error_code ec;
  std::filesystem::create_directories(ParentDir(path), ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kVerdictOk << "\n" << store.Describe() << "\nif-match: " << store.IfMatchForm() << "\n";
    if (!out) return;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace

Status ProbeConditionalWrites(ObjectStore& store, const std::string& workspace) {
  const std::string key = workspace + "/.ccfs-probe-" + RandomSuffix();
  const auto annotate = [&](const Status& s) {
    return s.Annotate("checking that " + store.Describe() + " honours conditional writes");
  };
  PutOptions create;
  create.if_none_match_any = true;
  ObjectInfo first;
  Status s = store.PutBytes(key, "1", create, &first);
  if (!s.ok()) return annotate(s);
  // Whatever happens next, the scratch object goes.
  struct Cleanup {
    ObjectStore& store;
    const std::string& key;
    ~Cleanup() { (void)store.Delete(key); }
  } cleanup{store, key};

  s = store.PutBytes(key, "2", create, nullptr);
  if (s.ok()) return Ignores(store, "If-None-Match: * (a second create of the object succeeded)");
  if (!s.IsPreconditionFailed()) return annotate(s);

  PutOptions stale;
  stale.if_match = "0123456789abcdef0123456789abcdef";
  s = store.PutBytes(key, "3", stale, nullptr);
  if (s.ok()) return Ignores(store, "If-Match (a write with a wrong ETag succeeded)");
  if (!s.IsPreconditionFailed()) return annotate(s);

  PutOptions current;
  current.if_match = first.etag;
  s = store.PutBytes(key, "4", current, nullptr);
  if (s.IsPreconditionFailed()) {
    return Status::NotSupported("the store " + store.Describe() +
                                " refuses If-Match even with the object's current ETag (" +
                                first.etag +
                                "), so no flush could ever replace a version; ccfs does not "
                                "write to it");
  }
  return s.ok() ? Status::OK() : annotate(s);
}

Status EnsureConditionalWrites(ObjectStore& store, const std::string& workspace,
                               const std::string& verdict_dir) {
  // A local directory store is ccfs's own code: probing it costs nothing,
  // and its temporary paths would only litter the verdicts.
  const bool remember = store.Describe().rfind("file://", 0) != 0;
  const std::string path = VerdictPath(store, verdict_dir);
  if (remember && PassedBefore(store, path)) return Status::OK();
  Status s = ProbeConditionalWrites(store, workspace);
  if (s.ok() && remember) RememberPassed(store, path);
  return s;
}

}  // namespace ccfs
