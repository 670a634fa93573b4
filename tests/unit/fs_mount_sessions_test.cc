// The mount's session index (fs/feeds/mount_sessions.h), driven through Filesystem
// (no kernel mount, no directory walk anywhere): transcripts only in the
// store are indexed without being hydrated, appends through the mount land
// in the index (message counts, token totals; a partial line waits for its
// '\n'), a file renamed into projects/ is picked up, deleted ones go, and a
// remount keeps transcripts written here but never flushed. The index is read
// through a second connection, as `ccfs sessions` reads it.
#include <gtest/gtest.h>

#include <map>

#include "fs/feeds/mount_sessions.h"
#include "fs/lifecycle/mount.h"
#include "fs_test_util.h"
#include "sessions_test_util.h"
#include "store/objects/file_store.h"
#include "store/workspace/workspace.h"
#include "sync/sessions/session_index.h"

namespace ccfs {
namespace {

using fstest::WriteFile;
using testing::AssistantLine;
using testing::MainPath;
using testing::Usage;
using testing::UserLine;

constexpr const char* kStored = "aaaaaaaa-1111-4111-8111-111111111111";
constexpr const char* kWritten = "bbbbbbbb-2222-4222-8222-222222222222";
constexpr const char* kRenamed = "cccccccc-3333-4333-8333-333333333333";
constexpr auto kWait = std::chrono::seconds(10);

// One user prompt and one assistant reply (two blocks sharing the API
// message: its usage counts once).
std::string Turn(const std::string& n, Usage u) {
  nlohmann::json text = {{"type", "text"}, {"text", "reply " + n}};
  nlohmann::json tool = {
      {"type", "tool_use"}, {"id", "toolu_" + n}, {"name", "Bash"}, {"input", {{"c", "ls"}}}};
  return UserLine("u" + n, "", "prompt " + n) + "\n" +
         AssistantLine("a" + n, "u" + n, "msg_" + n, "req_" + n, text, u) + "\n" +
         AssistantLine("b" + n, "a" + n, "msg_" + n, "req_" + n, tool, u) + "\n";
}

class FsMountSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    WriteFile(dir_ / "src/settings.json", "{}\n");
    WriteFile(dir_ / ("src/" + MainPath(kStored)), Turn("1", {10, 20, 30, 40}));
    auto store = OpenFileStore(dir_ / "store");
    ASSERT_TRUE(store.ok());
    PushOptions po;
    po.force = true;
    PushResult pr;
    ASSERT_TRUE(PushWorkspace(**store, dir_ / "src", "ws", po, &pr).ok());
  }

  std::unique_ptr<Mount> Open(HydrateMode hydrate = HydrateMode::kLazy) {
    auto store = OpenFileStore(dir_ / "store");
    EXPECT_TRUE(store.ok());
    MountOptions o;
    o.store_url = "file://" + (dir_ / "store");
    o.workspace = "ws";
    o.mountpoint = dir_ / "unused-mountpoint";
    o.cache_root = dir_ / "cache";
    o.hydrate = hydrate;
    auto m = Mount::Prepare(std::move(store).value(), o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (!m.ok()) return nullptr;
    Status s = (*m)->StartSessionIndex();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return s.ok() ? std::move(m).value() : nullptr;
  }

  // Catches the mount's index up and reads its sessions through a second
  // connection, by session id.
  std::map<std::string, SessionSummary> Sessions(Mount& m) {
    Status s = m.sessions()->CatchUp(kWait);
    EXPECT_TRUE(s.ok()) << s.ToString();
    auto index = SessionIndex::Open(m.sessions()->db_path());
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    std::map<std::string, SessionSummary> out;
    if (!index.ok()) return out;
    std::vector<SessionSummary> list;
    EXPECT_TRUE((*index)->ListSessions(SessionFilter{}, &list).ok());
    for (auto& l : list) out[l.session_id] = l;
    return out;
  }

  uint64_t MkdirAll(Filesystem& fs, const std::string& rel_dir) {
    uint64_t dir = kRootIno;
    size_t pos = 0;
    NodeInfo n;
    while (pos < rel_dir.size()) {
      size_t slash = rel_dir.find('/', pos);
      if (slash == std::string::npos) slash = rel_dir.size();
      std::string name = rel_dir.substr(pos, slash - pos);
      int err = fs.Lookup(dir, name, &n);
      if (err == ENOENT) err = fs.MakeDir(dir, name, 0755, &n);
      EXPECT_EQ(err, 0) << rel_dir;
      dir = n.ino;
      pos = slash + 1;
    }
    return dir;
  }

  uint64_t Create(Filesystem& fs, const std::string& rel) {
    size_t slash = rel.rfind('/');
    uint64_t dir = MkdirAll(fs, rel.substr(0, slash));
    NodeInfo n;
    EXPECT_EQ(fs.CreateFile(dir, rel.substr(slash + 1), 0644, &n), 0) << rel;
    return n.ino;
  }

  static void Append(Filesystem& fs, uint64_t ino, const std::string& text) {
    NodeInfo n;
    ASSERT_EQ(fs.GetAttr(ino, &n), 0);
    ASSERT_EQ(fs.Write(ino, n.size, text.data(), text.size()), 0);
  }

  static NodeInfo Node(Filesystem& fs, const std::string& rel) {
    uint64_t dir = kRootIno;
    NodeInfo n;
    size_t pos = 0;
    for (;;) {
      size_t slash = rel.find('/', pos);
      std::string name = rel.substr(pos, slash == std::string::npos ? rel.npos : slash - pos);
      EXPECT_EQ(fs.Lookup(dir, name, &n), 0) << rel;
      if (slash == std::string::npos) return n;
      dir = n.ino;
      pos = slash + 1;
    }
  }

  fstest::TempDir dir_;
};

TEST_F(FsMountSessionsTest, StoreTranscriptsAreIndexedWithoutHydratingThem) {
  auto m = Open(HydrateMode::kBackground);  // the catch-up indexes the store
  ASSERT_NE(m, nullptr);
  auto sessions = Sessions(*m);
  ASSERT_EQ(sessions.count(kStored), 1u);
  const SessionSummary& s = sessions[kStored];
  EXPECT_EQ(s.user_messages, 1);
  EXPECT_EQ(s.assistant_messages, 1);
  EXPECT_EQ(s.tool_calls, 1);
  EXPECT_EQ(s.tokens.input, 10);
  EXPECT_EQ(s.tokens.total(), 100);
  EXPECT_EQ(Node(*m->filesystem(), MainPath(kStored)).state, ContentState::kRemote);
  EXPECT_TRUE(m->StatusJson()["sessions"]["store_indexed"].get<bool>());
}

TEST_F(FsMountSessionsTest, AppendsThroughTheMountLandInTheIndex) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  uint64_t t = Create(fs, MainPath(kWritten));
  Append(fs, t, Turn("1", {1, 2, 3, 4}));
  auto sessions = Sessions(*m);
  ASSERT_EQ(sessions.count(kWritten), 1u);
  EXPECT_EQ(sessions[kWritten].lines, 3);
  EXPECT_EQ(sessions[kWritten].assistant_messages, 1);
  EXPECT_EQ(sessions[kWritten].tokens.total(), 10);
  EXPECT_EQ(sessions.count(kStored), 1u);  // the store's, indexed at the first catch-up

  // Two more turns, the last one's final line not terminated yet.
  std::string more = Turn("2", {100, 0, 0, 0}) + Turn("3", {1000, 0, 0, 0});
  more.pop_back();
  size_t cut = more.rfind('\n') + 1;
  Append(fs, t, more.substr(0, cut + 40));
  sessions = Sessions(*m);
  EXPECT_EQ(sessions[kWritten].lines, 8);
  EXPECT_EQ(sessions[kWritten].user_messages, 3);
  EXPECT_EQ(sessions[kWritten].tokens.input, 1 + 100 + 1000);  // msg_3 counted from its 1st line
  Append(fs, t, more.substr(cut + 40) + "\n");
  sessions = Sessions(*m);
  EXPECT_EQ(sessions[kWritten].lines, 9);
  EXPECT_EQ(sessions[kWritten].assistant_messages, 3);
  EXPECT_EQ(sessions[kWritten].tool_calls, 3);
  EXPECT_EQ(sessions[kWritten].tokens.total(), 10 + 100 + 1000);

  // A truncation is a rewrite: the index follows.
  SetAttrRequest trunc;
  trunc.set_size = true;
  trunc.size = 0;
  NodeInfo n;
  ASSERT_EQ(fs.SetAttr(t, trunc, &n), 0);
  Append(fs, t, Turn("9", {7, 0, 0, 0}));
  sessions = Sessions(*m);
  EXPECT_EQ(sessions[kWritten].lines, 3);
  EXPECT_EQ(sessions[kWritten].tokens.total(), 7);
}

TEST_F(FsMountSessionsTest, RenamesIntoProjectsAndDeletionsArePickedUp) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  // Written outside projects/ (not a transcript yet), then moved in.
  uint64_t tmp = Create(fs, "tmp/draft.jsonl");
  Append(fs, tmp, Turn("1", {5, 0, 0, 0}));
  auto sessions = Sessions(*m);
  EXPECT_EQ(sessions.count(kRenamed), 0u);
  uint64_t tmp_dir = MkdirAll(fs, "tmp");
  uint64_t proj = MkdirAll(fs, std::string("projects/") + testing::kEnc);
  ASSERT_EQ(fs.Rename(tmp_dir, "draft.jsonl", proj, std::string(kRenamed) + ".jsonl", 0), 0);
  sessions = Sessions(*m);
  ASSERT_EQ(sessions.count(kRenamed), 1u);
  EXPECT_EQ(sessions[kRenamed].tokens.input, 5);
  // Appends after the rename follow the new name.
  Append(fs, tmp, Turn("2", {50, 0, 0, 0}));
  sessions = Sessions(*m);
  EXPECT_EQ(sessions[kRenamed].tokens.input, 55);

  // Renamed on to a name that is no transcript, then the store's one deleted.
  ASSERT_EQ(fs.Rename(proj, std::string(kRenamed) + ".jsonl", proj, "old.txt", 0), 0);
  ASSERT_EQ(fs.Unlink(proj, std::string(kStored) + ".jsonl"), 0);
  sessions = Sessions(*m);
  EXPECT_EQ(sessions.count(kRenamed), 0u);
  EXPECT_EQ(sessions.count(kStored), 0u);
}

TEST_F(FsMountSessionsTest, ARemoteTranscriptMovedToANewNameIsIndexedThere) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  Filesystem& fs = *m->filesystem();
  EXPECT_EQ(Sessions(*m).count(kStored), 1u);
  uint64_t proj = MkdirAll(fs, std::string("projects/") + testing::kEnc);
  uint64_t other = MkdirAll(fs, "projects/-home-u-other");
  ASSERT_EQ(
      fs.Rename(proj, std::string(kStored) + ".jsonl", other, std::string(kRenamed) + ".jsonl", 0),
      0);
  auto sessions = Sessions(*m);
  EXPECT_EQ(sessions.count(kStored), 0u);
  ASSERT_EQ(sessions.count(kRenamed), 1u);
  EXPECT_EQ(sessions[kRenamed].project_dir, "-home-u-other");
  EXPECT_EQ(sessions[kRenamed].tokens.total(), 100);
  EXPECT_EQ(Node(fs, "projects/-home-u-other/" + std::string(kRenamed) + ".jsonl").state,
            ContentState::kRemote);
}

TEST_F(FsMountSessionsTest, RemountKeepsUnflushedTranscriptsAndSendsNoRequestWhenWarm) {
  {
    auto m = Open();
    ASSERT_NE(m, nullptr);
    uint64_t t = Create(*m->filesystem(), MainPath(kWritten));
    Append(*m->filesystem(), t, Turn("1", {3, 0, 0, 0}));
    std::string got;
    ASSERT_EQ(
        m->filesystem()->Read(Node(*m->filesystem(), MainPath(kStored)).ino, 0, 1 << 20, &got),
        0);  // hydrated: a local, clean copy of the store's object
    EXPECT_EQ(Sessions(*m).size(), 2u);
  }  // gone without a flush: the next mount resumes the local changes
  for (int round = 0; round < 2; ++round) {
    auto m = Open();
    ASSERT_NE(m, nullptr);
    uint64_t before = m->store()->stats().requests.load();
    auto sessions = Sessions(*m);
    uint64_t requests = m->store()->stats().requests.load() - before;
    ASSERT_EQ(sessions.count(kWritten), 1u) << "round " << round;
    EXPECT_EQ(sessions[kWritten].tokens.input, 3);
    ASSERT_EQ(sessions.count(kStored), 1u);
    EXPECT_EQ(sessions[kStored].tokens.total(), 100);
    // Everything is indexed as of the ETags the tree has: no request.
    EXPECT_EQ(requests, 0u) << "round " << round;
  }
}

}  // namespace
}  // namespace ccfs
