// AwsConfig resolution against a scrubbed environment and temporary AWS
// files: precedence of flags, environment and profiles, endpoint and
// addressing choice.
#include "store/objects/aws_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

namespace ccfs {
namespace {

const char* const kAwsVars[] = {"AWS_ACCESS_KEY_ID",
                                "AWS_SECRET_ACCESS_KEY",
                                "AWS_SESSION_TOKEN",
                                "AWS_REGION",
                                "AWS_DEFAULT_REGION",
                                "AWS_ENDPOINT_URL_S3",
                                "AWS_ENDPOINT_URL",
                                "AWS_PROFILE",
                                "AWS_SHARED_CREDENTIALS_FILE",
                                "AWS_CONFIG_FILE",
                                "HOME"};

// Saves and clears every variable the resolver reads, points HOME at a fresh
// temp dir, and restores it all afterwards (also when a test fails).
class AwsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kAwsVars) {
      const char* v = std::getenv(name);
      saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
      unsetenv(name);
    }
    char tmpl[] = "/tmp/ccfs-awscfg-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    setenv("HOME", dir_.c_str(), 1);
  }

  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Write(const std::string& relative, const std::string& text) {
    std::filesystem::path p = std::filesystem::path(dir_) / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

  AwsConfig Resolve(const StoreOptions& opts = {}, const std::string& bucket = "bucket") {
    Result<AwsConfig> r = ResolveAwsConfig(opts, bucket);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : AwsConfig{};
  }

  std::string dir_;
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST_F(AwsConfigTest, EnvironmentOnly) {
  setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
  setenv("AWS_SESSION_TOKEN", "token-env", 1);
  setenv("AWS_REGION", "eu-west-3", 1);
  AwsConfig c = Resolve();
  EXPECT_EQ(c.access_key, "AKENV");
  EXPECT_EQ(c.secret_key, "secret-env");
  EXPECT_EQ(c.session_token, "token-env");
  EXPECT_EQ(c.region, "eu-west-3");
  EXPECT_EQ(c.endpoint, "https://s3.eu-west-3.amazonaws.com");
  EXPECT_TRUE(c.virtual_hosted);
  EXPECT_EQ(c.credentials_source, "environment");
}

TEST_F(AwsConfigTest, DefaultRegionAndFallbacks) {
  setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
  EXPECT_EQ(Resolve().region, "us-east-1");
  setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
  EXPECT_EQ(Resolve().region, "ap-south-1");
  setenv("AWS_REGION", "eu-north-1", 1);  // AWS_REGION beats AWS_DEFAULT_REGION
  EXPECT_EQ(Resolve().region, "eu-north-1");
  StoreOptions o;
  o.region = "sa-east-1";  // the flag beats both
  EXPECT_EQ(Resolve(o).region, "sa-east-1");
}

TEST_F(AwsConfigTest, DefaultProfileFromHomeFiles) {
  Write(".aws/credentials",
        "# comment\n[default]\naws_access_key_id = AKFILE\naws_secret_access_key = s3cr3t\n"
        "\n[other]\naws_access_key_id=AKOTHER\naws_secret_access_key=other-secret\n"
        "aws_session_token = tok\n");
  Write(".aws/config",
        "[default]\nregion = eu-central-1\ns3 =\n  addressing_style = virtual\n"
        "[profile other]\nregion = us-west-2\nendpoint_url = http://minio.local:9000/\n");
  AwsConfig c = Resolve();
  EXPECT_EQ(c.access_key, "AKFILE");
  EXPECT_EQ(c.secret_key, "s3cr3t");
  EXPECT_EQ(c.session_token, "");
  EXPECT_EQ(c.region, "eu-central-1");
  EXPECT_EQ(c.endpoint, "https://s3.eu-central-1.amazonaws.com");
  EXPECT_NE(c.credentials_source.find("profile default"), std::string::npos);

  setenv("AWS_PROFILE", "other", 1);
  c = Resolve();
  EXPECT_EQ(c.access_key, "AKOTHER");
  EXPECT_EQ(c.session_token, "tok");
  EXPECT_EQ(c.region, "us-west-2");
  EXPECT_EQ(c.endpoint, "http://minio.local:9000");
  EXPECT_FALSE(c.virtual_hosted);  // not amazonaws.com: path-style
}

TEST_F(AwsConfigTest, ExplicitFilePathsAndProfileFlag) {
  Write("elsewhere/creds", "[ci]\naws_access_key_id = AKCI\naws_secret_access_key = ci-secret\n");
  Write("elsewhere/config", "[profile ci]\nregion = ca-central-1\n");
  setenv("AWS_SHARED_CREDENTIALS_FILE", (dir_ + "/elsewhere/creds").c_str(), 1);
  setenv("AWS_CONFIG_FILE", (dir_ + "/elsewhere/config").c_str(), 1);
  StoreOptions o;
  o.profile = "ci";
  AwsConfig c = Resolve(o);
  EXPECT_EQ(c.access_key, "AKCI");
  EXPECT_EQ(c.region, "ca-central-1");
}

TEST_F(AwsConfigTest, EnvironmentKeysBeatProfileFileButNotProfileFlag) {
  Write(".aws/credentials",
        "[default]\naws_access_key_id = AKFILE\naws_secret_access_key = f\n"
        "[flag]\naws_access_key_id = AKFLAG\naws_secret_access_key = g\n");
  setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "e", 1);
  EXPECT_EQ(Resolve().access_key, "AKENV");
  setenv("AWS_PROFILE", "flag", 1);  // AWS_PROFILE does not beat explicit env keys
  EXPECT_EQ(Resolve().access_key, "AKENV");
  StoreOptions o;
  o.profile = "flag";  // a profile given by flag does
  EXPECT_EQ(Resolve(o).access_key, "AKFLAG");
}

TEST_F(AwsConfigTest, CredentialsInConfigFile) {
  Write(".aws/config",
        "[profile cfgonly]\naws_access_key_id = AKCFG\naws_secret_access_key = c\nregion = x-1\n");
  setenv("AWS_PROFILE", "cfgonly", 1);
  AwsConfig c = Resolve();
  EXPECT_EQ(c.access_key, "AKCFG");
  EXPECT_EQ(c.region, "x-1");
}

TEST_F(AwsConfigTest, MissingProfileOrCredentialsIsAnError) {
  StoreOptions o;
  o.profile = "nope";
  Result<AwsConfig> r = ResolveAwsConfig(o, "bucket");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);

  r = ResolveAwsConfig(StoreOptions{}, "bucket");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsPermissionDenied());
  EXPECT_NE(r.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

TEST_F(AwsConfigTest, EndpointPrecedence) {
  setenv("AWS_ACCESS_KEY_ID", "AK", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "S", 1);
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7480", 1);
  EXPECT_EQ(Resolve().endpoint, "http://127.0.0.1:7480");
  setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000/", 1);
  AwsConfig c = Resolve();
  EXPECT_EQ(c.endpoint, "http://127.0.0.1:9000");
  EXPECT_FALSE(c.virtual_hosted);
  StoreOptions o;
  o.endpoint = "https://s3.us-east-2.amazonaws.com";
  c = Resolve(o);
  EXPECT_EQ(c.endpoint, "https://s3.us-east-2.amazonaws.com");
  EXPECT_TRUE(c.virtual_hosted);
}

TEST_F(AwsConfigTest, AddressingOverridesAndDottedBuckets) {
  setenv("AWS_ACCESS_KEY_ID", "AK", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "S", 1);
  EXPECT_FALSE(Resolve({}, "my.dotted.bucket").virtual_hosted);  // not a TLS host label
  StoreOptions o;
  o.addressing = "path";
  EXPECT_FALSE(Resolve(o).virtual_hosted);
  o.addressing = "virtual";
  o.endpoint = "http://localhost:9000";
  EXPECT_TRUE(Resolve(o).virtual_hosted);
  o.addressing = "sideways";
  EXPECT_TRUE(ResolveAwsConfig(o, "bucket").status().IsInvalidArgument());
}

TEST_F(AwsConfigTest, BadEndpointsAreRejected) {
  setenv("AWS_ACCESS_KEY_ID", "AK", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "S", 1);
  for (const char* bad : {"127.0.0.1:7480", "ftp://host", "http://host/path", "http://",
                          "http://h:x", "http://user@host"}) {
    StoreOptions o;
    o.endpoint = bad;
    EXPECT_TRUE(ResolveAwsConfig(o, "bucket").status().IsInvalidArgument()) << bad;
  }
}

TEST(ParseEndpointUrl, Parts) {
  Result<EndpointUrl> e = ParseEndpointUrl("HTTP://[::1]:7480/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->scheme, "http");
  EXPECT_EQ(e->host, "[::1]");
  EXPECT_EQ(e->port, "7480");
  e = ParseEndpointUrl("https://s3.amazonaws.com");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "s3.amazonaws.com");
  EXPECT_EQ(e->port, "");
}

TEST(ParseIni, SectionsCommentsAndNesting) {
  IniFile ini = ParseIni(
      "top = ignored\r\n[a]\r\nk = v = w\n; c\n# c\n[ b ]\nx=1\nnested =\n  y = 2\nz = "
      "3\n[empty]\n");
  EXPECT_EQ(ini.count(""), 0u);
  EXPECT_EQ(ini["a"]["k"], "v = w");
  EXPECT_EQ(ini["b"]["x"], "1");
  EXPECT_EQ(ini["b"]["nested"], "");
  EXPECT_EQ(ini["b"].count("y"), 0u);
  EXPECT_EQ(ini["b"]["z"], "3");
  EXPECT_EQ(ini.count("empty"), 1u);
}

}  // namespace
}  // namespace ccfs
