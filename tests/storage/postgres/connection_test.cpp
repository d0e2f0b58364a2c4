// The libpq wrapper against a real PostgreSQL (scripts/postgres): values round-trip, races
// between connections come out retryable, a missing server comes out unavailable quickly, and
// no error ever shows a password (docs/postgres.md "Error classes").

#include "storage/postgres/connection.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <optional>
#include <string>

#include "support/postgres.hpp"

namespace storage_postgres_connection_test {

using namespace tocsin::storage::postgres;
using tocsin::testing::ClosedPort;
using tocsin::testing::k_test_postgres_password;
using tocsin::testing::ScratchSchema;
using tocsin::testing::test_postgres_port;
using tocsin::testing::test_postgres_uri;

namespace {

// The Error `run` throws; fails the test when it throws none.
template <typename Run>
Error error_of(Run run) {
  try {
    run();
  } catch (const Error& error) {
    return error;
  }
  FAIL("expected a postgres::Error");
  return Error(ErrorClass::permanent, "", "");
}

}  // namespace

TEST_CASE("postgres: parameters and values round-trip in text format") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  auto db = Connection::open(*uri);

  const std::string unicode = "Grüße, 東京 🚨 \"quoted\" 'single' \\ back";
  const auto text = db.exec("SELECT $1::text", {unicode});
  CHECK(text.text(0, 0) == unicode);

  const std::string injection = "x'); DROP TABLE anything; --";
  CHECK(db.exec("SELECT $1::text", {injection}).text(0, 0) == injection);

  const auto numbers = db.exec(
      "SELECT $1::bigint, $2::bigint, $3::int",
      {std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min(), 42});
  CHECK(numbers.int64(0, 0) == std::numeric_limits<std::int64_t>::max());
  CHECK(numbers.int64(0, 1) == std::numeric_limits<std::int64_t>::min());
  CHECK(numbers.int64(0, 2) == 42);

  const std::optional<std::int64_t> absent;
  const auto nulls = db.exec("SELECT $1::text AS a, $2::bigint AS b", {nullptr, absent});
  CHECK(nulls.is_null(0, nulls.column("a")));
  CHECK(nulls.optional_text(0, 0) == std::nullopt);
  CHECK(nulls.optional_int64(0, nulls.column("b")) == std::nullopt);
  CHECK(error_of([&] { (void)nulls.text(0, 0); }).error_class() == ErrorClass::permanent);

  std::string all_bytes;
  for (int b = 0; b < 256; ++b)
    all_bytes += static_cast<char>(b);
  const auto bytes = db.exec("SELECT $1::bytea, length($1::bytea)", {Param::bytea(all_bytes)});
  CHECK(bytes.bytea(0, 0) == all_bytes);
  CHECK(bytes.int64(0, 1) == 256);

  const auto flags = db.exec("SELECT true, false");
  CHECK(flags.boolean(0, 0));
  CHECK_FALSE(flags.boolean(0, 1));
  CHECK(error_of([&] { (void)flags.int64(0, 0); }).error_class() == ErrorClass::permanent);
}

TEST_CASE("postgres: statements change rows, and a transaction not committed leaves none") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  auto db = schema.connect();
  db.exec("CREATE TABLE t (id bigint PRIMARY KEY, name text)");
  CHECK(db.exec("INSERT INTO t VALUES ($1, $2), ($3, $4)", {1, "a", 2, "b"}).affected_rows() == 2);
  {
    Transaction tx(db);
    tx.exec("DELETE FROM t");
  }  // no commit: rolled back
  CHECK(db.exec("SELECT count(*) FROM t").int64(0, 0) == 2);
  {
    Transaction tx(db);
    tx.exec("DELETE FROM t WHERE id = $1", {1});
    tx.commit();
  }
  CHECK(db.exec("SELECT count(*) FROM t").int64(0, 0) == 1);

  const Error duplicate = error_of([&] { db.exec("INSERT INTO t VALUES (2, 'again')"); });
  CHECK(duplicate.error_class() == ErrorClass::permanent);
  CHECK(duplicate.sqlstate() == "23505");
  CHECK(error_of([&] { db.exec("SELECT * FROM no_such_table"); }).sqlstate() == "42P01");
}

TEST_CASE("postgres: a serialization failure between two SERIALIZABLE transactions is retryable") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  auto a = schema.connect();
  auto b = schema.connect();
  a.exec("CREATE TABLE counter (id int PRIMARY KEY, n bigint)");
  a.exec("INSERT INTO counter VALUES (1, 0)");

  Transaction first(a, Isolation::serializable);
  CHECK(first.exec("SELECT n FROM counter WHERE id = 1").int64(0, 0) == 0);
  {
    Transaction second(b, Isolation::serializable);
    second.exec("UPDATE counter SET n = n + 1 WHERE id = 1");
    second.commit();
  }
  const Error error = error_of([&] { first.exec("UPDATE counter SET n = n + 1 WHERE id = 1"); });
  CHECK(error.error_class() == ErrorClass::retryable);
  CHECK(error.sqlstate() == "40001");
}

TEST_CASE("postgres: run_in_transaction runs the work again after a serialization failure") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  auto a = schema.connect();
  auto b = schema.connect();
  a.exec("CREATE TABLE counter (id int PRIMARY KEY, n bigint)");
  a.exec("INSERT INTO counter VALUES (1, 0)");

  int attempts = 0;
  const std::int64_t seen = run_in_transaction(a, Isolation::serializable, [&](Transaction& tx) {
    ++attempts;
    const std::int64_t n = tx.exec("SELECT n FROM counter WHERE id = 1").int64(0, 0);
    if (attempts == 1) b.exec("UPDATE counter SET n = n + 10 WHERE id = 1");  // gets in the way
    tx.exec("UPDATE counter SET n = $1 WHERE id = 1", {n + 1});
    return n;
  });
  CHECK(attempts == 2);
  CHECK(seen == 10);
  CHECK(a.exec("SELECT n FROM counter").int64(0, 0) == 11);

  SUBCASE("a permanent failure is not run again") {
    int runs = 0;
    const Error error = error_of([&] {
      run_in_transaction(a, Isolation::serializable, [&](Transaction& tx) {
        ++runs;
        tx.exec("INSERT INTO counter VALUES (1, 0)");
      });
    });
    CHECK(error.sqlstate() == "23505");
    CHECK(runs == 1);
  }
}

TEST_CASE("postgres: a deadlock between two connections is retryable") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  auto a = schema.connect();
  auto b = schema.connect();
  a.exec("CREATE TABLE t (id int PRIMARY KEY, n int)");
  a.exec("INSERT INTO t VALUES (1, 0), (2, 0)");
  // The server checks for a deadlock after this long waiting on a lock (default 1 s).
  a.exec("SET deadlock_timeout = '50ms'");
  b.exec("SET deadlock_timeout = '50ms'");

  Transaction ta(a);
  Transaction tb(b);
  ta.exec("UPDATE t SET n = 1 WHERE id = 1");
  tb.exec("UPDATE t SET n = 2 WHERE id = 2");
  // Each now wants the row the other holds; the server aborts one of them. The victim's
  // ROLLBACK releases its locks so the other finishes.
  auto take = [](Connection& connection, int id) -> std::optional<Error> {
    try {
      connection.exec("UPDATE t SET n = 3 WHERE id = $1", {id});
      return std::nullopt;
    } catch (const Error& error) {
      connection.exec("ROLLBACK");
      return error;
    }
  };
  auto a_waits = std::async(std::launch::async, [&] { return take(a, 2); });
  const std::optional<Error> b_error = take(b, 1);
  const std::optional<Error> a_error = a_waits.get();

  REQUIRE(a_error.has_value() != b_error.has_value());
  const Error& victim = a_error ? *a_error : *b_error;
  CHECK(victim.sqlstate() == "40P01");
  CHECK(victim.error_class() == ErrorClass::retryable);
}

TEST_CASE("postgres: a closed port is unavailable within the connect bound, password unshown") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  const ClosedPort closed;
  const std::string secret = "no-one-may-see-this";
  const auto started = std::chrono::steady_clock::now();
  const Error error = error_of([&] {
    Connection::open("postgresql://tocsin:" + secret + "@127.0.0.1:" + closed.port() + "/tocsin",
                     std::chrono::seconds(2));
  });
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
  CHECK(error.error_class() == ErrorClass::unavailable);
  CHECK(std::string(error.what()).find(closed.port()) != std::string::npos);
  CHECK(std::string(error.what()).find(secret) == std::string::npos);
}

TEST_CASE("postgres: a server that never answers is unavailable after the connect timeout") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  const ClosedPort silent(ClosedPort::Kind::silent);
  const std::string target = "postgresql://tocsin@127.0.0.1:" + silent.port() + "/tocsin";
  struct Case {
    const char* intent;
    std::string conninfo;
    std::chrono::seconds default_timeout;
  };
  const Case cases[] = {
      {"the caller's bound applies when the string sets none", target, std::chrono::seconds(2)},
      {"the string's connect_timeout overrides the caller's", target + "?connect_timeout=2",
       std::chrono::seconds(60)},
  };
  for (const Case& c : cases) {
    const std::string intent = c.intent;
    CAPTURE(intent);
    const auto started = std::chrono::steady_clock::now();
    const Error error = error_of([&] { Connection::open(c.conninfo, c.default_timeout); });
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(error.error_class() == ErrorClass::unavailable);
    CHECK(waited >= std::chrono::milliseconds(1500));
    CHECK(waited < std::chrono::seconds(4));
  }
}

TEST_CASE("postgres: a wrong password is refused and never shown, in any connection string form") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  const std::string port = test_postgres_port(*uri);
  const ClosedPort closed;

  // The role needs its password: the right one connects (so the wrong ones are refused for
  // their password, not for something else).
  CHECK_NOTHROW(
      Connection::open("postgresql://tocsin_password:" + std::string(k_test_postgres_password) +
                       "@127.0.0.1:" + port + "/tocsin"));

  const std::string wrong = "wrong-p@ss word";
  const std::string encoded = "wrong-p%40ss%20word";
  struct Case {
    const char* intent;
    std::string conninfo;
  };
  const Case cases[] = {
      {"URI userinfo",
       "postgresql://tocsin_password:" + encoded + "@127.0.0.1:" + port + "/tocsin"},
      {"URI query parameter",
       "postgresql://127.0.0.1:" + port + "/tocsin?user=tocsin_password&password=" + encoded},
      {"keyword form", "host=127.0.0.1 port=" + port +
                           " dbname=tocsin user=tocsin_password password='" + wrong + "'"},
      {"several hosts, the first closed", "postgresql://tocsin_password:" + encoded +
                                              "@127.0.0.1:" + closed.port() + ",127.0.0.1:" + port +
                                              "/tocsin?target_session_attrs=read-write"},
      {"wrong port and password",
       "postgresql://tocsin_password:" + encoded + "@127.0.0.1:" + closed.port() + "/tocsin"},
      {"malformed: libpq echoes the bad percent-encoding",
       "postgresql://tocsin_password:wrong-p%zzss@127.0.0.1:" + port + "/tocsin"},
      {"malformed: an unknown option", "postgresql://tocsin_password:" + encoded +
                                           "@127.0.0.1:" + port + "/tocsin?no_such_option=1"},
  };
  for (const Case& c : cases) {
    const std::string intent = c.intent;
    CAPTURE(intent);
    const Error error = error_of([&] { Connection::open(c.conninfo); });
    const std::string message = error.what();
    CAPTURE(message);
    for (const std::string& spelling :
         {wrong, encoded, std::string("wrong-p%zzss"), std::string("wrong-p")})
      CHECK(message.find(spelling) == std::string::npos);
  }
}

TEST_CASE("postgres: a malformed connection string is permanent") {
  CHECK(error_of([] { Connection::open("postgresql://h/db?no_such_option=1"); }).error_class() ==
        ErrorClass::permanent);
  CHECK(error_of([] { Connection::open("host=127.0.0.1 port"); }).error_class() ==
        ErrorClass::permanent);
}

TEST_CASE("postgres: several hosts with target_session_attrs=read-write reach the live one") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  const std::string port = test_postgres_port(*uri);
  const ClosedPort closed;
  auto db = Connection::open("postgresql://tocsin@127.0.0.1:" + closed.port() +
                             ",127.0.0.1:" + port + "/tocsin?target_session_attrs=read-write");
  CHECK(db.port() == port);
  CHECK(db.host() == "127.0.0.1");
  CHECK(db.exec("SELECT 1").int64(0, 0) == 1);
}

TEST_CASE("postgres: a connection the server ends is unavailable") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  auto victim = Connection::open(*uri);
  auto admin = Connection::open(*uri);
  const std::int64_t pid = victim.exec("SELECT pg_backend_pid()").int64(0, 0);
  admin.exec("SELECT pg_terminate_backend($1::int)", {pid});
  const Error error = error_of([&] { victim.exec("SELECT 1"); });
  CHECK(error.error_class() == ErrorClass::unavailable);
  CHECK(victim.broken());
}

}  // namespace storage_postgres_connection_test
