// A CloudWatch composite alarm whose actions its suppressor held back (`actionsSuppressedBy`,
// docs/behaviour.md "Other hooks"): the team asked CloudWatch not to act, so by default the
// transition is recorded and ignored; a rule's `actions_suppressed: firing` pages anyway. Driven
// through intake and the engine, on SQLite and on PostgreSQL.
#include <doctest/doctest.h>

#include "engine/intake.hpp"
#include "rules/loader.hpp"
#include "server/app.hpp"
#include "support/fixtures.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

namespace engine_engine_suppressed_test {

using namespace tocsin;
using namespace tocsin::engine;
using namespace tocsin::server;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-03-02T14:22:05Z");
constexpr const char* k_composite = "edge/eventbridge_composite_alarm_state_change.json";

struct Fixture {
  TempDir dir;
  TestDatabaseLocation db{dir};
  ManualClock clock{k_t0};
  App app;

  explicit Fixture(const std::string& rules_yaml)
      : app{dir.file("rules.yaml"), db, clock, rules_or_fail(rules_yaml)} {}

  // The composite alarm's event with `changes` applied ({JSON pointer, value}), posted to
  // /hooks/eventbridge; its outcome/reason.
  std::string post(const std::vector<std::pair<const char*, Json>>& changes) {
    Json event = Json::parse(fixture(k_composite));
    for (const auto& [pointer, value] : changes)
      event[Json::json_pointer(pointer)] = value;
    auto inbound = intake("eventbridge", {}, event.dump(), *app.rules.get(), clock.now());
    REQUIRE(inbound);
    auto r = app.engine.ingest(std::move(*inbound));
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    return std::string(to_string(r->front().outcome)) + "/" + r->front().reason;
  }

  std::int64_t count(const std::string& sql) { return db.scalar(sql); }
};

const std::string k_default_rules = R"(version: 1
rules:
  - {name: everything, match: {}}
)";

const std::string k_firing_rules = R"(version: 1
rules:
  - {name: checkout, match: {name: checkout-degraded}, actions_suppressed: firing}
  - {name: everything, match: {}}
)";

}  // namespace

TEST_CASE("engine: a composite alarm's suppressed ALARM is recorded as ignored by default") {
  Fixture f(k_default_rules);
  CHECK(f.post({{"/id", "e-1"}, {"/detail/state/actionsSuppressedBy", "WaitPeriod"}}) ==
        "ignored/actions_suppressed");
  // Recorded like any ignored event: the request and the decision are stored.
  CHECK(f.count("SELECT count(*) FROM inbound") == 1);
  CHECK(f.count("SELECT count(*) FROM decisions WHERE outcome = 'ignored' AND "
                "reason = 'actions_suppressed'") == 1);
  CHECK(f.count("SELECT count(*) FROM episodes") == 0);
  CHECK(f.count("SELECT count(*) FROM outbox") == 0);

  SUBCASE("when the wait ends, CloudWatch acts and says so: that ALARM opens the episode") {
    f.clock.advance(2min);
    CHECK(f.post({{"/id", "e-2"},
                  {"/detail/previousState/value", "ALARM"},
                  {"/detail/previousState/actionsSuppressedBy", "WaitPeriod"},
                  {"/detail/previousState/timestamp", "2026-03-02T14:22:03.707+0000"},
                  {"/detail/state/timestamp", "2026-03-02T14:24:03.707+0000"}}) ==
          "created/first_occurrence");
  }
  SUBCASE("an OK whose actions are suppressed still resolves what is open") {
    CHECK(f.post({{"/id", "e-2"}, {"/detail/state/timestamp", "2026-03-02T14:22:04.000+0000"}}) ==
          "created/first_occurrence");
    f.clock.advance(5min);
    CHECK(f.post({{"/id", "e-3"},
                  {"/detail/state/value", "OK"},
                  {"/detail/state/actionsSuppressedBy", "Alarm"},
                  {"/detail/state/timestamp", "2026-03-02T14:27:04.000+0000"},
                  {"/detail/previousState/value", "ALARM"}}) == "resolved/source_resolved");
  }
}

TEST_CASE("engine: every kind of suppression is ignored, and only when the state says so") {
  struct Case {
    const char* intent;
    const char* suppressed_by;  // nullptr: the key is absent
    const char* expected;
  };
  const Case cases[] = {
      {"WaitPeriod", "WaitPeriod", "ignored/actions_suppressed"},
      {"ExtensionPeriod", "ExtensionPeriod", "ignored/actions_suppressed"},
      {"the suppressor in ALARM", "Alarm", "ignored/actions_suppressed"},
      {"no suppression", nullptr, "created/first_occurrence"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    Fixture f(R"(version: 1
rules:
  - {name: everything, match: {}}
)");
    std::vector<std::pair<const char*, Json>> changes{{"/id", "e-1"}};
    if (c.suppressed_by) changes.emplace_back("/detail/state/actionsSuppressedBy", c.suppressed_by);
    CHECK(f.post(changes) == c.expected);
  }
}

TEST_CASE("engine: actions_suppressed: firing pages a suppressed ALARM like any other") {
  Fixture f(k_firing_rules);
  CHECK(f.post({{"/id", "e-1"}, {"/detail/state/actionsSuppressedBy", "WaitPeriod"}}) ==
        "created/first_occurrence");
  CHECK(f.count("SELECT count(*) FROM episodes") == 1);
  SUBCASE("the rule decides: another alarm under the catch-all is still ignored") {
    CHECK(f.post({{"/id", "e-2"},
                  {"/detail/alarmName", "other-composite"},
                  {"/detail/state/actionsSuppressedBy", "WaitPeriod"}}) ==
          "ignored/actions_suppressed");
  }
}

}  // namespace engine_engine_suppressed_test
