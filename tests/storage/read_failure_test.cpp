// storage::read_failure: SQLite's exceptions, as the server answers them, without the server
// knowing SQLite's types (README "Development": SQLite only in storage/).

#include <SQLiteCpp/Exception.h>
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <stdexcept>

#include "storage/database.hpp"

using namespace tocsin;

TEST_CASE("read_failure: SQLite's exceptions become read failures, anything else does not") {
  struct Case {
    const char* intent;
    std::exception_ptr error;
    bool is_failure;
    int code;
    bool transient;
  };
  const Case cases[] = {
      {"a busy database is worth a retry (503)",
       std::make_exception_ptr(SQLite::Exception("database is locked", SQLITE_BUSY)), true,
       SQLITE_BUSY, true},
      {"a corrupt page is not (500), and keeps its code for the writer's health",
       std::make_exception_ptr(SQLite::Exception("malformed", SQLITE_CORRUPT)), true,
       SQLITE_CORRUPT, false},
      {"another exception is not a database error",
       std::make_exception_ptr(std::runtime_error("boom")), false, 0, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const auto failure = storage::read_failure(c.error);
    REQUIRE(failure.has_value() == c.is_failure);
    if (!failure) continue;
    CHECK(failure->sqlite_code == c.code);
    CHECK(failure->transient == c.transient);
    CHECK_FALSE(failure->message.empty());
  }
}
