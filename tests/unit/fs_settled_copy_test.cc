// Writes racing a flush never tear what it stores: a rewrite in flight is
// waited for (CopySettled), appends are not, a file that never settles
// fails the copy with EAGAIN, and a flush that meets a half-done rewrite
// stores the file whole, old or new, never a mix. A rewrite is held open
// half way through its bytes by driving Filesystem's BeginWrite/EndWrite
// directly, as the FUSE write handler does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include "fs/lifecycle/mount.h"
#include "fs/tree/settled_copy.h"
#include "fs_mount_util.h"
#include "fs_test_util.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"

namespace ccfs {
namespace {

using fstest::PutFile;
using fstest::ReadAll;
using fstest::ReadFile;
using fstest::Resolve;
using fstest::TempDir;
using fstest::WriteFile;

constexpr size_t kSize = 6 << 20;  // above the in-memory limit: a temp-file copy

class SettledCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_ / "src/settings.json", "{}\n");
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    PushOptions po;
    po.force = true;
    PushResult pr;
    ASSERT_TRUE(PushWorkspace(**store, dir_ / "src", "ws", po, &pr).ok());
    mount_ = Open("c1");
    ASSERT_NE(mount_, nullptr);
    ASSERT_EQ(PutFile(fs(), "data.bin", std::string(kSize, 'A')), 0);
    ino_ = Resolve(fs(), "data.bin");
    ASSERT_NE(ino_, 0u);
  }

  std::unique_ptr<Mount> Open(const std::string& cache) {
    return fstest::PrepareFileMount(fstest::FileMountOptions(dir_, cache));
  }

  Filesystem& fs() { return *mount_->filesystem(); }

  // Starts rewriting data.bin with `c` and stops half way, the write still
  // in flight (as a FUSE write between its pwrite and its bookkeeping).
  void BeginHalfRewrite(char c, std::shared_ptr<UniqueFd>* fd, Filesystem::WriteScope* scope) {
    ASSERT_EQ(fs().BeginWrite(ino_, 0, kSize, fd, scope), 0);
    std::string half(kSize / 2, c);
    ASSERT_EQ(::pwrite((*fd)->get(), half.data(), half.size(), 0), ssize_t(half.size()));
  }
  void FinishRewrite(char c, const std::shared_ptr<UniqueFd>& fd, Filesystem::WriteScope* scope) {
    std::string half(kSize / 2, c);
    ASSERT_EQ(::pwrite(fd->get(), half.data(), half.size(), kSize / 2), ssize_t(half.size()));
    ASSERT_EQ(fs().EndWrite(ino_, kSize), 0);
    scope->change = ContentChangeScope();  // the write is booked and over
  }

  static std::string Bytes(const SettledCopy& copy) {
    return copy.temp_path.empty() ? copy.bytes : ReadFile(copy.temp_path);
  }

  TempDir dir_;
  std::unique_ptr<Mount> mount_;
  uint64_t ino_ = 0;
};

TEST_F(SettledCopyTest, RewriteInFlightIsWaitedFor) {
  for (uint64_t in_memory : {uint64_t{0}, uint64_t{64} << 20}) {
    SCOPED_TRACE("max_in_memory " + std::to_string(in_memory));
    char from = in_memory == 0 ? 'A' : 'B', to = in_memory == 0 ? 'B' : 'C';
    std::shared_ptr<UniqueFd> fd;
    Filesystem::WriteScope scope;
    BeginHalfRewrite(to, &fd, &scope);
    SettledCopy copy;
    auto copying = std::async(std::launch::async, [&] {
      return CopySettled(*mount_->table(), *mount_->content(), ino_, &copy,
                         {.max_in_memory = in_memory, .busy_limit_ms = 20000});
    });
    // The copy waits while the rewrite is half done (reading now would
    // give half `to`, half `from`).
    EXPECT_EQ(copying.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
    FinishRewrite(to, fd, &scope);
    ASSERT_EQ(copying.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    Status s = copying.get();
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_FALSE(copy.gone);
    EXPECT_EQ(copy.temp_path.empty(), in_memory != 0);
    EXPECT_TRUE(Bytes(copy) == std::string(kSize, to))
        << "torn copy of a rewrite " << from << "->" << to;
  }
}

TEST_F(SettledCopyTest, AppendsInFlightDoNotHoldTheCopy) {
  std::shared_ptr<UniqueFd> fd;
  Filesystem::WriteScope scope;
  ASSERT_EQ(fs().BeginWrite(ino_, kSize, 10, &fd, &scope), 0);
  ASSERT_EQ(::pwrite(fd->get(), "0123456789", 10, kSize), 10);
  SettledCopy copy;
  Status s = CopySettled(*mount_->table(), *mount_->content(), ino_, &copy,
                         {.max_in_memory = 0, .busy_limit_ms = 0});
  ASSERT_TRUE(s.ok()) << s.ToString();
  // A prefix of the growing file: everything it had, plus the append's bytes.
  EXPECT_TRUE(Bytes(copy) == std::string(kSize, 'A') + "0123456789");
  ASSERT_EQ(fs().EndWrite(ino_, kSize + 10), 0);
}

TEST_F(SettledCopyTest, AFileThatNeverSettlesFailsWithEagain) {
  std::shared_ptr<UniqueFd> fd;
  Filesystem::WriteScope scope;
  BeginHalfRewrite('B', &fd, &scope);
  SettledCopy copy;
  Status s = CopySettled(*mount_->table(), *mount_->content(), ino_, &copy,
                         {.max_in_memory = 0, .busy_limit_ms = 200});
  EXPECT_EQ(s.sys_errno(), EAGAIN) << s.ToString();
  EXPECT_NE(s.message().find("kept changing"), std::string::npos) << s.ToString();
  FinishRewrite('B', fd, &scope);
}

TEST_F(SettledCopyTest, RemovedFileIsGone) {
  ASSERT_EQ(fs().Unlink(kRootIno, "data.bin"), 0);
  SettledCopy copy;
  Status s = CopySettled(*mount_->table(), *mount_->content(), ino_, &copy);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(copy.gone);
}

TEST_F(SettledCopyTest, TruncateInFlightCountsAsARewrite) {
  InodeTable& table = *mount_->table();
  {
    ContentChangeScope shrinking(&table, ino_, 100);  // a truncate to 100 bytes, in flight
    NodeInfo n;
    EXPECT_EQ(table.GetSettled(ino_, &n), EAGAIN);
  }
  {
    ContentChangeScope growing(&table, ino_, kSize + 1);  // a growing truncate adds zeros only
    NodeInfo n;
    EXPECT_EQ(table.GetSettled(ino_, &n), 0);
  }
}

TEST_F(SettledCopyTest, FlushMeetingAHalfDoneRewriteStoresTheFileWhole) {
  FlushReport first;
  ASSERT_TRUE(mount_->Flush(FlushOptions{}, &first).ok());  // data.bin 'A' is in the store
  // Written again (same bytes): dirty, so the next flush packs it from the cache.
  ASSERT_EQ(fs().Write(ino_, 0, "A", 1), 0);
  std::shared_ptr<UniqueFd> fd;
  Filesystem::WriteScope scope;
  BeginHalfRewrite('B', &fd, &scope);
  auto flushing = std::async(std::launch::async, [&] {
    FlushReport report;
    return mount_->Flush(FlushOptions{}, &report);
  });
  EXPECT_EQ(flushing.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  FinishRewrite('B', fd, &scope);
  ASSERT_EQ(flushing.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  Status s = flushing.get();
  ASSERT_TRUE(s.ok()) << s.ToString();

  auto fresh = Open("c2");
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(ReadAll(*fresh->filesystem(), "data.bin") == std::string(kSize, 'B'))
      << "the store holds a torn data.bin";
}

}  // namespace
}  // namespace ccfs
