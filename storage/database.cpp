#include "storage/database.hpp"

#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <filesystem>

#include "storage/detail/rows.hpp"
#include "storage/detail/sqlite.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/redact.hpp"

namespace tocsin::storage {

namespace {

constexpr int k_busy_timeout_ms = 5000;

}  // namespace

bool is_postgres_location(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string display_location(const std::string& location) {
  return is_postgres_location(location) ? postgres::redacted(location) : location;
}

std::optional<std::string> location_problem(const std::string& location) {
  if (location.empty()) return "is empty";
  if (!is_postgres_location(location)) return std::nullopt;
  if (auto why = postgres::conninfo_problem(location)) {
    return "is not a connection URI libpq can parse: " + *why;
  }
  return std::nullopt;
}

bool ReadError::transient() const {
  if (m_backend == sql::Backend::sqlite) return is_transient_sqlite_error(m_sqlite_code);
  switch (m_class) {
    case sql::ErrorClass::busy:
    case sql::ErrorClass::unavailable:
    case sql::ErrorClass::read_only:
    case sql::ErrorClass::io_error:
    case sql::ErrorClass::full:
      return true;
    case sql::ErrorClass::corrupt:
    case sql::ErrorClass::permanent:
      return false;
  }
  return false;
}

bool is_transient_sqlite_error(int code) {
  switch (code & 0xFF) {  // primary result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:  // e.g. the file was made read-only under us; an operator can fix it
      return true;
    default:
      return false;
  }
}

std::string_view to_string(DatabaseFault f) {
  switch (f) {
    case DatabaseFault::none:
      return "none";
    case DatabaseFault::busy:
      return "busy";
    case DatabaseFault::disk_full:
      return "disk_full";
    case DatabaseFault::read_only:
      return "read_only";
    case DatabaseFault::io_error:
      return "io_error";
    case DatabaseFault::corrupt:
      return "corrupt";
    case DatabaseFault::file_replaced:
      return "file_replaced";
    case DatabaseFault::unreachable:
      return "unreachable";
  }
  return "none";
}

DatabaseFault classify_sqlite_error(int code) {
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
      return DatabaseFault::busy;
    case SQLITE_FULL:
      return DatabaseFault::disk_full;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:  // the -wal or -shm cannot be opened: permissions, almost always
    case SQLITE_PERM:
      return DatabaseFault::read_only;
    case SQLITE_IOERR:
      return DatabaseFault::io_error;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DatabaseFault::corrupt;
    default:
      return DatabaseFault::none;
  }
}

bool is_permanent(DatabaseFault f) {
  return f == DatabaseFault::corrupt || f == DatabaseFault::file_replaced;
}

std::string describe(DatabaseFault f, const std::string& path) {
  switch (f) {
    case DatabaseFault::none:
      return "database " + path + " is healthy";
    case DatabaseFault::busy:
      return "database " + path + " is locked by another process; retrying";
    case DatabaseFault::disk_full:
      return "the disk holding database " + path +
             " is full; commits resume by themselves once space is freed";
    case DatabaseFault::read_only:
      return "database " + path + " (or its -wal or -shm file, or its folder) is not writable " +
             "by tocsin's user; fix the permissions";
    case DatabaseFault::io_error:
      return "I/O error on database " + path + "; check the disk (dmesg); retrying";
    case DatabaseFault::corrupt:
      return "database " + path + " is corrupt; this does not heal by itself: stop tocsin, " +
             "restore the file from a backup (check one with sqlite3 FILE 'PRAGMA " +
             "integrity_check') and restart";
    case DatabaseFault::file_replaced:
      return "database file " + path + " was removed or replaced while tocsin was running, " +
             "so nothing more can be committed to it: restore the file and restart tocsin";
    case DatabaseFault::unreachable:
      return "PostgreSQL " + path + " cannot be reached or closed the connection; " +
             "reconnecting by itself (at most once a second)";
  }
  return "database " + path;
}

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

std::optional<std::uint64_t> free_bytes(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

const char* const k_probe_sql = "UPDATE health_probe SET at = ?, probes = probes + 1 WHERE id = 1";

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
  try {
    auto db = std::make_unique<Connection>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX,
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
  try {
    auto db = std::make_unique<Connection>(
        path, SQLite::OPEN_READONLY | SQLite::OPEN_FULLMUTEX, k_busy_timeout_ms);
    return db;
  } catch (const std::exception& e) {
    throw DatabaseError("cannot open database " + path + " for reading: " + e.what());
  }
}

}  // namespace tocsin::storage
