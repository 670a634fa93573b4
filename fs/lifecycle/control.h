// The control channel of a running mount: a unix socket in the per-user
// runtime dir ($CCFS_RUNTIME_DIR, else $XDG_RUNTIME_DIR/ccfs, else
// /tmp/ccfs-<uid>; mode 0700), named by a hash of the mountpoint's absolute
// path, so `ccfs flush|status|umount MOUNTPOINT` find the daemon without
// touching the mount itself. Only the same user (or root) may connect.
//
// Protocol: one JSON object per line. Requests {"op": "status"},
// {"op": "flush", "force": bool}, {"op": "wait-exit"}; each gets one reply
// line; "wait-exit" is answered {"waiting": true} at once and then, when the
// mount ends, with the final flush's result ({"event": "exit", ...}).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "store/base/status.h"
#include "store/base/unique_fd.h"

namespace ccfs {

// The runtime dir, created (0700) if needed.
Result<std::string> ControlRuntimeDir();
// Socket path for an absolute, normalised mountpoint.
Result<std::string> ControlSocketPath(const std::string& mountpoint);
// Every socket in the runtime dir (for `ccfs status` without a mountpoint).
std::vector<std::string> ListControlSockets();

// Absolute path of `path` without resolving the last component (so a stuck
// mount is never stat'ed): realpath(dirname) + "/" + basename.
Result<std::string> AbsoluteMountpoint(const std::string& path);

class ControlConnection {
 public:
  explicit ControlConnection(UniqueFd fd) : fd_(std::move(fd)) {}
  // Writes one JSON line (errors ignored: the peer may have gone).
  void Send(const nlohmann::json& message);

 private:
  std::mutex mu_;
  UniqueFd fd_;
};

using ControlHandler =
    std::function<void(const nlohmann::json& request, std::shared_ptr<ControlConnection> conn)>;

class ControlServer {
 public:
  static Result<std::unique_ptr<ControlServer>> Start(const std::string& socket_path,
                                                      ControlHandler handler);
  ~ControlServer();
  void Stop();

 private:
  ControlServer(std::string path, UniqueFd listener, ControlHandler handler)
      : path_(std::move(path)), listener_(std::move(listener)), handler_(std::move(handler)) {}
  void AcceptLoop();
  void Serve(UniqueFd fd);

  std::string path_;
  UniqueFd listener_;
  ControlHandler handler_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

// Client side: sends `request`, returns the first reply line (parsed).
// `timeout_ms` < 0 waits forever. NotFound when no mount listens there.
class ControlClient {
 public:
  static Result<std::unique_ptr<ControlClient>> Connect(const std::string& socket_path);
  Status Send(const nlohmann::json& request);
  // Reads the next reply line; Unavailable on timeout or when the peer closed.
  Status Receive(nlohmann::json* reply, int timeout_ms);

 private:
  explicit ControlClient(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  std::string buffer_;
};

Status ControlCall(const std::string& socket_path, const nlohmann::json& request,
                   nlohmann::json* reply, int timeout_ms);

}  // namespace ccfs
