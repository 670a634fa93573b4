// FaultStore: an ObjectStore decorator for tests (after RocksDB's fault
// injection env). It forwards every call to the store it wraps, counts calls
// per operation, and fails the calls a test asks it to: the next N calls of an
// operation (optionally only for keys under a prefix), a GET cut off after K
// body bytes, or a call that reaches the store but whose answer is "lost"
// (the write happened, the caller sees an error), as after a timeout.
// Its own stats() count the calls made through it and the body bytes that
// passed through it; the wrapped store keeps its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "store/objects/object_store.h"

namespace ccfs {

enum class StoreOp { kHead, kGet, kPut, kList, kDelete };  // kPut covers PutFile and PutBytes

struct FaultRule {
  StoreOp op = StoreOp::kGet;
  int times = 1;           // how many matching calls fail
  Status status;           // what they return (must not be OK)
  std::string key_prefix;  // only calls on keys starting with this; "" = any (List: its prefix)
  // Forward the call first, then return `status` anyway (a lost response).
  bool after_call = false;
  // GET only: deliver this many body bytes to the sink, then fail. Negative
  // means the call fails before any byte.
  int64_t fail_after_bytes = -1;
};

class FaultStore : public ObjectStore {
 public:
  // Does not take ownership: `base` must outlive the FaultStore.
  explicit FaultStore(ObjectStore* base);
  // Owns `base`.
  explicit FaultStore(std::unique_ptr<ObjectStore> base);

  // Queues a rule; rules are matched in the order they were added, and a rule
  // is spent after `times` matching calls.
  void Inject(FaultRule rule);
  // Shorthand: the next `times` calls of `op` return `status` without
  // reaching the wrapped store.
  void FailNext(StoreOp op, int times, Status status);
  // Shorthand: the next GET delivers `bytes` body bytes, then returns `status`.
  void FailGetAfterBytes(uint64_t bytes, Status status);
  // Drops all pending rules (counters are kept).
  void ClearFaults();
  // Acts as the S3-compatible servers that silently ignore If-Match and
  // If-None-Match do: every PUT goes through unconditionally.
  void set_ignore_conditions(bool v) { ignore_conditions_ = v; }

  // Calls of `op` made through this store, failed ones included.
  uint64_t calls(StoreOp op) const;
  // Faults injected so far.
  uint64_t faults_injected() const;

  ObjectStore& base() { return *base_; }

  Status Head(const std::string& key, ObjectInfo* info) override;
  Status Get(const std::string& key, const GetOptions& opts, const ByteSink& sink,
             ObjectInfo* info) override;
  Status PutFile(const std::string& key, const std::string& local_path, const PutOptions& opts,
                 ObjectInfo* info) override;
  Status PutBytes(const std::string& key, const std::string& body, const PutOptions& opts,
                  ObjectInfo* info) override;
  Status List(const ListOptions& opts, ListResult* out) override;
  // Counted and faulted as a PUT of `dst`.
  bool CopyKeepsEtag() const override { return base_->CopyKeepsEtag(); }
  Status Copy(const std::string& src, const std::string& dst, const PutOptions& opts,
              ObjectInfo* info) override;
  Status Delete(const std::string& key) override;
  std::string Describe() const override;
  std::string IfMatchForm() const override { return base_->IfMatchForm(); }
  void SetIfMatchForm(const std::string& form) override { base_->SetIfMatchForm(form); }

 private:
  // Counts the call and takes the first rule that matches it, if any.
  bool TakeFault(StoreOp op, const std::string& key, FaultRule* rule);

  std::unique_ptr<ObjectStore> owned_;
  ObjectStore* base_;
  mutable std::mutex mu_;
  std::deque<FaultRule> rules_;
  uint64_t calls_[5] = {0, 0, 0, 0, 0};
  uint64_t faults_ = 0;
  std::atomic<bool> ignore_conditions_{false};
};

}  // namespace ccfs
