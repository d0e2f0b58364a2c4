#pragma once
// The PostgreSQL backend of the statement layer (storage/sql.hpp), over storage/postgres/'s
// libpq wrapper. Parameters are sent in libpq's text format. A cached() statement is prepared
// on the server once per connection and then run by name; prepare() sends its text each time.
// Placeholders are PostgreSQL's $1..$n, or SQLite's `?` and `?NNN`, translated
// (postgres_placeholders).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/postgres/connection.hpp"
#include "storage/sql.hpp"

namespace tocsin::storage::postgres {

// `sql` with SQLite's placeholders turned into PostgreSQL's, so one text serves both backends:
// `?NNN` becomes `$NNN` and a bare `?` the next number after the largest used so far (SQLite's
// rule). Quoted strings, quoted identifiers and comments are left alone; `$NNN` too.
std::string postgres_placeholders(std::string_view sql);

// libpq's failure as the layer's: the SQLSTATE, and the class it and the wrapper's class give.
sql::Error to_error(const Error& e);

class SqlConnection;

class SqlStatement final : public sql::Statement {
 public:
  // `name`: prepared on the server under that name at its first run (cached statements);
  // empty: sent whole each time.
  SqlStatement(SqlConnection& connection, const std::string& sql, std::string name = "")
      : m_connection(connection), m_sql(postgres_placeholders(sql)), m_name(std::move(name)) {}

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
  void set(int index, Param value);
  Result run();
  const Result& row() const;

  SqlConnection& m_connection;
  std::string m_sql;
  std::string m_name;     // server-side name; empty for a one-off statement
  bool m_prepared = false;  // PQprepare done on this connection
  std::vector<Param> m_params;
  std::optional<Result> m_result;  // set by the first step, until reset
  int m_row = -1;
};

// A statement-layer connection over a Connection the caller owns and keeps open for this one's
// life. total_changes() counts what this object's statements changed.
class SqlConnection final : public sql::Connection {
 public:
  explicit SqlConnection(postgres::Connection& connection) : m_connection(connection) {}

  sql::Backend backend() const override { return sql::Backend::postgres; }
  std::unique_ptr<sql::Statement> prepare(const std::string& sql) override;
  sql::Statement& cached(const std::string& sql) override;
  // One or more statements (libpq's simple query protocol); total_changes() counts the last
  // one's changes.
  void exec(const std::string& script) override;
  // lastval(): the value the session's last nextval gave (an identity column's insert).
  std::int64_t last_insert_id() override;
  std::int64_t total_changes() override { return m_changes; }
  void begin() override;
  void begin_read() override;
  void commit() override;
  void rollback() override;
  void savepoint(const std::string& name) override;
  void release(const std::string& name) override;
  void rollback_to(const std::string& name) override;

 private:
  friend class SqlStatement;
  Result run(const std::string& sql, std::span<const Param> params);
  Result run_prepared(const std::string& name, std::span<const Param> params);
  Result counted(Result result);  // adds an INSERT/UPDATE/DELETE's rows to m_changes

  postgres::Connection& m_connection;  // not sql::Connection, the base
  std::int64_t m_changes = 0;
  std::unordered_map<std::string, std::unique_ptr<SqlStatement>> m_statements;
};

}  // namespace tocsin::storage::postgres
