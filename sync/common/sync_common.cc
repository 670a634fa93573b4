#include "sync/common/sync_common.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

namespace ccfs {

Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read token file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  const char* ws = " \t\r\n";
  size_t b = token.find_first_not_of(ws);
  if (b == std::string::npos) return Status::InvalidArgument("token file " + path + " is empty");
  size_t e = token.find_last_not_of(ws);
  return token.substr(b, e - b + 1);
}

Result<std::string> ResolveSyncToken(const std::string& token_file) {
  if (!token_file.empty()) return ReadTokenFile(token_file);
  const char* env = std::getenv("CCFS_SYNC_TOKEN");
  if (env != nullptr && *env != '\0') return std::string(env);
  return Status::InvalidArgument("no sync token: pass --sync-token-file or set CCFS_SYNC_TOKEN");
}

std::string CurrentHostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

std::string CurrentUsername() {
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return "";
}

std::string NowRfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

std::string RandomHex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  out.reserve(bytes * 2);
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out += kHex[v >> 4];
    out += kHex[v & 0xf];
  }
  return out;
}

}  // namespace ccfs
