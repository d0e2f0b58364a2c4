#include "storage/database.hpp"

#include <sqlite3.h>

#include "storage/migrations.hpp"

namespace tocsin::storage {

namespace {

constexpr int k_busy_timeout_ms = 5000;

}  // namespace

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

std::unique_ptr<SQLite::Database> open_for_writing(const std::string& path, Durability durability) {
  try {
    auto db = std::make_unique<SQLite::Database>(
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
    return db;
  } catch (const DatabaseError&) {
    throw;
  } catch (const std::exception& e) {
    throw DatabaseError("cannot open database " + path + ": " + e.what());
  }
}

std::unique_ptr<SQLite::Database> open_for_reading(const std::string& path) {
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READONLY | SQLite::OPEN_FULLMUTEX, k_busy_timeout_ms);
    return db;
  } catch (const std::exception& e) {
    throw DatabaseError("cannot open database " + path + " for reading: " + e.what());
  }
}

}  // namespace tocsin::storage
