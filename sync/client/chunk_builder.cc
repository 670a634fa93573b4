#include "sync/client/chunk_builder.h"

namespace ccfs {
namespace {

using nlohmann::json;

std::string Encode(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

size_t EncodeLinesWithin(const std::vector<std::string>& lines, size_t budget_bytes,
                         std::vector<std::string>* encoded) {
  encoded->clear();
  size_t total = 0;
  for (const std::string& line : lines) {
    std::string e = Encode(json(line));
    size_t cost = e.size() + 1;  // plus the comma
    if (!encoded->empty() && total + cost > budget_bytes) break;
    total += cost;
    encoded->push_back(std::move(e));
  }
  return encoded->size();
}

std::string BuildChunkBody(const ChunkEnvelope& envelope, const std::vector<std::string>& encoded,
                           size_t count) {
  json head = {{"session_id", envelope.session_id},
               {"file_name", envelope.file_name},
               {"file_type", envelope.file_type},
               {"first_line", envelope.first_line}};
  if (envelope.metadata.is_object() && !envelope.metadata.empty()) {
    head["metadata"] = envelope.metadata;
  }
  std::string body = Encode(head);
  body.pop_back();  // reopen the object: drop the closing '}'
  size_t size = body.size() + 12;
  for (size_t i = 0; i < count; ++i) size += encoded[i].size() + 1;
  body.reserve(size);
  body += ",\"lines\":[";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) body += ',';
    body += encoded[i];
  }
  body += "]}";
  return body;
}

}  // namespace ccfs
