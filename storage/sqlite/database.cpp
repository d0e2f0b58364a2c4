// The SQLite database as storage/sqlite/database.hpp opens, migrates and watches it.

#include "storage/sqlite/database.hpp"

#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "storage/detail/rows.hpp"

namespace tocsin::storage {

namespace {

constexpr int k_busy_timeout_ms = 5000;

// Every connection Tocsin opens is used by one thread at a time (the writer's by its thread,
// a reader's by the caller that borrowed it from the pool), so SQLite's own locking is pure
// cost: a mutex around every API call on the connection (serialized mode) and a global one
// around every allocation to keep memory statistics nobody reads. Both showed up as 12 % of
// replay's CPU. Set once, before SQLite initializes; if something opened a connection first,
// the setting is refused and SQLite keeps its defaults, which are only slower.
void configure_sqlite() {
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
}

// A throwaway database (replay's temporary one, Durability::off) is written by one caller and
// read by nobody after it: the indexes only the API, retention and delivery read are dropped,
// so each insert and update maintains fewer b-trees, and CHECK constraints are not evaluated
// (SQLite builds a throwaway table for every `IN (...)` list in one, on every write), nor foreign
// keys (a lookup of the parent row on every insert; the engine deletes no row another refers to,
// only retention does, which a replay does not run). What the engine itself looks up keeps its
// index, and every UNIQUE index stays: they are guarantees the engine relies on. A database that
// is kept (`replay --db`, the server) has the full schema and enforces all of it.
constexpr const char* k_reader_only_indexes[] = {
    "alert_members_seen", "alerts_last_seen", "decisions_at",   "decisions_alert",
    "episodes_closed",    "inbound_received", "outbox_pending", "outbox_queue",
    "outbox_created",     "outbox_about",     "outbox_claim",   "delivery_attempts_outbox",
};

void strip_for_throwaway(SQLite::Database& db) {
  for (const char* index : k_reader_only_indexes)
    db.exec(std::string("DROP INDEX IF EXISTS ") + index);
  db.exec("PRAGMA ignore_check_constraints = ON");
  db.exec("PRAGMA foreign_keys = OFF");
}

}  // namespace

std::optional<FileWatch::Identity> FileWatch::identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return Identity{st.st_dev, st.st_ino};
}

FileWatch::FileWatch(SQLite::Database& db)
    : m_db(db),
      m_path(db.getFilename()),
      m_wal(identity(m_path + "-wal")),
      m_shm(identity(m_path + "-shm")) {}

std::optional<std::string> FileWatch::check() const {
  int moved = 0;
  if (sqlite3_file_control(m_db.getHandle(), "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
      moved) {
    return m_path + " was removed or replaced";
  }
  for (const auto& [suffix, was] : {std::pair{"-wal", m_wal}, std::pair{"-shm", m_shm}}) {
    if (!was) continue;
    const std::string file = m_path + suffix;
    const auto now = identity(file);
    if (!now || now->dev != was->dev || now->ino != was->ino) {
      return file + " was removed or replaced";
    }
  }
  return std::nullopt;
}

void write_probe(SQLite::Database& db, std::int64_t at_unix_ms) {
  SQLite::Statement q(db, k_probe_sql);
  q.bind(1, static_cast<int64_t>(at_unix_ms));
  q.exec();
}

bool check_integrity(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return false;
  std::string problems;
  try {
    SQLite::Database db(path, SQLite::OPEN_READWRITE, k_busy_timeout_ms);
    SQLite::Statement q(db, "PRAGMA quick_check(5)");
    while (q.executeStep()) {
      const std::string line = q.getColumn(0).getString();
      if (line == "ok") break;
      problems += (problems.empty() ? "" : "; ") + line;
    }
  } catch (const SQLite::Exception& e) {
    if (classify_sqlite_error(e.getErrorCode()) != DatabaseFault::corrupt) {
      throw DatabaseError("cannot check database " + path + ": " + e.what());
    }
    problems = e.what();
  }
  if (problems.empty()) return true;
  throw DatabaseError(
      "database " + path + " is corrupt (PRAGMA quick_check: " + problems +
      "). tocsin will not run on it, because it would lose or misread alerts. Stop here, move " +
      path + " and its -wal and -shm files aside, and restore the latest backup; check a file " +
      "with `sqlite3 FILE 'PRAGMA integrity_check'` (it prints ok when sound). " + "`sqlite3 " +
      path + " .recover | sqlite3 recovered.db` may save what is still readable. " +
      "To start anyway, set storage.startup_check: off in the rules file");
}

std::unique_ptr<Connection> open_for_writing(const std::string& path, Durability durability) {
  configure_sqlite();
  try {
    auto db = std::make_unique<Connection>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX,
        k_busy_timeout_ms);
    std::string mode = db->execAndGet("PRAGMA journal_mode = WAL").getString();
    if (mode != "wal") {
      throw DatabaseError("cannot switch " + path + " to WAL mode (got \"" + mode + "\")");
    }
    switch (durability) {
      case Durability::full:
        db->exec("PRAGMA synchronous = FULL");
        break;
      case Durability::normal:
        db->exec("PRAGMA synchronous = NORMAL");
        break;
      case Durability::off:
        // A throwaway database (replay) batches its commits: keep the batch in memory rather
        // than spilling pages to the WAL mid-transaction.
        db->exec("PRAGMA synchronous = OFF");
        db->exec("PRAGMA cache_size = -262144");  // KiB: 256 MiB at most, only if used
        db->exec("PRAGMA temp_store = MEMORY");
        break;
    }
    db->exec("PRAGMA foreign_keys = ON");
    migrate(*db);
    if (durability == Durability::off) strip_for_throwaway(*db);
    try {
      db->exec("BEGIN IMMEDIATE");
      write_probe(*db, 0);
      db->exec("COMMIT");
    } catch (const SQLite::Exception& e) {
      const DatabaseFault fault = classify_sqlite_error(e.getErrorCode());
      throw DatabaseError("cannot write to database " + path + ": " + e.what() +
                          (fault == DatabaseFault::none ? "" : "; " + describe(fault, path)));
    }
    return db;
  } catch (const DatabaseError&) {
    throw;
  } catch (const std::exception& e) {
    throw DatabaseError("cannot open database " + path + ": " + e.what());
  }
}

std::unique_ptr<Connection> open_for_reading(const std::string& path) {
  configure_sqlite();
  try {
    auto db = std::make_unique<Connection>(
        path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX, k_busy_timeout_ms);
    return db;
  } catch (const std::exception& e) {
    throw DatabaseError("cannot open database " + path + " for reading: " + e.what());
  }
}

}  // namespace tocsin::storage
