// Redaction of secrets in transcript lines before they leave the machine.
//
// Detected: AWS access key ids (AKIA/ASIA) and secret keys (40 chars after an
// aws_secret_access_key-like name, or standalone next to an access key id),
// GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), Anthropic
// (sk-ant-), OpenAI (sk-, sk-proj-), Slack (xox[abprs]-), Google API keys
// (AIza), `Bearer` credentials, PEM private key blocks and passwords in URLs
// (scheme://user:PASSWORD@host). Each becomes "[REDACTED]".
//
// Hand-written scanners (no std::regex: it is slow and recurses deeply on
// long input); a line without any trigger substring costs a few memchr-like
// passes and is returned byte-identical.
#pragma once

#include <string>
#include <string_view>

namespace ccfs {

inline constexpr std::string_view kRedacted = "[REDACTED]";

// Redacts secrets in free text in place; true when anything was replaced.
bool RedactText(std::string* text);

// Redacts one transcript line (without its '\n'). Its JSON string tokens
// (keys and values) are decoded, redacted, and re-encoded only when they
// changed; every other byte stays as it was (numbers, spacing, escapes of
// untouched strings), so a JSON line stays valid and equal but for the
// secrets (sync/common/json_strings.h). Text outside string tokens (a line that is
// not JSON) is redacted as raw text. A 40-character AWS secret is redacted
// standalone when an access key id is anywhere in the line. A line without
// secrets comes back byte-identical. Returns true when changed.
bool RedactLine(std::string_view line, std::string* out);

}  // namespace ccfs
