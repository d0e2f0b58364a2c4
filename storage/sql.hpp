#pragma once
// The statement layer storage's SQL is written against: a connection that prepares statements
// and runs transactions, and a statement that binds parameters, steps through rows and reads
// columns. Each backend implements it in its own folder (SQLite: storage/sqlite/), so
// Transaction, Reader and retention hold their SQL once whatever the database is. The subset is
// what those callers use of SQLiteCpp's API, under backend-neutral names; no backend's types
// appear here.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tocsin::storage::sql {

// What a failure means for the caller, whatever backend reported it.
enum class ErrorClass {
  busy,         // another writer holds a lock, or a conflict with another transaction: retry
  unavailable,  // the database cannot be reached or opened right now: answer 503, retry later
  read_only,    // the database refuses writes (permissions, a standby): an operator can fix it
  io_error,     // the disk or the server reported an I/O error
  full,         // out of space; clears once space is freed
  corrupt,      // the database is damaged: restore from a backup
  permanent,    // the statement's own failure (a constraint, a bug): retrying does not help
};

std::string_view to_string(ErrorClass error_class);

enum class Backend { sqlite, postgres };

// Every failure of a backend's Connection or Statement. what() is the backend's message.
class Error : public std::runtime_error {
 public:
  Error(Backend backend, ErrorClass error_class, int native_code, std::string sqlstate,
        const std::string& message)
      : std::runtime_error(message),
        m_backend(backend),
        m_class(error_class),
        m_native_code(native_code),
        m_sqlstate(std::move(sqlstate)) {}

  Backend backend() const { return m_backend; }
  ErrorClass error_class() const { return m_class; }
  // SQLite's result code, as SQLiteCpp reports it (storage/database.hpp classifies it); 0 for
  // PostgreSQL.
  int native_code() const { return m_native_code; }
  // PostgreSQL's five-character SQLSTATE; empty for SQLite and for failures that did not come
  // from the server.
  const std::string& sqlstate() const { return m_sqlstate; }

 private:
  Backend m_backend;
  ErrorClass m_class;
  int m_native_code;
  std::string m_sqlstate;
};

// A prepared statement. Parameters are bound by 1-based index and keep their value across
// step() and reset() until bound again or cleared. Column indexes are 0-based, valid after
// step() returned true. Reading a NULL column gives 0, 0.0 or an empty string (is_null tells).
// One thread at a time.
class Statement {
 public:
  virtual ~Statement() = default;
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  virtual void bind_null(int index) = 0;
  virtual void bind_int(int index, int value) = 0;
  virtual void bind_int64(int index, std::int64_t value) = 0;
  virtual void bind_double(int index, double value) = 0;
  virtual void bind_text(int index, const std::string& value) = 0;
  virtual void bind_blob(int index, const void* data, std::size_t size) = 0;

  // Overloads by type, so binding reads like SQLiteCpp's.
  void bind(int index, int value) { bind_int(index, value); }
  void bind(int index, std::int64_t value) { bind_int64(index, value); }
  void bind(int index, double value) { bind_double(index, value); }
  void bind(int index, const std::string& value) { bind_text(index, value); }
  void bind(int index, const char* value) { bind_text(index, value); }
  // NULL when empty.
  template <class T>
  void bind(int index, const std::optional<T>& value) {
    if (value) {
      bind(index, *value);
    } else {
      bind_null(index);
    }
  }

  // Runs the statement to its next row: true with a row to read, false once done.
  virtual bool step() = 0;
  // Runs a statement that returns no row to completion; the number of rows it changed.
  virtual int exec() = 0;

  virtual bool is_null(int column) = 0;
  virtual bool is_blob(int column) = 0;
  virtual int get_int(int column) = 0;
  virtual std::int64_t get_int64(int column) = 0;
  virtual double get_double(int column) = 0;
  virtual std::string get_text(int column) = 0;
  virtual std::string get_blob(int column) = 0;  // the bytes as they are

  // Back to before the first step (bindings kept); throws the last step's error, if any.
  virtual void reset() = 0;
  virtual void clear_bindings() = 0;
};

// A connection. Not thread-safe: one thread uses it at a time.
class Connection {
 public:
  virtual ~Connection() = default;
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  virtual Backend backend() const = 0;

  // A statement for one use (the caller owns it).
  virtual std::unique_ptr<Statement> prepare(const std::string& sql) = 0;
  // The connection's statement for `sql`, prepared at its first use and kept for the
  // connection's life: preparing costs more than running most small statements. Use it
  // through CachedStatement, which resets it.
  virtual Statement& cached(const std::string& sql) = 0;
  // Runs SQL without parameters or rows (one or more statements).
  virtual void exec(const std::string& script) = 0;

  // The id the last INSERT gave its row (SQLite's rowid). Backends without one return rows
  // through RETURNING instead.
  virtual std::int64_t last_insert_id() = 0;
  // Rows changed since the connection opened, by every statement.
  virtual std::int64_t total_changes() = 0;

  // A write transaction (SQLite: BEGIN IMMEDIATE, taking the write lock now, not at the first
  // write) and its end.
  virtual void begin() = 0;
  // A transaction that only reads, every query in it seeing one snapshot (SQLite: BEGIN).
  virtual void begin_read() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  // Savepoints inside the transaction, by name.
  virtual void savepoint(const std::string& name) = 0;
  virtual void release(const std::string& name) = 0;
  virtual void rollback_to(const std::string& name) = 0;
};

// One use of a cached statement: reset with its bindings cleared when the use ends, so no read
// stays open across a commit and no value leaks into the next use.
class CachedStatement {
 public:
  CachedStatement(Connection& connection, const std::string& sql) : m_s(connection.cached(sql)) {}
  ~CachedStatement() {
    try {
      m_s.reset();
    } catch (const std::exception&) {
      // The last step's error, already thrown to whoever stepped.
    }
    try {
      m_s.clear_bindings();
    } catch (const std::exception&) {
      // Cannot fail on a valid statement; a destructor must not throw either way.
    }
  }
  CachedStatement(const CachedStatement&) = delete;
  CachedStatement& operator=(const CachedStatement&) = delete;

  Statement& operator*() { return m_s; }
  Statement* operator->() { return &m_s; }
  operator Statement&() { return m_s; }  // NOLINT: passed where a Statement& is read

 private:
  Statement& m_s;
};

}  // namespace tocsin::storage::sql
