// FakeS3: a scripted single-threaded HTTP/1.1 server on 127.0.0.1 that plays
// an S3 endpoint in tests. A handler sees each request and returns the raw
// bytes to answer with (which may be a deliberately cut response), so tests
// can inject the faults a healthy server never shows.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ccfs {

struct FakeRequest {
  std::string method;
  std::string target;                          // path and query as sent
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string Header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
};

// What the server does with one request: write `raw` (a whole HTTP
// response, or a deliberately cut one), then keep or drop the connection.
struct FakeReply {
  std::string raw;
  bool close = false;
};

inline FakeReply Reply(int status, const std::string& body = "",
                       const std::vector<std::pair<std::string, std::string>>& headers = {},
                       bool head = false) {
  std::string raw = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  bool has_length = false;
  for (const auto& [n, v] : headers) {
    raw += n + ": " + v + "\r\n";
    has_length = has_length || n == "Content-Length";
  }
  if (!has_length) raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  raw += "\r\n";
  if (!head) raw += body;
  return {raw, false};
}

inline std::string ErrorXml(const std::string& code) {
  return "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message>m</Message></Error>";
}

// A single-threaded scripted HTTP/1.1 server (keep-alive, one connection at
// a time: the client under test is sequential).
class FakeS3 {
 public:
  using Handler = std::function<FakeReply(const FakeRequest&)>;

  explicit FakeS3(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 16) != 0) {
      ADD_FAILURE() << "fake server cannot listen";
      return;
    }
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~FakeS3() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(listen_fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  int connections() const { return connections_.load(); }

  std::vector<FakeRequest> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

 private:
  // Waits (bounded by stop_) until `fd` is readable.
  bool WaitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int r = poll(&p, 1, 50);
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
    return false;
  }

  bool ReadSome(int fd, std::string* buf) {
    if (!WaitReadable(fd)) return false;
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf->append(tmp, static_cast<size_t>(n));
    return true;
  }

  // Parses one request from the connection; false when it closed.
  bool ReadRequest(int fd, std::string* buf, FakeRequest* req) {
    size_t end;
    while ((end = buf->find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(fd, buf)) return false;
    }
    std::string head = buf->substr(0, end);
    buf->erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    size_t sp1 = first.find(' ');
    size_t sp2 = first.find(' ', sp1 + 1);
    req->method = first.substr(0, sp1);
    req->target = first.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t v = line.find_first_not_of(' ', colon + 1);
        req->headers[name] = v == std::string::npos ? "" : line.substr(v);
      }
      pos = e + 2;
    }
    size_t length = std::strtoull(req->Header("content-length").c_str(), nullptr, 10);
    if (req->Header("expect") == "100-continue") {
      const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      (void)!send(fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL);
    }
    while (buf->size() < length) {
      if (!ReadSome(fd, buf)) return false;
    }
    req->body = buf->substr(0, length);
    buf->erase(0, length);
    return true;
  }

  void Serve() {
    while (!stop_) {
      if (!WaitReadable(listen_fd_)) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      std::string buf;
      FakeRequest req;
      while (!stop_ && ReadRequest(fd, &buf, &req)) {
        {
          std::lock_guard<std::mutex> l(mu_);
          requests_.push_back(req);
        }
        FakeReply reply = handler_(req);
        (void)!send(fd, reply.raw.data(), reply.raw.size(), MSG_NOSIGNAL);
        if (reply.close) break;
        req = FakeRequest{};
      }
      close(fd);
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<FakeRequest> requests_;
};

}  // namespace ccfs
