// The engine with real storage: timers and the outbox survive a restart, and an
// acknowledgement stops escalation in the same transaction.
#include <doctest/doctest.h>

#include "engine/engine.hpp"
#include "rules/loader.hpp"
#include "server/app.hpp"
#include "storage/reader.hpp"
#include "storage/vocabulary.hpp"
#include "support/events.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

namespace engine_engine_timers_test {

using namespace tocsin;
using namespace tocsin::engine;
using namespace tocsin::server;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-12-22T04:00:00Z");

rules::RulesSnapshot test_rules() {
  return rules_or_fail(R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [cto]}], repeat_every: 30m}
rules:
  - {name: queue, match: {name: "queue-*"}, escalation: page, ack_timeout: 1h}
)");
}

// One engine on a database file; destroying it is a restart.
struct Node {
  ManualClock& clock;
  RulesHolder rules;
  storage::Writer writer;
  Engine engine;

  Node(const std::string& db, ManualClock& c)
      : clock(c),
        rules(*activate(test_rules(), c)),
        writer(db, storage::Durability::normal),
        engine(writer, clock, rules) {}

  IngestResult fire(const std::string& name) {
    Inbound in = generic_inbound(name, SignalState::firing, clock.now());
    auto r = engine.ingest(std::move(in));
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    return r->front();
  }
};

std::vector<std::string> outbox(storage::Reader& reader) {
  std::vector<std::string> out;
  storage::NotificationQuery q;
  q.limit = 500;
  auto rows = reader.list_notifications(q);
  for (auto it = rows.rbegin(); it != rows.rend(); ++it)
    out.push_back(it->channel + ":" + std::string(storage::to_text(it->action)) + "@" +
                  format_timestamp(it->created_at));
  return out;
}

}  // namespace

TEST_CASE("engine: a timer due while the engine was down fires once, at start") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  std::int64_t alert_id = 0;
  {
    Node node(db, clock);
    alert_id = *node.fire("queue-a").alert_id;
  }  // the engine stops before the 20m step is due

  clock.set(k_t0 + 2h);  // and comes back two hours later
  Node node(db, clock);
  auto fired = node.engine.fire_due_timers();
  REQUIRE(fired);
  CHECK(*fired == 1);  // the escalation step; the repeat is scheduled from now, not caught up
  auto again = node.engine.fire_due_timers();
  REQUIRE(again);
  CHECK(*again == 0);

  storage::Reader reader(db);
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@2026-12-22T04:00:00.000Z",
                                                   "cto:escalate@2026-12-22T06:00:00.000Z"});
  bool repeat_scheduled = false;
  for (const auto& t : reader.list_timers(alert_id)) {
    if (t.timer.kind == rules::TimerKind::escalation) {
      CHECK(t.timer.due == k_t0 + 2h + 30min);
      repeat_scheduled = true;
    }
  }
  CHECK(repeat_scheduled);
}

TEST_CASE("engine: acknowledging stops escalation in the same transaction") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  const std::int64_t id = *node.fire("queue-a").alert_id;

  clock.set(k_t0 + 5min);
  auto acked = node.engine.act(AlertRef{id, ""}, rules::HumanAction::ack, "alice", "");
  REQUIRE(acked);
  CHECK(acked->status == EpisodeStatus::acknowledged);
  for (const auto& t : reader.list_timers(id))
    CHECK(t.timer.kind != rules::TimerKind::escalation);

  // Past the step's time: nothing escalates.
  clock.set(k_t0 + 25min);
  REQUIRE(node.engine.fire_due_timers());
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@2026-12-22T04:00:00.000Z",
                                                   "oncall:acknowledge@2026-12-22T04:05:00.000Z"});

  SUBCASE("acknowledging again is refused with 409 and changes nothing") {
    auto twice = node.engine.act(AlertRef{id, ""}, rules::HumanAction::ack, "bob", "");
    REQUIRE_FALSE(twice);
    CHECK(twice.error().status == 409);
    CHECK(twice.error().code == "already_acknowledged");
  }
  SUBCASE("the ack timeout returns it to open and escalation resumes with its spacing") {
    clock.set(k_t0 + 5min + 1h);
    auto fired = node.engine.fire_due_timers();
    REQUIRE(fired);
    CHECK(*fired == 1);
    clock.set(k_t0 + 5min + 1h + 20min);
    REQUIRE(node.engine.fire_due_timers());
    auto sent = outbox(reader);
    REQUIRE(sent.size() == 4);
    CHECK(sent[2] == "oncall:reminder@2026-12-22T05:05:00.000Z");
    CHECK(sent[3] == "cto:escalate@2026-12-22T05:25:00.000Z");
  }
  SUBCASE("an unknown alert is 404") {
    auto missing = node.engine.act(AlertRef{id + 100, ""}, rules::HumanAction::resolve, "bob", "");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().status == 404);
  }
}

// A heartbeat pinged once, its deadline then removed: as a version from before deadlines were
// timers left it.
struct PingedWithoutDeadline {
  TempDir dir;
  TestDatabaseLocation db{dir};
  ManualClock clock{k_t0};
  RulesHolder holder{*activate(
      rules_or_fail("version: 1\nsources: {heartbeat: {allow_unauthenticated: true}}\n"
                    "heartbeats:\n  - {name: worker, every: 5m, grace: 2m}\n"),
      clock)};
  storage::Writer writer{db, storage::Durability::normal};
  Engine engine{writer, clock, holder};

  PingedWithoutDeadline() {
    REQUIRE_FALSE(engine.record_ping("worker"));
    REQUIRE_FALSE(engine.write([](storage::Transaction& tx) {
      auto deadline = tx.next_due_timer(k_t0 + 1h);
      REQUIRE(deadline);
      tx.delete_timer(deadline->id);
    }));
  }
};

TEST_CASE("engine: a heartbeat pinged before deadlines were timers gets one at start") {
  PingedWithoutDeadline f;
  auto& engine = f.engine;
  auto none = engine.next_timer_due();
  REQUIRE(none);
  CHECK_FALSE(*none);
  auto armed = engine.arm_missing_sweeps();
  REQUIRE(armed);
  CHECK(*armed == 1);
  auto due = engine.next_timer_due();
  REQUIRE(due);
  CHECK(*due == k_t0 + 7min);
}

// Every job of the engine may run more than once (storage/writer.hpp): on PostgreSQL a conflict
// with another instance runs the group again. What the engine answers must be the last run's.
TEST_CASE("engine: a job run twice counts the heartbeat deadlines it armed once") {
  PingedWithoutDeadline f;
  auto& engine = f.engine;
  auto& writer = f.writer;
  writer.run_jobs_twice_for_tests();
  auto armed = engine.arm_missing_sweeps();
  REQUIRE(armed);
  CHECK(*armed == 1);  // before: 2, the first run's deadline counted too
}

TEST_CASE("engine: ingest, actions and timers answer the same when each job runs twice") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  node.writer.run_jobs_twice_for_tests();
  const IngestResult first = node.fire("queue-a");  // REQUIREs one result, not two
  CHECK(first.outcome == Outcome::created);
  CHECK(node.fire("queue-a").outcome == Outcome::duplicate);
  clock.set(k_t0 + 20min);
  auto fired = node.engine.fire_due_timers();
  REQUIRE(fired);
  CHECK(*fired == 1);  // the escalation step to cto
  auto acked = node.engine.act(AlertRef{*first.alert_id, ""}, rules::HumanAction::ack, "bob", "");
  REQUIRE(acked);
  CHECK(acked->episode == first.episode.value_or(0));
  storage::Reader reader(db);
  // Each notification once: none queued twice by a run that was rolled back.
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@2026-12-22T04:00:00.000Z",
                                                   "cto:escalate@2026-12-22T04:20:00.000Z",
                                                   "oncall:acknowledge@2026-12-22T04:20:00.000Z",
                                                   "cto:acknowledge@2026-12-22T04:20:00.000Z"});
}

TEST_CASE("engine: a timer whose row this version cannot read is set aside, the others fire") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  const std::int64_t bad = *node.fire("queue-a").alert_id;
  node.fire("queue-b");
  // As a newer version (or a hand edit) would have left it; its escalation is due first.
  db.exec("UPDATE alerts SET source = 'zabbix' WHERE id = " + std::to_string(bad));

  clock.set(k_t0 + 20min);
  auto fired = node.engine.fire_due_timers();
  REQUIRE(fired);  // before: the unreadable timer stayed first and every tick rolled back
  const auto escalations = [&] {
    return db.scalar("SELECT count(*) FROM outbox WHERE action = 'escalate'");
  };
  CHECK(escalations() == 1);  // queue-b's
  // Still stored, retried later: once the row is readable again, the escalation is sent late
  // rather than lost.
  const auto due = db.scalar("SELECT due_at FROM timers WHERE alert_id = " + std::to_string(bad) +
                             " AND kind = 'escalation'");
  CHECK(due > to_unix_ms(k_t0 + 20min));
  CHECK(due <= to_unix_ms(k_t0 + 20min + 1h));
  db.exec("UPDATE alerts SET source = 'generic' WHERE id = " + std::to_string(bad));
  clock.set(from_unix_ms(due));
  fired = node.engine.fire_due_timers();
  REQUIRE(fired);
  CHECK(*fired == 1);
  CHECK(escalations() == 2);
}

TEST_CASE("engine: a timer of a kind this version does not know is set aside, the others fire") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  node.fire("queue-b");
  // A kind the CHECK constraint would refuse, as a newer version's schema would allow it.
  db.exec(std::string(testing_on_postgres() ? "ALTER TABLE timers DROP CONSTRAINT timers_kind_check"
                                            : "PRAGMA ignore_check_constraints = ON") +
          "; INSERT INTO timers (due_at, kind, name) VALUES (" +
          std::to_string(to_unix_ms(k_t0 + 1min)) + ", 'page_harder', 'x')");

  clock.set(k_t0 + 20min);
  REQUIRE(node.engine.fire_due_timers());
  CHECK(db.scalar("SELECT count(*) FROM outbox WHERE action = 'escalate'") == 1);
  CHECK(db.scalar("SELECT due_at FROM timers WHERE kind = 'page_harder'") >
        to_unix_ms(k_t0 + 20min));
}

}  // namespace engine_engine_timers_test
