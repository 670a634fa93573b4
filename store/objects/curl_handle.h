// RAII owners for libcurl handles and the one-time global setup, shared by
// the S3 client (store/objects/http_client.cc) and the sync API client
// (sync/client/sync_client.cc), so both set libcurl up the same way.
#pragma once

#include <curl/curl.h>

#include <memory>

namespace ccfs {

// curl_global_init, once per process, before the first handle. Thread-safe.
void InitCurlOnce();

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct CurlFreeDeleter {
  void operator()(char* p) const { curl_free(p); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using CurlString = std::unique_ptr<char, CurlFreeDeleter>;

// A new easy handle, after InitCurlOnce; null when libcurl cannot make one.
inline CurlEasy NewCurlEasy() {
  InitCurlOnce();
  return CurlEasy(curl_easy_init());
}

}  // namespace ccfs
