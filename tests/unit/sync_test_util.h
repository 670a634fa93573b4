// Helpers for the sync tests: a temp dir that cleans up, the real reference
// server in process (with test endpoints), and a small HTTP client for
// reading back what the server holds and switching faults on.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sync/server/sync_server.h"

namespace ccfs::testing {

inline constexpr const char* kTestToken = "test-token-0123456789";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ccfs-sync-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline std::unique_ptr<SyncServer> StartServer(const std::string& db_path, int port = 0,
                                               size_t max_body = 16u << 20) {
  SyncServerOptions o;
  o.db_path = db_path;
  o.token = kTestToken;
  o.port = port;
  o.enable_test_endpoints = true;
  o.max_body_bytes = max_body;
  auto s = SyncServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

// A test's view of the server: plain HTTP, JSON in and out.
class ApiProbe {
 public:
  ApiProbe(const std::string& host, int port, std::string token = kTestToken)
      : client_(host, port), token_(std::move(token)) {
    client_.set_connection_timeout(5, 0);
    client_.set_read_timeout(10, 0);
  }
  explicit ApiProbe(const SyncServer& server) : ApiProbe("127.0.0.1", server.port()) {}

  struct Reply {
    int status = 0;
    nlohmann::json body;
    std::string retry_after;
  };

  Reply Send(const std::string& method, const std::string& path, const std::string& body = "",
             bool auth = true) {
    httplib::Headers headers;
    if (auth) headers.emplace("Authorization", "Bearer " + token_);
    auto call = [&]() -> httplib::Result {
      if (method == "GET") return client_.Get(path, headers);
      if (method == "PATCH") return client_.Patch(path, headers, body, "application/json");
      if (method == "DELETE") return client_.Delete(path, headers);
      return client_.Post(path, headers, body, "application/json");
    };
    httplib::Result r = call();
    Reply out;
    if (!r) return out;
    out.status = r->status;
    out.body = nlohmann::json::parse(r->body, nullptr, false);
    out.retry_after = r->get_header_value("Retry-After");
    return out;
  }
  Reply Post(const std::string& path, const nlohmann::json& body) {
    return Send("POST", path, body.dump());
  }

  void AddFault(const nlohmann::json& spec) {
    Reply r = Post("/api/v1/_test/faults", spec);
    ASSERT_EQ(r.status, 200) << r.body.dump();
  }
  void ClearFaults() {
    Reply r = Send("DELETE", "/api/v1/_test/faults");
    ASSERT_EQ(r.status, 200) << r.body.dump();
  }
  int64_t Requests() {
    Reply r = Send("GET", "/api/v1/_test/stats");
    return r.status == 200 ? r.body.value("requests", int64_t{-1}) : -1;
  }

  nlohmann::json Sessions() {
    Reply r = Send("GET", "/api/v1/sessions");
    return r.status == 200 ? r.body["sessions"] : nlohmann::json::array();
  }
  nlohmann::json Session(const std::string& external_id) {
    for (const auto& s : Sessions()) {
      if (s["external_id"] == external_id) return s;
    }
    return nullptr;
  }

  // Every line the server holds for a file (empty when it has none).
  std::vector<std::string> Lines(const std::string& external_id, const std::string& file_name) {
    std::vector<std::string> out;
    int64_t from = 1;
    while (true) {
      Reply r = Send("GET", "/api/v1/sessions/" + external_id + "/files/" + file_name +
                                "?from_line=" + std::to_string(from));
      if (r.status != 200) return out;
      for (const auto& l : r.body["lines"]) out.push_back(l.get<std::string>());
      if (r.body["next_from_line"].is_null()) return out;
      from = r.body["next_from_line"].get<int64_t>();
    }
  }

 private:
  httplib::Client client_;
  std::string token_;
};

// Polls `pred` until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& pred,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

inline void AppendToFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
}

}  // namespace ccfs::testing
