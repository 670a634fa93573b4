// Uploads cut by a TCP reset on a reused keep-alive connection (what
// tests/tools/fault_proxy.py's reset_mid_request does against RGW). curl
// retries such a request by itself on a fresh connection, which needs the
// body rewound; without a seek callback that fails with
// CURLE_SEND_FAIL_REWIND (65), which was not retried: the PUT failed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "scoped_env.h"
#include "store/objects/object_store.h"

namespace ccfs {
namespace {

// Answers PUTs with 200 on keep-alive connections, except request number
// `cut_request` (0-based, over all connections), whose body it reads only
// half of before resetting the connection (RST, not FIN).
class ResettingServer {
 public:
  explicit ResettingServer(int cut_request) : cut_request_(cut_request) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen";
      return;
    }
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ResettingServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Bodies of the requests answered with 200.
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> l(mu_);
    return bodies_;
  }
  int requests() const { return requests_.load(); }

 private:
  bool Readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int r = poll(&p, 1, 50);
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
    return false;
  }
  bool Fill(int fd, std::string* buf) {
    if (!Readable(fd)) return false;
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf->append(tmp, static_cast<size_t>(n));
    return true;
  }
  static void Reset(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
  }

  // Serves one connection; returns when it is closed or reset.
  void ServeConnection(int fd) {
    std::string buf;
    for (;;) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!Fill(fd, &buf)) return (void)close(fd);
      }
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      size_t length = 0;
      if (size_t p = head.find("Content-Length: "); p != std::string::npos) {
        length = std::strtoull(head.c_str() + p + 16, nullptr, 10);
      }
      const int index = requests_++;
      if (head.find("Expect: 100-continue") != std::string::npos) {
        const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)!send(fd, cont, sizeof cont - 1, MSG_NOSIGNAL);
      }
      const size_t want = index == cut_request_ ? length / 2 : length;
      while (buf.size() < want) {
        if (!Fill(fd, &buf)) return (void)close(fd);
      }
      if (index == cut_request_) return Reset(fd);
      {
        std::lock_guard<std::mutex> l(mu_);
        bodies_.push_back(buf.substr(0, length));
      }
      buf.erase(0, length);
      const std::string ok = "HTTP/1.1 200 OK\r\nETag: \"e" + std::to_string(index) +
                             "\"\r\nContent-Length: 0\r\n\r\n";
      (void)!send(fd, ok.data(), ok.size(), MSG_NOSIGNAL);
    }
  }

  void Serve() {
    while (!stop_) {
      if (!Readable(listen_fd_)) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) ServeConnection(fd);
    }
  }

  const int cut_request_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> bodies_;
};

class S3ResetTest : public ::testing::Test {
 protected:
  S3ResetTest()
      : key_("AWS_ACCESS_KEY_ID", "AKFAKE"),
        secret_("AWS_SECRET_ACCESS_KEY", "fake-secret-do-not-print"),
        token_("AWS_SESSION_TOKEN", nullptr),
        profile_("AWS_PROFILE", nullptr) {}

  std::unique_ptr<ObjectStore> Open(const ResettingServer& server) {
    StoreOptions opts;
    opts.endpoint = server.url();
    opts.max_retries = 3;
    auto r = OpenStore("s3://bkt/pre", opts);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r.value()) : nullptr;
  }

  // Writes `data` to a fresh temp file; removed with the fixture.
  std::string TempFile(const std::string& data) {
    char tmpl[] = "/tmp/ccfs-s3reset-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string path = dir_ + "/body";
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }
  ~S3ResetTest() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  ScopedEnv key_, secret_, token_, profile_;
  std::string dir_;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  return s;
}

TEST_F(S3ResetTest, InMemoryBodyCutOnAReusedConnectionIsSentAgainWhole) {
  ResettingServer server(/*cut_request=*/1);
  auto store = Open(server);
  ASSERT_TRUE(store->PutBytes("first", "warm the connection", {}, nullptr).ok());
  const std::string body = Pattern(200 * 1024);
  ObjectInfo info;
  Status s = store->PutBytes("second", body, {}, &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_TRUE(bodies[1] == body) << "the retried upload is not byte-exact";
}

TEST_F(S3ResetTest, FileBodyCutOnAReusedConnectionIsSentAgainWhole) {
  ResettingServer server(/*cut_request=*/1);
  auto store = Open(server);
  ASSERT_TRUE(store->PutBytes("first", "warm the connection", {}, nullptr).ok());
  const std::string body = Pattern(300 * 1024 + 5);
  Status s = store->PutFile("second", TempFile(body), {}, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_TRUE(bodies[1] == body) << "the retried upload is not byte-exact";
}

TEST_F(S3ResetTest, ExpectContinueUploadCutOnAReusedConnectionIsSentAgainWhole) {
  ResettingServer server(/*cut_request=*/1);
  auto store = Open(server);
  ASSERT_TRUE(store->PutBytes("first", "warm the connection", {}, nullptr).ok());
  const std::string body = Pattern(3 << 20);  // above the 100-continue threshold
  Status s = store->PutFile("second", TempFile(body), {}, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_TRUE(bodies[1] == body) << "the retried upload is not byte-exact";
}

}  // namespace
}  // namespace ccfs
