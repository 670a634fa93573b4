// Transcript modes (layout v1). A transcript is an object of its own and S3
// keeps no file mode for it, so every transcript would come back with one
// default mode. Those whose mode is not the default (0600) are listed in one
// small JSON object beside them:
//
//   <W>/projects/.ccfs-transcript-modes.json
//     {"format": "ccfs-transcript-modes-1", "modes": {"projects/x/s.jsonl": "0644"}}
//
// It lives under projects/ so that the LIST of transcripts every reader makes
// anyway shows whether it exists (no extra request when it does not). It is
// not a transcript (it does not end in .jsonl); older ccfs versions ignore
// it and show the default. Layout v2 keeps modes in its index instead.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "store/objects/object_store.h"

namespace ccfs {

inline constexpr uint32_t kDefaultTranscriptMode = 0600;

// Tree path -> permission bits, for transcripts whose mode is not the default.
using TranscriptModes = std::map<std::string, uint32_t>;

std::string TranscriptModesKey(const std::string& workspace);

std::string EncodeTranscriptModes(const TranscriptModes& modes);
// Corruption for anything but the format above, a path that is not a
// transcript's or a mode that is not octal; modes are sanitised as tarball
// members' are (no setuid/setgid/sticky, no group/other write).
Status DecodeTranscriptModes(const std::string& text, TranscriptModes* out);

// The workspace's modes (empty when there is no modes object).
Status ReadTranscriptModes(ObjectStore& store, const std::string& workspace, TranscriptModes* out);
// Replaces the modes object (unconditionally: the writer holds the lease,
// and a racing writer's changes are kept by MergeTranscriptModes).
Status WriteTranscriptModes(ObjectStore& store, const std::string& workspace,
                            const TranscriptModes& modes);

// `theirs` with what changed from `base` to `ours` applied on top: a mode
// set or reset here wins, any other path keeps theirs.
TranscriptModes MergeTranscriptModes(const TranscriptModes& base, const TranscriptModes& ours,
                                     const TranscriptModes& theirs);

// The mode of `path` per `modes` (the default when not listed).
inline uint32_t TranscriptMode(const TranscriptModes& modes, const std::string& path) {
  auto it = modes.find(path);
  return it == modes.end() ? kDefaultTranscriptMode : it->second;
}

}  // namespace ccfs
