// Redaction: one test per kind of secret, plus proof that ordinary text is
// untouched (byte-identical) and that JSON lines stay valid JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sync/client/redact.h"

namespace ccfs {
namespace {

using nlohmann::json;

std::string Text(std::string s) {
  RedactText(&s);
  return s;
}

// Redacts a JSON line holding `text` as a string value; checks it stays
// valid JSON and returns the redacted value.
std::string ViaJsonLine(const std::string& text) {
  std::string line = json{{"type", "user"}, {"message", {{"content", text}}}}.dump();
  std::string out;
  RedactLine(line, &out);
  json parsed = json::parse(out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << out;
  if (parsed.is_discarded()) return "";
  return parsed["message"]["content"].get<std::string>();
}

TEST(Redact, AwsAccessKeyIds) {
  EXPECT_EQ(Text("key AKIAIOSFODNN7EXAMPLE here"), "key [REDACTED] here");
  EXPECT_EQ(Text("ASIAY34FZKBOKMUTVV7A"), "[REDACTED]");
  EXPECT_EQ(ViaJsonLine("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
            "export AWS_ACCESS_KEY_ID=[REDACTED]");
  // Not 16 chars after the prefix, or glued to a word: not a key id.
  EXPECT_EQ(Text("AKIASHORT"), "AKIASHORT");
  EXPECT_EQ(Text("XAKIAIOSFODNN7EXAMPLE"), "XAKIAIOSFODNN7EXAMPLE");
}

TEST(Redact, AwsSecretKeys) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  EXPECT_EQ(Text("aws_secret_access_key = " + secret), "aws_secret_access_key = [REDACTED]");
  EXPECT_EQ(Text("AWS_SECRET_ACCESS_KEY=" + secret), "AWS_SECRET_ACCESS_KEY=[REDACTED]");
  EXPECT_EQ(Text("{\"SecretAccessKey\": \"" + secret + "\"}"),
            "{\"SecretAccessKey\": \"[REDACTED]\"}");
  // Standalone, next to an access key id (e.g. `aws configure list` output).
  EXPECT_EQ(Text("AKIAIOSFODNN7EXAMPLE " + secret), "[REDACTED] [REDACTED]");
  // A JSON member named like a secret key.
  std::string line = json{{"aws_secret_access_key", secret}, {"n", 1}}.dump();
  std::string out;
  EXPECT_TRUE(RedactLine(line, &out));
  EXPECT_EQ(out, R"({"aws_secret_access_key":"[REDACTED]","n":1})");
  // 40 chars alone, without a key name or key id nearby: left alone (could be anything).
  EXPECT_EQ(Text("token " + secret), "token " + secret);
  // A git SHA next to a key id is not a secret key.
  EXPECT_EQ(Text("AKIAIOSFODNN7EXAMPLE 0123456789abcdef0123456789abcdef01234567"),
            "[REDACTED] 0123456789abcdef0123456789abcdef01234567");
}

TEST(Redact, GitHubTokens) {
  const std::string body = "abcdefghijklmnopqrstuvwxyzABCDEF0123";  // 36 chars
  for (const char* prefix : {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}) {
    EXPECT_EQ(Text(std::string("token ") + prefix + body + "."), "token [REDACTED].") << prefix;
  }
  EXPECT_EQ(ViaJsonLine("GH_TOKEN=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123"),
            "GH_TOKEN=[REDACTED]");
  EXPECT_EQ(Text("ghp_short"), "ghp_short");
}

TEST(Redact, AnthropicKeys) {
  EXPECT_EQ(ViaJsonLine("ANTHROPIC_API_KEY=sk-ant-api03-AbCdEf0123456789_xyz-QRSTUVWXyz0123456789"),
            "ANTHROPIC_API_KEY=[REDACTED]");
}

TEST(Redact, OpenAiKeys) {
  EXPECT_EQ(Text("sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789_-AbCd"), "[REDACTED]");
  EXPECT_EQ(Text("key: sk-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789AbCdEfGh"), "key: [REDACTED]");
  // Words that merely start with sk-.
  EXPECT_EQ(Text("use sk-learn-compatible-estimators here"),
            "use sk-learn-compatible-estimators here");
  EXPECT_EQ(Text("a task-Ab3dEfGh1jKlMnOpQrStUvWx"), "a task-Ab3dEfGh1jKlMnOpQrStUvWx");
}

TEST(Redact, SlackTokens) {
  for (const char* prefix : {"xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"}) {
    EXPECT_EQ(Text(std::string("SLACK=") + prefix + "123456789012-1234567890123-AbCdEfGhIjKl"),
              "SLACK=[REDACTED]")
        << prefix;
  }
  EXPECT_EQ(Text("xoxb-not-a-token"), "xoxb-not-a-token");
}

TEST(Redact, GoogleApiKeys) {
  EXPECT_EQ(ViaJsonLine("key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW&q=x"), "key=[REDACTED]&q=x");
}

TEST(Redact, BearerCredentials) {
  EXPECT_EQ(Text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x"),
            "Authorization: Bearer [REDACTED]");
  EXPECT_EQ(ViaJsonLine("curl -H 'authorization: bearer abc123def456ghi789'"),
            "curl -H 'authorization: bearer [REDACTED]'");
  // Prose about bearer tokens stays.
  EXPECT_EQ(Text("Bearer authentication uses Bearer tokens"),
            "Bearer authentication uses Bearer tokens");
  EXPECT_EQ(Text("Bearer $TOKEN"), "Bearer $TOKEN");
}

TEST(Redact, PrivateKeyBlocks) {
  std::string key =
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\nZm9vYmFy\n-----END RSA PRIVATE "
      "KEY-----";
  EXPECT_EQ(ViaJsonLine("here:\n" + key + "\nthere"), "here:\n[REDACTED]\nthere");
  EXPECT_EQ(Text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE "
                 "KEY-----"),
            "[REDACTED]");
  // Cut off before its end: redacted to the end.
  EXPECT_EQ(Text("x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg"), "x [REDACTED]");
  // Public material stays.
  std::string cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
  EXPECT_EQ(Text(cert), cert);
}

TEST(Redact, PasswordsInUrls) {
  EXPECT_EQ(ViaJsonLine("DATABASE_URL=postgres://app:s3cr3t-pw@db.internal:5432/app"),
            "DATABASE_URL=postgres://app:[REDACTED]@db.internal:5432/app");
  EXPECT_EQ(Text("https://user:p@ss@example.com/x"), "https://user:[REDACTED]@example.com/x");
  // No password: nothing to hide.
  EXPECT_EQ(Text("ssh://git@github.com/acme/app.git"), "ssh://git@github.com/acme/app.git");
  EXPECT_EQ(Text("https://example.com:8443/a@b"), "https://example.com:8443/a@b");
}

TEST(Redact, OrdinaryLinesAreByteIdentical) {
  const std::vector<std::string> lines = {
      R"({"type":"user","message":{"role":"user","content":"Fix the failing test in app.py"},"cwd":"/home/u/app","gitBranch":"main"})",
      // Odd but valid formatting and escapes must survive untouched.
      R"({ "a" : 1.50, "b":"caf\u00e9 \/ x", "c" : [true,null] })",
      R"({"text":"see https://github.com/acme/app/pull/42 and commit 0123456789abcdef0123456789abcdef01234567"})",
      R"({"text":"Bearer authentication, sk-learn, the secret is patience, AKIA docs"})",
      "not json at all: just text with a URL https://example.com/a?b=c", ""};
  for (const std::string& line : lines) {
    std::string out;
    EXPECT_FALSE(RedactLine(line, &out)) << line;
    EXPECT_EQ(out, line);
  }
}

TEST(Redact, JsonLinesStayValidAndKeepKeyOrder) {
  std::string line =
      R"({"z":1,"a":{"cmd":"export GH=ghp_abcdefghijklmnopqrstuvwxyzABCDEF0123","list":["Bearer abcdef0123456789",2.5]},"m":"ok"})";
  std::string out;
  ASSERT_TRUE(RedactLine(line, &out));
  EXPECT_EQ(
      out,
      R"({"z":1,"a":{"cmd":"export GH=[REDACTED]","list":["Bearer [REDACTED]",2.5]},"m":"ok"})");
  // A secret spelled with JSON escapes is found in the decoded string.
  line = R"({"k":"Authorization: Bearer abc\u0031\u00322345678"})";
  ASSERT_TRUE(RedactLine(line, &out));
  EXPECT_EQ(json::parse(out)["k"], "Authorization: Bearer [REDACTED]");
}

TEST(Redact, NonJsonLinesAreRedactedAsText) {
  std::string out;
  EXPECT_TRUE(RedactLine("{broken json ghp_abcdefghijklmnopqrstuvwxyzABCDEF0123", &out));
  EXPECT_EQ(out, "{broken json [REDACTED]");
}

TEST(Redact, LongLinesAreFast) {
  // 8 MiB of tool output with one secret at the end.
  std::string text(8u << 20, 'a');
  for (size_t i = 0; i < text.size(); i += 80) text[i] = ' ';
  text += " sk-ant-api03-AbCdEf0123456789_xyz-QRSTUVWX";
  std::string line = json{{"content", text}}.dump();
  auto start = std::chrono::steady_clock::now();
  std::string out;
  ASSERT_TRUE(RedactLine(line, &out));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_NE(out.find("[REDACTED]"), std::string::npos);
  EXPECT_EQ(out.find("sk-ant-"), std::string::npos);
}

// Issue 18: only the secret changes. Numbers, spacing and the escapes of
// untouched strings stay byte for byte.
TEST(Redact, LinesChangeOnlyWhereTheSecretWas) {
  const std::string tok = "ghp_abcdefghijklmnopqrstuvwxyzABCDEF0123";
  const std::string line = R"({"cost": 1.50, "n": 1e2, "big": 12345678901234567890123, )"
                           R"("esc": "caf\u00e9 \"q\"", "cmd": "export GH=)" +
                           tok + R"(", "z" : [ 0.10 ]})";
  std::string out;
  ASSERT_TRUE(RedactLine(line, &out));
  std::string expected = line;
  expected.replace(expected.find(tok), tok.size(), "[REDACTED]");
  EXPECT_EQ(out, expected);
}

TEST(Redact, EscapedSecretsKeysAndLoneSurrogatesAreHandled) {
  std::string out;
  // A secret spelled with escapes decodes to the secret: redacted.
  ASSERT_TRUE(RedactLine(R"({"k":"\u0041KIAIOSFODNN7EXAMPLE"})", &out));
  EXPECT_EQ(out, R"({"k":"[REDACTED]"})");
  ASSERT_TRUE(RedactLine(R"({"k":"ghp\u005fabcdefghijklmnopqrstuvwxyzABCDEF0123"})", &out));
  EXPECT_EQ(out, R"({"k":"[REDACTED]"})");
  // A token used as an object key.
  ASSERT_TRUE(RedactLine(R"({"ghp_abcdefghijklmnopqrstuvwxyzABCDEF0123": 1})", &out));
  EXPECT_EQ(out, R"({"[REDACTED]": 1})");
  // A lone surrogate escape (valid for JavaScript, refused by strict
  // parsers) and a truncated PEM: the rest of the line survives, still JSON
  // for a lenient reader, the surrogate escape kept.
  const std::string line =
      R"({"a":"x \ud83d y","pem":"-----BEGIN RSA PRIVATE KEY-----\nMIIEow","n":2})";
  ASSERT_TRUE(RedactLine(line, &out));
  const std::string kept = R"({"a":"x \ud83d y","pem":")";
  EXPECT_EQ(out.substr(0, kept.size()), kept) << out;
  EXPECT_NE(out.find(R"(,"n":2})"), std::string::npos) << out;
  EXPECT_EQ(out.find("MIIEow"), std::string::npos) << out;
  // An AWS secret whose key id is in another field of the line.
  const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  ASSERT_TRUE(RedactLine(
      R"({"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretKey":")" + secret + R"("})", &out));
  EXPECT_EQ(out, R"({"accessKeyId":"[REDACTED]","secretKey":"[REDACTED]"})");
}

TEST(Redact, MoreTokenKindsAndNamedSecrets) {
  EXPECT_EQ(Text("slack xapp-1-A0123ABCDEF-1234567890123-abcdef0123456789"), "slack [REDACTED]");
  EXPECT_EQ(Text("curl https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefGHIJKL0123"),
            "curl https://[REDACTED]");
  EXPECT_EQ(Text("//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789"),
            "//registry.npmjs.org/:_authToken=[REDACTED]");
  EXPECT_EQ(Text("stripe sk_live_abcdefghijklmnopqrstuvwx0123"), "stripe [REDACTED]");
  const std::string jwt =
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
      "XgL0n3I9PlFUP0THsR8U";
  EXPECT_EQ(Text("Cookie: session=" + jwt + "; path=/"), "Cookie: session=[REDACTED]; path=/");
  // Base64 of a JSON object that is not a JWT (no two dots) stays.
  EXPECT_EQ(Text("data eyJhIjoxLCJiIjoyfQ== end"), "data eyJhIjoxLCJiIjoyfQ== end");
  // terraform's secret_key = "..."
  const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  EXPECT_EQ(Text("secret_key = \"" + secret + "\""), "secret_key = \"[REDACTED]\"");
  std::string out;
  ASSERT_TRUE(RedactLine(R"({"user":"bob","password":"hunter22","n":1.0})", &out));
  EXPECT_EQ(out, R"({"user":"bob","password":"[REDACTED]","n":1.0})");
  EXPECT_FALSE(RedactLine(R"({"password":"","hint":"password rules"})", &out));
  const std::string session(120, 'A');
  ASSERT_TRUE(RedactLine(R"({"SessionToken":")" + session + R"(","secret":1})", &out));
  EXPECT_EQ(out, R"({"SessionToken":"[REDACTED]","secret":1})");
}

}  // namespace
}  // namespace ccfs
