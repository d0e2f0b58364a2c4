#pragma once
// The SQLite backend of the statement layer (storage/sql.hpp), over SQLiteCpp. Private to
// storage/ (scripts/check-layering), like storage/detail/: storage's .cpp files include it.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "storage/sql.hpp"

namespace tocsin::storage::sqlite {

// The class of an SQLite result code (primary or extended).
sql::ErrorClass error_class_of(int sqlite_code);
// SQLiteCpp's exception as the layer's: same message, SQLiteCpp's result code as native_code.
sql::Error to_error(const SQLite::Exception& e);

// A statement: owns one it prepared, or views one a caller prepared (code not yet written
// against the layer hands its own statements to the shared row readers this way).
class Statement final : public sql::Statement {
 public:
  Statement(SQLite::Database& db, const std::string& sql);
  explicit Statement(SQLite::Statement& view) : m_s(view) {}

  void bind_null(int index) override;
  void bind_int(int index, int value) override;
  void bind_int64(int index, std::int64_t value) override;
  void bind_double(int index, double value) override;
  void bind_text(int index, const std::string& value) override;
  void bind_blob(int index, const void* data, std::size_t size) override;
  bool step() override;
  int exec() override;
  bool is_null(int column) override;
  bool is_blob(int column) override;
  int get_int(int column) override;
  std::int64_t get_int64(int column) override;
  double get_double(int column) override;
  std::string get_text(int column) override;
  std::string get_blob(int column) override;
  void reset() override;
  void clear_bindings() override;

 private:
  std::unique_ptr<SQLite::Statement> m_owned;
  SQLite::Statement& m_s;
};

// A connection over an SQLite::Database the caller owns and keeps open for this one's life
// (the writer's and the readers' connections are opened by storage/sqlite/database.hpp).
class Connection final : public sql::Connection {
 public:
  explicit Connection(SQLite::Database& db) : m_db(db) {}

  sql::Backend backend() const override { return sql::Backend::sqlite; }
  std::unique_ptr<sql::Statement> prepare(const std::string& sql) override;
  sql::Statement& cached(const std::string& sql) override;
  void exec(const std::string& script) override;
  std::int64_t last_insert_id() override;
  std::int64_t total_changes() override;
  void begin() override;
  void begin_read() override;
  void commit() override;
  void rollback() override;
  void savepoint(const std::string& name) override;
  void release(const std::string& name) override;
  void rollback_to(const std::string& name) override;

  SQLite::Database& database() { return m_db; }

 private:
  SQLite::Database& m_db;
  std::unordered_map<std::string, std::unique_ptr<Statement>> m_statements;
};

}  // namespace tocsin::storage::sqlite
