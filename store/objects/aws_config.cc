#include "store/objects/aws_config.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ccfs {
namespace {

std::string Trim(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : Trim(v);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string HomeFile(const char* env_name, const char* relative) {
  std::string path = Env(env_name);
  if (!path.empty()) {
    if (path.rfind("~/", 0) == 0) path = Env("HOME") + path.substr(1);
    return path;
  }
  std::string home = Env("HOME");
  if (home.empty()) return "";
  return home + "/" + relative;
}

// The profile's section in ~/.aws/config: "default" or "profile NAME" (the
// CLI also accepts a bare "[NAME]" there, so fall back to that).
const std::map<std::string, std::string>* ConfigSection(const IniFile& config,
                                                        const std::string& profile) {
  auto it = config.find("profile " + profile);
  if (it != config.end()) return &it->second;
  it = config.find(profile);
  if (it != config.end()) return &it->second;
  return nullptr;
}

std::string Lookup(const std::map<std::string, std::string>* section, const std::string& key) {
  if (section == nullptr) return "";
  auto it = section->find(key);
  return it == section->end() ? "" : it->second;
}

// A bucket name that is also a valid DNS label sequence without dots, so it
// can be the first label of a TLS host name.
bool VirtualHostable(const std::string& bucket) {
  if (bucket.empty() || bucket.size() > 63) return false;
  for (char c : bucket) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return bucket.front() != '-' && bucket.back() != '-';
}

}  // namespace

IniFile ParseIni(const std::string& text) {
  IniFile ini;
  std::string section;
  bool in_section = false;
  std::istringstream in(text);
  std::string raw;
  while (std::getline(in, raw)) {
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      if (close == std::string::npos) continue;
      section = Trim(line.substr(1, close - 1));
      in_section = true;
      ini[section];  // an empty section still names a profile
      continue;
    }
    // Indented lines continue a nested block ("s3 =\n  addressing_style = path"),
    // which ccfs does not read.
    if (std::isspace(static_cast<unsigned char>(raw[0]))) continue;
    size_t eq = line.find('=');
    if (!in_section || eq == std::string::npos) continue;
    std::string key = Trim(line.substr(0, eq));
    std::string value = Trim(line.substr(eq + 1));
    if (!key.empty()) ini[section][key] = value;
  }
  return ini;
}

Result<IniFile> ReadIniFile(const std::string& path) {
  if (path.empty()) return IniFile{};
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    if (errno == ENOENT || errno == ENOTDIR) return IniFile{};
    return Status::FromErrno("read " + path, errno);
  }
  std::ostringstream buf;
  buf << f.rdbuf();
  return ParseIni(buf.str());
}

Result<EndpointUrl> ParseEndpointUrl(const std::string& url) {
  EndpointUrl out;
  size_t sep = url.find("://");
  if (sep == std::string::npos) {
    return Status::InvalidArgument("S3 endpoint '" + url +
                                   "' must be a URL with http:// or https://");
  }
  out.scheme = url.substr(0, sep);
  for (char& c : out.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out.scheme != "http" && out.scheme != "https") {
    return Status::InvalidArgument("S3 endpoint '" + url + "': scheme must be http or https");
  }
  std::string rest = url.substr(sep + 3);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) {
    return Status::InvalidArgument("S3 endpoint '" + url +
                                   "' must be scheme://host[:port] (no path, query or user)");
  }
  size_t port_colon = std::string::npos;
  if (rest.front() == '[') {  // IPv6 literal
    size_t close = rest.find(']');
    if (close == std::string::npos)
      return Status::InvalidArgument("S3 endpoint '" + url + "': bad IPv6 host");
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':')
        return Status::InvalidArgument("S3 endpoint '" + url + "': bad host");
      port_colon = close + 1;
    }
  } else {
    port_colon = rest.find(':');
  }
  out.host = rest.substr(0, port_colon);
  if (port_colon != std::string::npos) {
    out.port = rest.substr(port_colon + 1);
    bool digits = !out.port.empty() && out.port.size() <= 5;
    for (char c : out.port) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits) return Status::InvalidArgument("S3 endpoint '" + url + "': bad port");
  }
  if (out.host.empty()) return Status::InvalidArgument("S3 endpoint '" + url + "': empty host");
  return out;
}

Result<AwsConfig> ResolveAwsConfig(const StoreOptions& opts, const std::string& bucket) {
  AwsConfig cfg;
  const bool explicit_profile = !opts.profile.empty();
  std::string profile = explicit_profile ? opts.profile : Env("AWS_PROFILE");
  if (profile.empty()) profile = "default";

  const std::string creds_path = HomeFile("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
  const std::string config_path = HomeFile("AWS_CONFIG_FILE", ".aws/config");
  Result<IniFile> creds_file = ReadIniFile(creds_path);
  if (!creds_file.ok()) return creds_file.status();
  Result<IniFile> config_file = ReadIniFile(config_path);
  if (!config_file.ok()) return config_file.status();

  const std::map<std::string, std::string>* creds_section = nullptr;
  if (auto it = creds_file->find(profile); it != creds_file->end()) creds_section = &it->second;
  const std::map<std::string, std::string>* config_section = ConfigSection(*config_file, profile);
  const bool profile_named = explicit_profile || !Env("AWS_PROFILE").empty();
  if (profile_named && creds_section == nullptr && config_section == nullptr) {
    return Status::InvalidArgument("AWS profile '" + profile + "' not found in " + creds_path +
                                   " or " + config_path);
  }

  // Credentials. Like the AWS CLI: explicit keys in the environment beat the
  // files, but a profile asked for by flag beats the environment.
  std::string env_key = Env("AWS_ACCESS_KEY_ID");
  std::string env_secret = Env("AWS_SECRET_ACCESS_KEY");
  if (!explicit_profile && !env_key.empty() && !env_secret.empty()) {
    cfg.access_key = env_key;
    cfg.secret_key = env_secret;
    cfg.session_token = Env("AWS_SESSION_TOKEN");
    cfg.credentials_source = "environment";
  } else {
    for (const auto& [section, path] :
         {std::pair{creds_section, creds_path}, std::pair{config_section, config_path}}) {
      std::string key = Lookup(section, "aws_access_key_id");
      std::string secret = Lookup(section, "aws_secret_access_key");
      if (key.empty() || secret.empty()) continue;
      cfg.access_key = key;
      cfg.secret_key = secret;
      cfg.session_token = Lookup(section, "aws_session_token");
      cfg.credentials_source = "profile " + profile + " in " + path;
      break;
    }
  }
  if (cfg.access_key.empty()) {
    return Status::PermissionDenied(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile '" +
        profile + "' to " + creds_path);
  }

  // Region.
  cfg.region = opts.region;
  if (cfg.region.empty()) cfg.region = Env("AWS_REGION");
  if (cfg.region.empty()) cfg.region = Env("AWS_DEFAULT_REGION");
  if (cfg.region.empty()) cfg.region = Lookup(config_section, "region");
  if (cfg.region.empty()) cfg.region = "us-east-1";

  // Endpoint.
  std::string endpoint = opts.endpoint;
  if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL");
  if (endpoint.empty()) endpoint = Lookup(config_section, "endpoint_url");
  if (endpoint.empty()) endpoint = "https://s3." + cfg.region + ".amazonaws.com";
  Result<EndpointUrl> parsed = ParseEndpointUrl(endpoint);
  if (!parsed.ok()) return parsed.status();
  cfg.endpoint =
      parsed->scheme + "://" + parsed->host + (parsed->port.empty() ? "" : ":" + parsed->port);

  // Addressing.
  if (opts.addressing == "path") {
    cfg.virtual_hosted = false;
  } else if (opts.addressing == "virtual") {
    cfg.virtual_hosted = true;
  } else if (opts.addressing.empty()) {
    cfg.virtual_hosted = EndsWith(parsed->host, ".amazonaws.com") && VirtualHostable(bucket);
  } else {
    return Status::InvalidArgument("S3 addressing '" + opts.addressing +
                                   "' is not one of: path, virtual");
  }
  return cfg;
}

}  // namespace ccfs
