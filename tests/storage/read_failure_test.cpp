// storage::ReadError: a Reader's failed query as the server answers it, without the server
// knowing SQLite's types (docs/architecture.md "Dependency order": SQLite only in storage/).

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

#include "storage/database.hpp"
#include "storage/reader.hpp"
#include "support/temp_dir.hpp"

using namespace tocsin;

TEST_CASE("ReadError: transient faults are worth a retry, and the code is kept for the writer") {
  struct Case {
    const char* intent;
    int code;
    bool transient;
  };
  const Case cases[] = {
      {"a busy database is worth a retry (503)", SQLITE_BUSY, true},
      {"a corrupt page is not (500), and keeps its code for the writer's health", SQLITE_CORRUPT,
       false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const storage::ReadError error(c.code, "message");
    CHECK(error.sqlite_code() == c.code);
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
    CHECK_FALSE(e.transient());
    CHECK(std::string(e.what()) == "file is not a database");
  }
}
