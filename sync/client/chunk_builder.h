// Chunk request bodies for POST /api/v1/sync/chunk, built by hand around
// pre-encoded lines so that the body size is known exactly before it is sent
// (the server refuses bodies over 16 MiB; we stay under a smaller budget).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ccfs {

// Room left in every body for the envelope and metadata (metadata strings
// are truncated well below this).
inline constexpr size_t kChunkEnvelopeReserve = 64 * 1024;

// Encodes lines as JSON strings (invalid UTF-8 replaced by U+FFFD), taking
// lines while the encoded total stays within `budget_bytes`; the first line is
// always taken, however large. Returns how many were encoded.
size_t EncodeLinesWithin(const std::vector<std::string>& lines, size_t budget_bytes,
                         std::vector<std::string>* encoded);

struct ChunkEnvelope {
  std::string session_id;
  std::string file_name;
  std::string file_type;
  int64_t first_line = 1;
  nlohmann::json metadata;  // object, or null/empty for none
};

// {"session_id":…,"file_name":…,"file_type":…,"first_line":N,"metadata":{…},"lines":[…]}
std::string BuildChunkBody(const ChunkEnvelope& envelope, const std::vector<std::string>& encoded,
                           size_t count);

}  // namespace ccfs
