// Silences on a real PostgreSQL with two instances (docs/behaviour.md "Silences"): a silence's
// end and a decision withholding a page on it, at the same moment in two instances, never leave
// that episode withheld for good. Either the end waits for the decision and settles its hit, or
// the decision waits for the end and finds the silence gone.

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "engine/engine.hpp"
#include "server/app.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/reader.hpp"
#include "storage/transaction.hpp"
#include "storage/writer.hpp"
#include "support/events.hpp"
#include "support/postgres.hpp"
#include "support/rules.hpp"

namespace storage_postgres_silences_test {

using namespace tocsin;
using namespace tocsin::storage;
using namespace std::chrono_literals;
using tocsin::testing::ScratchSchema;
using tocsin::testing::test_postgres_uri;

namespace {

const TimePoint k_now(std::chrono::seconds(1'700'000'000));

// Waits (at most 10 s) until `sessions` sessions of the database wait for a row lock.
bool someone_waits_for_a_lock(ScratchSchema& schema, std::int64_t sessions = 1) {
  auto watch = schema.connect();
  for (int i = 0; i < 1000; ++i) {
    if (watch
            .exec("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                  "datname = current_database()")
            .int64(0, 0) >= sessions)
      return true;
    std::this_thread::sleep_for(10ms);  // polling the server's state, not the clock under test
  }
  return false;
}

struct Setup {
  std::int64_t alert_id = 0;
  std::int64_t silence_id = 0;
};

Setup seed(Writer& writer) {
  Setup s;
  REQUIRE_FALSE(writer
                    .submit([&](Transaction& tx) {
                      AlertRecord a;
                      a.fingerprint = "generic:forms-api";
                      a.name = "forms-api";
                      a.first_seen = a.last_seen = k_now;
                      s.alert_id = tx.save_alert(a);
                      rules::Silence silence;
                      silence.spelled = Json{{"name", "forms-*"}};
                      silence.created_at = silence.starts_at = k_now - 1h;
                      silence.ends_at = k_now + 1h;
                      silence.created_by = "alice";
                      silence.comment = "upgrade";
                      s.silence_id = tx.insert_silence(silence);
                    })
                    .get()
                    .has_value());
  return s;
}

}  // namespace

TEST_CASE("postgres silences: an end waits for the decision holding the silence, and settles it") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer a(schema.location(), Durability::full);
  Writer b(schema.location(), Durability::full);
  const Setup s = seed(a);

  std::promise<void> holds;
  bool held = false;
  auto decision = a.submit([&](Transaction& tx) {
    held = tx.hold_silence(s.silence_id, k_now);
    holds.set_value();
    // Commits only once the other instance's end is waiting for it.
    CHECK(someone_waits_for_a_lock(schema));
    tx.record_silence_hit(s.silence_id, s.alert_id, 1, k_now);
  });
  holds.get_future().wait();
  std::size_t seen = 0;
  bool settled = false;
  auto end = b.submit([&](Transaction& tx) {
    settled = tx.settle_silence(s.silence_id, k_now);
    seen = tx.unsettled_silence_hits(s.silence_id).size();
  });
  CHECK_FALSE(decision.get().has_value());
  CHECK_FALSE(end.get().has_value());
  CHECK(held);
  CHECK(settled);
  CHECK(seen == 1);  // without the shared hold, the end read before the hit committed: 0
}

TEST_CASE("postgres silences: a decision waits for an end in progress, and finds it gone") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer a(schema.location(), Durability::full);
  Writer b(schema.location(), Durability::full);
  const Setup s = seed(a);

  std::promise<void> settling;
  auto end = b.submit([&](Transaction& tx) {
    CHECK(tx.settle_silence(s.silence_id, k_now));
    settling.set_value();
    CHECK(someone_waits_for_a_lock(schema));
  });
  settling.get_future().wait();
  bool held = true;
  std::size_t active = 99;
  auto decision = a.submit([&](Transaction& tx) {
    held = tx.hold_silence(s.silence_id, k_now);
    active = tx.active_silences(k_now).size();
  });
  CHECK_FALSE(end.get().has_value());
  CHECK_FALSE(decision.get().has_value());
  CHECK_FALSE(held);  // it pages instead: the silence's end already settled what it withheld
  CHECK(active == 0);
  // And a second end of the same silence changes nothing.
  bool again = true;
  REQUIRE_FALSE(b.submit([&](Transaction& tx) { again = tx.settle_silence(s.silence_id, k_now); })
                    .get()
                    .has_value());
  CHECK_FALSE(again);
}

TEST_CASE("postgres silences: an end and a raise in two instances page a withheld episode once") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  const auto rules_text = R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}]}
rules:
  - {name: forms, match: {name: "forms-*"}, escalation: page}
)";
  ManualClock clock(k_now);
  engine::RulesHolder rules_a(*server::activate(testing::rules_or_fail(rules_text), clock));
  engine::RulesHolder rules_b(*server::activate(testing::rules_or_fail(rules_text), clock));
  Writer a(schema.location(), Durability::full);
  Writer b(schema.location(), Durability::full);
  engine::Engine engine_a(a, clock, rules_a);
  engine::Engine engine_b(b, clock, rules_b);
  auto warning = testing::generic_inbound("forms-api", SignalState::firing, clock.now());
  warning.events.front().severity = Severity::warning;
  REQUIRE(engine_a.add_silence(Json{{"matchers", {{"name", "forms-*"}, {"severity", "warning"}}},
                                    {"duration", "1h"},
                                    {"by", "alice"},
                                    {"comment", "upgrade"}}));
  auto opened = engine_a.ingest(warning);  // withheld
  REQUIRE(opened);
  const std::int64_t alert_id = opened->front().alert_id.value_or(0);

  // At the silence's end, instance A takes a raise to critical and instance B the silence's end
  // timer. The alert is held locked until both wait for it: A first, then B, whose end has read
  // the silence's hits by then.
  clock.set(k_now + 1h);
  auto blocker = schema.connect();
  blocker.exec("BEGIN");
  blocker.exec("SELECT id FROM alerts WHERE id = " + std::to_string(alert_id) + " FOR UPDATE");
  auto critical = testing::generic_inbound("forms-api", SignalState::firing, clock.now());
  critical.events.front().severity = Severity::critical;
  auto raise =
      std::async(std::launch::async, [&] { return engine_a.ingest(critical).has_value(); });
  REQUIRE(someone_waits_for_a_lock(schema, 1));
  auto end = std::async(std::launch::async, [&] { return engine_b.fire_due_timers().has_value(); });
  REQUIRE(someone_waits_for_a_lock(schema, 2));
  blocker.exec("COMMIT");
  CHECK(raise.get());
  CHECK(end.get());

  Reader reader(schema.location());
  NotificationQuery q;
  q.limit = 10;
  CHECK(reader.list_notifications(q).size() == 1);  // paged once, not by both instances
}

}  // namespace storage_postgres_silences_test
