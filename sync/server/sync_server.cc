#include "sync/server/sync_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "sync/common/github_url.h"
#include "sync/server/server_db.h"
#include "sync/server/server_faults.h"

namespace ccfs {
namespace {

using nlohmann::json;
constexpr int64_t kMaxReadLimit = 100000;

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void ReplyError(httplib::Response& res, int status, const std::string& msg) {
  Reply(res, status, json{{"error", msg}});
}

// Replies with the Status as an HTTP error: NotFound 404, bad input 400, else 500.
void ReplyStatus(httplib::Response& res, const Status& s) {
  int code = s.IsNotFound() ? 404 : s.IsInvalidArgument() ? 400 : 500;
  ReplyError(res, code, s.message());
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// Parses the request body as a JSON object; replies 400 and returns false otherwise.
bool ParseBody(const httplib::Request& req, httplib::Response& res, json* out) {
  *out = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded() || !out->is_object()) {
    ReplyError(res, 400, "body must be a JSON object");
    return false;
  }
  return true;
}

bool GetString(const json& j, const char* key, std::string* out, bool required = true) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return !required;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return !required || !out->empty();
}

bool ValidFileName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

}  // namespace

struct SyncServer::Impl {
  SyncServerOptions options;
  std::unique_ptr<SyncServerDb> db;
  httplib::Server http;
  SyncFaultInjector faults;
  std::thread thread;
  int port = 0;
  std::atomic<bool> stopped{false};

  std::mutex stats_mu;
  int64_t requests = 0;
  int64_t unauthorized = 0;
  std::map<std::string, int64_t> by_path;

  using Fn = std::function<void(const httplib::Request&, httplib::Response&)>;

  // Every API handler goes through here: count, authenticate, inject faults.
  httplib::Server::Handler Api(Fn fn) {
    return [this, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res) {
      bool authorized =
          ConstantTimeEquals(req.get_header_value("Authorization"), "Bearer " + options.token);
      {
        std::lock_guard<std::mutex> lock(stats_mu);
        ++requests;
        ++by_path[req.method + " " + req.path];
        if (!authorized) ++unauthorized;
      }
      if (!authorized) {
        ReplyError(res, 401, "missing or wrong bearer token");
        return;
      }
      std::optional<SyncFault> fault;
      if (options.enable_test_endpoints) fault = faults.Take(req.method, req.path);
      if (fault && !fault->after_apply) return InjectFault(*fault, req, res);
      try {
        fn(req, res);
      } catch (const std::exception& e) {
        ReplyError(res, 500, std::string("internal error: ") + e.what());
      }
      // The request took effect, but the client hears a failure: what a
      // crash or a proxy between reply and client does to a real server.
      if (fault) InjectFault(*fault, req, res);
    };
  }

  httplib::Server::Handler TestOnly(Fn fn) {
    return [this, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res) {
      if (!ConstantTimeEquals(req.get_header_value("Authorization"), "Bearer " + options.token)) {
        ReplyError(res, 401, "missing or wrong bearer token");
        return;
      }
      fn(req, res);
    };
  }

  void InjectFault(const SyncFault& fault, const httplib::Request& req, httplib::Response& res) {
    if (fault.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fault.delay_ms));
    if (fault.drop) return DropMidReply(res);
    res.headers.erase("Retry-After");
    if (fault.retry_after_s >= 0) {
      res.set_header("Retry-After", std::to_string(fault.retry_after_s));
    }
    if (fault.status == 409 && req.path == "/api/v1/sync/chunk") {
      json body = json::parse(req.body, nullptr, false);
      std::string session_id, file_name;
      int64_t last = 0;
      if (body.is_object() && GetString(body, "session_id", &session_id) &&
          GetString(body, "file_name", &file_name)) {
        auto real = db->LastLine(session_id, file_name);
        if (real.ok()) last = std::max<int64_t>(0, *real - fault.rewind);
      }
      Reply(res, 409, json{{"last_synced_line", last}});
      return;
    }
    ReplyError(res, fault.status, "injected fault");
  }

  // Sends the status line, the headers and half of the body (the real reply
  // when the handler ran, else a stand-in 200), then closes the connection:
  // the provider's false makes httplib drop it with Content-Length unmet.
  static void DropMidReply(httplib::Response& res) {
    std::string body =
        res.body.empty() ? std::string(R"({"last_synced_line": 0, "x": 1})") : std::move(res.body);
    if (res.status < 200 || res.status == -1) res.status = 200;
    res.body.clear();
    // httplib sends no Content-Length for a provider; without one a client
    // would take the close for the end of a complete reply.
    res.set_header("Content-Length", std::to_string(body.size()));
    const size_t half = body.size() / 2;
    res.set_content_provider(
        body.size(), "application/json",
        [body = std::move(body), half](size_t offset, size_t, httplib::DataSink& sink) {
          if (offset < half) sink.write(body.data() + offset, half - offset);
          return offset >= half ? false : true;
        });
  }

  void HandleInit(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!ParseBody(req, res, &body)) return;
    std::string external_id, transcript_path;
    if (!GetString(body, "external_id", &external_id) ||
        !GetString(body, "transcript_path", &transcript_path, false)) {
      return ReplyError(res, 400, "external_id (string) required");
    }
    json metadata = body.value("metadata", json::object());
    if (!metadata.is_object()) return ReplyError(res, 400, "metadata must be an object");
    auto init = db->InitSession(external_id, transcript_path, metadata);
    if (!init.ok()) return ReplyStatus(res, init.status());
    json files = json::object();
    for (const auto& [name, last] : init->files) files[name] = {{"last_synced_line", last}};
    Reply(res, 200, json{{"session_id", init->session_id}, {"files", files}});
  }

  void HandleChunk(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!ParseBody(req, res, &body)) return;
    std::string session_id, file_name, file_type;
    if (!GetString(body, "session_id", &session_id) || !GetString(body, "file_name", &file_name) ||
        !ValidFileName(file_name) || !GetString(body, "file_type", &file_type) ||
        (file_type != "transcript" && file_type != "agent")) {
      return ReplyError(res, 400, "session_id, file_name, file_type (transcript|agent) required");
    }
    auto first = body.find("first_line");
    auto lines = body.find("lines");
    if (first == body.end() || !first->is_number_integer() || first->get<int64_t>() < 1 ||
        lines == body.end() || !lines->is_array()) {
      return ReplyError(res, 400, "first_line (>= 1) and lines (array) required");
    }
    std::vector<std::string> text;
    text.reserve(lines->size());
    for (const json& l : *lines) {
      if (!l.is_string()) return ReplyError(res, 400, "lines must be strings");
      text.push_back(l.get<std::string>());
    }
    json metadata = body.value("metadata", json::object());
    auto r = db->AppendLines(session_id, file_name, file_type, first->get<int64_t>(), text,
                             metadata.is_object() ? metadata : json::object());
    if (!r.ok()) return ReplyStatus(res, r.status());
    Reply(res, r->gap ? 409 : 200, json{{"last_synced_line", r->last_synced_line}});
  }

  void HandleEvent(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!ParseBody(req, res, &body)) return;
    std::string session_id, event_type, timestamp;
    if (!GetString(body, "session_id", &session_id) ||
        !GetString(body, "event_type", &event_type) || !GetString(body, "timestamp", &timestamp)) {
      return ReplyError(res, 400, "session_id, event_type, timestamp required");
    }
    json payload = body.value("payload", json::object());
    Status s = db->AddEvent(session_id, event_type, timestamp, payload.dump());
    if (!s.ok()) return ReplyStatus(res, s);
    Reply(res, 200, json{{"success", true}});
  }

  void HandleSummary(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!ParseBody(req, res, &body)) return;
    std::string summary;
    if (!GetString(body, "summary", &summary, false)) {
      return ReplyError(res, 400, "summary (string) required");
    }
    Status s = db->SetSummary(req.matches[1], summary);
    if (!s.ok()) return ReplyStatus(res, s);
    Reply(res, 200, json{{"status", "ok"}});
  }

  void HandleGitHubLink(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!ParseBody(req, res, &body)) return;
    std::string url, title, source;
    if (!GetString(body, "url", &url) || !GetString(body, "title", &title, false) ||
        !GetString(body, "source", &source, false)) {
      return ReplyError(res, 400, "url required");
    }
    std::optional<GitHubRef> ref = ParseGitHubUrl(url);
    if (!ref) return ReplyError(res, 400, "not a GitHub commit or pull request URL");
    auto r = db->AddGitHubLink(req.matches[1], *ref, title, source);
    if (!r.ok()) return ReplyStatus(res, r.status());
    const GitHubRef& g = r->second;
    Reply(res, 200,
          json{{"id", r->first},
               {"link_type", g.link_type},
               {"url", g.url},
               {"owner", g.owner},
               {"repo", g.repo},
               {"ref", g.ref}});
  }

  void HandleList(const httplib::Request&, httplib::Response& res) {
    auto r = db->ListSessions();
    if (!r.ok()) return ReplyStatus(res, r.status());
    Reply(res, 200, *r);
  }

  void HandleReadLines(const httplib::Request& req, httplib::Response& res) {
    int64_t from = 1, limit = kMaxReadLimit;
    try {
      if (req.has_param("from_line")) from = std::stoll(req.get_param_value("from_line"));
      if (req.has_param("limit")) limit = std::stoll(req.get_param_value("limit"));
    } catch (const std::exception&) {
      return ReplyError(res, 400, "from_line and limit must be integers");
    }
    if (from < 1 || limit < 1) return ReplyError(res, 400, "from_line and limit must be >= 1");
    auto r = db->ReadLines(req.matches[1], req.matches[2], from, std::min(limit, kMaxReadLimit));
    if (!r.ok()) return ReplyStatus(res, r.status());
    Reply(res, 200, *r);
  }

  void HandleAddFault(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!ParseBody(req, res, &body)) return;
    auto rule = faults.AddFromJson(body);
    if (!rule.ok()) return ReplyStatus(res, rule.status());
    if (rule->rate > 0) {
      // The seed goes to the log too, so a failing run can be replayed.
      spdlog::info("sync-server: steady faults on {}: rate {}, seed {}, after_apply {}",
                   rule->path_prefix, rule->rate, rule->seed, rule->after_apply);
    }
    Reply(res, 200, json{{"status", "ok"}, {"seed", rule->seed}});
  }

  void HandleStats(const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(stats_mu);
    Reply(res, 200,
          json{{"requests", requests}, {"unauthorized", unauthorized}, {"by_path", by_path}});
  }

  void Routes() {
    using Req = const httplib::Request&;
    using Res = httplib::Response&;
    http.Post("/api/v1/sync/init", Api([this](Req q, Res r) { HandleInit(q, r); }));
    http.Post("/api/v1/sync/chunk", Api([this](Req q, Res r) { HandleChunk(q, r); }));
    http.Post("/api/v1/sync/event", Api([this](Req q, Res r) { HandleEvent(q, r); }));
    http.Patch(R"(/api/v1/sessions/([^/]+)/summary)",
               Api([this](Req q, Res r) { HandleSummary(q, r); }));
    http.Post(R"(/api/v1/sessions/([^/]+)/github-links)",
              Api([this](Req q, Res r) { HandleGitHubLink(q, r); }));
    http.Get("/api/v1/sessions", Api([this](Req q, Res r) { HandleList(q, r); }));
    http.Get(R"(/api/v1/sessions/([^/]+)/files/([^/]+))",
             Api([this](Req q, Res r) { HandleReadLines(q, r); }));
    if (options.enable_test_endpoints) {
      http.Post("/api/v1/_test/faults", TestOnly([this](Req q, Res r) { HandleAddFault(q, r); }));
      http.Delete("/api/v1/_test/faults", TestOnly([this](Req, Res r) {
                    faults.Clear();
                    Reply(r, 200, json{{"status", "ok"}});
                  }));
      http.Get("/api/v1/_test/stats", TestOnly([this](Req q, Res r) { HandleStats(q, r); }));
    }
  }
};

SyncServer::SyncServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SyncServer::~SyncServer() { Stop(); }

Result<std::unique_ptr<SyncServer>> SyncServer::Start(const SyncServerOptions& options) {
  if (options.token.empty()) return Status::InvalidArgument("sync server: empty token");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  CCFS_ASSIGN_OR_RETURN(impl->db, SyncServerDb::Open(options.db_path));
  impl->http.set_payload_max_length(options.max_body_bytes);
  // Replies go out in more than one write; with Nagle on, the second waits
  // for the client's delayed ACK (~40 ms per request on a kept-alive
  // connection), which would cap a sidecar at ~25 chunks/s.
  impl->http.set_tcp_nodelay(true);
  // Short keep-alive so Stop() does not wait long on idle client connections.
  impl->http.set_keep_alive_timeout(1);
  impl->http.set_read_timeout(30, 0);
  impl->http.set_write_timeout(30, 0);
  impl->Routes();
  if (options.port == 0) {
    impl->port = impl->http.bind_to_any_port(options.host);
  } else if (impl->http.bind_to_port(options.host, options.port)) {
    impl->port = options.port;
  } else {
    impl->port = -1;
  }
  if (impl->port <= 0) {
    return Status::Unavailable("sync server: cannot listen on " + options.host + ":" +
                               std::to_string(options.port));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->http.listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so wait for it: otherwise
  // an early Stop() would leave the thread serving forever.
  for (int i = 0; i < 5000 && !raw->http.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<SyncServer>(new SyncServer(std::move(impl)));
}

void SyncServer::Stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int SyncServer::port() const { return impl_->port; }

std::string SyncServer::url() const {
  const std::string& h = impl_->options.host;
  std::string host = h.find(':') != std::string::npos ? "[" + h + "]" : h;
  return "http://" + host + ":" + std::to_string(impl_->port);
}

Result<std::pair<std::string, int>> ParseListenAddress(const std::string& addr) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("--listen wants HOST:PORT");
  std::string host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(addr.substr(colon + 1), &used);
    if (used != addr.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) return Status::InvalidArgument("bad port in --listen " + addr);
  return std::make_pair(host, port);
}

}  // namespace ccfs
