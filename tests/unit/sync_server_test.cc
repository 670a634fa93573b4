// The reference sync API server, over loopback: auth, init, chunk continuity
// (overlap, gap -> 409), the 16 MiB limit (413), events, summaries, GitHub
// links, read-back, fault injection, restart on the same DB, and the
// `ccfs sync-server` binary itself.
#include "sync/server/sync_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>

#include "sync_test_util.h"

namespace ccfs {
namespace {

using nlohmann::json;
using testing::ApiProbe;
using testing::TempDir;

class SyncServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    server_ = testing::StartServer(dir_ / "server.db");
    ASSERT_NE(server_, nullptr);
    api_ = std::make_unique<ApiProbe>(*server_);
  }

  std::string Init(const std::string& external_id, json metadata = json::object()) {
    auto r = api_->Post("/api/v1/sync/init",
                        {{"external_id", external_id},
                         {"transcript_path", "projects/-p/" + external_id + ".jsonl"},
                         {"metadata", metadata}});
    EXPECT_EQ(r.status, 200) << r.body.dump();
    return r.body.value("session_id", "");
  }

  ApiProbe::Reply Chunk(const std::string& sid, const std::string& file, int64_t first,
                        const std::vector<std::string>& lines,
                        const std::string& type = "transcript") {
    return api_->Post("/api/v1/sync/chunk", {{"session_id", sid},
                                             {"file_name", file},
                                             {"file_type", type},
                                             {"first_line", first},
                                             {"lines", lines}});
  }

  TempDir dir_;
  std::unique_ptr<SyncServer> server_;
  std::unique_ptr<ApiProbe> api_;
};

TEST_F(SyncServerTest, RejectsMissingOrWrongToken) {
  json init = {{"external_id", "s1"}, {"transcript_path", "projects/-p/s1.jsonl"}};
  EXPECT_EQ(api_->Send("POST", "/api/v1/sync/init", init.dump(), /*auth=*/false).status, 401);
  ApiProbe wrong("127.0.0.1", server_->port(), "not-the-token");
  EXPECT_EQ(wrong.Send("POST", "/api/v1/sync/init", init.dump()).status, 401);
  EXPECT_EQ(wrong.Send("GET", "/api/v1/sessions").status, 401);
  EXPECT_EQ(wrong.Send("POST", "/api/v1/_test/faults", "{}").status, 401);
  EXPECT_EQ(api_->Send("POST", "/api/v1/sync/init", init.dump()).status, 200);
}

TEST_F(SyncServerTest, InitCreatesThenResumes) {
  std::string sid = Init("s1", {{"cwd", "/home/u/app"}, {"hostname", "h1"}});
  ASSERT_FALSE(sid.empty());
  ASSERT_EQ(Chunk(sid, "s1.jsonl", 1, {"a", "b"}).status, 200);
  ASSERT_EQ(Chunk(sid, "agent-x.jsonl", 1, {"c"}, "agent").status, 200);

  auto r = api_->Post("/api/v1/sync/init", {{"external_id", "s1"}, {"transcript_path", "x"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["session_id"], sid);
  EXPECT_EQ(r.body["files"]["s1.jsonl"]["last_synced_line"], 2);
  EXPECT_EQ(r.body["files"]["agent-x.jsonl"]["last_synced_line"], 1);
  json s = api_->Session("s1");
  EXPECT_EQ(s["metadata"]["cwd"], "/home/u/app");
  EXPECT_EQ(s["metadata"]["hostname"], "h1");
  EXPECT_NE(Init("s2"), sid);
  EXPECT_EQ(api_->Post("/api/v1/sync/init", {{"transcript_path", "x"}}).status, 400);
  EXPECT_EQ(api_->Send("POST", "/api/v1/sync/init", "not json").status, 400);
}

TEST_F(SyncServerTest, ChunkOverlapIsSkippedAndGapIsConflict) {
  std::string sid = Init("s1");
  auto r = Chunk(sid, "s1.jsonl", 1, {"l1", "l2", "l3"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["last_synced_line"], 3);
  // A retry that overlaps: lines already stored are skipped, not replaced.
  r = Chunk(sid, "s1.jsonl", 2, {"OTHER2", "OTHER3", "l4"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["last_synced_line"], 4);
  // Entirely old: nothing changes.
  r = Chunk(sid, "s1.jsonl", 1, {"x"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["last_synced_line"], 4);
  // A gap: 409 with where the server stands; nothing stored.
  r = Chunk(sid, "s1.jsonl", 7, {"l7"});
  ASSERT_EQ(r.status, 409);
  EXPECT_EQ(r.body["last_synced_line"], 4);
  EXPECT_EQ(api_->Lines("s1", "s1.jsonl"), (std::vector<std::string>{"l1", "l2", "l3", "l4"}));

  // Bad requests store nothing (a chunk is all or nothing).
  json bad = {{"session_id", sid},
              {"file_name", "s1.jsonl"},
              {"file_type", "transcript"},
              {"first_line", 5},
              {"lines", json::array({"l5", 6})}};
  EXPECT_EQ(api_->Post("/api/v1/sync/chunk", bad).status, 400);
  EXPECT_EQ(Chunk("no-such-session", "s1.jsonl", 1, {"x"}).status, 404);
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 0, {"x"}).status, 400);
  EXPECT_EQ(Chunk(sid, "../evil", 5, {"x"}).status, 400);
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 5, {"x"}, "other").status, 400);
  EXPECT_EQ(api_->Lines("s1", "s1.jsonl").size(), 4u);
}

TEST_F(SyncServerTest, BodyOver16MiBIs413) {
  std::string sid = Init("s1");
  std::string big(8u << 20, 'x');
  auto r = Chunk(sid, "s1.jsonl", 1, {big, big, "tail"});  // ~16 MiB + envelope
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(api_->Lines("s1", "s1.jsonl").empty());
  r = Chunk(sid, "s1.jsonl", 1, {big, "tail"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["last_synced_line"], 2);
  // The connection is still usable after a 413.
  EXPECT_EQ(api_->Send("GET", "/api/v1/sessions").status, 200);
}

TEST_F(SyncServerTest, EventsSummaryAndGitHubLinks) {
  std::string sid = Init("s1");
  auto r = api_->Post("/api/v1/sync/event", {{"session_id", sid},
                                             {"event_type", "session_start"},
                                             {"timestamp", "2026-02-16T10:00:00Z"},
                                             {"payload", {{"k", "v"}}}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["success"], true);
  EXPECT_EQ(api_->Post("/api/v1/sync/event",
                       {{"session_id", "nope"}, {"event_type", "x"}, {"timestamp", "t"}})
                .status,
            404);

  r = api_->Send("PATCH", "/api/v1/sessions/s1/summary", json{{"summary", "Fix the bug"}}.dump());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["status"], "ok");
  EXPECT_EQ(api_->Send("PATCH", "/api/v1/sessions/nope/summary", R"({"summary":"x"})").status, 404);

  std::string base = "/api/v1/sessions/" + sid + "/github-links";
  r = api_->Post(
      base, {{"url", "https://github.com/acme/app/commit/0123abcDEF456"}, {"source", "cli_hook"}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["link_type"], "commit");
  EXPECT_EQ(r.body["owner"], "acme");
  EXPECT_EQ(r.body["repo"], "app");
  EXPECT_EQ(r.body["ref"], "0123abcdef456");
  int64_t commit_id = r.body["id"];
  r = api_->Post(base,
                 {{"url", "https://github.com/acme/app/pull/42/files"}, {"source", "cli_hook"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["link_type"], "pull_request");
  EXPECT_EQ(r.body["ref"], "42");
  EXPECT_EQ(r.body["url"], "https://github.com/acme/app/pull/42");
  r = api_->Post(base, {{"url", "https://github.com/acme/app/commit/0123abcdef456"}});
  EXPECT_EQ(r.body["id"], commit_id);  // once per URL
  EXPECT_EQ(api_->Post(base, {{"url", "https://example.com/a/b/pull/1"}}).status, 400);

  json s = api_->Session("s1");
  EXPECT_EQ(s["summary"], "Fix the bug");
  ASSERT_EQ(s["events"].size(), 1u);
  EXPECT_EQ(s["events"][0]["event_type"], "session_start");
  EXPECT_EQ(s["events"][0]["payload"]["k"], "v");
  EXPECT_EQ(s["github_links"].size(), 2u);
}

TEST_F(SyncServerTest, ReadBackFromLine) {
  std::string sid = Init("s1");
  ASSERT_EQ(Chunk(sid, "s1.jsonl", 1, {"a", "b", "c", "d"}).status, 200);
  auto r = api_->Send("GET", "/api/v1/sessions/s1/files/s1.jsonl?from_line=3");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["lines"], json::array({"c", "d"}));
  EXPECT_EQ(r.body["last_synced_line"], 4);
  r = api_->Send("GET", "/api/v1/sessions/s1/files/s1.jsonl?from_line=2&limit=2");
  EXPECT_EQ(r.body["lines"], json::array({"b", "c"}));
  EXPECT_EQ(r.body["next_from_line"], 4);
  EXPECT_EQ(api_->Send("GET", "/api/v1/sessions/s1/files/none.jsonl").status, 404);
  EXPECT_EQ(api_->Send("GET", "/api/v1/sessions/s1/files/s1.jsonl?from_line=x").status, 400);
  json list = api_->Sessions();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["files"][0]["file_name"], "s1.jsonl");
  EXPECT_EQ(list[0]["files"][0]["line_count"], 4);
}

TEST_F(SyncServerTest, InjectedFaults) {
  std::string sid = Init("s1");
  api_->AddFault({{"status", 500}, {"count", 2}, {"path", "/api/v1/sync/chunk"}});
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 1, {"a"}).status, 500);
  EXPECT_EQ(api_->Send("GET", "/api/v1/sessions").status, 200);  // reads are never faulted
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 1, {"a"}).status, 500);
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 1, {"a", "b", "c"}).status, 200);

  api_->AddFault({{"status", 429}, {"retry_after", 7}});
  auto r = Chunk(sid, "s1.jsonl", 4, {"d"});
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retry_after, "7");

  api_->AddFault({{"status", 409}, {"rewind", 2}, {"path", "/api/v1/sync/chunk"}});
  r = Chunk(sid, "s1.jsonl", 4, {"d"});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body["last_synced_line"], 1);  // 3 held, reported as 1

  api_->AddFault({{"status", 413}});
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 4, {"d"}).status, 413);
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 4, {"d"}).status, 200);

  api_->AddFault({{"status", 503}, {"count", 5}});
  ASSERT_EQ(api_->Send("DELETE", "/api/v1/_test/faults").status, 200);
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 5, {"e"}).status, 200);
  EXPECT_EQ(api_->Lines("s1", "s1.jsonl"), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(api_->Post("/api/v1/_test/faults", {{"status", 42}}).status, 400);
}

// Steady faults for the sidecar's tests: each kind, before and after the
// server applied the request, and the same seed draws the same faults.
TEST_F(SyncServerTest, SteadyFaultsOfEachKindBeforeAndAfterApplying) {
  std::string sid = Init("s2");
  auto add = [&](const json& spec) {
    auto r = api_->Post("/api/v1/_test/faults", spec);
    EXPECT_EQ(r.status, 200) << r.body.dump();
    EXPECT_TRUE(r.body.contains("seed"));
    return r.body.value("seed", uint64_t{0});
  };
  // Dropped mid-reply after applying: the client sees no reply, the lines are in.
  add({{"rate", 1.0}, {"kinds", {"drop"}}, {"after_apply", 1.0}, {"path", "/api/v1/sync/chunk"}});
  EXPECT_EQ(Chunk(sid, "s2.jsonl", 1, {"a", "b"}).status, 0);
  ASSERT_EQ(api_->Send("DELETE", "/api/v1/_test/faults").status, 200);
  EXPECT_EQ(api_->Lines("s2", "s2.jsonl"), (std::vector<std::string>{"a", "b"}));
  // Dropped before applying: nothing taken.
  add({{"rate", 1.0}, {"kinds", {"drop"}}, {"path", "/api/v1/sync/chunk"}});
  EXPECT_EQ(Chunk(sid, "s2.jsonl", 3, {"c"}).status, 0);
  // 429 after applying: Retry-After (1 s unless given) and the line is in.
  ASSERT_EQ(api_->Send("DELETE", "/api/v1/_test/faults").status, 200);
  add({{"rate", 1.0}, {"kinds", {"429"}}, {"after_apply", 1.0}, {"path", "/api/v1/sync/chunk"}});
  auto r = Chunk(sid, "s2.jsonl", 3, {"c"});
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retry_after, "1");
  ASSERT_EQ(api_->Send("DELETE", "/api/v1/_test/faults").status, 200);
  add({{"rate", 1.0}, {"kinds", {"503"}}, {"retry_after", 3}, {"path", "/api/v1/sync/chunk"}});
  r = Chunk(sid, "s2.jsonl", 4, {"d"});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.retry_after, "3");
  ASSERT_EQ(api_->Send("DELETE", "/api/v1/_test/faults").status, 200);
  EXPECT_EQ(api_->Lines("s2", "s2.jsonl"), (std::vector<std::string>{"a", "b", "c"}));

  // A mixed rate: replayable from its seed, and roughly the share asked for.
  const uint64_t seed = std::random_device{}();
  std::printf("steady fault seed %llu\n", static_cast<unsigned long long>(seed));
  auto statuses = [&] {
    EXPECT_EQ(add({{"rate", 0.5},
                   {"seed", seed},
                   {"kinds", {"500", "503", "429", "drop"}},
                   {"after_apply", 0.5},
                   {"path", "/api/v1/sync/event"}}),
              seed);
    std::vector<int> out;
    for (int i = 0; i < 200; ++i) {
      out.push_back(api_->Post("/api/v1/sync/event", {{"session_id", sid},
                                                      {"event_type", "ping"},
                                                      {"timestamp", "2025-01-01T00:00:00Z"}})
                        .status);
    }
    EXPECT_EQ(api_->Send("DELETE", "/api/v1/_test/faults").status, 200);
    return out;
  };
  std::vector<int> first = statuses();
  EXPECT_EQ(statuses(), first) << "seed " << seed;
  std::map<int, int> by_status;
  for (int st : first) ++by_status[st];
  EXPECT_GT(by_status[200], 50) << "seed " << seed;
  EXPECT_LT(by_status[200], 150) << "seed " << seed;
  for (int st : {0, 429, 500, 503}) EXPECT_GT(by_status[st], 5) << st << ", seed " << seed;
  EXPECT_EQ(api_->Post("/api/v1/_test/faults", {{"rate", 0.1}, {"kinds", {"418"}}}).status, 400);
}

TEST_F(SyncServerTest, RestartOnSamePortKeepsData) {
  std::string sid = Init("s1");
  ASSERT_EQ(Chunk(sid, "s1.jsonl", 1, {"a", "b"}).status, 200);
  int port = server_->port();
  server_->Stop();
  EXPECT_EQ(api_->Send("GET", "/api/v1/sessions").status, 0);  // nobody listening
  server_ = testing::StartServer(dir_ / "server.db", port);
  ASSERT_NE(server_, nullptr);
  EXPECT_EQ(Init("s1"), sid);
  EXPECT_EQ(Chunk(sid, "s1.jsonl", 3, {"c"}).body["last_synced_line"], 3);
}

TEST(SyncServerAddress, ParsesListen) {
  auto a = ParseListenAddress("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 0);
  a = ParseListenAddress(":8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  a = ParseListenAddress("[::1]:9");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "::1");
  EXPECT_FALSE(ParseListenAddress("localhost").ok());
  EXPECT_FALSE(ParseListenAddress("h:99999").ok());
  EXPECT_FALSE(ParseListenAddress("h:12x").ok());
}

// The real binary: prints its address, serves, stops on SIGTERM with exit 0.
TEST(SyncServerBinary, ServesAndStopsOnSigterm) {
  TempDir dir;
  {
    std::ofstream token(dir / "token");
    token << testing::kTestToken << "\n";
  }
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    std::string db = dir / "s.db", token = dir / "token";
    execl(CCFS_BINARY, CCFS_BINARY, "sync-server", "--listen", "127.0.0.1:0", "--db", db.c_str(),
          "--token-file", token.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  // Make sure the child dies even if an assertion below fails.
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};
  FILE* f = fdopen(out[0], "r");
  ASSERT_NE(f, nullptr);
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof(line), f), nullptr) << "no address printed";
  fclose(f);
  std::string first(line);
  const std::string prefix = "listening on http://127.0.0.1:";
  ASSERT_EQ(first.rfind(prefix, 0), 0u) << first;
  int port = std::stoi(first.substr(prefix.size()));
  ASSERT_GT(port, 0);

  ApiProbe api("127.0.0.1", port);
  auto r = api.Post("/api/v1/sync/init", {{"external_id", "s1"}, {"transcript_path", "p"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(api.Send("GET", "/api/v1/sessions", "", /*auth=*/false).status, 401);
  EXPECT_EQ(api.Send("GET", "/api/v1/_test/stats").status, 404);  // test endpoints are off

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  bool exited = testing::WaitFor([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                                 std::chrono::seconds(10));
  ASSERT_TRUE(exited) << "sync-server did not stop on SIGTERM";
  reaper.pid = -1;
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace ccfs
