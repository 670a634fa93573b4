#include "fs/lifecycle/daemon.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace ccfs {

namespace {

// For steps whose failure changes nothing that follows: say so in the log.
void LogIfFailed(const Status& s, const char* what) {
  if (!s.ok()) spdlog::warn("{}: {}", what, s.ToString());
}

sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR2);  // internal: stop the watcher
  return set;
}

int ExitCodeFor(const Status& s) {
  if (s.ok()) return 0;
  return s.IsPreconditionFailed() ? 3 : 1;
}

}  // namespace

SignalWatcher::SignalWatcher() {
  sigset_t set = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

SignalWatcher::~SignalWatcher() {
  if (started_) {
    pthread_kill(thread_.native_handle(), SIGUSR2);
    thread_.join();
  }
}

void SignalWatcher::Start(std::function<void(int)> on_signal) {
  started_ = true;
  thread_ = std::thread([fn = std::move(on_signal)] {
    sigset_t set = WatchedSignals();
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGUSR2) return;
      fn(sig);
    }
  });
}

Status EndMount(Mount& mount, int busy_wait_ms, FlushReport* report) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_wait_ms);
  Status s;
  for (;;) {
    s = mount.RequestUnmount(/*lazy_if_busy=*/false);
    if (s.ok() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (s.ok()) {
    mount.WaitUntilUnmounted();
    return mount.Finish(report);
  }
  // Still in use (a process left behind keeps a file open): save what is
  // there now, then detach; the stragglers lose the mount.
  spdlog::warn("{} stays busy ({}); flushing while mounted, then detaching",
               mount.options().mountpoint, s.ToString());
  Status flushed = mount.Flush(FlushOptions{}, report);
  LogIfFailed(mount.RequestUnmount(/*lazy_if_busy=*/true), "detaching the busy mount");
  mount.WaitUntilUnmounted();
  Status final_flush = mount.Finish(report);
  return flushed.ok() ? final_flush : flushed;
}

int Daemonize(const std::string& log_path, const std::function<int(const ReadyFn&)>& run) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::cerr << "ccfs mount: pipe: " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::cerr << "ccfs mount: fork: " << std::strerror(errno) << "\n";
    return 1;
  }
  if (pid > 0) {
    ::close(fds[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof(buf))) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      msg.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    if (msg.rfind("ok", 0) == 0) return 0;
    if (msg.empty()) {
      std::cerr << "ccfs mount: the mount process ended before mounting (see " << log_path << ")\n";
      return 1;
    }
    // "<code> <message>"
    size_t sp = msg.find(' ');
    int code = std::atoi(msg.substr(0, sp).c_str());
    std::cerr << "ccfs mount: " << (sp == std::string::npos ? msg : msg.substr(sp + 1)) << "\n";
    return code == 0 ? 1 : code;
  }
  // Child: its own session, no terminal, output to the log.
  ::close(fds[0]);
  ::setsid();
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd >= 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
  }
  int ready_fd = fds[1];
  bool reported = false;
  ReadyFn ready = [&](const Status& s) {
    if (reported) return;
    reported = true;
    std::string msg =
        s.ok() ? "ok"
               : std::to_string(ExitCodeFor(s) == 3 ? 3 : (s.IsInvalidArgument() ? 2 : 1)) + " " +
                     s.ToString();
    ssize_t ignored = ::write(ready_fd, msg.data(), msg.size());
    (void)ignored;
    ::close(ready_fd);
  };
  int code = run(ready);
  if (!reported) ::close(ready_fd);
  std::fflush(nullptr);
  ::_exit(code);
}

int ServeMount(std::unique_ptr<ObjectStore> store, const MountOptions& options,
               const ReadyFn& ready) {
  SignalWatcher signals;  // before any thread starts
  auto prepared = Mount::Prepare(std::move(store), options);
  if (!prepared.ok()) {
    ready(prepared.status());
    return ExitCodeFor(prepared.status()) == 3 ? 3 : 1;
  }
  std::unique_ptr<Mount> mount = std::move(prepared).value();
  Status started = mount->Start();
  if (!started.ok()) {
    ready(started);
    return 1;
  }
  ready(Status::OK());
  spdlog::info("mounted {} at {} (cache {})", options.workspace, options.mountpoint,
               mount->cache_root());
  Mount* m = mount.get();
  signals.Start([m](int sig) {
    spdlog::warn("signal {}: unmounting {}", sig, m->options().mountpoint);
    Status s = m->RequestUnmount(/*lazy_if_busy=*/false);
    if (!s.ok()) {
      // Busy: flush what is there, then detach so the process can end.
      FlushReport report;
      LogIfFailed(m->Flush(FlushOptions{}, &report), "flushing the busy mount");
      LogIfFailed(m->RequestUnmount(/*lazy_if_busy=*/true), "detaching the busy mount");
    }
  });
  mount->WaitUntilUnmounted();
  FlushReport report;
  Status flushed = mount->Finish(&report);
  if (flushed.ok()) {
    spdlog::info("unmounted {}: {}", options.mountpoint,
                 report.nothing_to_flush ? "nothing to flush" : "flushed, ETag " + report.new_etag);
  } else {
    spdlog::error("unmounted {}; the final flush failed: {}", options.mountpoint,
                  flushed.ToString());
  }
  return ExitCodeFor(flushed);
}

}  // namespace ccfs
