#pragma once
// One storage test, run on every backend: SQLite in a fresh file, and PostgreSQL in a schema of
// its own when TOCSIN_TEST_PG_URI names a server (tests/support/postgres.hpp; skipped without
// it, failed under CI=true). Each database is migrated to the current schema.
//
//   for_each_backend([&](TestDatabase& t) {
//     storage::Transaction tx(t.db());
//     ...
//     storage::Reader reader(t.location());
//   });

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/sqlite/database.hpp"
#include "storage/postgres/schema.hpp"
#include "storage/postgres/sql_connection.hpp"
#include "storage/sql.hpp"
#include "storage/sqlite/connection.hpp"
#include "storage/transaction.hpp"
#include "support/postgres.hpp"
#include "support/temp_dir.hpp"

namespace tocsin::testing {

class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  virtual storage::sql::Backend backend() const = 0;
  const char* name() const {
    return backend() == storage::sql::Backend::sqlite ? "sqlite" : "postgres";
  }
  // A connection to the migrated database, for the test's own use.
  virtual storage::sql::Connection& db() = 0;
  // Another connection to the same database, owned here. SQLite's waits for no lock.
  virtual storage::sql::Connection& another() = 0;
  // What storage::Reader takes: SQLite's file, or a PostgreSQL URI whose search_path is the
  // test's schema.
  virtual std::string location() const = 0;
};

class SqliteTestDatabase final : public TestDatabase {
 public:
  SqliteTestDatabase()
      : m_path(m_dir.file("tocsin.db")),
        m_connection(storage::open_for_writing(m_path, storage::Durability::normal)),
        m_sql(*m_connection) {}
  storage::sql::Backend backend() const override { return storage::sql::Backend::sqlite; }
  storage::sql::Connection& db() override { return m_sql; }
  storage::sql::Connection& another() override {
    auto& raw = m_others.emplace_back(
        std::make_unique<SQLite::Database>(m_path, SQLite::OPEN_READWRITE));
    return *m_other_sql.emplace_back(std::make_unique<storage::sqlite::Connection>(*raw));
  }
  std::string location() const override { return m_path; }

 private:
  TempDir m_dir;
  std::string m_path;
  std::unique_ptr<storage::Connection> m_connection;
  storage::sqlite::Connection m_sql;
  std::vector<std::unique_ptr<SQLite::Database>> m_others;
  std::vector<std::unique_ptr<storage::sqlite::Connection>> m_other_sql;
};

class PostgresTestDatabase final : public TestDatabase {
 public:
  explicit PostgresTestDatabase(const std::string& uri)
      : m_uri(uri), m_schema(uri), m_connection(m_schema.connect()), m_sql(m_connection) {
    storage::postgres::migrate(m_sql);
  }
  storage::sql::Backend backend() const override { return storage::sql::Backend::postgres; }
  storage::sql::Connection& db() override { return m_sql; }
  storage::sql::Connection& another() override {
    auto& raw = m_others.emplace_back(
        std::make_unique<storage::postgres::Connection>(m_schema.connect()));
    return *m_other_sql.emplace_back(std::make_unique<storage::postgres::SqlConnection>(*raw));
  }
  std::string location() const override {
    return m_uri + (m_uri.find('?') == std::string::npos ? "?" : "&") +
           "options=-csearch_path%3D" + m_schema.name();
  }

 private:
  std::string m_uri;
  ScratchSchema m_schema;
  storage::postgres::Connection m_connection;
  storage::postgres::SqlConnection m_sql;
  std::vector<std::unique_ptr<storage::postgres::Connection>> m_others;
  std::vector<std::unique_ptr<storage::postgres::SqlConnection>> m_other_sql;
};

// Runs `body` once per backend, each on a database of its own, naming the backend in failures.
inline void for_each_backend(const std::function<void(TestDatabase&)>& body) {
  {
    SqliteTestDatabase sqlite;
    const std::string backend = sqlite.name();
    CAPTURE(backend);
    body(sqlite);
  }
  const std::optional<std::string> uri = test_postgres_uri();
  if (!uri) return;
  PostgresTestDatabase postgres(*uri);
  const std::string backend = postgres.name();
  CAPTURE(backend);
  body(postgres);
}

// Runs `work` with a Transaction on `db`, in a transaction committed after it.
template <class Work>
void in_transaction(storage::sql::Connection& db, Work&& work) {
  db.begin();
  storage::Transaction tx(db);
  work(tx);
  db.commit();
}

}  // namespace tocsin::testing
