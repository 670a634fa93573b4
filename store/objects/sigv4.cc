#include "store/objects/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>
#include <map>

namespace ccfs {

const char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

namespace {

std::string Hex(const unsigned char* data, size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

// HMAC-SHA256(key, msg) as raw bytes.
std::string HmacSha256(const std::string& key, const std::string& msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Trims leading/trailing whitespace and collapses inner runs of spaces to one,
// as the canonical header form requires.
std::string CanonicalHeaderValue(const std::string& v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

}  // namespace

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, sizeof(digest));
}

std::string UriEncode(const std::string& in, bool keep_slash) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size() * 3 / 2);
  for (unsigned char c : in) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

std::string CanonicalQueryString(const QueryList& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

SigV4Signature SignV4(const SigV4Request& req, const SigV4Credentials& creds,
                      const std::string& region, const std::string& service,
                      const std::string& amz_date) {
  SigV4Signature sig;
  sig.added_headers.emplace_back("x-amz-date", amz_date);
  if (!creds.session_token.empty()) {
    sig.added_headers.emplace_back("x-amz-security-token", creds.session_token);
  }

  // Lowercased name -> values in order of appearance; std::map sorts names.
  std::map<std::string, std::vector<std::string>> headers;
  headers["host"].push_back(CanonicalHeaderValue(req.host));
  for (const auto& [name, value] : req.headers) {
    std::string lower = ToLower(name);
    if (lower == "host" || lower == "x-amz-date") continue;  // always ours
    headers[lower].push_back(CanonicalHeaderValue(value));
  }
  for (const auto& [name, value] : sig.added_headers) headers[name].push_back(value);

  std::string canonical_headers;
  std::string signed_headers;
  for (const auto& [name, values] : headers) {
    canonical_headers += name;
    canonical_headers.push_back(':');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) canonical_headers.push_back(',');
      canonical_headers += values[i];
    }
    canonical_headers.push_back('\n');
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += name;
  }

  sig.canonical_request = req.method + "\n" + req.canonical_uri + "\n" +
                          CanonicalQueryString(req.query) + "\n" + canonical_headers + "\n" +
                          signed_headers + "\n" + req.payload_hash;

  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  sig.string_to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + Sha256Hex(sig.canonical_request);

  std::string key = HmacSha256("AWS4" + creds.secret_key, date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  key = HmacSha256(key, "aws4_request");
  const std::string raw = HmacSha256(key, sig.string_to_sign);
  sig.signature = Hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());

  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + sig.signature;
  return sig;
}

std::string AmzDateNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace ccfs
