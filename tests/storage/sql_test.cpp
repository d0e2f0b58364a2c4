// The statement layer (storage/sql.hpp) behaves the same on every backend: what is bound is
// what is read back, NULL reads as zero or empty, a cached statement comes back reset and
// cleared, savepoints undo only their own work, and failures arrive as sql::Error with their
// class. Each case runs on every backend (tests/support/backends.hpp).

#include "storage/sql.hpp"

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cctype>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/postgres/sql_connection.hpp"
#include "storage/sqlite/connection.hpp"
#include "support/backends.hpp"

namespace storage_sql_test {

using namespace tocsin::storage;
using tocsin::testing::for_each_backend;
using tocsin::testing::TestDatabase;

namespace {

// Table t in the backend's dialect: id (assigned by the database), i, d, s, b.
const char* create_t(sql::Backend backend) {
  return backend == sql::Backend::sqlite
             ? "CREATE TABLE t (id INTEGER PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, s TEXT "
               "UNIQUE, b BLOB)"
             : "CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, i BIGINT, "
               "d DOUBLE PRECISION, s TEXT UNIQUE, b BYTEA)";
}

std::int64_t count_rows(sql::Connection& db) {
  sql::CachedStatement q(db, "SELECT count(*) FROM t");
  REQUIRE(q->step());
  return q->get_int64(0);
}

}  // namespace

TEST_CASE("sql: values bound are the values read back, NULL reads as zero or empty") {
  for_each_backend([](TestDatabase& t) {
    sql::Connection& db = t.db();
    db.exec(create_t(db.backend()));

    const std::string blob("\x00\x01\xff zstd", 8);
    {
      sql::CachedStatement ins(db, "INSERT INTO t (i, d, s, b) VALUES ($1, $2, $3, $4)");
      ins->bind(1, std::int64_t{1} << 40);
      ins->bind(2, 0.25);
      ins->bind(3, std::string("text"));
      ins->bind_blob(4, blob.data(), blob.size());
      CHECK(ins->exec() == 1);
    }
    const std::int64_t first = db.last_insert_id();
    {
      sql::CachedStatement ins(db, "INSERT INTO t (i, d, s, b) VALUES ($1, $2, $3, $4)");
      ins->bind(1, std::optional<std::int64_t>{});
      ins->bind(2, std::optional<double>{});
      ins->bind(3, std::optional<std::string>{});
      ins->bind_null(4);
      CHECK(ins->exec() == 1);
    }
    CHECK(db.last_insert_id() > first);

    sql::CachedStatement q(db, "SELECT i, d, s, b FROM t ORDER BY id");
    REQUIRE(q->step());
    CHECK(q->get_int64(0) == (std::int64_t{1} << 40));
    CHECK(q->get_double(1) == 0.25);
    CHECK(q->get_text(2) == "text");
    CHECK(q->is_blob(3));
    CHECK(q->get_blob(3) == blob);
    CHECK_FALSE(q->is_null(0));
    REQUIRE(q->step());
    for (int c = 0; c < 4; ++c)
      CHECK(q->is_null(c));
    CHECK(q->get_int(0) == 0);
    CHECK(q->get_int64(0) == 0);
    CHECK(q->get_double(1) == 0.0);
    CHECK(q->get_text(2).empty());
    CHECK_FALSE(q->is_blob(3));
    CHECK_FALSE(q->step());
  });
}

TEST_CASE("sql: a cached statement is prepared once and comes back reset, its bindings cleared") {
  for_each_backend([](TestDatabase& t) {
    sql::Connection& db = t.db();
    db.exec(create_t(db.backend()));
    const std::string insert = "INSERT INTO t (i, s) VALUES ($1, $2)";
    CHECK(&db.cached(insert) == &db.cached(insert));
    {
      sql::CachedStatement ins(db, insert);
      ins->bind(1, 7);
      ins->bind(2, "seven");
      ins->exec();
    }
    {
      sql::CachedStatement ins(db, insert);  // nothing bound: both NULL, not 7 and "seven"
      ins->exec();
    }
    {
      sql::CachedStatement q(db, "SELECT i, s FROM t ORDER BY id");
      REQUIRE(q->step());  // left mid-way: the next use starts from the first row again
    }
    sql::CachedStatement q(db, "SELECT i, s FROM t ORDER BY id");
    REQUIRE(q->step());
    CHECK(q->get_int(0) == 7);
    CHECK(q->get_text(1) == "seven");
    REQUIRE(q->step());
    CHECK(q->is_null(0));
    CHECK(q->is_null(1));
  });
}

TEST_CASE("sql: transactions and savepoints keep or undo exactly their own work") {
  for_each_backend([](TestDatabase& t) {
    sql::Connection& db = t.db();
    db.exec(create_t(db.backend()));
    const std::int64_t changes = db.total_changes();
    auto insert = [&](const std::string& s) {
      sql::CachedStatement ins(db, "INSERT INTO t (s) VALUES ($1)");
      ins->bind(1, s);
      return ins->exec();
    };

    db.begin();
    db.savepoint("job");
    insert("kept");
    db.release("job");
    db.savepoint("job");
    insert("undone");
    db.rollback_to("job");
    db.release("job");
    db.commit();
    CHECK(count_rows(db) == 1);
    CHECK(db.total_changes() - changes == 2);  // the undone insert changed a row too

    db.begin();
    insert("rolled back");
    db.rollback();
    CHECK(count_rows(db) == 1);

    db.begin_read();
    CHECK(count_rows(db) == 1);
    db.commit();

    const auto one_off = db.prepare("SELECT s FROM t");
    REQUIRE(one_off->step());
    CHECK(one_off->get_text(0) == "kept");
  });
}

TEST_CASE("sql: failures arrive as sql::Error with the backend's class and message") {
  for_each_backend([](TestDatabase& t) {
    sql::Connection& db = t.db();
    db.exec(create_t(db.backend()));

    SUBCASE("a constraint is the statement's own: permanent") {
      db.exec("INSERT INTO t (s) VALUES ('once')");
      try {
        db.exec("INSERT INTO t (s) VALUES ('once')");
        FAIL("a duplicate was accepted");
      } catch (const sql::Error& e) {
        CHECK(e.error_class() == sql::ErrorClass::permanent);
        CHECK(e.backend() == db.backend());
        std::string message = e.what();
        for (auto& c : message)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        CHECK(message.find("unique") != std::string::npos);
        if (db.backend() == sql::Backend::sqlite)
          CHECK((e.native_code() & 0xFF) == SQLITE_CONSTRAINT);
      }
    }
    SUBCASE("SQL that does not parse: permanent, at prepare or at the first step") {
      try {
        db.prepare("SELEKT 1")->step();
        FAIL("SELEKT ran");
      } catch (const sql::Error& e) {
        CHECK(e.error_class() == sql::ErrorClass::permanent);
      }
    }
    SUBCASE("a write lock held by another connection: busy (SQLite: BEGIN takes the lock)") {
      if (db.backend() != sql::Backend::sqlite) return;
      sql::Connection& other = t.another();  // waits for no lock
      db.begin();
      try {
        other.begin();
        FAIL("two writers at once");
      } catch (const sql::Error& e) {
        CHECK(e.error_class() == sql::ErrorClass::busy);
      }
      db.rollback();
      other.begin();  // free again
      other.rollback();
    }
  });
}

TEST_CASE("sql: error classes have names") {
  using C = sql::ErrorClass;
  for (auto [c, name] : std::vector<std::pair<C, const char*>>{{C::busy, "busy"},
                                                               {C::unavailable, "unavailable"},
                                                               {C::read_only, "read_only"},
                                                               {C::io_error, "io_error"},
                                                               {C::full, "full"},
                                                               {C::corrupt, "corrupt"},
                                                               {C::permanent, "permanent"}})
    CHECK(sql::to_string(c) == name);
}

TEST_CASE("sql: SQLite's result codes map to the layer's classes") {
  using C = sql::ErrorClass;
  for (auto [code, expected] : std::vector<std::pair<int, C>>{{SQLITE_BUSY, C::busy},
                                                              {SQLITE_LOCKED, C::busy},
                                                              {SQLITE_BUSY_SNAPSHOT, C::busy},
                                                              {SQLITE_CANTOPEN, C::unavailable},
                                                              {SQLITE_READONLY, C::read_only},
                                                              {SQLITE_PERM, C::read_only},
                                                              {SQLITE_IOERR_WRITE, C::io_error},
                                                              {SQLITE_FULL, C::full},
                                                              {SQLITE_CORRUPT, C::corrupt},
                                                              {SQLITE_NOTADB, C::corrupt},
                                                              {SQLITE_CONSTRAINT, C::permanent},
                                                              {SQLITE_ERROR, C::permanent},
                                                              {-1, C::permanent}}) {
    CAPTURE(code);
    CHECK(sqlite::error_class_of(code) == expected);
  }
}

TEST_CASE("sql: SQLite's placeholders become PostgreSQL's, outside strings and comments") {
  for (auto [sqlite, postgres] : std::vector<std::pair<const char*, const char*>>{
           {"SELECT ?, ?", "SELECT $1, $2"},
           {"VALUES (?1, ?2, ?2, 1)", "VALUES ($1, $2, $2, 1)"},
           {"WHERE a = ?3 AND b = ?", "WHERE a = $3 AND b = $4"},  // SQLite: next after largest
           {"WHERE a = $1", "WHERE a = $1"},
           {"WHERE s = '?' AND t = ?", "WHERE s = '?' AND t = $1"},
           {"WHERE s = 'it''s ?' AND t = ?", "WHERE s = 'it''s ?' AND t = $1"},
           {"SELECT \"a?\" FROM t WHERE x = ?", "SELECT \"a?\" FROM t WHERE x = $1"},
           {"SELECT 1 -- why?\nWHERE x = ?", "SELECT 1 -- why?\nWHERE x = $1"},
           {"SELECT /* ? */ ?", "SELECT /* ? */ $1"},
       }) {
    CAPTURE(sqlite);
    CHECK(postgres::postgres_placeholders(sqlite) == postgres);
  }
}

TEST_CASE("sql: PostgreSQL prepares a cached statement on the server once per connection") {
  for_each_backend([](TestDatabase& t) {
    if (t.backend() != sql::Backend::postgres) return;  // SQLite prepares in process anyway
    sql::Connection& db = t.db();
    db.exec(create_t(db.backend()));
    const auto prepared = [&] {
      auto q = db.prepare("SELECT count(*) FROM pg_prepared_statements");
      REQUIRE(q->step());
      return q->get_int64(0);
    };
    const std::int64_t before = prepared();
    for (int i = 0; i < 3; ++i) {
      sql::CachedStatement ins(db, "INSERT INTO t (i) VALUES (?)");
      ins->bind(1, i);
      CHECK(ins->exec() == 1);
    }
    CHECK(prepared() == before + 1);
    db.begin();  // a preparation made in a transaction rolled back stays
    {
      sql::CachedStatement q(db, "SELECT i FROM t WHERE i = ?");
      q->bind(1, 2);
      CHECK(q->step());
    }
    db.rollback();
    sql::CachedStatement q(db, "SELECT i FROM t WHERE i = ?");
    q->bind(1, 1);
    REQUIRE(q->step());
    CHECK(q->get_int(0) == 1);
    CHECK(prepared() == before + 2);
  });
}

}  // namespace storage_sql_test
