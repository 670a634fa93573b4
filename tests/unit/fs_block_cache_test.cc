// The block cache keeps fetched tarball blocks on the cache filesystem, but
// never at the cost of the space kept free for metadata: on a full cache a
// block is not kept (and fetched again when needed), so rm can still free
// the cache.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "fs/hydrate/block_cache.h"

namespace ccfs {
namespace {

std::shared_ptr<const TarballVersion> TwoBlockVersion() {
  TarIndex index;
  index.blocks.push_back(TarBlock{0, 100, 0, 512});
  index.blocks.push_back(TarBlock{100, 100, 512, 512});
  index.raw_size = 1024;
  index.data_comp_size = 200;
  return TarballVersion::Make("etag-1", 300, /*seekable=*/true, std::move(index));
}

class BlockCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-blocks-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(BlockCacheTest, KeepsABlockWhileThereIsRoom) {
  BlockCache cache(dir_);
  auto v = TwoBlockVersion();
  ASSERT_TRUE(cache.Use(*v).ok());
  cache.Write(*v, 0, 1, std::string(100, 'x'));
  EXPECT_TRUE(cache.Has("etag-1", 0));
  EXPECT_FALSE(cache.Has("etag-1", 1));
}

TEST_F(BlockCacheTest, NeverEatsIntoTheSpaceKeptForMetadata) {
  BlockCache cache(dir_);
  auto v = TwoBlockVersion();
  ASSERT_TRUE(cache.Use(*v).ok());
  // More free space than any filesystem has: as if the cache were full.
  cache.set_min_free_bytes(uint64_t{1} << 62);
  cache.Write(*v, 0, 1, std::string(100, 'x'));
  EXPECT_FALSE(cache.Has("etag-1", 0));
  std::string out;
  EXPECT_TRUE(cache.Read(*v, 0, &out).IsNotFound());
}

}  // namespace
}  // namespace ccfs
