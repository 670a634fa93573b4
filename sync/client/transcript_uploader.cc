#include "sync/client/transcript_uploader.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

#include "sync/client/chunk_builder.h"
#include "sync/client/redact.h"
#include "sync/common/line_facts.h"
#include "sync/common/sync_common.h"

namespace ccfs {
namespace {

using nlohmann::json;

constexpr size_t kMinBodyBudget = 16 * 1024;
constexpr size_t kServerBodyLimit = 16u << 20;  // docs/sync-api.md: larger bodies get 413
constexpr size_t kMaxLinesPerChunk = 100000;
constexpr int kMaxConflictsPerPass = 4;
constexpr size_t kHeadScanBytes = 256 * 1024;

// last_synced_line from a reply body, or nullopt when absent / not a count.
std::optional<int64_t> LastSyncedLine(const json& body) {
  if (!body.is_object()) return std::nullopt;
  auto it = body.find("last_synced_line");
  if (it == body.end() || !it->is_number_integer() || it->get<int64_t>() < 0) return std::nullopt;
  return it->get<int64_t>();
}

ApiReply BadReply(const std::string& what) {
  ApiReply r;
  r.kind = ApiReply::Kind::kRetryable;
  r.error = what;
  return r;
}

}  // namespace

TranscriptUploader::TranscriptUploader(UploaderOptions options, SyncClient* client, ProgressDb* db,
                                       const std::atomic<bool>* stop)
    : options_(std::move(options)),
      client_(client),
      db_(db),
      stop_(stop),
      body_budget_(std::max(kMinBodyBudget, options_.max_chunk_bytes)) {}

Result<std::vector<std::string>> TranscriptUploader::LoadProgress() {
  CCFS_ASSIGN_OR_RETURN(std::vector<FileProgress> saved, db_->LoadFiles());
  std::vector<std::string> paths;
  for (FileProgress& p : saved) {
    std::optional<TranscriptRef> ref = ParseTranscriptPath(p.rel_path);
    if (!ref) continue;
    TrackedFile f;
    f.ref = *ref;
    f.progress = p;
    if (p.offset_line > p.acked_line) {  // not a state we write: rescan from the start
      f.progress.offset = 0;
      f.progress.offset_line = 0;
    }
    f.counted_offset = f.progress.offset;
    f.counted_lines = f.progress.offset_line;
    SessionFor(*ref);
    paths.push_back(p.rel_path);
    files_[p.rel_path] = std::move(f);
  }
  return paths;
}

bool TranscriptUploader::Track(const std::string& rel_path) {
  if (files_.count(rel_path) != 0) return true;
  std::optional<TranscriptRef> ref = ParseTranscriptPath(rel_path);
  if (!ref) return false;
  TrackedFile f;
  f.ref = *ref;
  f.progress.rel_path = rel_path;
  Status s = db_->SaveFile(f.progress);
  if (!s.ok()) spdlog::warn("sync: cannot record {}: {}", rel_path, s.ToString());
  SessionFor(*ref);
  files_[rel_path] = std::move(f);
  return true;
}

std::string TranscriptUploader::SessionOf(const std::string& rel_path) const {
  auto it = files_.find(rel_path);
  return it == files_.end() ? std::string() : it->second.ref.external_id;
}

TranscriptUploader::TrackedFile* TranscriptUploader::Find(const std::string& rel_path) {
  auto it = files_.find(rel_path);
  return it == files_.end() ? nullptr : &it->second;
}

TranscriptUploader::Session& TranscriptUploader::SessionFor(const TranscriptRef& ref) {
  Session& s = sessions_[ref.external_id];
  s.external_id = ref.external_id;
  if (s.transcript_path.empty()) s.transcript_path = ref.transcript_path;
  return s;
}

Status TranscriptUploader::CountLines(TrackedFile& f, const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status::NotFound("transcript " + path + " does not exist")
                           : Status::FromErrno("stat " + path, errno);
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < f.progress.offset) {
    // Truncated or replaced: line numbers stay the server's; re-find our place.
    spdlog::warn("sync: {} shrank below its synced position; re-reading it", f.ref.rel_path);
    f.progress.offset = 0;
    f.progress.offset_line = 0;
    f.counted_offset = 0;
    f.counted_lines = 0;
    CCFS_RETURN_IF_ERROR(CatchUp(f, path));
  }
  if (f.counted_offset < f.progress.offset) {
    f.counted_offset = f.progress.offset;
    f.counted_lines = f.progress.offset_line;
  }
  if (size == f.counted_offset) return Status::OK();
  int64_t n = 0;
  uint64_t end = f.counted_offset;
  CCFS_RETURN_IF_ERROR(ScanCompleteLines(path, f.counted_offset, -1, &n, &end));
  f.counted_lines += n;
  f.counted_offset = end;
  return Status::OK();
}

Status TranscriptUploader::Refresh(const std::string& rel_path) {
  TrackedFile* f = Find(rel_path);
  if (f == nullptr) return Status::NotFound("not tracked: " + rel_path);
  std::string path = options_.local_path(rel_path);
  if (path.empty()) return Status::NotFound("no local file for " + rel_path);
  return CountLines(*f, path);
}

Status TranscriptUploader::CatchUp(TrackedFile& f, const std::string& path) {
  FileProgress& p = f.progress;
  if (p.offset_line >= p.acked_line) return Status::OK();
  int64_t n = 0;
  uint64_t end = p.offset;
  CCFS_RETURN_IF_ERROR(ScanCompleteLines(path, p.offset, p.acked_line - p.offset_line, &n, &end));
  if (n == 0) return Status::OK();
  p.offset = end;
  p.offset_line += n;
  return db_->SaveFile(p);
}

Status TranscriptUploader::Reposition(TrackedFile& f, const std::string& path, int64_t target) {
  FileProgress& p = f.progress;
  if (target != p.acked_line) {
    spdlog::info("sync: {}: server holds {} lines, we had {} acknowledged; resuming there",
                 f.ref.rel_path, target, p.acked_line);
  }
  p.acked_line = target;
  if (target < p.offset_line) {  // the server is behind us: rewind and rescan
    p.offset = 0;
    p.offset_line = 0;
  }
  CCFS_RETURN_IF_ERROR(db_->SaveFile(p));
  return CatchUp(f, path);
}

json TranscriptUploader::InitMetadata(const Session& s) {
  json meta = json::object();
  if (!options_.hostname.empty()) meta["hostname"] = options_.hostname;
  if (!options_.username.empty()) meta["username"] = options_.username;
  // cwd and branch from the head of the session's transcript.
  std::string path = options_.local_path(s.transcript_path);
  LineBatch head;
  if (path.empty() || !ReadCompleteLines(path, 0, kHeadScanBytes, 200, &head).ok()) return meta;
  std::string cwd, branch;
  for (const std::string& line : head.lines) {
    std::string redacted;
    RedactLine(line, &redacted);
    LineFacts facts = ExtractLineFacts(redacted, {.location = true, .user_prompt = false});
    if (cwd.empty()) cwd = facts.cwd;
    if (branch.empty()) branch = facts.git_branch;
    if (!cwd.empty() && !branch.empty()) break;
  }
  if (!cwd.empty()) meta["cwd"] = cwd;
  if (!branch.empty()) meta["git_info"] = {{"branch", branch}};
  return meta;
}

std::optional<ApiReply> TranscriptUploader::EnsureSession(Session& s) {
  if (s.initialized) return std::nullopt;
  ApiReply r = client_->Init(s.external_id, s.transcript_path, InitMetadata(s));
  if (!r.ok()) return r;
  auto sid = r.body.find("session_id");
  if (sid == r.body.end() || !sid->is_string() || sid->get<std::string>().empty()) {
    return BadReply("init: reply without session_id");
  }
  s.session_id = sid->get<std::string>();
  json server_files = r.body.value("files", json::object());
  for (auto& [rel, f] : files_) {
    if (f.ref.external_id != s.external_id) continue;
    int64_t server_last = 0;
    if (server_files.is_object() && server_files.contains(f.ref.file_name)) {
      server_last = LastSyncedLine(server_files[f.ref.file_name]).value_or(0);
    }
    if (server_last == f.progress.acked_line) continue;
    std::string path = options_.local_path(rel);
    Status st = Reposition(f, path, server_last);
    if (!st.ok() && !st.IsNotFound()) {
      spdlog::warn("sync: {}: {}", rel, st.ToString());
    }
  }
  s.initialized = true;
  return std::nullopt;
}

StepOutcome TranscriptUploader::SyncFile(const std::string& rel_path) {
  TrackedFile* f = Find(rel_path);
  if (f == nullptr) return StepOutcome::Done();
  std::string path = options_.local_path(rel_path);
  if (path.empty()) return StepOutcome::Local(Status::NotFound("no local file for " + rel_path));
  Status st = CountLines(*f, path);
  if (!st.ok()) return StepOutcome::Local(st);
  if (f->counted_lines <= f->progress.acked_line) return StepOutcome::Done();

  Session& s = SessionFor(f->ref);
  if (auto failed = EnsureSession(s)) return StepOutcome::Remote(std::move(*failed));
  if (f->counted_lines <= f->progress.acked_line) return StepOutcome::Done();
  if (!s.started) {
    json payload = {{"transcript_path", s.transcript_path}, {"source", "ccfs"}};
    if (!options_.hostname.empty()) payload["hostname"] = options_.hostname;
    ApiReply r = client_->SendEvent(s.session_id, "session_start", NowRfc3339(), payload);
    if (!r.ok()) {
      s.initialized = false;
      return StepOutcome::Remote(std::move(r));
    }
    s.started = true;
  }
  int conflicts = 0;
  for (int i = 0; i < options_.max_chunks_per_pass; ++i) {
    if (stop_ != nullptr && stop_->load()) {
      ApiReply aborted;
      aborted.kind = ApiReply::Kind::kAborted;
      aborted.error = "stopping";
      return StepOutcome::Remote(aborted);
    }
    StepOutcome o = SendOneChunk(*f, s, path, &conflicts);
    if (o.kind != StepOutcome::Kind::kMore) return o;
  }
  return f->counted_lines > f->progress.acked_line ? StepOutcome::More() : StepOutcome::Done();
}

StepOutcome TranscriptUploader::SendOneChunk(TrackedFile& f, Session& s, const std::string& path,
                                             int* conflicts) {
  FileProgress& p = f.progress;
  Status st = CatchUp(f, path);
  if (!st.ok()) return StepOutcome::Local(st);
  if (p.offset_line < p.acked_line) return StepOutcome::Done();  // server is ahead of the file

  // Lines get the body budget minus room for the envelope and metadata.
  size_t budget = body_budget_ - std::min(kChunkEnvelopeReserve, body_budget_ / 4);
  LineBatch batch;
  st = ReadCompleteLines(path, p.offset, budget, kMaxLinesPerChunk, &batch);
  if (!st.ok()) return StepOutcome::Local(st);
  if (batch.lines.empty()) return StepOutcome::Done();

  std::vector<std::string> redacted(batch.lines.size());
  for (size_t i = 0; i < batch.lines.size(); ++i) {
    RedactLine(batch.lines[i], &redacted[i]);
    std::string().swap(batch.lines[i]);  // keep the peak near two copies of the chunk
  }
  std::vector<std::string> encoded;
  size_t n = EncodeLinesWithin(redacted, budget, &encoded);
  if (encoded[0].size() + kChunkEnvelopeReserve > kServerBodyLimit) {
    // No server following the API can take this line; keep the numbering
    // with a stand-in rather than block the file for ever.
    spdlog::warn(
        "sync: {} line {} is {} bytes, over the sync API's request limit; sending a "
        "placeholder instead",
        f.ref.rel_path, p.acked_line + 1, encoded[0].size());
    redacted.resize(1);
    redacted[0] = json{{"type", "ccfs_oversized_line"},
                       {"original_bytes", encoded[0].size()},
                       {"note", "line exceeded the sync API request limit (16 MiB)"}}
                      .dump();
    n = EncodeLinesWithin(redacted, budget, &encoded);
  }

  // What these lines tell the server beside themselves.
  LineFactsWanted wanted{.location = !p.first_chunk_sent,
                         .user_prompt = f.ref.file_type == "transcript" && !p.user_prompt_sent};
  std::string cwd, branch;
  std::optional<std::string> prompt, summary;
  std::vector<std::string> urls;
  for (size_t i = 0; i < n; ++i) {
    LineFacts facts = ExtractLineFacts(redacted[i], wanted);
    if (cwd.empty()) cwd = facts.cwd;
    if (branch.empty()) branch = facts.git_branch;
    wanted.location = wanted.location && (cwd.empty() || branch.empty());
    if (!prompt && facts.user_prompt) {
      prompt = facts.user_prompt;
      wanted.user_prompt = false;
    }
    if (facts.summary && f.ref.file_type == "transcript") summary = facts.summary;
    for (std::string& u : facts.github_urls) {
      if (std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(std::move(u));
    }
  }
  ChunkEnvelope env{s.session_id, f.ref.file_name, f.ref.file_type, p.acked_line + 1,
                    json::object()};
  if (!p.first_chunk_sent) {
    if (!cwd.empty()) env.metadata["cwd"] = cwd;
    if (!branch.empty()) env.metadata["git_info"] = {{"branch", branch}};
  }
  if (prompt) env.metadata["first_user_message"] = *prompt;
  if (summary) env.metadata["summary"] = *summary;
  redacted.clear();
  std::string body = BuildChunkBody(env, encoded, n);
  encoded.clear();

  ApiReply r = client_->UploadChunk(body);
  if (r.kind == ApiReply::Kind::kConflict) {
    std::optional<int64_t> last = LastSyncedLine(r.body);
    if (!last || ++*conflicts > kMaxConflictsPerPass) {
      if (!last) r.error += " (without last_synced_line)";
      s.initialized = false;
      return StepOutcome::Remote(std::move(r));
    }
    st = Reposition(f, path, *last);
    return st.ok() ? StepOutcome::More() : StepOutcome::Local(st);
  }
  if (r.kind == ApiReply::Kind::kTooLarge) {
    if (n == 1) {
      r.error += " (a single " + std::to_string(body.size()) + "-byte line; retrying later)";
      return StepOutcome::Remote(std::move(r));
    }
    body_budget_ = std::max(kMinBodyBudget, body.size() / 2);
    spdlog::info("sync: server refused a {}-byte chunk (413); chunks now at most {} bytes",
                 body.size(), body_budget_);
    return StepOutcome::More();
  }
  if (!r.ok()) {
    s.initialized = false;  // server state is the truth: ask again before the next chunk
    return StepOutcome::Remote(std::move(r));
  }
  std::optional<int64_t> last = LastSyncedLine(r.body);
  if (!last) {
    s.initialized = false;
    return StepOutcome::Remote(BadReply("chunk: reply without last_synced_line"));
  }
  int64_t expected = p.acked_line + static_cast<int64_t>(n);
  if (*last < expected) {  // the server kept fewer lines than sent: go by its count
    if (++*conflicts > kMaxConflictsPerPass) {
      s.initialized = false;
      return StepOutcome::Remote(
          BadReply("chunk: server keeps acknowledging fewer lines than sent"));
    }
    st = Reposition(f, path, *last);
    return st.ok() ? StepOutcome::More() : StepOutcome::Local(st);
  }
  p.offset = batch.end_offsets[n - 1];
  p.offset_line += static_cast<int64_t>(n);
  p.acked_line = expected;
  p.first_chunk_sent = true;
  if (prompt) p.user_prompt_sent = true;
  st = db_->CommitAck(p, s.external_id, summary, urls);
  if (!st.ok()) return StepOutcome::Local(st);
  if (*last > expected) {
    st = Reposition(f, path, *last);
    if (!st.ok()) return StepOutcome::Local(st);
  }
  return StepOutcome::More();
}

StepOutcome TranscriptUploader::FlushOutbox() {
  auto items = db_->LoadOutbox();
  if (!items.ok()) return StepOutcome::Local(items.status());
  for (const OutboxItem& item : *items) {
    auto it = sessions_.find(item.external_id);
    if (it == sessions_.end()) {
      Session& s = sessions_[item.external_id];
      s.external_id = item.external_id;
      it = sessions_.find(item.external_id);
    }
    Session& s = it->second;
    ApiReply r;
    if (item.kind == "summary") {
      r = client_->UpdateSummary(item.external_id, item.value);
    } else {
      if (auto failed = EnsureSession(s)) return StepOutcome::Remote(std::move(*failed));
      r = client_->LinkGitHub(s.session_id, item.value, "");
    }
    if (r.kind == ApiReply::Kind::kRejected) {
      // The server will never take this one (bad URL, unknown session): drop it.
      spdlog::warn("sync: dropping {} for session {}: {}", item.kind, item.external_id, r.error);
    } else if (!r.ok()) {
      s.initialized = false;
      return StepOutcome::Remote(std::move(r));
    }
    Status st = db_->RemoveOutbox(item.id);
    if (!st.ok()) return StepOutcome::Local(st);
  }
  return StepOutcome::Done();
}

StepOutcome TranscriptUploader::EndSession(const std::string& external_id) {
  auto it = sessions_.find(external_id);
  if (it == sessions_.end()) return StepOutcome::Done();
  Session& s = it->second;
  if (auto failed = EnsureSession(s)) return StepOutcome::Remote(std::move(*failed));
  ApiReply r = client_->SendEvent(s.session_id, "session_end", NowRfc3339(),
                                  json{{"reason", "unmount"}, {"source", "ccfs"}});
  if (!r.ok()) {
    s.initialized = false;
    return StepOutcome::Remote(std::move(r));
  }
  return StepOutcome::Done();
}

std::vector<SyncFileStatus> TranscriptUploader::FileStatuses() const {
  std::vector<SyncFileStatus> out;
  out.reserve(files_.size());
  for (const auto& [rel, f] : files_) {
    out.push_back({rel, std::max(f.counted_lines, f.progress.offset_line), f.progress.acked_line});
  }
  return out;
}

int64_t TranscriptUploader::PendingLines() const {
  int64_t pending = 0;
  for (const auto& [rel, f] : files_) {
    pending += std::max<int64_t>(0, f.counted_lines - f.progress.acked_line);
  }
  return pending;
}

}  // namespace ccfs
