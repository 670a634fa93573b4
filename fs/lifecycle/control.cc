#include "fs/lifecycle/control.h"

#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "fs/tree/cache_dir.h"
#include "store/objects/sigv4.h"

namespace ccfs {

namespace {

constexpr size_t kMaxLine = 1 << 20;

Status FillAddress(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr->sun_path)) {
    return Status::InvalidArgument("control socket path too long: " + path);
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return Status::OK();
}

bool PeerAllowed(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == ::geteuid() || cred.uid == 0;
}

}  // namespace

Result<std::string> ControlRuntimeDir() {
  std::string dir;
  if (const char* d = std::getenv("CCFS_RUNTIME_DIR"); d != nullptr && d[0] == '/') {
    dir = d;
  } else if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && x[0] == '/') {
    dir = std::string(x) + "/ccfs";
  } else {
    dir = "/tmp/ccfs-" + std::to_string(::geteuid());
  }
  CCFS_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return Status::FromErrno("stat " + dir, errno);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    return Status::PermissionDenied("runtime dir " + dir + " is not a directory of ours");
  }
  if ((st.st_mode & 0077) != 0) ::chmod(dir.c_str(), 0700);
  return dir;
}

Result<std::string> ControlSocketPath(const std::string& mountpoint) {
  auto dir = ControlRuntimeDir();
  CCFS_RETURN_IF_ERROR(dir.status());
  return *dir + "/" + Sha256Hex(mountpoint).substr(0, 20) + ".sock";
}

std::vector<std::string> ListControlSockets() {
  std::vector<std::string> out;
  auto dir = ControlRuntimeDir();
  if (!dir.ok()) return out;
  DIR* d = ::opendir(dir->c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".sock") == 0) {
      out.push_back(*dir + "/" + name);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> AbsoluteMountpoint(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty()) return Status::InvalidArgument("empty mountpoint");
  size_t slash = p.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
  std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  if (base == "." || base == "..") {
    char buf[PATH_MAX];
    if (::realpath(p.c_str(), buf) == nullptr) return Status::FromErrno("realpath " + p, errno);
    return std::string(buf);
  }
  char buf[PATH_MAX];
  if (::realpath(dir.c_str(), buf) == nullptr) return Status::FromErrno("realpath " + dir, errno);
  std::string abs = buf;
  return abs == "/" ? "/" + base : abs + "/" + base;
}

void ControlConnection::Send(const nlohmann::json& message) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string line = message.dump() + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::send(fd_.get(), p, left, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& socket_path,
                                                            ControlHandler handler) {
  sockaddr_un addr;
  CCFS_RETURN_IF_ERROR(FillAddress(socket_path, &addr));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  UniqueFd listener(fd);
  // A socket left by a dead mount is replaced; a live one means the
  // mountpoint is taken (the caller checked with a connect first).
  ::unlink(socket_path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::FromErrno("bind " + socket_path, errno);
  }
  ::chmod(socket_path.c_str(), 0600);
  if (::listen(fd, 16) != 0) return Status::FromErrno("listen " + socket_path, errno);
  std::unique_ptr<ControlServer> server(
      new ControlServer(socket_path, std::move(listener), std::move(handler)));
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listener_.get(), SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  ::unlink(path_.c_str());
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
}

void ControlServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listener_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, 200);
    if (r <= 0) continue;
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    UniqueFd conn(fd);
    if (!PeerAllowed(fd)) continue;
    std::lock_guard<std::mutex> lock(mu_);
    workers_.emplace_back([this, c = std::make_shared<UniqueFd>(std::move(conn))]() mutable {
      Serve(std::move(*c));
    });
  }
}

void ControlServer::Serve(UniqueFd fd) {
  // One request per connection.
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos && line.size() < kMaxLine) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return;
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) return;
    line.append(buf, static_cast<size_t>(n));
  }
  auto conn = std::make_shared<ControlConnection>(std::move(fd));
  nlohmann::json request;
  try {
    request = nlohmann::json::parse(line.substr(0, line.find('\n')));
  } catch (const std::exception& e) {
    conn->Send({{"ok", false}, {"error", std::string("bad request: ") + e.what()}});
    return;
  }
  try {
    handler_(request, conn);
  } catch (const std::exception& e) {
    spdlog::error("control request failed: {}", e.what());
    conn->Send({{"ok", false}, {"error", e.what()}});
  }
}

Result<std::unique_ptr<ControlClient>> ControlClient::Connect(const std::string& socket_path) {
  sockaddr_un addr;
  CCFS_RETURN_IF_ERROR(FillAddress(socket_path, &addr));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  UniqueFd guard(fd);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) {
      return Status::NotFound("no ccfs mount answers at " + socket_path);
    }
    return Status::FromErrno("connect " + socket_path, err);
  }
  return std::unique_ptr<ControlClient>(new ControlClient(std::move(guard)));
}

Status ControlClient::Send(const nlohmann::json& request) {
  std::string line = request.dump() + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::send(fd_.get(), p, left, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("control send", errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return Status::OK();
}

Status ControlClient::Receive(nlohmann::json* reply, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (buffer_.find('\n') == std::string::npos) {
    int wait = -1;
    if (timeout_ms >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) return Status::Unavailable("no answer from the mount in time");
      wait = static_cast<int>(left);
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, wait);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return Status::Unavailable("no answer from the mount in time");
    ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Unavailable("the mount closed the control connection");
    buffer_.append(buf, static_cast<size_t>(n));
    if (buffer_.size() > kMaxLine) return Status::Corruption("control reply too long");
  }
  size_t nl = buffer_.find('\n');
  std::string line = buffer_.substr(0, nl);
  buffer_.erase(0, nl + 1);
  try {
    *reply = nlohmann::json::parse(line);
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("bad control reply: ") + e.what());
  }
  return Status::OK();
}

Status ControlCall(const std::string& socket_path, const nlohmann::json& request,
                   nlohmann::json* reply, int timeout_ms) {
  auto client = ControlClient::Connect(socket_path);
  CCFS_RETURN_IF_ERROR(client.status());
  CCFS_RETURN_IF_ERROR((*client)->Send(request));
  return (*client)->Receive(reply, timeout_ms);
}

}  // namespace ccfs
