#pragma once
// SQLite inside storage/: the connection and what opens, migrates and watches it. Private to
// storage/ (scripts/check-layering): storage's .cpp files include it, and tests that poke the
// database directly; no public storage header names SQLite's types.

#include <SQLiteCpp/Database.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "storage/database.hpp"

namespace tocsin::storage {

// A connection to the database. The public headers know it only by name (Reader's pool, the
// Writer's connection, Transaction).
class Connection : public SQLite::Database {
 public:
  using SQLite::Database::Database;
};

// The connection the writer thread owns: creates the file if needed, migrates it and proves
// it takes a write (a read-only -shm or -wal is refused here, not at the first event).
std::unique_ptr<Connection> open_for_writing(const std::string& path, Durability durability);

// A read-only connection; the schema must already be current.
std::unique_ptr<Connection> open_for_reading(const std::string& path);

// The readiness probe's write: rewrites the one row of health_probe (migration 5). Unlike an
// empty transaction, committing it proves a page reached the WAL.
void write_probe(SQLite::Database& db, std::int64_t at_unix_ms);

// Brings the database to current_schema_version() (storage/migrations.hpp), one migration per
// transaction, so a crash mid-way leaves a consistent earlier version. Throws DatabaseError for
// a database newer than this build (a downgrade would silently misread it).
// `target` stops at an earlier version (tests of a migration over data of the version before).
void migrate(SQLite::Database& db, int target = -1);

// Notices the database's files being removed or replaced while open. SQLite keeps writing to
// the open, unlinked inodes, so every commit would succeed and vanish at the next restart.
// The main file is asked through SQLite (SQLITE_FCNTL_HAS_MOVED: the path now names another
// inode, or nothing); the -wal and -shm are compared by device and inode with what they were
// when the watch started, which must be after a first write (both exist then).
class FileWatch {
 public:
  explicit FileWatch(SQLite::Database& db);
  // nullopt while the files are the ones opened; otherwise which file was removed or replaced.
  // A few stat calls: cheap enough to run before every commit. Any thread (the connection is
  // opened FULLMUTEX).
  std::optional<std::string> check() const;

 private:
  struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
  };
  static std::optional<Identity> identity(const std::string& path);

  SQLite::Database& m_db;
  std::string m_path;
  std::optional<Identity> m_wal, m_shm;
};

}  // namespace tocsin::storage
