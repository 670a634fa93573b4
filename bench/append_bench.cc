// append_bench: O_APPEND latency of transcript-like lines (open once, then
// one write(2) per line, as Claude Code appends to a session .jsonl) in
// several directories, measured in the same run so they can be compared.
// `--pattern files` instead times open(O_CREAT)-write-close of that many new
// small files (settings, todos, file-history entries), removed afterwards.
//
//   ccfs_append_bench --dir /local --dir /mnt/ccfs --lines 5000 --min 200 --max 10240
// Prints one JSON object per directory: p50/p99/mean microseconds per append
// (or per open-write-close).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

struct Result {
  double p50_us = 0, p99_us = 0, mean_us = 0;
  bool ok = false;
};

Result Summarise(std::vector<double> us) {
  Result r;
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  r.p50_us = us[us.size() / 2];
  r.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  r.mean_us = sum / static_cast<double>(us.size());
  r.ok = true;
  return r;
}

// Each file: open(O_CREAT|O_TRUNC) + one write + close, timed together.
Result RunSmallFiles(const std::string& dir, int files, int min_size, int max_size, unsigned seed) {
  std::string prefix = dir + "/small-bench-" + std::to_string(::getpid()) + "-";
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> size(min_size, max_size);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(files));
  std::string body;
  bool ok = true;
  int made = 0;
  for (; made < files; ++made) {
    body.assign(static_cast<size_t>(size(rng)), 'y');
    std::string path = prefix + std::to_string(made);
    auto t0 = std::chrono::steady_clock::now();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ssize_t w = fd < 0 ? -1 : ::write(fd, body.data(), body.size());
    int c = fd < 0 ? -1 : ::close(fd);
    auto t1 = std::chrono::steady_clock::now();
    if (fd < 0 || w != static_cast<ssize_t>(body.size()) || c != 0) {
      std::perror(path.c_str());
      ok = false;
      ++made;
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  for (int i = 0; i < made; ++i) ::unlink((prefix + std::to_string(i)).c_str());
  if (!ok) return Result{};
  return Summarise(std::move(us));
}

Result RunOne(const std::string& dir, int lines, int min_size, int max_size, unsigned seed) {
  Result r;
  std::string path = dir + "/append-bench-" + std::to_string(::getpid()) + ".jsonl";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    return r;
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> size(min_size, max_size);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(lines));
  std::string line;
  for (int i = 0; i < lines; ++i) {
    int n = size(rng);
    line.assign(static_cast<size_t>(n - 1), 'x');
    line += '\n';
    auto t0 = std::chrono::steady_clock::now();
    ssize_t w = ::write(fd, line.data(), line.size());
    auto t1 = std::chrono::steady_clock::now();
    if (w != static_cast<ssize_t>(line.size())) {
      std::perror("write");
      ::close(fd);
      return r;
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  return Summarise(std::move(us));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"O_APPEND latency of transcript-like lines"};
  std::vector<std::string> dirs;
  int lines = 5000, min_size = 200, max_size = 10240;
  std::string pattern = "append";
  app.add_option("--dir", dirs, "Directory to append in (repeatable)")->required();
  app.add_option("--lines", lines, "Lines (or files) per directory");
  app.add_option("--pattern", pattern,
                 "append: O_APPEND lines to one file; files: open-write-close new files")
      ->check(CLI::IsMember({"append", "files"}));
  app.add_option("--min", min_size, "Smallest line, bytes");
  app.add_option("--max", max_size, "Largest line, bytes");
  CLI11_PARSE(app, argc, argv);
  if (lines <= 0 || min_size < 1 || max_size < min_size) {
    std::fprintf(stderr, "bad sizes\n");
    return 2;
  }
  int rc = 0;
  for (const auto& d : dirs) {
    Result r = pattern == "files" ? RunSmallFiles(d, lines, min_size, max_size, 42)
                                  : RunOne(d, lines, min_size, max_size, 42);
    if (!r.ok) {
      rc = 1;
      continue;
    }
    nlohmann::json j = {{"dir", d},           {"pattern", pattern}, {"lines", lines},
                        {"p50_us", r.p50_us}, {"p99_us", r.p99_us}, {"mean_us", r.mean_us}};
    std::printf("%s\n", j.dump().c_str());
  }
  return rc;
}
