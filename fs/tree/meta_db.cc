#include "fs/tree/meta_db.h"

#include <utility>

#include "store/sqlite/sqlite_db.h"

namespace ccfs {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inodes(
  ino INTEGER PRIMARY KEY,
  parent INTEGER NOT NULL,
  name TEXT NOT NULL,
  type INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  link_target TEXT NOT NULL,
  state INTEGER NOT NULL,
  origin_kind INTEGER NOT NULL,
  origin_path TEXT NOT NULL,
  origin_etag TEXT NOT NULL,
  implicit INTEGER NOT NULL,
  local_from INTEGER NOT NULL DEFAULT 0,
  uid INTEGER NOT NULL DEFAULT -1,
  gid INTEGER NOT NULL DEFAULT -1,
  atime_ns INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS base_transcripts(
  path TEXT PRIMARY KEY, etag TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
  mode INTEGER NOT NULL DEFAULT 384);
)sql";

// kMountOwner is stored as -1 (what an older cache's rows default to).
int64_t OwnerColumn(uint32_t id) { return id == kMountOwner ? -1 : int64_t{id}; }
uint32_t OwnerFromColumn(int64_t v) {
  return v < 0 || v >= int64_t{kMountOwner} ? kMountOwner : static_cast<uint32_t>(v);
}

}  // namespace

// The writes that run on every namespace change and flush, prepared once.
struct MetaDb::Statements {
  SqliteStatement put_node;
  SqliteStatement delete_node;
  SqliteStatement put_transcript;
  SqliteStatement delete_transcript;
  SqliteStatement set_value;
};

MetaDb::MetaDb(std::unique_ptr<SqliteDb> db)
    : db_(std::move(db)), statements_(std::make_unique<Statements>()) {}

MetaDb::~MetaDb() = default;

Result<std::unique_ptr<MetaDb>> MetaDb::Open(const std::string& path) {
  // MetaDb serialises every use of the connection under mu_, so SQLite's own
  // mutex would only cost; the schema has no foreign keys to enforce.
  CCFS_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> sqlite,
                        SqliteDb::Open(path, {.serialized = false, .foreign_keys = false}));
  std::unique_ptr<MetaDb> db(new MetaDb(std::move(sqlite)));
  CCFS_RETURN_IF_ERROR(db->Exec(kSchema));
  // Columns caches made by older versions lack: transcript modes (0600 until
  // modes were kept), the tail-only watermark (0: every file whole), owners
  // (-1: the mounting user's) and access times (0: shown as the mtime).
  CCFS_RETURN_IF_ERROR(
      db->AddColumnIfMissing("base_transcripts", "mode", "INTEGER NOT NULL DEFAULT 384"));
  CCFS_RETURN_IF_ERROR(
      db->AddColumnIfMissing("inodes", "local_from", "INTEGER NOT NULL DEFAULT 0"));
  CCFS_RETURN_IF_ERROR(db->AddColumnIfMissing("inodes", "uid", "INTEGER NOT NULL DEFAULT -1"));
  CCFS_RETURN_IF_ERROR(db->AddColumnIfMissing("inodes", "gid", "INTEGER NOT NULL DEFAULT -1"));
  CCFS_RETURN_IF_ERROR(db->AddColumnIfMissing("inodes", "atime_ns", "INTEGER NOT NULL DEFAULT 0"));
  CCFS_RETURN_IF_ERROR(db->PrepareStatements());
  return db;
}

Status MetaDb::PrepareStatements() {
  CCFS_ASSIGN_OR_RETURN(
      statements_->put_node,
      db_->Prepare("INSERT OR REPLACE INTO inodes(ino,parent,name,type,mode,size,mtime_ns,ctime_ns,"
                   "link_target,state,origin_kind,origin_path,origin_etag,implicit,local_from,"
                   "uid,gid,atime_ns) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  CCFS_ASSIGN_OR_RETURN(statements_->delete_node, db_->Prepare("DELETE FROM inodes WHERE ino=?"));
  CCFS_ASSIGN_OR_RETURN(
      statements_->put_transcript,
      db_->Prepare("INSERT OR REPLACE INTO base_transcripts(path,etag,size,mtime,mode) "
                   "VALUES(?,?,?,?,?)"));
  CCFS_ASSIGN_OR_RETURN(statements_->delete_transcript,
                        db_->Prepare("DELETE FROM base_transcripts WHERE path=?"));
  CCFS_ASSIGN_OR_RETURN(statements_->set_value,
                        db_->Prepare("INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)"));
  return Status::OK();
}

Status MetaDb::AddColumnIfMissing(const std::string& table, const std::string& column,
                                  const std::string& declaration) {
  bool present;
  {
    CCFS_ASSIGN_OR_RETURN(SqliteStatement st,
                          db_->Prepare("SELECT 1 FROM pragma_table_info('" + table +
                                       "') WHERE name='" + column + "'"));
    Status s;
    present = st.Step(&s);
    CCFS_RETURN_IF_ERROR(s.Annotate("read the " + table + " columns"));
  }  // st finalized before the schema changes
  if (present) return Status::OK();
  return Exec("ALTER TABLE " + table + " ADD COLUMN " + column + " " + declaration);
}

Status MetaDb::Exec(const std::string& sql) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return db_->Exec(sql);
}

Status MetaDb::Apply(const MetaChange& change) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  SqliteTransaction txn(db_.get());
  CCFS_RETURN_IF_ERROR(txn.Begin());
  Status s;
  for (size_t i = 0; s.ok() && i < change.deletes.size(); ++i) {
    s = DeleteNodeLocked(change.deletes[i]);
  }
  for (size_t i = 0; s.ok() && i < change.puts.size(); ++i) s = PutNodeLocked(change.puts[i]);
  for (size_t i = 0; s.ok() && i < change.values.size(); ++i) {
    s = SetValue(change.values[i].first, change.values[i].second);
  }
  if (s.ok() && commit_fault_.load() != 0) {
    s = Status::IOError("sqlite: database or disk is full (injected)").WithErrno(commit_fault_);
  }
  if (s.ok()) s = txn.Commit();
  if (!s.ok()) {
    // Nothing of the change may stay: the caller reports the failure and
    // leaves its tree as it was. A failed ROLLBACK matters only if it left
    // the transaction open (SQLite may already have rolled back by itself).
    Status rolled_back = txn.Rollback();
    if (!rolled_back.ok() && db_->InTransaction()) return rolled_back;
  }
  return s;
}

Status MetaDb::GetValue(const std::string& key, std::string* value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  // Prepared per call: a cached SELECT left unreset would pin a WAL read
  // snapshot, and this runs only at mount time.
  CCFS_ASSIGN_OR_RETURN(SqliteStatement st, db_->Prepare("SELECT value FROM meta WHERE key=?"));
  st.Bind(1, key);
  Status s;
  if (!st.Step(&s)) {
    if (!s.ok()) return s.Annotate("get " + key);
    return Status::NotFound("meta key " + key);
  }
  *value = st.ColumnText(0);
  return Status::OK();
}

Status MetaDb::SetValue(const std::string& key, const std::string& value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Status s = statements_->set_value.Bind(1, key).Bind(2, value).Run();
  if (!s.ok()) return s.Annotate("set " + key);
  return Status::OK();
}

Status MetaDb::PutNodeLocked(const NodeRecord& n) {
  SqliteStatement& st = statements_->put_node;
  st.Bind(1, static_cast<int64_t>(n.ino))
      .Bind(2, static_cast<int64_t>(n.parent))
      .Bind(3, n.name)
      .Bind(4, static_cast<int64_t>(n.type))
      .Bind(5, static_cast<int64_t>(n.mode))
      .Bind(6, static_cast<int64_t>(n.size))
      .Bind(7, n.mtime_ns)
      .Bind(8, n.ctime_ns)
      .Bind(9, n.link_target)
      .Bind(10, static_cast<int64_t>(n.state))
      .Bind(11, static_cast<int64_t>(n.origin_kind))
      .Bind(12, n.origin_path)
      .Bind(13, n.origin_etag)
      .Bind(14, int64_t{n.implicit ? 1 : 0})
      .Bind(15, static_cast<int64_t>(n.local_from))
      .Bind(16, OwnerColumn(n.uid))
      .Bind(17, OwnerColumn(n.gid))
      .Bind(18, n.atime_ns);
  Status s = st.Run();
  if (!s.ok()) return s.Annotate("put inode " + std::to_string(n.ino));
  return Status::OK();
}

Status MetaDb::PutNode(const NodeRecord& n) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return PutNodeLocked(n);
}

Status MetaDb::DeleteNode(uint64_t ino) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return DeleteNodeLocked(ino);
}

Status MetaDb::DeleteNodeLocked(uint64_t ino) {
  Status s = statements_->delete_node.Bind(1, static_cast<int64_t>(ino)).Run();
  if (!s.ok()) return s.Annotate("delete inode " + std::to_string(ino));
  return Status::OK();
}

Status MetaDb::LoadNodes(std::vector<NodeRecord>* out) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(
      SqliteStatement st,
      db_->Prepare("SELECT ino,parent,name,type,mode,size,mtime_ns,ctime_ns,link_target,"
                   "state,origin_kind,origin_path,origin_etag,implicit,local_from,uid,gid,atime_ns "
                   "FROM inodes ORDER BY ino"));
  out->clear();
  Status s;
  while (st.Step(&s)) {
    NodeRecord n;
    n.ino = static_cast<uint64_t>(st.ColumnInt(0));
    n.parent = static_cast<uint64_t>(st.ColumnInt(1));
    n.name = st.ColumnText(2);
    n.type = static_cast<NodeType>(st.ColumnInt(3));
    n.mode = static_cast<uint32_t>(st.ColumnInt(4));
    n.size = static_cast<uint64_t>(st.ColumnInt(5));
    n.mtime_ns = st.ColumnInt(6);
    n.ctime_ns = st.ColumnInt(7);
    n.link_target = st.ColumnText(8);
    n.state = static_cast<ContentState>(st.ColumnInt(9));
    n.origin_kind = static_cast<OriginKind>(st.ColumnInt(10));
    n.origin_path = st.ColumnText(11);
    n.origin_etag = st.ColumnText(12);
    n.implicit = st.ColumnInt(13) != 0;
    n.local_from = static_cast<uint64_t>(st.ColumnInt(14));
    n.uid = OwnerFromColumn(st.ColumnInt(15));
    n.gid = OwnerFromColumn(st.ColumnInt(16));
    n.atime_ns = st.ColumnInt(17);
    out->push_back(std::move(n));
  }
  return s.Annotate("load inodes");
}

Status MetaDb::PutBaseTranscriptLocked(const BaseTranscript& t) {
  Status s = statements_->put_transcript.Bind(1, t.path)
                 .Bind(2, t.etag)
                 .Bind(3, static_cast<int64_t>(t.size))
                 .Bind(4, t.mtime)
                 .Bind(5, static_cast<int64_t>(t.mode))
                 .Run();
  if (!s.ok()) return s.Annotate("put base transcript");
  return Status::OK();
}

Status MetaDb::PutBaseTranscript(const BaseTranscript& t) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return PutBaseTranscriptLocked(t);
}

Status MetaDb::DeleteBaseTranscript(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Status s = statements_->delete_transcript.Bind(1, path).Run();
  if (!s.ok()) return s.Annotate("delete base transcript");
  return Status::OK();
}

Status MetaDb::LoadBaseTranscripts(std::vector<BaseTranscript>* out) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  CCFS_ASSIGN_OR_RETURN(
      SqliteStatement st,
      db_->Prepare("SELECT path,etag,size,mtime,mode FROM base_transcripts ORDER BY path"));
  out->clear();
  Status s;
  while (st.Step(&s)) {
    BaseTranscript t;
    t.path = st.ColumnText(0);
    t.etag = st.ColumnText(1);
    t.size = static_cast<uint64_t>(st.ColumnInt(2));
    t.mtime = st.ColumnInt(3);
    t.mode = static_cast<uint32_t>(st.ColumnInt(4)) & 07777;
    out->push_back(std::move(t));
  }
  return s.Annotate("load base transcripts");
}

Status MetaDb::ReplaceAll(const std::vector<NodeRecord>& nodes,
                          const std::vector<BaseTranscript>& transcripts) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  // On any failure, txn's destructor rolls the whole replacement back.
  SqliteTransaction txn(db_.get());
  CCFS_RETURN_IF_ERROR(txn.Begin());
  CCFS_RETURN_IF_ERROR(Exec("DELETE FROM inodes; DELETE FROM base_transcripts;"));
  for (const NodeRecord& n : nodes) CCFS_RETURN_IF_ERROR(PutNodeLocked(n));
  for (const BaseTranscript& t : transcripts) CCFS_RETURN_IF_ERROR(PutBaseTranscriptLocked(t));
  return txn.Commit();
}

Status MetaDb::Begin() {
  mu_.lock();  // held until Commit: the transaction belongs to this thread
  Status s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) mu_.unlock();
  return s;
}

Status MetaDb::Commit() {
  Status s = Exec("COMMIT");
  // The COMMIT error is the one the caller acts on; SQLite undoes a
  // transaction still open when the connection closes.
  if (!s.ok()) IgnoreError(Exec("ROLLBACK"), "the first error is the one to report");
  mu_.unlock();
  return s;
}

Status MetaDb::Checkpoint() { return Exec("PRAGMA wal_checkpoint(PASSIVE)"); }

}  // namespace ccfs
