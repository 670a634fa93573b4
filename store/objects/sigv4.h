// SigV4: AWS Signature Version 4 request signing (header-based), plus the
// hashing and URI-encoding helpers that S3 requests need. Pure functions over
// strings, so the AWS test-suite vectors can check them byte for byte.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ccfs {

using HeaderList = std::vector<std::pair<std::string, std::string>>;
using QueryList = std::vector<std::pair<std::string, std::string>>;

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(const std::string& data);
// SHA-256 of the empty string: the payload hash of bodiless requests.
extern const char kEmptySha256[];

// RFC 3986 percent-encoding as SigV4 defines it: A-Z a-z 0-9 - _ . ~ stay,
// every other byte becomes %XX (uppercase hex); '/' stays only when
// `keep_slash` (object paths), never in query names/values.
std::string UriEncode(const std::string& in, bool keep_slash);

// "k1=v1&k2=v2": names and values UriEncode'd, sorted by encoded name then
// value. Used both as the sent query string and in the canonical request, so
// the two cannot disagree.
std::string CanonicalQueryString(const QueryList& query);

struct SigV4Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // "" when none; signed as x-amz-security-token
};

struct SigV4Request {
  // Members default-initialised so designated initialisers may omit them.
  std::string method{};         // "GET", "PUT", ...
  std::string host{};           // the Host header as sent: "host" or "host:port"
  std::string canonical_uri{};  // the path exactly as sent (already encoded)
  QueryList query{};            // raw (unencoded) names and values
  HeaderList headers{};         // further headers to sign (any case, raw values)
  std::string payload_hash{};   // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // value of the Authorization header
  // Headers the signature covers that the caller must send besides its own:
  // x-amz-date, and x-amz-security-token when a session token is set.
  HeaderList added_headers;
};

// Signs `req` for `region`/`service` at `amz_date` ("20150830T123600Z").
// Headers: names lowercased, values trimmed with inner runs of spaces
// collapsed, repeated names joined with ',' in order; host and x-amz-date
// are always signed.
SigV4Signature SignV4(const SigV4Request& req, const SigV4Credentials& creds,
                      const std::string& region, const std::string& service,
                      const std::string& amz_date);

// The current UTC time as "YYYYMMDDTHHMMSSZ".
std::string AmzDateNow();

}  // namespace ccfs
