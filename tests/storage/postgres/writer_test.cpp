// storage::Writer on a real PostgreSQL (scripts/postgres): group commit answers after COMMIT, a
// job's own failure rolls back only that job, a conflict with another instance runs the group
// again, and a server that goes away is answered 503-style and reconnected to without a restart,
// never showing the password (docs/postgres.md "The writer").

#include "storage/writer.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/postgres/schema.hpp"
#include "storage/sql.hpp"
#include "support/log_capture.hpp"
#include "support/postgres.hpp"

namespace storage_postgres_writer_test {

using namespace tocsin;
using namespace tocsin::storage;
using tocsin::testing::LogCapture;
using tocsin::testing::OwnServer;
using tocsin::testing::ScratchSchema;
using tocsin::testing::test_postgres_uri;

namespace {

InboundRecord inbound(const std::string& delivery_id) {
  InboundRecord r;
  r.received_at = TimePoint(std::chrono::seconds(1'700'000'000));
  r.hook = "generic";
  r.delivery_id = delivery_id;
  r.headers_json = "{}";
  r.body = "{}";
  return r;
}

std::int64_t count_inbound(postgres::Connection& db, const std::string& where = "true") {
  return db.exec("SELECT count(*) FROM inbound WHERE " + where).int64(0, 0);
}

// A conflict as PostgreSQL reports it to the statement layer.
sql::Error serialization_failure() {
  return sql::Error(sql::Backend::postgres, sql::ErrorClass::busy, 0, "40001",
                    "PostgreSQL: could not serialize access (SQLSTATE 40001)");
}


}  // namespace

TEST_CASE("postgres writer: every caller of a group is answered after its COMMIT") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer writer(schema.location(), Durability::full);
  auto check = schema.connect();
  std::vector<std::future<WriteStatus>> answers;
  for (int i = 0; i < 20; ++i) {
    answers.push_back(writer.submit(
        [i](Transaction& tx) { tx.insert_inbound(inbound("group-" + std::to_string(i))); }));
  }
  for (auto& answer : answers) {
    const WriteStatus status = answer.get();
    CHECK_FALSE(status.has_value());
    // Answered: so committed, and visible to another connection.
  }
  CHECK(count_inbound(check) == 20);
  CHECK(writer.health().healthy());
}

TEST_CASE("postgres writer: a job that throws is rolled back alone, its group commits") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer writer(schema.location(), Durability::full);
  auto check = schema.connect();
  auto failing = writer.submit([](Transaction& tx) {
    tx.insert_inbound(inbound("failing"));
    throw std::runtime_error("the job's own failure");
  });
  auto fine = writer.submit([](Transaction& tx) { tx.insert_inbound(inbound("fine")); });
  const WriteStatus failed = failing.get();
  REQUIRE(failed.has_value());
  CHECK_FALSE(failed->transient);
  CHECK(failed->fault == DatabaseFault::none);
  CHECK(failed->message == "the job's own failure");
  CHECK_FALSE(fine.get().has_value());
  CHECK(count_inbound(check, "delivery_id = 'failing'") == 0);
  CHECK(count_inbound(check, "delivery_id = 'fine'") == 1);
}

TEST_CASE("postgres writer: two instances inserting the same delivery id: the loser runs again") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer writer(schema.location(), Durability::full);
  auto other = schema.connect();  // the other instance
  int runs = 0;
  bool redelivery = false;
  const WriteStatus status = writer
                                 .submit([&](Transaction& tx) {
                                   ++runs;
                                   redelivery = false;
                                   if (tx.find_inbound("generic", "same-id")) {
                                     redelivery = true;
                                     return;
                                   }
                                   // The other instance commits the same event meanwhile:
                                   // this INSERT meets its row (unique violation, 23505).
                                   if (runs == 1) {
                                     other.exec(
                                         "INSERT INTO inbound (received_at, hook, delivery_id, "
                                         "headers, body) VALUES (1, 'generic', 'same-id', '{}', "
                                         "'{}')");
                                   }
                                   tx.insert_inbound(inbound("same-id"));
                                 })
                                 .get();
  CHECK_FALSE(status.has_value());
  CHECK(runs == 2);
  CHECK(redelivery);
  CHECK(count_inbound(other, "delivery_id = 'same-id'") == 1);
  CHECK(writer.health().healthy());
}

TEST_CASE("postgres writer: a serialization failure runs the whole group again") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer writer(schema.location(), Durability::full);
  auto check = schema.connect();
  int runs = 0;
  // Two failures, then success: within the bound, so the caller never hears of them.
  const WriteStatus status = writer
                                 .submit([&](Transaction& tx) {
                                   tx.insert_inbound(inbound("retried"));
                                   if (++runs <= 2) throw serialization_failure();
                                 })
                                 .get();
  CHECK_FALSE(status.has_value());
  CHECK(runs == 3);
  CHECK(count_inbound(check, "delivery_id = 'retried'") == 1);
}

TEST_CASE("postgres writer: a job that always conflicts is answered transient, the others commit") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer writer(schema.location(), Durability::full);
  auto check = schema.connect();
  std::promise<void> go;
  std::shared_future<void> started = go.get_future().share();
  // Held until both jobs are queued, so they share a group.
  auto gate = writer.submit([started](Transaction&) { started.wait(); });
  auto hot = writer.submit([](Transaction& tx) {
    tx.insert_inbound(inbound("hot"));
    throw serialization_failure();
  });
  auto cool = writer.submit([](Transaction& tx) { tx.insert_inbound(inbound("cool")); });
  go.set_value();
  CHECK_FALSE(gate.get().has_value());
  const WriteStatus failed = hot.get();
  REQUIRE(failed.has_value());
  CHECK(failed->transient);  // 503: the sender retries
  CHECK(failed->message.find("conflicted with another instance") != std::string::npos);
  CHECK_FALSE(cool.get().has_value());
  CHECK(count_inbound(check, "delivery_id = 'hot'") == 0);
  CHECK(count_inbound(check, "delivery_id = 'cool'") == 1);
}

TEST_CASE("postgres writer: a server that goes away is answered unreachable, then found again") {
  if (!test_postgres_uri()) return;  // scripts/postgres and PostgreSQL 15 are there
  OwnServer server;
  // Trusted from 127.0.0.1, so the password is never checked: only carried, and never shown.
  const std::string secret = "s3cret-never-shown";
  const std::string uri =
      "postgresql://tocsin:" + secret + "@" + server.uri().substr(std::string("postgresql://tocsin@").size());
  LogCapture log;
  Writer writer(uri, Durability::full);
  const auto insert = [&](const std::string& id) {
    return writer.submit([id](Transaction& tx) { tx.insert_inbound(inbound(id)); }).get();
  };
  REQUIRE_FALSE(insert("before").has_value());

  server.halt();
  const WriteStatus down = insert("while-down");
  REQUIRE(down.has_value());
  CHECK(down->transient);
  CHECK(down->fault == DatabaseFault::unreachable);
  CHECK(down->message.find(secret) == std::string::npos);
  CHECK(writer.health().fault == DatabaseFault::unreachable);
  CHECK(writer.health().detail.find(secret) == std::string::npos);
  const WriteStatus probe = writer.probe(std::chrono::seconds(10));
  REQUIRE(probe.has_value());
  CHECK(probe->fault == DatabaseFault::unreachable);

  server.resume();
  // The writer probes by itself (every k_check_every while a fault stands): no traffic needed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!writer.health().healthy() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(writer.health().healthy());
  CHECK_FALSE(insert("after").has_value());
  writer.stop();

  const std::string logged = log.text();
  CHECK(logged.find("cannot be reached") != std::string::npos);
  CHECK(logged.find(secret) == std::string::npos);
  auto check = postgres::Connection::open(server.uri());
  // ('before' may be gone: the test server runs with synchronous_commit off, and halt is a crash.)
  CHECK(count_inbound(check, "delivery_id = 'after'") == 1);
  CHECK(count_inbound(check, "delivery_id = 'while-down'") == 0);
}

TEST_CASE("postgres writer: a location that cannot be opened throws without the password") {
  if (!test_postgres_uri()) return;
  tocsin::testing::ClosedPort closed;
  const std::string secret = "another-s3cret";
  const std::string uri =
      "postgresql://tocsin:" + secret + "@127.0.0.1:" + closed.port() + "/tocsin?connect_timeout=2";
  try {
    Writer writer(uri, Durability::full);
    FAIL("opened a database on a closed port");
  } catch (const DatabaseError& e) {
    const std::string message = e.what();
    CHECK(message.find(secret) == std::string::npos);
    CHECK(message.find("[redacted]") != std::string::npos);
  }
}

TEST_CASE("postgres writer: two instances deadlocking on purpose both commit, the victim retried") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer a(schema.location(), Durability::full);
  Writer b(schema.location(), Durability::full);
  std::promise<void> a_holds, b_holds;
  std::shared_future<void> a_held = a_holds.get_future().share();
  std::shared_future<void> b_held = b_holds.get_future().share();
  int a_runs = 0, b_runs = 0;
  const TimePoint at(std::chrono::seconds(1'700'000'000));
  // Each takes one row, waits until the other took the other row (first run only), then wants
  // the other's: a deadlock PostgreSQL breaks by failing one of them with 40P01.
  auto from_a = a.submit([&](Transaction& tx) {
    tx.record_heartbeat_ping("x", at);
    if (++a_runs == 1) {
      a_holds.set_value();
      b_held.wait_for(std::chrono::seconds(10));
    }
    tx.record_heartbeat_ping("y", at);
  });
  auto from_b = b.submit([&](Transaction& tx) {
    tx.record_heartbeat_ping("y", at);
    if (++b_runs == 1) {
      b_holds.set_value();
      a_held.wait_for(std::chrono::seconds(10));
    }
    tx.record_heartbeat_ping("x", at);
  });
  CHECK_FALSE(from_a.get().has_value());
  CHECK_FALSE(from_b.get().has_value());
  // The victim ran again; on a loaded machine its rerun can collide once more before the other
  // commits (seen once in a full run), so at least one rerun, not exactly one.
  CHECK(a_runs + b_runs >= 3);
  auto check = schema.connect();
  CHECK(check.exec("SELECT count(*) FROM heartbeat_pings").int64(0, 0) == 2);
}

TEST_CASE("postgres writer: a server that turned read-only is the fault read_only, then clears") {
  if (!test_postgres_uri()) return;
  OwnServer server;
  Writer writer(server.uri(), Durability::full);
  const auto insert = [&](const std::string& id) {
    return writer.submit([id](Transaction& tx) { tx.insert_inbound(inbound(id)); }).get();
  };
  REQUIRE_FALSE(insert("before").has_value());
  auto admin = postgres::Connection::open(server.uri());
  // What a demoted primary looks like to a new session: every write fails with 25006.
  const auto cut_writer = [&] {
    admin.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'tocsin' AND "
        "pid <> pg_backend_pid() AND backend_type = 'client backend'");
  };
  admin.exec("ALTER DATABASE tocsin SET default_transaction_read_only = on");
  cut_writer();
  const WriteStatus refused = insert("read-only");
  REQUIRE(refused.has_value());
  CHECK(refused->transient);
  CHECK(refused->fault == DatabaseFault::read_only);
  CHECK(refused->message.find("standby") != std::string::npos);
  CHECK(writer.health().fault == DatabaseFault::read_only);

  admin.exec("ALTER DATABASE tocsin RESET default_transaction_read_only");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!writer.health().healthy() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(writer.health().healthy());
  CHECK_FALSE(insert("after").has_value());
}

// A stopped instance (SIGSTOP) whose writer was inside a transaction: its session sits idle in
// transaction holding its row locks. The server ends that session after
// idle_in_transaction_session_timeout, so another instance's writer waiting on the row goes on.
// Tocsin's bounds are 5 s (docs/postgres.md "The writer"): the waiter is answered within 8 s.
TEST_CASE("postgres writer: an instance stopped inside a transaction does not stall the others") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer stopped(schema.location(), Durability::full);
  Writer healthy(schema.location(), Durability::full);
  std::promise<void> locked;
  std::promise<void> resume;
  std::shared_future<void> resumed = resume.get_future().share();
  auto held = stopped.submit([&locked, resumed](Transaction& tx) {
    tx.insert_inbound(inbound("contended"));
    locked.set_value();
    resumed.wait();  // the thread is stopped: the server sees its session idle in transaction
  });
  locked.get_future().wait();
  auto waiting = healthy.submit([](Transaction& tx) { tx.insert_inbound(inbound("contended")); });
  const bool answered = waiting.wait_for(std::chrono::seconds(8)) == std::future_status::ready;
  CHECK(answered);
  resume.set_value();
  if (answered) CHECK_FALSE(waiting.get().has_value());
  // The stopped instance's transaction was ended by the server: its caller hears 503.
  const WriteStatus lost = held.get();
  CHECK(lost.has_value());
  if (!answered) CHECK_FALSE(waiting.get().has_value());
  auto check = schema.connect();
  CHECK(count_inbound(check, "delivery_id = 'contended'") == 1);
}

// lock_timeout ends a wait on another instance's lock with 55P03: a conflict, run again.
TEST_CASE("postgres writer: a lock timeout runs the group again like a conflict") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer writer(schema.location(), Durability::full);
  int runs = 0;
  const WriteStatus status =
      writer
          .submit([&](Transaction& tx) {
            tx.insert_inbound(inbound("after-lock-timeout"));
            if (++runs == 1)
              throw sql::Error(sql::Backend::postgres, sql::ErrorClass::busy, 0, "55P03",
                               "PostgreSQL: canceling statement due to lock timeout");
          })
          .get();
  CHECK_FALSE(status.has_value());
  CHECK(runs == 2);
}

// The writer's session bounds (docs/postgres.md "The writer"), read back from a session set up
// as the writer's is; the test server runs with synchronous_commit = off.
TEST_CASE("postgres writer session: durable commits and bounded waits, a stronger setting kept") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  struct Case {
    const char* intent;
    const char* before;  // SET before the writer's set-up; empty: the server's default
    const char* setting;
    const char* expected;
  };
  const Case cases[] = {
      {"off is raised to on", "", "synchronous_commit", "on"},
      {"a stronger level is not lowered", "SET synchronous_commit = remote_apply",
       "synchronous_commit", "remote_apply"},
      {"a stopped session is ended", "", "idle_in_transaction_session_timeout", "5s"},
      {"a shorter idle bound is kept", "SET idle_in_transaction_session_timeout = 1000",
       "idle_in_transaction_session_timeout", "1s"},
      {"a lock wait is bounded", "", "lock_timeout", "5s"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.intent);
    auto connection = postgres::Connection::open(*uri);
    if (*c.before != '\0') connection.exec(c.before);
    postgres::set_up_writer_session(connection);
    CHECK(connection.exec(std::string("SHOW ") + c.setting).text(0, 0) == c.expected);
  }
}

}  // namespace storage_postgres_writer_test
