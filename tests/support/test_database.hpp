#pragma once
// The database of a test that stores state through the engine: a SQLite file in the test's
// folder, or, when TOCSIN_TEST_BACKEND=postgres, a scratch schema of the test PostgreSQL
// (tests/support/postgres.hpp). CTest runs the engine, delivery and cluster suites a second time
// so (CMakeLists.txt), which makes them one suite on both backends
// (docs/postgres.md "How the tests get their PostgreSQL").
//
//   TempDir dir;
//   TestDatabaseLocation db(dir);
//   storage::Writer writer(db.location(), storage::Durability::normal);

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <SQLiteCpp/Database.h>

#include "support/postgres.hpp"
#include "support/temp_dir.hpp"

namespace tocsin::testing {

// Whether this run of the suite is the PostgreSQL one.
inline bool testing_on_postgres() {
  const char* backend = std::getenv("TOCSIN_TEST_BACKEND");
  return backend != nullptr && std::string(backend) == "postgres";
}

class TestDatabaseLocation {
 public:
  explicit TestDatabaseLocation(const TempDir& dir, const std::string& file = "tocsin.db") {
    if (!testing_on_postgres()) {
      m_location = dir.file(file);
      return;
    }
    // Without a server the case runs on SQLite again (said once), except under CI, where
    // test_postgres_uri() fails it.
    const std::optional<std::string> uri = test_postgres_uri();
    if (!uri) {
      m_location = dir.file(file);
      return;
    }
    m_schema = std::make_unique<ScratchSchema>(*uri);
    m_location = m_schema->location();
  }
  const std::string& location() const { return m_location; }
  operator const std::string&() const { return m_location; }  // NOLINT: where a path was

  // SQL run on the database from outside Tocsin, as a hand edit would: a script, and the
  // first column of a query's first row as a number or a text.
  void exec(const std::string& sql) const {
    if (m_schema) {
      m_schema->connect().exec_script(sql);
    } else {
      SQLite::Database(m_location, SQLite::OPEN_READWRITE).exec(sql);
    }
  }
  std::int64_t scalar(const std::string& sql) const {
    if (m_schema) return m_schema->connect().exec(sql).int64(0, 0);
    return SQLite::Database(m_location, SQLite::OPEN_READONLY).execAndGet(sql).getInt64();
  }
  std::string text(const std::string& sql) const {
    if (m_schema) return m_schema->connect().exec(sql).text(0, 0);
    return SQLite::Database(m_location, SQLite::OPEN_READONLY).execAndGet(sql).getString();
  }

 private:
  std::unique_ptr<ScratchSchema> m_schema;
  std::string m_location;
};

}  // namespace tocsin::testing
