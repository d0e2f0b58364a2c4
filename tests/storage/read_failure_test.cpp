// storage::ReadError: a Reader's failed query as the server answers it, without the server
// knowing SQLite's types (docs/architecture.md "Dependency order": SQLite only in storage/).

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

#include "storage/database.hpp"
#include "storage/reader.hpp"
#include "support/postgres.hpp"
#include "support/temp_dir.hpp"

namespace storage_read_failure_test {

using namespace tocsin;

TEST_CASE("ReadError: transient faults are worth a retry, and the code is kept for the writer") {
  using storage::sql::Backend;
  using C = storage::sql::ErrorClass;
  struct Case {
    const char* intent;
    Backend backend;
    C error_class;
    int code;
    bool transient;
  };
  const Case cases[] = {
      {"a busy database is worth a retry (503)", Backend::sqlite, C::busy, SQLITE_BUSY, true},
      {"a corrupt page is not (500), and keeps its code for the writer's health", Backend::sqlite,
       C::corrupt, SQLITE_CORRUPT, false},
      {"SQLite: its code decides, as before the classes", Backend::sqlite, C::permanent,
       SQLITE_BUSY, true},
      {"PostgreSQL unreachable: retry", Backend::postgres, C::unavailable, 0, true},
      {"PostgreSQL serialization failure or deadlock: retry", Backend::postgres, C::busy, 0, true},
      {"PostgreSQL disk full: retry once space is freed", Backend::postgres, C::full, 0, true},
      {"PostgreSQL: the query's own error is not", Backend::postgres, C::permanent, 0, false},
      {"PostgreSQL: corrupt data is not", Backend::postgres, C::corrupt, 0, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const storage::ReadError error(c.backend, c.error_class, c.code, "message");
    CHECK(error.sqlite_code() == c.code);
    CHECK(error.error_class() == c.error_class);
    CHECK(error.transient() == c.transient);
    CHECK(std::string(error.what()) == "message");
  }
}

TEST_CASE("Reader: SQLite's exception leaves a query as a ReadError with SQLite's code") {
  testing::TempDir dir;
  const std::string path = dir.file("not-a-database.db");
  std::ofstream(path) << std::string(4096, 'x');
  storage::Reader reader(path);
  try {
    reader.alert_exists(1);
    FAIL("a query on a file that is not a database succeeded");
  } catch (const storage::ReadError& e) {
    CHECK(e.sqlite_code() == SQLITE_NOTADB);
    CHECK(e.error_class() == storage::sql::ErrorClass::corrupt);
    CHECK_FALSE(e.transient());
    CHECK(std::string(e.what()) == "file is not a database");
  }
}

TEST_CASE("Reader: PostgreSQL unreachable is a transient ReadError, its password never shown") {
  testing::ClosedPort port;
  storage::Reader reader("postgresql://tocsin:" + std::string(testing::k_test_postgres_password) +
                         "@127.0.0.1:" + port.port() + "/tocsin");
  try {
    reader.alert_exists(1);
    FAIL("a query on a closed port succeeded");
  } catch (const storage::ReadError& e) {
    CHECK(e.error_class() == storage::sql::ErrorClass::unavailable);
    CHECK(e.transient());
    CHECK(std::string(e.what()).find(testing::k_test_postgres_password) == std::string::npos);
  }
}

TEST_CASE("Reader: a PostgreSQL database never migrated is refused, not created") {
  const auto uri = testing::test_postgres_uri();
  if (!uri) return;
  testing::ScratchSchema schema(*uri);
  storage::Reader reader(*uri + "?options=-csearch_path%3D" + schema.name());
  CHECK_THROWS_WITH_AS(reader.alert_exists(1), doctest::Contains("holds no Tocsin schema"),
                       storage::DatabaseError);
  auto connection = schema.connect();
  CHECK(connection.exec("SELECT count(*) FROM pg_tables WHERE schemaname = $1", {schema.name()})
            .int64(0, 0) == 0);
}

}  // namespace storage_read_failure_test
