#pragma once
// Opening Tocsin's SQLite database: WAL mode, the configured `synchronous`, a busy timeout,
// and the schema migrated to the current version before anyone uses it.

#include <SQLiteCpp/Database.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tocsin::storage {

// PRAGMA synchronous. `off` only for throwaway databases (the temporary one of replay).
enum class Durability { full, normal, off };

// Thrown when the database cannot be opened or migrated; the message says which file and why,
// for the operator (the server refuses to start).
class DatabaseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The connection the writer thread owns: creates the file if needed, migrates it and proves
// it takes a write (a read-only -shm or -wal is refused here, not at the first event).
std::unique_ptr<SQLite::Database> open_for_writing(const std::string& path, Durability durability);

// A read-only connection; the schema must already be current.
std::unique_ptr<SQLite::Database> open_for_reading(const std::string& path);

// The readiness probe's write: rewrites the one row of health_probe (migration 5). Unlike an
// empty transaction, committing it proves a page reached the WAL.
void write_probe(SQLite::Database& db, std::int64_t at_unix_ms);

// Whether an SQLite error is worth retrying (busy, locked, I/O, disk full): the caller answers
// 503 with Retry-After rather than 4xx.
bool is_transient_sqlite_error(int code);

// A query on a Reader's connection failed: SQLite's error as callers outside storage/ need it
// (SQLite's own types stay in this folder). what() is SQLite's message.
class ReadError : public std::runtime_error {
 public:
  ReadError(int sqlite_code, const std::string& message)
      : std::runtime_error(message), m_sqlite_code(sqlite_code) {}
  int sqlite_code() const { return m_sqlite_code; }  // for Writer::note_read_error
  // is_transient_sqlite_error: answer 503, retry later.
  bool transient() const { return is_transient_sqlite_error(m_sqlite_code); }

 private:
  int m_sqlite_code;
};

// What keeps the database from committing, as the operator needs to hear it
// (README "Troubleshooting"). `none`: healthy, or an error that is the work's own (a constraint).
enum class DatabaseFault {
  none,
  busy,           // locked by another process beyond the busy timeout
  disk_full,      // SQLITE_FULL: clears by itself once space is freed
  read_only,      // the file, its -wal or -shm, or the folder is not writable by tocsin
  io_error,       // the disk reported an I/O error
  corrupt,        // SQLITE_CORRUPT / SQLITE_NOTADB: restore from a backup
  file_replaced,  // removed or replaced while open: commits would go to an unlinked file
};

// `disk_full`, `file_replaced`, ...: the metrics label and, prefixed `database_`, the error code.
std::string_view to_string(DatabaseFault f);
DatabaseFault classify_sqlite_error(int code);
// A permanent fault needs an operator: a later successful commit does not clear it.
bool is_permanent(DatabaseFault f);
// One sentence for the operator: what is wrong with `path` and what to do about it.
std::string describe(DatabaseFault f, const std::string& path);

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

// Bytes free for an unprivileged user on the filesystem holding `path`; nullopt if unknown.
std::optional<std::uint64_t> free_bytes(const std::string& path);

// Startup check of an existing database (PRAGMA quick_check: every page's structure, not index
// contents). Throws DatabaseError naming the file and what to do when it is damaged; returns
// false, having checked nothing, when the file does not exist yet.
bool check_integrity(const std::string& path);

}  // namespace tocsin::storage
