// PostgreSQL's schema (storage/postgres/schema.hpp): migrating is idempotent, a database newer
// than the build is refused, and the tables and their columns are SQLite's, so that a column
// added to one backend only fails here.

#include "storage/postgres/schema.hpp"

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "storage/database.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/postgres/sql_connection.hpp"
#include "support/postgres.hpp"
#include "support/temp_dir.hpp"

namespace storage_postgres_schema_test {

using namespace tocsin::storage;

namespace {

using Columns = std::map<std::string, std::vector<std::string>>;  // table -> columns in order

Columns postgres_columns(sql::Connection& db) {
  Columns out;
  auto q = db.prepare(
      "SELECT table_name, column_name FROM information_schema.columns "
      "WHERE table_schema = current_schema() AND table_name <> 'tocsin_schema' "
      "ORDER BY table_name, ordinal_position");
  while (q->step())
    out[q->get_text(0)].push_back(q->get_text(1));
  return out;
}

Columns sqlite_columns(SQLite::Database& db) {
  Columns out;
  SQLite::Statement tables(db,
                           "SELECT name FROM sqlite_master WHERE type = 'table' "
                           "AND name NOT LIKE 'sqlite_%' ORDER BY name");
  while (tables.executeStep()) {
    const std::string table = tables.getColumn(0).getString();
    SQLite::Statement columns(db, "SELECT name FROM pragma_table_info(?) ORDER BY cid");
    columns.bind(1, table);
    while (columns.executeStep())
      out[table].push_back(columns.getColumn(0).getString());
  }
  return out;
}

int count(sql::Connection& db, const std::string& query) {
  auto q = db.prepare(query);
  REQUIRE(q->step());
  return q->get_int(0);
}

}  // namespace

TEST_CASE("postgres schema: migrating twice changes nothing the second time") {
  const auto uri = tocsin::testing::test_postgres_uri();
  if (!uri) return;
  tocsin::testing::ScratchSchema schema(*uri);
  auto connection = schema.connect();
  postgres::SqlConnection db(connection);
  CHECK(postgres::schema_version(db) == 0);
  postgres::migrate(db);
  CHECK(postgres::schema_version(db) == postgres::current_schema_version());
  CHECK(count(db, "SELECT count(*) FROM health_probe") == 1);
  postgres::migrate(db);
  CHECK(postgres::schema_version(db) == postgres::current_schema_version());
  CHECK(count(db, "SELECT count(*) FROM tocsin_schema") == postgres::current_schema_version());
  CHECK(count(db, "SELECT count(*) FROM health_probe") == 1);
}

TEST_CASE("postgres schema: a database newer than this build is refused, and left as it is") {
  const auto uri = tocsin::testing::test_postgres_uri();
  if (!uri) return;
  tocsin::testing::ScratchSchema schema(*uri);
  auto connection = schema.connect();
  postgres::SqlConnection db(connection);
  postgres::migrate(db);
  const int newer = postgres::current_schema_version() + 1;
  db.exec("INSERT INTO tocsin_schema (version) VALUES (" + std::to_string(newer) + ")");
  try {
    postgres::migrate(db);
    FAIL("a newer database was migrated");
  } catch (const DatabaseError& e) {
    const std::string message = e.what();
    CHECK(message.find("schema version " + std::to_string(newer)) != std::string::npos);
    CHECK(message.find("newer than this build of tocsin knows") != std::string::npos);
    CHECK(message.find(schema.name()) != std::string::npos);
  }
  CHECK(postgres::schema_version(db) == newer);
}

TEST_CASE("postgres schema: two connections migrating at once migrate once") {
  const auto uri = tocsin::testing::test_postgres_uri();
  if (!uri) return;
  tocsin::testing::ScratchSchema schema(*uri);
  auto first_connection = schema.connect();
  auto second_connection = schema.connect();
  postgres::SqlConnection first(first_connection), second(second_connection);
  // The first holds the lock in an open transaction; the second's migrate waits on it, so it
  // runs in another thread and finds the work done once the first commits.
  first.begin();
  first.exec(
      "SELECT pg_advisory_xact_lock(hashtextextended('tocsin schema ' || current_schema(), 0))");
  std::exception_ptr failure;
  std::thread other([&] {
    try {
      postgres::migrate(second);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  // Wait (bounded) until the second is seen waiting for the lock: without the lock it would
  // not wait, and this fails.
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting; ++i) {
    waiting = count(first,
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") >
              0;
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(waiting);
  first.commit();  // released: the second goes on
  other.join();
  CHECK_FALSE(failure);
  postgres::migrate(first);
  CHECK(count(first, "SELECT count(*) FROM tocsin_schema") == postgres::current_schema_version());
}

TEST_CASE("postgres schema: the same tables with the same columns as SQLite's") {
  const auto uri = tocsin::testing::test_postgres_uri();
  if (!uri) return;
  tocsin::testing::ScratchSchema schema(*uri);
  auto connection = schema.connect();
  postgres::SqlConnection db(connection);
  postgres::migrate(db);

  tocsin::testing::TempDir dir;
  SQLite::Database lite((dir.path() / "schema.db").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  migrate(lite);

  const Columns expected = sqlite_columns(lite);
  const Columns actual = postgres_columns(db);
  CHECK(expected.size() == 18);  // a guard that both catalogs were read
  for (const auto& [table, columns] : expected) {
    CAPTURE(table);
    const auto it = actual.find(table);
    REQUIRE(it != actual.end());
    CHECK(it->second == columns);
  }
  for (const auto& [table, columns] : actual) {
    CAPTURE(table);
    CHECK(expected.count(table) == 1);
  }
}

}  // namespace storage_postgres_schema_test
