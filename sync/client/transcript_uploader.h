// TranscriptUploader: the sidecar's work, one step at a time, on the sidecar
// thread (no locking inside). It knows every tracked transcript file and its
// session, asks the server where each file stands (`init`: server state is
// the truth), reads new complete lines, redacts them, sends them in chunks
// with the right first_line, and records each ack in the ProgressDb.
//
// Position bookkeeping per file (FileProgress): (offset, offset_line) is a
// real position in the local file; acked_line is what the server holds and
// is never below offset_line. Lines are numbered by their place in the local
// file, so a chunk always starts at acked_line + 1 and a resend after a crash
// or a 409 re-reads exactly the lines the server is missing.
//
// Errors are returned, never retried here (except the immediate ones: a 409
// repositions and resends, a 413 halves the chunk); the sidecar owns backoff.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "sync/client/progress_db.h"
#include "sync/client/sync_client.h"
#include "sync/client/sync_status.h"
#include "sync/common/transcript_file.h"

namespace ccfs {

struct UploaderOptions {
  // Tree-relative transcript path -> local file to read ("" if none).
  std::function<std::string(const std::string&)> local_path;
  std::string hostname;
  std::string username;
  size_t max_chunk_bytes = 14u << 20;  // JSON body budget per chunk
  int max_chunks_per_pass = 8;         // per file, so one backlog does not starve the rest
};

struct StepOutcome {
  enum class Kind {
    kDone,    // nothing left to do for now
    kMore,    // progress made, more to send
    kLocal,   // the local file cannot be read (status says why)
    kRemote,  // a request failed (reply says how)
  };
  Kind kind = Kind::kDone;
  ApiReply reply;
  Status local;
  static StepOutcome Done() { return {}; }
  static StepOutcome More() { return {Kind::kMore, {}, {}}; }
  static StepOutcome Local(Status s) { return {Kind::kLocal, {}, std::move(s)}; }
  static StepOutcome Remote(ApiReply r) { return {Kind::kRemote, std::move(r), {}}; }
};

class TranscriptUploader {
 public:
  TranscriptUploader(UploaderOptions options, SyncClient* client, ProgressDb* db,
                     const std::atomic<bool>* stop);

  // Tracks every file the progress DB knows; returns their paths.
  Result<std::vector<std::string>> LoadProgress();
  // Starts tracking a transcript (recorded in the progress DB at once).
  // False when the path is not a session or subagent transcript.
  bool Track(const std::string& rel_path);
  // The session a tracked file belongs to ("" when not tracked).
  std::string SessionOf(const std::string& rel_path) const;

  // Counts the complete lines now in the local file (local I/O only).
  Status Refresh(const std::string& rel_path);
  // Sends up to max_chunks_per_pass chunks of the file's unsent lines.
  StepOutcome SyncFile(const std::string& rel_path);
  // Sends queued summary PATCHes and GitHub links.
  StepOutcome FlushOutbox();
  // Sends session_end for a session.
  StepOutcome EndSession(const std::string& external_id);

  std::vector<SyncFileStatus> FileStatuses() const;
  int64_t PendingLines() const;

 private:
  struct TrackedFile {
    TranscriptRef ref;
    FileProgress progress;
    uint64_t counted_offset = 0;  // complete lines counted up to here...
    int64_t counted_lines = 0;    // ...this many
  };
  struct Session {
    std::string external_id;
    std::string transcript_path;
    std::string session_id;    // from init
    bool initialized = false;  // init done since the last error
    bool started = false;      // session_start sent by this sidecar
  };

  TrackedFile* Find(const std::string& rel_path);
  Session& SessionFor(const TranscriptRef& ref);
  Status CountLines(TrackedFile& f, const std::string& path);
  // Moves the file's acked line to `target` (server truth) and its read
  // position as close to it as the local file allows; saves.
  Status Reposition(TrackedFile& f, const std::string& path, int64_t target);
  // Advances (offset, offset_line) toward acked_line over local lines.
  Status CatchUp(TrackedFile& f, const std::string& path);
  std::optional<ApiReply> EnsureSession(Session& s);
  nlohmann::json InitMetadata(const Session& s);
  // One chunk: kMore after an ack, kDone when nothing is left.
  StepOutcome SendOneChunk(TrackedFile& f, Session& s, const std::string& path, int* conflicts);

  UploaderOptions options_;
  SyncClient* client_;
  ProgressDb* db_;
  const std::atomic<bool>* stop_;
  size_t body_budget_;  // shrinks after a 413
  std::map<std::string, TrackedFile> files_;
  std::map<std::string, Session> sessions_;
};

}  // namespace ccfs
