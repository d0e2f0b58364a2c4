#pragma once
// The database as storage's callers see it: how durable, what can go wrong with it and how to
// say so. Opening it (WAL mode, the configured `synchronous`, a busy timeout, the schema
// migrated before anyone uses it) is storage/sqlite/database.hpp, private to storage/.

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "storage/sql.hpp"

namespace tocsin::storage {

// Whether a database location (--db, TOCSIN_DB) names a PostgreSQL database (a
// `postgresql://` or `postgres://` URI, libpq's two spellings) rather than an SQLite file.
bool is_postgres_location(std::string_view location);

// `location` as logs, errors and the API may show it: a URI without its passwords; nothing of a
// key=value connection string or of a URI with an unencoded '@' (location_problem refuses both).
std::string display_location(const std::string& location);

// Why `location` cannot be used, never quoting a password: a libpq key=value connection string
// (a postgresql:// URI is asked for), a URI with more than one '@' before its host (an '@' in
// the password must be %40), a postgresql:// URI libpq cannot parse, or an empty one. nullopt for a file path and a URI libpq parses (nothing is opened).
std::optional<std::string> location_problem(const std::string& location);

// PRAGMA synchronous. `off` only for throwaway databases (the temporary one of replay).
enum class Durability { full, normal, off };

// Thrown when the database cannot be opened or migrated; the message says which file and why,
// for the operator (the server refuses to start).
class DatabaseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether an SQLite error is worth retrying (busy, locked, I/O, disk full): the caller answers
// 503 with Retry-After rather than 4xx.
bool is_transient_sqlite_error(int code);

// A query on a Reader's connection failed: the backend's error as callers outside storage/
// need it (the backends' own types stay in this folder). what() is the backend's message.
class ReadError : public std::runtime_error {
 public:
  ReadError(sql::Backend backend, sql::ErrorClass error_class, int sqlite_code,
            const std::string& message)
      : std::runtime_error(message),
        m_backend(backend),
        m_class(error_class),
        m_sqlite_code(sqlite_code) {}
  sql::Backend backend() const { return m_backend; }
  sql::ErrorClass error_class() const { return m_class; }
  // SQLite's result code; 0 for PostgreSQL. For Writer::note_read_error.
  int sqlite_code() const { return m_sqlite_code; }
  // Answer 503, retry later: is_transient_sqlite_error for SQLite, for PostgreSQL a class that
  // clears by itself (busy: a serialization failure or deadlock; the server unavailable; a full
  // disk or an I/O error).
  bool transient() const;

 private:
  sql::Backend m_backend;
  sql::ErrorClass m_class;
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
  unreachable,    // PostgreSQL: the server cannot be reached or went away; reconnecting
};

// `disk_full`, `file_replaced`, ...: the metrics label and, prefixed `database_`, the error code.
std::string_view to_string(DatabaseFault f);
DatabaseFault classify_sqlite_error(int code);
// A permanent fault needs an operator: a later successful commit does not clear it.
bool is_permanent(DatabaseFault f);
// One sentence for the operator: what is wrong with `path` and what to do about it.
std::string describe(DatabaseFault f, const std::string& path);

// Bytes free for an unprivileged user on the filesystem holding `path`; nullopt if unknown.
std::optional<std::uint64_t> free_bytes(const std::string& path);

// Startup check of an existing database (PRAGMA quick_check: every page's structure, not index
// contents). Throws DatabaseError naming the file and what to do when it is damaged; returns
// false, having checked nothing, when the file does not exist yet.
bool check_integrity(const std::string& path);

}  // namespace tocsin::storage
