// Which layout a push writes: a workspace that does not exist yet is created
// in layout v2 when PushOptions::new_workspace_v2 asks (the CLI's default);
// an existing v1 workspace, even one that holds only transcript objects from
// an interrupted push, stays v1; the usual preconditions hold for both.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/layout/root_store.h"
#include "store/layout/tree_reader.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"
#include "store/workspace/workspace_layout.h"

namespace ccfs {
namespace {

class PushLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-pushlayout-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/store");
    auto store = OpenFileStore(dir_ + "/store");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    Write("src/.claude.json", "{\"numStartups\":1}");
    Write("src/projects/-home-u/s1.jsonl", "{\"t\":1}\n");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Write(const std::string& rel, const std::string& content) {
    const std::string path = dir_ + "/" + rel;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
  }
  PushOptions V2() const {
    PushOptions o;
    o.temp_dir = dir_;
    o.new_workspace_v2 = true;
    return o;
  }
  bool HasTarball(const std::string& ws) {
    ObjectInfo head;
    return store_->Head(TarballKey(ws), &head).ok();
  }

  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(PushLayoutTest, ANewWorkspaceIsCreatedAsGenerationOne) {
  PushResult r;
  Status s = PushWorkspace(*store_, dir_ + "/src", "ws", V2(), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.v2_generation, 1u);
  EXPECT_FALSE(HasTarball("ws")) << "no v1 object for a v2 workspace";

  CurrentRoot root;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &root).ok());
  EXPECT_EQ(root.root.generation, 1u);
  EXPECT_EQ(root.etag, r.tarball_etag) << "the push reports the root's ETag";
  IndexEntry e;
  ASSERT_TRUE(LookupEntry(*store_, "ws", root.root, "projects/-home-u/s1.jsonl", &e).ok());
  EXPECT_EQ(e.size, 8u);

  // A second push needs the precondition, as for v1, and then commits gen 2.
  PushResult again;
  EXPECT_TRUE(PushWorkspace(*store_, dir_ + "/src", "ws", V2(), &again).IsPreconditionFailed());
  PushOptions match = V2();
  match.if_match = r.tarball_etag;
  s = PushWorkspace(*store_, dir_ + "/src", "ws", match, &again);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(again.v2_generation, 2u);
}

TEST_F(PushLayoutTest, APushOntoV2UploadsOnlyWhatTranscriptsGained) {
  Write("src/projects/-home-u/s2.jsonl", std::string(100000, 'x') + "\n");
  PushResult first;
  ASSERT_TRUE(PushWorkspace(*store_, dir_ + "/src", "ws", V2(), &first).ok());
  EXPECT_EQ(first.transcripts_uploaded, 2u);
  CurrentRoot root;
  ASSERT_TRUE(ReadRoot(*store_, "ws", &root).ok());
  IndexEntry s1;
  ASSERT_TRUE(LookupEntry(*store_, "ws", root.root, "projects/-home-u/s1.jsonl", &s1).ok());
  ASSERT_EQ(s1.chunks.size(), 1u) << "a transcript is a chunk, not a pack member";
  EXPECT_TRUE(s1.pack.empty());

  // s1 grows by one line, s2 stays: one new chunk of the line, s2 untouched.
  { std::ofstream(dir_ + "/src/projects/-home-u/s1.jsonl", std::ios::app) << "{\"t\":2}\n"; }
  PushOptions o = V2();
  o.if_match = first.tarball_etag;
  PushResult second;
  Status s = PushWorkspace(*store_, dir_ + "/src", "ws", o, &second);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(second.transcripts_uploaded, 1u);
  EXPECT_EQ(second.transcripts_unchanged, 1u);
  EXPECT_EQ(second.transcript_bytes, 8u) << "only the appended line";
  ASSERT_TRUE(ReadRoot(*store_, "ws", &root).ok());
  ASSERT_TRUE(LookupEntry(*store_, "ws", root.root, "projects/-home-u/s1.jsonl", &s1).ok());
  ASSERT_EQ(s1.chunks.size(), 2u);
  EXPECT_EQ(s1.size, 16u);

  // A rewrite (not an append) goes up whole, as one chunk.
  Write("src/projects/-home-u/s1.jsonl", "{\"t\":9}\n");
  o.if_match = second.tarball_etag;
  PushResult third;
  ASSERT_TRUE(PushWorkspace(*store_, dir_ + "/src", "ws", o, &third).ok());
  ASSERT_TRUE(ReadRoot(*store_, "ws", &root).ok());
  ASSERT_TRUE(LookupEntry(*store_, "ws", root.root, "projects/-home-u/s1.jsonl", &s1).ok());
  EXPECT_EQ(s1.chunks.size(), 1u);
  EXPECT_EQ(s1.size, 8u);
  std::string content;
  ASSERT_TRUE(
      ReadWorkspaceFile(*store_, "ws", "projects/-home-u/s1.jsonl", [&](const char* d, size_t n) {
        content.append(d, n);
        return Status::OK();
      }).ok());
  EXPECT_EQ(content, "{\"t\":9}\n");
}

TEST_F(PushLayoutTest, IfMatchOnAMissingWorkspaceIsRefused) {
  PushOptions o = V2();
  o.if_match = "0123456789abcdef";
  PushResult r;
  Status s = PushWorkspace(*store_, dir_ + "/src", "ws", o, &r);
  EXPECT_TRUE(s.IsPreconditionFailed()) << s.ToString();
  EXPECT_NE(s.ToString().find("does not exist"), std::string::npos) << s.ToString();
  CurrentRoot root;
  EXPECT_TRUE(ReadRoot(*store_, "ws", &root).IsNotFound()) << "nothing was committed";
}

TEST_F(PushLayoutTest, AnExistingV1WorkspaceStaysV1) {
  PushOptions v1;
  v1.temp_dir = dir_;
  PushResult r;
  ASSERT_TRUE(PushWorkspace(*store_, dir_ + "/src", "ws", v1, &r).ok());
  EXPECT_EQ(r.v2_generation, 0u);
  ASSERT_TRUE(HasTarball("ws"));

  PushOptions o = V2();
  o.if_match = r.tarball_etag;
  PushResult again;
  Status s = PushWorkspace(*store_, dir_ + "/src", "ws", o, &again);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(again.v2_generation, 0u) << "a push does not move a workspace to v2";
  CurrentRoot root;
  EXPECT_TRUE(ReadRoot(*store_, "ws", &root).IsNotFound());
}

TEST_F(PushLayoutTest, TranscriptObjectsAloneMakeAWorkspaceExist) {
  // What a v1 push interrupted before its tarball leaves behind.
  PutOptions put;
  ASSERT_TRUE(
      store_
          ->PutBytes(TranscriptKey("ws", "projects/-home-u/s1.jsonl"), "{\"t\":0}\n", put, nullptr)
          .ok());
  PushResult r;
  Status s = PushWorkspace(*store_, dir_ + "/src", "ws", V2(), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r.v2_generation, 0u) << "it is finished as v1, not forked into v2 beside it";
  EXPECT_TRUE(HasTarball("ws"));
}

}  // namespace
}  // namespace ccfs
