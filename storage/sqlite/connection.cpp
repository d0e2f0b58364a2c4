#include "storage/sqlite/connection.hpp"

#include <sqlite3.h>

namespace tocsin::storage::sqlite {

sql::ErrorClass error_class_of(int sqlite_code) {
  switch (sqlite_code & 0xFF) {  // primary result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
      return sql::ErrorClass::busy;
    case SQLITE_CANTOPEN:
      return sql::ErrorClass::unavailable;
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return sql::ErrorClass::read_only;
    case SQLITE_IOERR:
      return sql::ErrorClass::io_error;
    case SQLITE_FULL:
      return sql::ErrorClass::full;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return sql::ErrorClass::corrupt;
    default:
      return sql::ErrorClass::permanent;
  }
}

sql::Error to_error(const SQLite::Exception& e) {
  return sql::Error(sql::Backend::sqlite, error_class_of(e.getErrorCode()), e.getErrorCode(), "",
                    e.what());
}

namespace {

// Runs `f`, turning SQLiteCpp's exception into the layer's; free when nothing throws.
template <class F>
auto translated(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    throw to_error(e);
  }
}

}  // namespace

Statement::Statement(SQLite::Database& db, const std::string& sql)
    : m_owned(translated([&] { return std::make_unique<SQLite::Statement>(db, sql); })),
      m_s(*m_owned) {}

void Statement::bind_null(int index) {
  translated([&] { m_s.bind(index); });
}
void Statement::bind_int(int index, int value) {
  translated([&] { m_s.bind(index, value); });
}
void Statement::bind_int64(int index, std::int64_t value) {
  translated([&] { m_s.bind(index, static_cast<int64_t>(value)); });
}
void Statement::bind_double(int index, double value) {
  translated([&] { m_s.bind(index, value); });
}
void Statement::bind_text(int index, const std::string& value) {
  translated([&] { m_s.bind(index, value); });
}
void Statement::bind_blob(int index, const void* data, std::size_t size) {
  translated([&] { m_s.bind(index, data, static_cast<int>(size)); });
}
bool Statement::step() {
  return translated([&] { return m_s.executeStep(); });
}
int Statement::exec() {
  return translated([&] { return m_s.exec(); });
}
bool Statement::is_null(int column) {
  return translated([&] { return m_s.getColumn(column).isNull(); });
}
bool Statement::is_blob(int column) {
  return translated([&] { return m_s.getColumn(column).isBlob(); });
}
int Statement::get_int(int column) {
  return translated([&] { return m_s.getColumn(column).getInt(); });
}
std::int64_t Statement::get_int64(int column) {
  return translated([&] { return m_s.getColumn(column).getInt64(); });
}
double Statement::get_double(int column) {
  return translated([&] { return m_s.getColumn(column).getDouble(); });
}
std::string Statement::get_text(int column) {
  return translated([&] { return m_s.getColumn(column).getString(); });
}
std::string Statement::get_blob(int column) {
  return translated([&] {
    const SQLite::Column c = m_s.getColumn(column);
    const auto* data = static_cast<const char*>(c.getBlob());  // before getBytes (SQLite's rule)
    return std::string(data, static_cast<std::size_t>(c.getBytes()));
  });
}
void Statement::reset() {
  translated([&] { m_s.reset(); });
}
void Statement::clear_bindings() {
  translated([&] { m_s.clearBindings(); });
}

std::unique_ptr<sql::Statement> Connection::prepare(const std::string& sql) {
  return std::make_unique<Statement>(m_db, sql);
}

sql::Statement& Connection::cached(const std::string& sql) {
  auto it = m_statements.find(sql);
  if (it == m_statements.end()) {
    it = m_statements.emplace(sql, std::make_unique<Statement>(m_db, sql)).first;
  }
  return *it->second;
}

void Connection::exec(const std::string& script) {
  translated([&] { m_db.exec(script); });
}

std::int64_t Connection::last_insert_id() {
  return m_db.getLastInsertRowid();
}

std::int64_t Connection::total_changes() {
  return sqlite3_total_changes64(m_db.getHandle());
}

// BEGIN and COMMIT run once per group commit (once per event at one request at a time):
// cached statements, as savepoints are, rather than a parse each (~3,500 instructions each).
void Connection::begin() {
  sql::CachedStatement(*this, "BEGIN IMMEDIATE")->exec();
}
// What SQLiteCpp's SQLite::Transaction runs (the export used it before this layer).
void Connection::begin_read() {
  exec("BEGIN");
}
void Connection::commit() {
  sql::CachedStatement(*this, "COMMIT")->exec();
}
void Connection::rollback() {
  exec("ROLLBACK");
}

// Savepoints are cached statements: one per job, so a parse per job otherwise.
void Connection::savepoint(const std::string& name) {
  sql::CachedStatement(*this, "SAVEPOINT " + name)->exec();
}
void Connection::release(const std::string& name) {
  sql::CachedStatement(*this, "RELEASE " + name)->exec();
}
void Connection::rollback_to(const std::string& name) {
  sql::CachedStatement(*this, "ROLLBACK TO " + name)->exec();
}

}  // namespace tocsin::storage::sqlite
