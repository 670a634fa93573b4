#include "sync/sessions/transcript_parse.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "sync/common/line_facts.h"  // TruncateUtf8

namespace ccfs {
namespace {

using nlohmann::json;

constexpr size_t kMaxToolSummaryBytes = 120;

const json* Field(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string StringField(const json& j, const char* key) {
  const json* f = Field(j, key);
  return f != nullptr && f->is_string() ? f->get<std::string>() : std::string();
}

bool BoolField(const json& j, const char* key) {
  const json* f = Field(j, key);
  return f != nullptr && f->is_boolean() && f->get<bool>();
}

int64_t IntField(const json& j, const char* key) {
  const json* f = Field(j, key);
  if (f == nullptr || !f->is_number()) return 0;
  if (f->is_number_float()) return static_cast<int64_t>(f->get<double>());
  return f->get<int64_t>();
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

void AppendParagraph(std::string* out, std::string_view text) {
  if (text.empty()) return;
  if (!out->empty()) out->push_back('\n');
  out->append(text);
}

// Single-line, bounded rendering of a value for "→ Tool(...)".
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (s.size() > kMaxToolSummaryBytes) s = TruncateUtf8(std::move(s), kMaxToolSummaryBytes) + "…";
  return s;
}

// The salient argument of a tool call: the command, path, pattern, ... the
// way Claude Code's own UI titles a tool use.
std::string ToolInputSummary(const json& input) {
  if (!input.is_object()) return {};
  for (const char* key : {"command", "file_path", "notebook_path", "path", "pattern", "url",
                          "query", "description", "prompt", "skill"}) {
    std::string v = StringField(input, key);
    if (!v.empty()) return OneLine(std::move(v));
  }
  if (const json* todos = Field(input, "todos"); todos != nullptr && todos->is_array()) {
    return std::to_string(todos->size()) + " todos";
  }
  return OneLine(input.dump(-1, ' ', false, json::error_handler_t::replace));
}

// Text of a tool_result block's "content": a string or a list of blocks.
std::string ToolResultText(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (!content.is_array()) return out;
  for (const json& part : content) {
    if (!part.is_object()) continue;
    std::string type = StringField(part, "type");
    if (type == "text") AppendParagraph(&out, StringField(part, "text"));
    if (type == "image") AppendParagraph(&out, "[image]");
  }
  return out;
}

void ParseContent(const json& content, TranscriptLine* out) {
  if (content.is_string()) {
    out->text = content.get<std::string>();
    return;
  }
  if (!content.is_array()) return;
  for (const json& part : content) {
    if (!part.is_object()) continue;
    std::string type = StringField(part, "type");
    if (type == "text") {
      AppendParagraph(&out->text, StringField(part, "text"));
    } else if (type == "tool_use") {
      const json* input = Field(part, "input");
      std::string line = "→ " + StringField(part, "name") + "(" +
                         (input != nullptr ? ToolInputSummary(*input) : std::string()) + ")";
      AppendParagraph(&out->tool_uses, line);
      ++out->tool_use_count;
    } else if (type == "tool_result") {
      out->role = LineRole::kToolResult;
      if (BoolField(part, "is_error")) out->tool_error = true;
      if (const json* c = Field(part, "content"); c != nullptr) {
        AppendParagraph(&out->text, ToolResultText(*c));
      }
    } else if (type == "image") {
      AppendParagraph(&out->text, "[image]");
    } else if (type == "thinking" || type == "redacted_thinking") {
      out->has_thinking = true;
    }
  }
}

std::optional<TokenUsage> ParseUsage(const json& message) {
  const json* u = Field(message, "usage");
  if (u == nullptr || !u->is_object()) return std::nullopt;
  TokenUsage usage;
  usage.input = IntField(*u, "input_tokens");
  usage.output = IntField(*u, "output_tokens");
  usage.cache_creation = IntField(*u, "cache_creation_input_tokens");
  usage.cache_read = IntField(*u, "cache_read_input_tokens");
  return usage;
}

bool IsPlumbing(std::string_view text) {
  return text.empty() || StartsWith(text, "<command-") || StartsWith(text, "<local-command-") ||
         StartsWith(text, "[Request interrupted by user");
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* value) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *value = v;
  return true;
}

}  // namespace

std::string_view LineRoleName(LineRole role) {
  switch (role) {
    case LineRole::kUser:
      return "user";
    case LineRole::kAssistant:
      return "assistant";
    case LineRole::kToolResult:
      return "tool";
    case LineRole::kSystem:
      return "system";
    case LineRole::kNone:
      break;
  }
  return "";
}

std::optional<int64_t> ParseTimestampMs(std::string_view ts) {
  int y, mo, d, h, mi, s;
  if (!Digits(ts, 0, 4, &y) || ts.size() < 19 || ts[4] != '-' || !Digits(ts, 5, 2, &mo) ||
      ts[7] != '-' || !Digits(ts, 8, 2, &d) || (ts[10] != 'T' && ts[10] != ' ') ||
      !Digits(ts, 11, 2, &h) || ts[13] != ':' || !Digits(ts, 14, 2, &mi) || ts[16] != ':' ||
      !Digits(ts, 17, 2, &s)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < ts.size() && ts[pos] == '.') {
    ++pos;
    int64_t scale = 100;
    while (pos < ts.size() && ts[pos] >= '0' && ts[pos] <= '9') {
      ms += (ts[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  int64_t offset_s = 0;
  if (pos < ts.size()) {
    if (ts[pos] == 'Z' || ts[pos] == 'z') {
      ++pos;
    } else if (ts[pos] == '+' || ts[pos] == '-') {
      int oh, om;
      if (!Digits(ts, pos + 1, 2, &oh) || pos + 3 >= ts.size() || ts[pos + 3] != ':' ||
          !Digits(ts, pos + 4, 2, &om)) {
        return std::nullopt;
      }
      offset_s = (oh * 3600 + om * 60) * (ts[pos] == '+' ? 1 : -1);
      pos += 6;
    }
  }
  if (pos != ts.size()) return std::nullopt;
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - offset_s;
  return secs * 1000 + ms;
}

std::string FormatTimestampMs(int64_t ms) {
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int64_t frac = ms - secs * 1000;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  // civil_from_days (H. Hinnant).
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60),
                static_cast<long long>(frac));
  return buf;
}

Result<TranscriptLine> ParseTranscriptLine(std::string_view line) {
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corruption("not valid JSON");
  if (!j.is_object()) return Status::Corruption("not a JSON object");
  TranscriptLine out;
  try {
    out.type = StringField(j, "type");
    out.uuid = StringField(j, "uuid");
    out.parent_uuid = StringField(j, "parentUuid");
    out.logical_parent_uuid = StringField(j, "logicalParentUuid");
    out.session_id = StringField(j, "sessionId");
    out.timestamp_ms = ParseTimestampMs(StringField(j, "timestamp"));
    out.cwd = StringField(j, "cwd");
    out.git_branch = StringField(j, "gitBranch");
    out.is_sidechain = BoolField(j, "isSidechain");
    out.is_meta = BoolField(j, "isMeta");
    out.is_compact_summary = BoolField(j, "isCompactSummary");
    out.subtype = StringField(j, "subtype");
    if (out.type == "summary") {
      out.summary = StringField(j, "summary");
      out.leaf_uuid = StringField(j, "leafUuid");
      return out;
    }
    if (out.type == "system") {
      out.role = LineRole::kSystem;
      out.text = StringField(j, "content");
      return out;
    }
    if (out.type != "user" && out.type != "assistant") return out;
    out.role = out.type == "user" ? LineRole::kUser : LineRole::kAssistant;
    const json* message = Field(j, "message");
    if (message == nullptr || !message->is_object()) return out;
    if (const json* content = Field(*message, "content"); content != nullptr) {
      ParseContent(*content, &out);  // may turn a user line into kToolResult
    }
    if (out.role == LineRole::kAssistant) {
      out.message_id = StringField(*message, "id");
      out.request_id = StringField(j, "requestId");
      out.model = StringField(*message, "model");
      out.usage = ParseUsage(*message);
    }
    out.is_prompt = out.role == LineRole::kUser && !out.is_meta && !out.is_compact_summary &&
                    !IsPlumbing(out.text);
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("unexpected JSON shape: ") + e.what());
  }
  return out;
}

}  // namespace ccfs
