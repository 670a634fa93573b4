// AwsConfig: where an S3 store gets its credentials, region and endpoint,
// resolved the way the AWS CLI does it, so a user's existing setup just works.
//
// Precedence (first that says something wins):
//   credentials: an explicit StoreOptions::profile -> that profile's keys;
//                else AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//                else the profile ($AWS_PROFILE, else "default") from
//                AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), then from
//                AWS_CONFIG_FILE (~/.aws/config).
//   region:      StoreOptions::region, AWS_REGION, AWS_DEFAULT_REGION, the
//                profile's `region` in the config file, "us-east-1".
//   endpoint:    StoreOptions::endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
//                the profile's `endpoint_url`, https://s3.<region>.amazonaws.com.
//   addressing:  StoreOptions::addressing ("path"/"virtual"), else virtual-hosted
//                for *.amazonaws.com endpoints and path-style for anything else.
#pragma once

#include <map>
#include <string>

#include "store/base/status.h"
#include "store/objects/object_store.h"

namespace ccfs {

struct AwsConfig {
  std::string access_key;
  std::string secret_key;     // never logged or put in a message
  std::string session_token;  // "" when none; never logged
  std::string region;
  std::string endpoint;  // "scheme://host[:port]", no trailing slash
  bool virtual_hosted = false;
  std::string credentials_source;  // "environment" or "profile NAME in FILE", for messages
};

// Resolves the configuration from `opts`, the environment and the AWS files.
// `bucket` decides whether virtual-hosted addressing is possible (a bucket
// with dots cannot be a TLS host label).
Result<AwsConfig> ResolveAwsConfig(const StoreOptions& opts, const std::string& bucket);

// An INI file as the AWS tools write it: section -> key -> value. Keys and
// section names are kept as written (trimmed); comments (# ;) and nested
// sub-sections (indented lines) are ignored.
using IniFile = std::map<std::string, std::map<std::string, std::string>>;

// Parses INI text. Never fails: lines it does not understand are skipped.
IniFile ParseIni(const std::string& text);

// Reads and parses `path`; a missing file is an empty IniFile.
Result<IniFile> ReadIniFile(const std::string& path);

// Splits "scheme://host[:port][/]" into its parts; rejects anything else
// (other schemes, paths, user info, query).
struct EndpointUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // without port
  std::string port;    // "" when not given
};
Result<EndpointUrl> ParseEndpointUrl(const std::string& url);

}  // namespace ccfs
