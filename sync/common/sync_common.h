// Small things both sides of the sync API need: the bearer token, who and
// where we are, and RFC 3339 timestamps.
#pragma once

#include <string>

#include "store/base/status.h"

namespace ccfs {

// Reads a token file (the whole file, surrounding whitespace trimmed).
// Never puts the token in an error message.
Result<std::string> ReadTokenFile(const std::string& path);

// The sidecar's token: from `token_file` when given, else $CCFS_SYNC_TOKEN;
// InvalidArgument when neither yields a non-empty token.
Result<std::string> ResolveSyncToken(const std::string& token_file);

std::string CurrentHostname();
std::string CurrentUsername();

// Now, UTC, "2026-02-16T10:04:05.123Z".
std::string NowRfc3339();

// `bytes` random bytes as lower-case hex (std::random_device).
std::string RandomHex(size_t bytes);

}  // namespace ccfs
