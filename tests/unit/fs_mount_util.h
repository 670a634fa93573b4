// A Mount of workspace "ws" in the file:// store under a test's temp dir,
// driven through its Filesystem (no kernel mount involved).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fs/lifecycle/mount.h"
#include "fs_test_util.h"
#include "store/objects/file_store.h"

namespace ccfs::fstest {

// Options for the store at `dir`/store, cache `dir`/`cache`, lazy hydration.
inline MountOptions FileMountOptions(const TempDir& dir, const std::string& cache) {
  MountOptions o;
  o.store_url = "file://" + (dir / "store");
  o.workspace = "ws";
  o.mountpoint = dir / "unused-mountpoint";
  o.cache_root = dir / cache;
  o.hydrate = HydrateMode::kLazy;
  return o;
}

// Mount::Prepare over the file store `options` names; nullptr (and a test
// failure) when it fails.
inline std::unique_ptr<Mount> PrepareFileMount(const MountOptions& options) {
  auto store = OpenFileStore(options.store_url.substr(std::string("file://").size()));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  auto m = Mount::Prepare(std::move(store).value(), options);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

}  // namespace ccfs::fstest
