#include "sync/client/redact.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>
#include <vector>

#include "sync/common/json_strings.h"

namespace ccfs {
namespace {

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsUpper(c) || IsLower(c) || IsDigit(c); }
bool IsWordChar(char c) { return IsAlnum(c) || c == '_'; }
char ToLower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsUpperOrDigit(char c) { return IsUpper(c) || IsDigit(c); }
bool IsAlnumOrUnderscore(char c) { return IsWordChar(c); }
bool IsAlnumDashUnderscore(char c) { return IsWordChar(c) || c == '-'; }
bool IsAlnumOrDash(char c) { return IsAlnum(c) || c == '-'; }
bool IsBase64Char(char c) { return IsAlnum(c) || c == '/' || c == '+'; }
bool IsBearerTokenChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=' ||
         c == '-';
}

struct CharClasses {
  bool upper = false, lower = false, digit = false;
};
CharClasses Classes(std::string_view s) {
  CharClasses c;
  for (char ch : s) {
    c.upper |= IsUpper(ch);
    c.lower |= IsLower(ch);
    c.digit |= IsDigit(ch);
  }
  return c;
}

// Random-looking: upper, lower and digits all present. Keeps words such as
// "sk-learn-compatible-estimators" out.
bool MixedClasses(std::string_view s) {
  CharClasses c = Classes(s);
  return c.upper && c.lower && c.digit;
}
bool HasDigit(std::string_view s) { return Classes(s).digit; }

size_t FindCaseInsensitive(std::string_view hay, std::string_view needle_lower, size_t from) {
  if (needle_lower.empty() || hay.size() < needle_lower.size()) return std::string_view::npos;
  for (size_t i = from; i + needle_lower.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle_lower.size() && ToLower(hay[i + k]) == needle_lower[k]) ++k;
    if (k == needle_lower.size()) return i;
  }
  return std::string_view::npos;
}

// Accumulates a rewritten copy of a string only once something is replaced.
class Rewriter {
 public:
  explicit Rewriter(std::string* s) : s_(s) {}
  void Replace(size_t begin, size_t end) {
    out_.append(*s_, copied_, begin - copied_);
    out_ += kRedacted;
    copied_ = end;
    changed_ = true;
  }
  bool Finish() {
    if (!changed_) return false;
    out_.append(*s_, copied_, std::string::npos);
    *s_ = std::move(out_);
    return true;
  }

 private:
  std::string* s_;
  std::string out_;
  size_t copied_ = 0;
  bool changed_ = false;
};

// A token that starts with a fixed prefix followed by a body of allowed chars.
struct PrefixRule {
  std::string_view prefix;
  bool (*body_char)(char);
  size_t min_body;
  size_t max_body;                    // 0: no maximum
  bool (*body_ok)(std::string_view);  // extra check on the body, may be null
};

bool Always(std::string_view) { return true; }

const std::array<PrefixRule, 14> kPrefixRules = {{
    {"AKIA", IsUpperOrDigit, 16, 16, Always},
    {"ASIA", IsUpperOrDigit, 16, 16, Always},
    {"ghp_", IsAlnum, 30, 0, Always},
    {"gho_", IsAlnum, 30, 0, Always},
    {"ghu_", IsAlnum, 30, 0, Always},
    {"ghs_", IsAlnum, 30, 0, Always},
    {"ghr_", IsAlnum, 30, 0, Always},
    {"github_pat_", IsAlnumOrUnderscore, 22, 0, Always},
    {"sk-ant-", IsAlnumDashUnderscore, 20, 0, Always},
    {"sk-", IsAlnumDashUnderscore, 20, 0, MixedClasses},
    {"xoxa-", IsAlnumOrDash, 10, 0, HasDigit},
    {"xoxb-", IsAlnumOrDash, 10, 0, HasDigit},
    {"xoxp-", IsAlnumOrDash, 10, 0, HasDigit},
    {"AIza", IsAlnumDashUnderscore, 35, 35, Always},
}};
bool IsJwtChar(char c) { return IsAlnumDashUnderscore(c) || c == '.'; }
bool IsPathChar(char c) { return IsAlnum(c) || c == '/'; }
// header.payload.signature, the payload a JSON object too.
bool LooksLikeJwtBody(std::string_view body) {
  size_t dot = body.find('.');
  if (dot == std::string_view::npos) return false;
  size_t dot2 = body.find('.', dot + 1);
  return body.compare(dot + 1, 3, "eyJ") == 0 && dot2 != std::string_view::npos &&
         dot2 + 1 < body.size() && body.find('.', dot2 + 1) == std::string_view::npos;
}
// Slack refresh, legacy and app-level tokens, Slack incoming webhooks, npm
// tokens, Stripe live keys and JWTs (id_token, cookies) share the scanner.
const std::array<PrefixRule, 9> kMorePrefixRules = {{
    {"xoxr-", IsAlnumOrDash, 10, 0, HasDigit},
    {"xoxs-", IsAlnumOrDash, 10, 0, HasDigit},
    {"xapp-", IsAlnumOrDash, 10, 0, HasDigit},
    {"hooks.slack.com/services/", IsPathChar, 20, 0, HasDigit},
    {"npm_", IsAlnum, 36, 36, Always},
    {"sk_live_", IsAlnum, 20, 0, Always},
    {"rk_live_", IsAlnum, 20, 0, Always},
    {"whsec_", IsAlnum, 24, 0, Always},
    {"eyJ", IsJwtChar, 30, 0, LooksLikeJwtBody},
}};

bool RedactPrefixed(std::string* s, const PrefixRule& rule) {
  if (s->find(rule.prefix) == std::string::npos) return false;
  Rewriter rw(s);
  size_t pos = 0;
  while ((pos = s->find(rule.prefix, pos)) != std::string::npos) {
    size_t body_begin = pos + rule.prefix.size();
    size_t end = body_begin;
    while (end < s->size() && rule.body_char((*s)[end])) ++end;
    size_t body = end - body_begin;
    bool left_ok = pos == 0 || !IsWordChar((*s)[pos - 1]);
    bool right_ok = end == s->size() || !IsWordChar((*s)[end]);
    if (left_ok && right_ok && body >= rule.min_body &&
        (rule.max_body == 0 || body <= rule.max_body) &&
        rule.body_ok(std::string_view(*s).substr(body_begin, body))) {
      rw.Replace(pos, end);
    }
    pos = end > pos ? end : pos + 1;
  }
  return rw.Finish();
}

// -----BEGIN [X ]PRIVATE KEY----- ... -----END [X ]PRIVATE KEY-----. An
// unterminated block is redacted to the end of the text.
bool RedactPrivateKeyBlocks(std::string* s) {
  static constexpr std::string_view kBegin = "-----BEGIN ";
  static constexpr std::string_view kEnd = "-----END ";
  static constexpr std::string_view kDashes = "-----";
  Rewriter rw(s);
  size_t pos = 0;
  while ((pos = s->find(kBegin, pos)) != std::string::npos) {
    size_t label_end = s->find(kDashes, pos + kBegin.size());
    if (label_end == std::string::npos || label_end - pos > 64) {
      pos += kBegin.size();
      continue;
    }
    std::string_view label = std::string_view(*s).substr(pos, label_end - pos);
    if (label.find("PRIVATE KEY") == std::string_view::npos) {
      pos = label_end;
      continue;
    }
    size_t block_end = s->size();
    size_t end_marker = s->find(kEnd, label_end + kDashes.size());
    if (end_marker != std::string::npos) {
      size_t close = s->find(kDashes, end_marker + kEnd.size());
      if (close != std::string::npos) block_end = close + kDashes.size();
    }
    rw.Replace(pos, block_end);
    pos = block_end;
  }
  return rw.Finish();
}

bool IsAuthorityStop(char c) {
  return c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
         c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' || c == '`';
}

// scheme://user:PASSWORD@host -> scheme://user:[REDACTED]@host
bool RedactUrlPasswords(std::string* s) {
  Rewriter rw(s);
  size_t pos = 0;
  while ((pos = s->find("://", pos)) != std::string::npos) {
    const size_t sep = pos;
    size_t scheme_begin = sep;
    while (scheme_begin > 0 && (IsAlnum((*s)[scheme_begin - 1]) || (*s)[scheme_begin - 1] == '+' ||
                                (*s)[scheme_begin - 1] == '.' || (*s)[scheme_begin - 1] == '-')) {
      --scheme_begin;
    }
    size_t auth_begin = sep + 3;
    size_t auth_end = auth_begin;
    while (auth_end < s->size() && !IsAuthorityStop((*s)[auth_end])) ++auth_end;
    pos = auth_end;
    if (scheme_begin == sep || !IsAlnum((*s)[scheme_begin])) continue;
    std::string_view auth = std::string_view(*s).substr(auth_begin, auth_end - auth_begin);
    size_t at = auth.rfind('@');
    if (at == std::string_view::npos) continue;
    size_t colon = auth.substr(0, at).find(':');
    if (colon == std::string_view::npos || colon + 1 == at) continue;
    std::string_view password = auth.substr(colon + 1, at - colon - 1);
    if (password == kRedacted) continue;
    rw.Replace(auth_begin + colon + 1, auth_begin + at);
  }
  return rw.Finish();
}

// "Bearer <credential>" (any case) -> "Bearer [REDACTED]". The credential
// must look like one (a digit, or mixed case and long), so prose such as
// "Bearer authentication" is left alone.
bool RedactBearer(std::string* s) {
  Rewriter rw(s);
  size_t pos = 0;
  while ((pos = FindCaseInsensitive(*s, "bearer", pos)) != std::string::npos) {
    size_t after = pos + 6;
    bool left_ok = pos == 0 || !IsWordChar((*s)[pos - 1]);
    size_t tok = after;
    while (tok < s->size() && ((*s)[tok] == ' ' || (*s)[tok] == '\t')) ++tok;
    size_t end = tok;
    while (end < s->size() && IsBearerTokenChar((*s)[end])) ++end;
    pos = after;
    if (!left_ok || tok == after || end - tok < 8) continue;
    std::string_view token = std::string_view(*s).substr(tok, end - tok);
    CharClasses c = Classes(token);
    if (!c.digit && !(c.upper && c.lower && token.size() >= 16)) continue;
    rw.Replace(tok, end);
    pos = end;
  }
  return rw.Finish();
}

// A maximal run of base64 chars of exactly AWS secret length at `pos`.
size_t Base64RunEnd(const std::string& s, size_t pos) {
  size_t end = pos;
  while (end < s.size() && IsBase64Char(s[end])) ++end;
  return end;
}
constexpr size_t kAwsSecretLength = 40;

bool LooksLikeAwsSecret(std::string_view v) {
  if (v.size() != kAwsSecretLength) return false;
  for (char c : v) {
    if (!IsBase64Char(c)) return false;
  }
  return true;
}

// aws_secret_access_key, AWS_SECRET_ACCESS_KEY, SecretAccessKey,
// secret-access-key, aws_secret_key ...
bool IsAwsSecretKeyName(std::string_view name) {
  std::string folded;
  for (char c : name) {
    if (c != '_' && c != '-' && c != ' ') folded += ToLower(c);
  }
  return folded.find("secretaccesskey") != std::string::npos ||
         folded.find("awssecret") != std::string::npos ||
         (folded.size() >= 9 && folded.compare(folded.size() - 9, 9, "secretkey") == 0);
}

bool RedactAwsSecrets(std::string* s, bool standalone) {
  Rewriter rw(s);
  size_t pos = 0;
  // Keyed form: <secret key name><separators><40 chars>.
  std::vector<std::pair<size_t, size_t>> hits;
  while ((pos = FindCaseInsensitive(*s, "secret", pos)) != std::string::npos) {
    size_t name_begin = pos;
    while (name_begin > 0 && (IsWordChar((*s)[name_begin - 1]) || (*s)[name_begin - 1] == '-')) {
      --name_begin;
    }
    size_t name_end = pos;
    while (name_end < s->size() && (IsWordChar((*s)[name_end]) || (*s)[name_end] == '-')) {
      ++name_end;
    }
    pos = name_end;
    if (!IsAwsSecretKeyName(std::string_view(*s).substr(name_begin, name_end - name_begin))) {
      continue;
    }
    size_t v = name_end;
    while (v < s->size() && v - name_end < 12 &&
           std::string_view(" \t\"':=\\").find((*s)[v]) != std::string_view::npos) {
      ++v;
    }
    size_t end = Base64RunEnd(*s, v);
    if (end - v == kAwsSecretLength && (end == s->size() || (*s)[end] != '=')) {
      hits.emplace_back(v, end);
      pos = end;
    }
  }
  // Standalone form, only next to an access key id: a 40-char base64 run
  // with upper, lower and digits (hex SHAs and words do not qualify).
  if (standalone) {
    size_t i = 0;
    while (i < s->size()) {
      if (!IsBase64Char((*s)[i])) {
        ++i;
        continue;
      }
      size_t end = Base64RunEnd(*s, i);
      bool bounded = (i == 0 || (*s)[i - 1] != '=') && (end == s->size() || (*s)[end] != '=');
      std::string_view run = std::string_view(*s).substr(i, end - i);
      if (run.size() == kAwsSecretLength && bounded && MixedClasses(run)) hits.emplace_back(i, end);
      i = end;
    }
  }
  if (hits.empty()) return false;
  std::sort(hits.begin(), hits.end());
  size_t last_end = 0;
  for (const auto& [b, e] : hits) {
    if (b < last_end) continue;  // found by both scans
    rw.Replace(b, e);
    last_end = e;
  }
  return rw.Finish();
}

bool HasAwsKeyId(std::string_view s) {
  for (std::string_view prefix : {"AKIA", "ASIA"}) {
    size_t pos = 0;
    while ((pos = s.find(prefix, pos)) != std::string_view::npos) {
      size_t end = pos + 4;
      while (end < s.size() && IsUpperOrDigit(s[end])) ++end;
      if (end - pos == 20) return true;
      pos = end;
    }
  }
  return false;
}

// Cheap test: could the text contain any secret at all?
bool MayContainSecret(std::string_view s) {
  static constexpr std::array<std::string_view, 20> kNeedles = {
      "AKIA",   "ASIA",   "ghp_", "gho_",           "ghu_", "ghs_",       "ghr_",  "github_pat_",
      "sk-",    "xox",    "AIza", "PRIVATE KEY",    "://",  "-----BEGIN", "xapp-", "npm_",
      "_live_", "whsec_", "eyJ",  "hooks.slack.com"};
  for (std::string_view n : kNeedles) {
    if (s.find(n) != std::string_view::npos) return true;
  }
  for (std::string_view n : {"bearer", "secret", "pass", "pwd", "sessiontoken", "session_token",
                             "securitytoken", "security_token"}) {
    if (FindCaseInsensitive(s, n, 0) != std::string_view::npos) return true;
  }
  return false;
}

// A JSON member whose name says its value is a secret: a password, or an
// AWS session token (long base64). Empty values and placeholders stay.
bool IsSecretMemberName(std::string_view name, std::string_view value) {
  std::string folded;
  for (char c : name) {
    if (c != '_' && c != '-' && c != ' ') folded += ToLower(c);
  }
  if (value.empty() || value == kRedacted) return false;
  const bool ends_in_password =
      folded.size() >= 8 && folded.compare(folded.size() - 8, 8, "password") == 0;
  if (ends_in_password || folded == "passwd" || folded == "pwd" || folded == "passphrase") {
    return value.size() >= 4 && value.find_first_not_of('*') != std::string_view::npos;
  }
  if (folded.find("sessiontoken") != std::string::npos ||
      folded.find("securitytoken") != std::string::npos) {
    return value.size() >= 100;
  }
  return false;
}

// RedactText with the line's context: whether an AWS access key id appears
// anywhere in it (a 40-character secret is redacted standalone only then).
bool RedactTextIn(std::string* text, bool key_id_in_line) {
  if (!MayContainSecret(*text)) return key_id_in_line && RedactAwsSecrets(text, true);
  bool changed = RedactPrivateKeyBlocks(text);
  changed |= RedactUrlPasswords(text);
  changed |= RedactAwsSecrets(text, key_id_in_line || HasAwsKeyId(*text));
  changed |= RedactBearer(text);
  for (const PrefixRule& r : kPrefixRules) changed |= RedactPrefixed(text, r);
  for (const PrefixRule& r : kMorePrefixRules) changed |= RedactPrefixed(text, r);
  return changed;
}

// One string token of a line, redacted; true (and *out set) when changed.
bool RedactToken(const JsonSegment& seg, bool key_id_in_line, std::string* out) {
  std::string text;
  if (!DecodeJsonString(seg.raw, &text)) {
    // A malformed escape: redact the raw content, keeping the quotes.
    text.assign(seg.raw.substr(1, seg.raw.size() - 2));
    if (!RedactTextIn(&text, key_id_in_line)) return false;
    *out = '"' + text + '"';
    return true;
  }
  std::string key;
  if (!seg.key.empty() && DecodeJsonString(seg.key, &key) &&
      ((IsAwsSecretKeyName(key) && LooksLikeAwsSecret(text)) || IsSecretMemberName(key, text))) {
    *out = EncodeJsonString(kRedacted);  // a secret named as such, whole
    return true;
  }
  if (!RedactTextIn(&text, key_id_in_line)) return false;
  *out = EncodeJsonString(text);
  return true;
}

}  // namespace

bool RedactText(std::string* text) { return RedactTextIn(text, false); }

bool RedactLine(std::string_view line, std::string* out) {
  // Secrets may hide behind JSON escapes (\u0041KIA...): those lines are
  // decoded token by token too.
  if (!MayContainSecret(line) && line.find("\\u") == std::string_view::npos) {
    out->assign(line);
    return false;
  }
  const bool key_id_in_line = HasAwsKeyId(line);
  out->clear();
  out->reserve(line.size());
  bool changed = false;
  std::string piece;
  for (const JsonSegment& seg : SplitJsonStrings(line)) {
    if (seg.is_string) {
      if (RedactToken(seg, key_id_in_line, &piece)) {
        out->append(piece);
        changed = true;
      } else {
        out->append(seg.raw);
      }
      continue;
    }
    // Text outside string tokens (all of a line that is not JSON).
    piece.assign(seg.raw);
    changed |= RedactTextIn(&piece, key_id_in_line);
    out->append(piece);
  }
  return changed;
}

}  // namespace ccfs
