#include "store/base/status.h"

#include <gtest/gtest.h>

#include "store/objects/object_store.h"

namespace ccfs {
namespace {

TEST(StatusTest, CodesAndAnnotation) {
  Status s = Status::PreconditionFailed("etag changed").WithHttpStatus(412);
  EXPECT_TRUE(s.IsPreconditionFailed());
  EXPECT_EQ(s.http_status(), 412);
  Status a = s.Annotate("push");
  EXPECT_EQ(a.ToString(), "PreconditionFailed: push: etag changed");
  EXPECT_EQ(a.http_status(), 412);
  EXPECT_TRUE(Status::OK().ok());
}

TEST(StatusTest, ResultCarriesValueOrError) {
  Result<int> r = 5;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 5);
  Result<int> e = Status::NotFound("x");
  EXPECT_FALSE(e.ok());
  EXPECT_TRUE(e.status().IsNotFound());
}

TEST(KeyTest, RejectsMalformedKeys) {
  EXPECT_TRUE(ValidateKey("ws/claude-home.tar.gz").ok());
  EXPECT_TRUE(ValidateKey("ws/projects/-home-u/a b.jsonl").ok());
  for (const char* bad : {"", "/abs", "a//b", "a/../b", "./a", "a/.", "a/"}) {
    EXPECT_FALSE(ValidateKey(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace ccfs
