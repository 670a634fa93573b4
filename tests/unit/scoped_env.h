// ScopedEnv: sets (or unsets, with nullptr) an environment variable for one
// scope and restores the previous value, also when a test fails.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace ccfs {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace ccfs
