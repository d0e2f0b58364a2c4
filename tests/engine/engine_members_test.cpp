// The members of an alert as the engine stores them (migration 8), and alerts stored before
// members existed: those have no member rows and must behave as they did, never pinned open.
#include <doctest/doctest.h>

#include "rules/loader.hpp"
#include "server/app.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

namespace engine_engine_members_test {

using namespace tocsin;
using namespace tocsin::engine;
using namespace tocsin::server;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-09-01T00:00:00Z");

rules::RulesSnapshot test_rules() {
  return rules_or_fail(R"(version: 1
rules:
  - {name: web, match: {labels: {service: web}}, dedup_key: "{source}:{labels.service}"}
  - {name: rest, match: {}}
)");
}

struct Fixture {
  TempDir dir;
  TestDatabaseLocation db{dir};
  ManualClock clock{k_t0};
  App app{dir.file("rules.yaml"), db, clock, test_rules()};

  // A generic event of `key` (service web: one group), its transition at `at`.
  IngestResult send(const std::string& key, SignalState state, TimePoint at,
                    const std::string& service = "web") {
    NormalizedEvent e;
    e.source = Source::generic;
    e.hook = "generic";
    e.name = key;
    e.fingerprint = "generic:" + key;
    e.labels["service"] = service;
    e.state = state;
    e.source_time = at;
    Inbound in;
    in.record.received_at = clock.now();
    in.record.hook = "generic";
    in.record.body = "{}";
    in.events.push_back(e);
    auto r = app.engine.ingest(std::move(in));
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    return r->front();
  }

  void exec(const std::string& sql) { db.exec(sql); }
  std::int64_t count(const std::string& sql) { return db.scalar(sql); }
};

std::string outcome(const IngestResult& r) {
  return std::string(to_string(r.outcome)) + "/" + r.reason;
}

}  // namespace

TEST_CASE("members: each event's member is stored with its state and transition") {
  Fixture f;
  f.send("pod-a", SignalState::firing, k_t0 - 1min);
  f.clock.advance(1s);
  f.send("pod-b", SignalState::firing, k_t0 - 2min);
  f.clock.advance(1s);
  f.send("pod-a", SignalState::resolved, k_t0 + 1s);
  CHECK(f.count("SELECT count(*) FROM alert_members m JOIN alerts a ON a.id = m.alert_id "
                "WHERE a.fingerprint = 'generic:web'") == 2);
  CHECK(f.count("SELECT count(*) FROM alert_members WHERE member = 'generic:pod-a' AND "
                "state = 'resolved' AND transition_at = " +
                std::to_string(to_unix_ms(k_t0 + 1s))) == 1);
  CHECK(f.count("SELECT count(*) FROM alert_members WHERE member = 'generic:pod-b' AND "
                "state = 'firing'") == 1);
  auto detail = f.app.reader.get_alert(1);
  REQUIRE(detail);
  CHECK(detail->members_total == 2);
  CHECK(detail->members_firing == 1);
  REQUIRE(detail->members.size() == 2);
  CHECK(detail->members[0].fingerprint == "generic:pod-b");  // firing first
}

TEST_CASE("members: an alert stored before members existed behaves as before") {
  SUBCASE("a group's member resolve ends the episode, as it did: never pinned open") {
    Fixture f;
    CHECK(outcome(f.send("pod-a", SignalState::firing, k_t0)) == "created/first_occurrence");
    CHECK(outcome(f.send("pod-b", SignalState::firing, k_t0)) == "duplicate/continues_episode");
    f.exec("DELETE FROM alert_members");  // as migration 8 finds it
    f.clock.advance(1min);
    CHECK(outcome(f.send("pod-a", SignalState::resolved, k_t0 + 1min)) ==
          "resolved/source_resolved");
    // From then on it tracks members: pod-b, never seen since, opens the next episode.
    f.clock.advance(1min);
    auto again = f.send("pod-b", SignalState::firing, k_t0);
    CHECK(outcome(again) == "created/new_occurrence");
    CHECK(again.episode == 2);
  }
  SUBCASE("an open alert's repeat is recognised from its episode's last source time") {
    Fixture f;
    f.send("lonely", SignalState::firing, k_t0, "other");
    f.exec("DELETE FROM alert_members");
    f.clock.advance(1min);
    CHECK(outcome(f.send("lonely", SignalState::firing, k_t0, "other")) ==
          "duplicate/same_transition");
    CHECK(outcome(f.send("lonely", SignalState::resolved, k_t0 - 1min, "other")) ==
          "out_of_order/older_than_last_change");
    CHECK(outcome(f.send("lonely", SignalState::resolved, k_t0 + 1min, "other")) ==
          "resolved/source_resolved");
  }
}

}  // namespace engine_engine_members_test
