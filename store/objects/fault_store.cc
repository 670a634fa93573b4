#include "store/objects/fault_store.h"

#include <utility>

namespace ccfs {

FaultStore::FaultStore(ObjectStore* base) : base_(base) {}

FaultStore::FaultStore(std::unique_ptr<ObjectStore> base)
    : owned_(std::move(base)), base_(owned_.get()) {}

void FaultStore::Inject(FaultRule rule) {
  if (rule.times <= 0) return;
  if (rule.status.ok()) rule.status = Status::IOError("injected fault");
  std::lock_guard<std::mutex> guard(mu_);
  rules_.push_back(std::move(rule));
}

void FaultStore::FailNext(StoreOp op, int times, Status status) {
  FaultRule rule;
  rule.op = op;
  rule.times = times;
  rule.status = std::move(status);
  Inject(std::move(rule));
}

void FaultStore::FailGetAfterBytes(uint64_t bytes, Status status) {
  FaultRule rule;
  rule.op = StoreOp::kGet;
  rule.status = std::move(status);
  rule.fail_after_bytes = static_cast<int64_t>(bytes);
  Inject(std::move(rule));
}

void FaultStore::ClearFaults() {
  std::lock_guard<std::mutex> guard(mu_);
  rules_.clear();
}

uint64_t FaultStore::calls(StoreOp op) const {
  std::lock_guard<std::mutex> guard(mu_);
  return calls_[static_cast<int>(op)];
}

uint64_t FaultStore::faults_injected() const {
  std::lock_guard<std::mutex> guard(mu_);
  return faults_;
}

bool FaultStore::TakeFault(StoreOp op, const std::string& key, FaultRule* rule) {
  stats_.requests++;
  std::lock_guard<std::mutex> guard(mu_);
  calls_[static_cast<int>(op)]++;
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (it->op != op || key.compare(0, it->key_prefix.size(), it->key_prefix) != 0) continue;
    *rule = *it;
    if (--it->times == 0) rules_.erase(it);
    faults_++;
    return true;
  }
  return false;
}

Status FaultStore::Head(const std::string& key, ObjectInfo* info) {
  FaultRule rule;
  if (!TakeFault(StoreOp::kHead, key, &rule)) return base_->Head(key, info);
  if (rule.after_call) IgnoreError(base_->Head(key, info), "the fault replaces its result");
  return rule.status;
}

Status FaultStore::Get(const std::string& key, const GetOptions& opts, const ByteSink& sink,
                       ObjectInfo* info) {
  FaultRule rule;
  const bool faulty = TakeFault(StoreOp::kGet, key, &rule);
  if (faulty && !rule.after_call && rule.fail_after_bytes < 0) return rule.status;
  // Bytes are counted as delivered to the caller, like a backend counts
  // bytes off the wire.
  uint64_t budget = faulty && rule.fail_after_bytes >= 0
                        ? static_cast<uint64_t>(rule.fail_after_bytes)
                        : UINT64_MAX;
  bool cut = false;
  Status s = base_->Get(
      key, opts,
      [&](const char* data, size_t len) -> Status {
        if (len > budget) {
          len = static_cast<size_t>(budget);
          cut = true;
        }
        budget -= len;
        stats_.bytes_received += len;
        if (len > 0) CCFS_RETURN_IF_ERROR(sink(data, len));
        return cut ? rule.status : Status::OK();
      },
      info);
  if (!faulty || !s.ok()) return s;
  // A rule with a byte budget the body never reached still fails the call,
  // as a connection dropped at the end would.
  return rule.status;
}

Status FaultStore::PutFile(const std::string& key, const std::string& local_path,
                           const PutOptions& given, ObjectInfo* info) {
  PutOptions opts = given;
  if (ignore_conditions_) opts.if_match.clear(), opts.if_none_match_any = false;
  FaultRule rule;
  if (!TakeFault(StoreOp::kPut, key, &rule)) {
    ObjectInfo put;
    Status s = base_->PutFile(key, local_path, opts, &put);
    if (!s.ok()) return s;
    stats_.bytes_sent += put.size;
    if (info != nullptr) *info = put;
    return s;
  }
  if (rule.after_call)
    IgnoreError(base_->PutFile(key, local_path, opts, nullptr), "the fault replaces its result");
  return rule.status;
}

Status FaultStore::PutBytes(const std::string& key, const std::string& body,
                            const PutOptions& given, ObjectInfo* info) {
  PutOptions opts = given;
  if (ignore_conditions_) opts.if_match.clear(), opts.if_none_match_any = false;
  FaultRule rule;
  if (!TakeFault(StoreOp::kPut, key, &rule)) {
    Status s = base_->PutBytes(key, body, opts, info);
    if (s.ok()) stats_.bytes_sent += body.size();
    return s;
  }
  if (rule.after_call)
    IgnoreError(base_->PutBytes(key, body, opts, nullptr), "the fault replaces its result");
  return rule.status;
}

Status FaultStore::Copy(const std::string& src, const std::string& dst, const PutOptions& opts,
                        ObjectInfo* info) {
  FaultRule rule;
  if (!TakeFault(StoreOp::kPut, dst, &rule)) return base_->Copy(src, dst, opts, info);
  if (rule.after_call) {
    IgnoreError(base_->Copy(src, dst, opts, nullptr), "the fault replaces its result");
  }
  return rule.status;
}

Status FaultStore::List(const ListOptions& opts, ListResult* out) {
  FaultRule rule;
  if (!TakeFault(StoreOp::kList, opts.prefix, &rule)) return base_->List(opts, out);
  if (rule.after_call) IgnoreError(base_->List(opts, out), "the fault replaces its result");
  return rule.status;
}

Status FaultStore::Delete(const std::string& key) {
  FaultRule rule;
  if (!TakeFault(StoreOp::kDelete, key, &rule)) return base_->Delete(key);
  if (rule.after_call) IgnoreError(base_->Delete(key), "the fault replaces its result");
  return rule.status;
}

std::string FaultStore::Describe() const { return "fault+" + base_->Describe(); }

}  // namespace ccfs
