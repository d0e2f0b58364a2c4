#pragma once
// Opening Tocsin's SQLite database: WAL mode, the configured `synchronous`, a busy timeout,
// and the schema migrated to the current version before anyone uses it.

#include <SQLiteCpp/Database.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace tocsin::storage {

// PRAGMA synchronous. `off` only for throwaway databases (the temporary one of replay).
enum class Durability { full, normal, off };

// Thrown when the database cannot be opened or migrated; the message says which file and why,
// for the operator (the server refuses to start).
class DatabaseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The connection the writer thread owns: creates the file if needed and migrates it.
std::unique_ptr<SQLite::Database> open_for_writing(const std::string& path, Durability durability);

// A read-only connection; the schema must already be current.
std::unique_ptr<SQLite::Database> open_for_reading(const std::string& path);

// Whether an SQLite error is worth retrying (busy, locked, I/O, disk full): the caller answers
// 503 with Retry-After rather than 4xx.
bool is_transient_sqlite_error(int code);

}  // namespace tocsin::storage
