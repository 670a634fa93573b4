// `ccfs flush --recover WORKSPACE`: flush what a crashed or uncleanly ended
// mount left in a workspace's cache, without mounting (fs/lifecycle/recovery.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"

namespace ccfs::cli {

// Returns the exit code (0 flushed or nothing to flush, 3 conflict, 1
// other: a missing cache, the lease held by another writer). *result gets
// the flush result JSON ({"ok", "exit_code", "error", "report"}) and a
// "recovered" note when a flush ran; it stays null otherwise (the error was
// printed).
int RunRecoverFlush(const StoreFlags& store, const std::string& workspace, const std::string& cache,
                    int lease_ttl_seconds, nlohmann::json* result);

}  // namespace ccfs::cli
