// Flusher::Plan, shared by the flusher's files (fs/flush/flusher.cc for the
// v1 tarball, fs/flush/flush_v2.cc for layout-v2 commits). Not a public
// interface.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fs/flush/flusher.h"
#include "store/workspace/transcript_modes.h"

namespace ccfs {

struct Flusher::Plan {
  std::vector<SnapshotEntry> snapshot;
  uint64_t change_count = 0;
  std::shared_ptr<const TarballVersion> base;
  std::map<std::string, BaseTranscript> base_transcripts;
  std::vector<const SnapshotEntry*> uploads;  // transcripts to put
  std::vector<std::string> deletes;           // transcript paths to remove
  std::vector<const SnapshotEntry*> tarball_side;
  bool tarball_changed = false;
  TranscriptModes base_modes, modes;  // transcripts' modes: the base's, this tree's
  bool modes_changed = false;
  std::string if_match;  // the tarball version the PUT replaces ("" = create)
};

}  // namespace ccfs
