#include "store/objects/curl_handle.h"

#include <mutex>

namespace ccfs {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace ccfs
