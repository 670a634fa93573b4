#include "store/objects/s3_xml.h"

#include <cctype>
#include <charconv>
#include <ctime>

#include "store/base/utf8.h"

namespace ccfs {
namespace {

// Decodes one entity body ("amp", "#38", "#x26"); false if unknown.
bool DecodeEntity(std::string_view name, std::string* out) {
  if (name == "amp") return out->push_back('&'), true;
  if (name == "lt") return out->push_back('<'), true;
  if (name == "gt") return out->push_back('>'), true;
  if (name == "quot") return out->push_back('"'), true;
  if (name == "apos") return out->push_back('\''), true;
  if (name.size() < 2 || name[0] != '#') return false;
  int base = 10;
  std::string_view digits = name.substr(1);
  if (digits[0] == 'x' || digits[0] == 'X') {
    base = 16;
    digits.remove_prefix(1);
  }
  uint32_t cp = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, base);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || cp > 0x10FFFF) return false;
  AppendUtf8(cp, out);
  return true;
}

bool IsNameEnd(char c) {
  return c == '>' || c == '/' || std::isspace(static_cast<unsigned char>(c));
}

}  // namespace

std::string XmlUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '&') {
      size_t semi = text.find(';', i + 1);
      if (semi != std::string_view::npos && semi - i <= 12 &&
          DecodeEntity(text.substr(i + 1, semi - i - 1), &out)) {
        i = semi + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t after_name = pos + open.size();
    if (after_name >= xml.size() || !IsNameEnd(xml[after_name])) {
      pos = after_name;
      continue;
    }
    size_t gt = xml.find('>', after_name);
    if (gt == std::string_view::npos) break;
    if (xml[gt - 1] == '/') {  // <tag/> or <tag attr="x"/>
      out.emplace_back();
      pos = gt + 1;
      continue;
    }
    size_t end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(gt + 1, end - gt - 1));
    pos = end + close.size();
  }
  return out;
}

std::string XmlText(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> all = XmlElements(xml, tag);
  return all.empty() ? std::string() : XmlUnescape(all.front());
}

bool XmlHas(std::string_view xml, std::string_view tag) { return !XmlElements(xml, tag).empty(); }

bool ParseS3Error(std::string_view body, S3Error* out) {
  std::vector<std::string_view> errors = XmlElements(body, "Error");
  if (errors.empty()) return false;
  out->code = XmlText(errors.front(), "Code");
  out->message = XmlText(errors.front(), "Message");
  return true;
}

std::string UnquoteEtag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  // Weak validators ("W/\"...\"") do not occur on S3 objects; keep them whole.
  return std::string(etag);
}

int64_t ParseIso8601(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

Status ParseListObjectsV2(std::string_view body, ListObjectsPage* out) {
  std::vector<std::string_view> result = XmlElements(body, "ListBucketResult");
  if (result.empty()) {
    return Status::Corruption("ListObjectsV2 response has no ListBucketResult: " +
                              std::string(body.substr(0, 200)));
  }
  std::string_view doc = result.front();
  for (std::string_view contents : XmlElements(doc, "Contents")) {
    ObjectInfo info;
    info.key = XmlText(contents, "Key");
    info.etag = UnquoteEtag(XmlText(contents, "ETag"));
    std::string size = XmlText(contents, "Size");
    auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), info.size);
    if (info.key.empty() || ec != std::errc() || ptr != size.data() + size.size()) {
      return Status::Corruption("ListObjectsV2: malformed <Contents> entry");
    }
    info.mtime_unix = ParseIso8601(XmlText(contents, "LastModified"));
    out->objects.push_back(std::move(info));
  }
  for (std::string_view cp : XmlElements(doc, "CommonPrefixes")) {
    out->common_prefixes.push_back(XmlText(cp, "Prefix"));
  }
  out->is_truncated = XmlText(doc, "IsTruncated") == "true";
  out->next_continuation_token = XmlText(doc, "NextContinuationToken");
  if (out->is_truncated && out->next_continuation_token.empty()) {
    return Status::Corruption("ListObjectsV2: truncated page without NextContinuationToken");
  }
  return Status::OK();
}

std::string CompleteMultipartUploadXml(const std::vector<CompletedPart>& parts) {
  std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const CompletedPart& p : parts) {
    xml += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>" +
           XmlEscape(p.etag) + "</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  return xml;
}

}  // namespace ccfs
