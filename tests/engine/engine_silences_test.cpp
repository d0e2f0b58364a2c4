// Silences on the injected clock, with real storage (docs/behaviour.md "Silences"): a withheld
// episode pages at the silence's end and escalation follows its policy from then; a silence
// ended by hand pages at once; never_suppress alerts are quieted only by a silence naming them.
#include <doctest/doctest.h>

#include "engine/engine.hpp"
#include "server/app.hpp"
#include "storage/reader.hpp"
#include "storage/vocabulary.hpp"
#include "support/events.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

// Lists of notifications and decisions print as such when a check fails.
namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& item : items)
      out += (out.size() > 1 ? ", " : "") + item;
    return String((out + "]").c_str());
  }
};
}  // namespace doctest

namespace engine_engine_silences_test {

using namespace tocsin;
using namespace tocsin::engine;
using namespace tocsin::server;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-12-22T04:00:00Z");

rules::RulesSnapshot silence_rules() {
  return rules_or_fail(R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [cto]}]}
rules:
  - {name: queue-age, match: {name: "forms-queue-age"}, escalation: page, never_suppress: true}
  - {name: forms, match: {name: "forms-*"}, escalation: page, ack_timeout: 1h}
silences: {max_duration: 1d}
)");
}

struct Node {
  ManualClock& clock;
  RulesHolder rules;
  storage::Writer writer;
  Engine engine;

  Node(const std::string& db, ManualClock& c)
      : clock(c),
        rules(*activate(silence_rules(), c)),
        writer(db, storage::Durability::normal),
        engine(writer, clock, rules) {}

  std::int64_t fire(const std::string& name, SignalState state = SignalState::firing) {
    auto r = engine.ingest(generic_inbound(name, state, clock.now()));
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    return r->front().alert_id.value_or(0);
  }

  std::int64_t silence(const std::string& matchers, const std::string& duration,
                       std::optional<TimePoint> starts_at = std::nullopt) {
    Json request = {{"matchers", Json::parse(matchers)},
                    {"duration", duration},
                    {"by", "alice"},
                    {"comment", "forms upgrade"}};
    if (starts_at) request["starts_at"] = format_timestamp(*starts_at);
    auto s = engine.add_silence(request);
    REQUIRE_MESSAGE(s, (s ? "" : s.error().detail));
    return s->id;
  }

  void run_to(TimePoint t) {
    clock.set(t);
    REQUIRE(engine.fire_due_timers());
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

// The alert's decisions of kind "decision", oldest first, as "outcome@time".
std::vector<std::string> decisions(storage::Reader& reader, std::int64_t alert_id) {
  std::vector<std::string> out;
  auto rows = reader.list_decisions(alert_id, 100, std::nullopt);
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (it->decision.kind != storage::DecisionKind::decision) continue;
    out.push_back(std::string(storage::to_text(it->decision.outcome)) + "@" +
                  format_timestamp(it->decision.at));
  }
  return out;
}

std::string at(Duration d) {
  return format_timestamp(k_t0 + d);
}

}  // namespace

TEST_CASE("silences: a withheld episode pages at the silence's end, then escalates on policy") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  const std::int64_t silence = node.silence(R"({"name": "forms-*"})", "2h");

  clock.set(k_t0 + 10min);
  const std::int64_t id = node.fire("forms-api-5xx");
  node.run_to(k_t0 + 1h);
  CHECK(outbox(reader).empty());
  const auto withheld = reader.list_decisions(id, 10, std::nullopt);
  REQUIRE_FALSE(withheld.empty());
  CHECK(withheld.front().decision.outcome == storage::DecisionOutcome::silenced);
  CHECK(withheld.front().decision.reason.starts_with(
      "silence " + std::to_string(silence) +
      " by alice until 2026-12-22T06:00:00.000Z: forms upgrade"));

  node.run_to(k_t0 + 2h);  // the silence ends: it pages as if it had just opened
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(2h)});
  node.run_to(k_t0 + 2h + 19min);
  CHECK(outbox(reader).size() == 1);
  node.run_to(k_t0 + 2h + 20min);  // the second step, 20m after the page, not after the opening
  CHECK(outbox(reader) ==
        std::vector<std::string>{"oncall:trigger@" + at(2h), "cto:escalate@" + at(2h + 20min)});
  CHECK(decisions(reader, id) == std::vector<std::string>{"silenced@" + at(10min),
                                                          "unsilenced@" + at(2h),
                                                          "escalated@" + at(2h + 20min)});
  const auto view = reader.get_silence(silence);
  REQUIRE(view);
  CHECK(view->withheld == 1);
  CHECK(view->paged == 1);
}

TEST_CASE("silences: what happens to a withheld episode when its silence ends") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  const std::int64_t silence = node.silence(R"({"name": "forms-*"})", "2h");
  clock.set(k_t0 + 10min);
  const std::int64_t id = node.fire("forms-api-5xx");

  SUBCASE("expired by hand: it pages at once, in the same transaction") {
    clock.set(k_t0 + 30min);
    auto ended = node.engine.expire_silence(silence, "bob");
    REQUIRE(ended);
    CHECK(ended->expired_by == "bob");
    CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(30min)});
    SUBCASE("and its timer no longer fires: nothing pages twice") {
      node.run_to(k_t0 + 50min);
      node.run_to(k_t0 + 3h);
      CHECK(outbox(reader) ==
            std::vector<std::string>{"oncall:trigger@" + at(30min), "cto:escalate@" + at(50min)});
    }
    SUBCASE("expiring it again is refused with 409") {
      auto again = node.engine.expire_silence(silence, "bob");
      REQUIRE_FALSE(again);
      CHECK(again.error().status == 409);
    }
  }
  SUBCASE("resolved by the source meanwhile: nothing pages") {
    clock.set(k_t0 + 20min);
    node.fire("forms-api-5xx", SignalState::resolved);
    node.run_to(k_t0 + 3h);
    CHECK(outbox(reader).empty());
    const auto view = reader.get_silence(silence);
    REQUIRE(view);
    CHECK(view->withheld == 1);
    CHECK(view->paged == 0);
  }
  SUBCASE("acknowledged meanwhile: nothing pages; ack_timeout after the end resumes escalation") {
    clock.set(k_t0 + 1h + 30min);
    REQUIRE(node.engine.act(AlertRef{id, ""}, rules::HumanAction::ack, "carol", ""));
    node.run_to(k_t0 + 2h);
    CHECK(outbox(reader).empty());   // it never paged, so nobody is told of the ack
    node.run_to(k_t0 + 2h + 30min);  // its ack_timeout, after the silence's end
    CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(2h + 30min)});
  }
  SUBCASE("an ack_timeout during the silence resumes nothing") {
    clock.set(k_t0 + 20min);
    REQUIRE(node.engine.act(AlertRef{id, ""}, rules::HumanAction::ack, "carol", ""));
    node.run_to(k_t0 + 1h + 30min);  // back to open at 1h20m, still silenced
    CHECK(outbox(reader).empty());
    node.run_to(k_t0 + 2h);  // and pages at the end
    CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(2h)});
  }
  SUBCASE("another silence still covering it withholds it in turn, until it ends") {
    clock.set(k_t0 + 30min);
    node.silence(R"({"name": "/^forms-api/"})", "3h");
    node.run_to(k_t0 + 2h);
    CHECK(outbox(reader).empty());
    node.run_to(k_t0 + 30min + 3h);
    CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(3h + 30min)});
  }
}

TEST_CASE("silences: a silence added after the page withholds the next step, then pages again") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  const std::int64_t id = node.fire("forms-api-5xx");
  clock.set(k_t0 + 5min);
  node.silence(R"({"name": "forms-api-5xx"})", "1h");
  node.run_to(k_t0 + 20min);
  node.run_to(k_t0 + 1h);
  CHECK(decisions(reader, id) == std::vector<std::string>{"silenced@" + at(20min)});
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(0min)});
  node.run_to(k_t0 + 1h + 5min);
  node.run_to(k_t0 + 1h + 25min);
  CHECK(decisions(reader, id) == std::vector<std::string>{"silenced@" + at(20min),
                                                          "unsilenced@" + at(1h + 5min),
                                                          "escalated@" + at(1h + 25min)});
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(0min),
                                                   "oncall:trigger@" + at(1h + 5min),
                                                   "cto:escalate@" + at(1h + 25min)});
}

TEST_CASE("silences: never_suppress alerts are quieted only by a silence naming them exactly") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  struct Case {
    const char* matchers;
    bool quiets;
  };
  // One line each: which silences may quiet the queue-age alarm (rule queue-age, never_suppress).
  const Case cases[] = {
      {R"({"name": "forms-*"})", false},                           // a glob
      {R"({"name": "/queue/"})", false},                           // a regex
      {R"({"source": "generic"})", false},                         // a selector of another key
      {R"({"fingerprint": "generic:*"})", false},                  // a fingerprint glob
      {R"({"name": "forms-queue-age"})", true},                    // its exact name
      {R"({"fingerprint": "generic:forms-queue-age"})", true},     // its exact fingerprint
      {R"({"name": "forms-queue-age", "source": "gen*"})", true},  // exact, narrowed further
  };
  int minute = 0;
  for (const auto& c : cases) {
    CAPTURE(c.matchers);
    clock.set(k_t0 + std::chrono::minutes(minute += 10));
    const std::int64_t silence = node.silence(c.matchers, "1h");
    const auto before = outbox(reader).size();
    const std::int64_t id = node.fire("forms-queue-age");
    CHECK((outbox(reader).size() == before) == c.quiets);
    REQUIRE(node.engine.expire_silence(silence, "alice"));
    REQUIRE(node.engine.act(AlertRef{id, ""}, rules::HumanAction::resolve, "alice", ""));
  }
}

TEST_CASE("silences: a maintenance window scheduled ahead quiets nothing before it starts") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  node.silence(R"({"name": "forms-*"})", "1h", k_t0 + 1h);
  const std::int64_t early = node.fire("forms-early");
  CHECK(outbox(reader).size() == 1);
  clock.set(k_t0 + 1h + 1min);
  const std::int64_t during = node.fire("forms-during");
  CHECK(outbox(reader).size() == 1);
  CHECK(decisions(reader, during) == std::vector<std::string>{"silenced@" + at(1h + 1min)});
  CHECK(decisions(reader, early).empty());
  node.run_to(k_t0 + 2h);
  CHECK(outbox(reader).back() == "oncall:trigger@" + at(2h));
}

TEST_CASE("silences: a silence and its withheld episodes survive a restart") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  {
    Node node(db, clock);
    node.silence(R"({"name": "forms-*"})", "2h");
    clock.set(k_t0 + 10min);
    node.fire("forms-api-5xx");
  }  // stopped during the silence
  clock.set(k_t0 + 3h);
  Node node(db, clock);
  storage::Reader reader(db);
  CHECK(outbox(reader).empty());
  REQUIRE(node.engine.fire_due_timers());
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(3h)});
}

TEST_CASE("silences: a request beyond silences.max_duration is refused naming the field") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  auto s = node.engine.add_silence(
      Json{{"matchers", {{"name", "forms-*"}}}, {"duration", "2d"}, {"by", "a"}, {"comment", "c"}});
  REQUIRE_FALSE(s);
  CHECK(s.error().status == 400);
  CHECK(s.error().code == "invalid_silence");
  CHECK(s.error().detail.starts_with("duration "));
  CHECK(s.error().detail.find("silences.max_duration (1d)") != std::string::npos);
}

TEST_CASE("silences: a withheld episode raised to a severity its silence skips pages at once") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  const auto fire = [&](Severity severity) {
    auto in = generic_inbound("forms-api-5xx", SignalState::firing, clock.now());
    in.events.front().severity = severity;
    auto r = node.engine.ingest(in);
    REQUIRE(r);
    return r->front().alert_id.value_or(0);
  };
  // "Quiet the warnings of the forms stack during the upgrade": a critical is not a warning.
  const std::int64_t silence = node.silence(R"({"name": "forms-*", "severity": "warning"})", "6h");
  clock.set(k_t0 + 10min);
  const std::int64_t id = fire(Severity::warning);
  CHECK(outbox(reader).empty());
  clock.set(k_t0 + 20min);
  fire(Severity::critical);
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(20min)});
  node.run_to(k_t0 + 40min);  // its escalation runs from the page, not from the silence's end
  CHECK(outbox(reader) ==
        std::vector<std::string>{"oncall:trigger@" + at(20min), "cto:escalate@" + at(40min)});
  node.run_to(k_t0 + 7h);  // the silence's end pages nothing twice
  CHECK(outbox(reader).size() == 2);
  CHECK(decisions(reader, id) == std::vector<std::string>{"silenced@" + at(10min),
                                                          "unsilenced@" + at(20min),
                                                          "escalated@" + at(40min)});
  const auto view = reader.get_silence(silence);
  REQUIRE(view);
  CHECK(view->withheld == 1);
  CHECK(view->paged == 1);
}

TEST_CASE("silences: a withheld episode raised to a severity its silence covers stays withheld") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  const auto fire = [&](Severity severity) {
    auto in = generic_inbound("forms-api-5xx", SignalState::firing, clock.now());
    in.events.front().severity = severity;
    REQUIRE(node.engine.ingest(in));
  };
  node.silence(R"({"name": "forms-*"})", "2h");
  clock.set(k_t0 + 10min);
  fire(Severity::warning);
  clock.set(k_t0 + 20min);
  fire(Severity::critical);
  CHECK(outbox(reader).empty());
  node.run_to(k_t0 + 2h);  // and pages once, at the silence's end
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(2h)});
}

// A stored alert is described by its latest event: in a dedup_key group, a member that is not
// never_suppress must not let a glob quiet the episode another member paged as never_suppress.
// The episode keeps never_suppress once one of its events matched such a rule.
TEST_CASE("silences: a group paged by its never_suppress member keeps escalating under a glob") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  RulesHolder holder(*activate(rules_or_fail(R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [cto]}]}
rules:
  - {name: db-disk, match: {name: "disk-full", labels: {tier: db}}, escalation: page,
     never_suppress: true, dedup_key: "{name}"}
  - {name: disk, match: {name: "disk-full"}, escalation: page, dedup_key: "{name}"}
)"),
                               clock));
  storage::Writer writer(db, storage::Durability::normal);
  Engine engine(writer, clock, holder);
  storage::Reader reader(db);
  const auto fire = [&](const std::string& host, const std::string& tier) {
    auto in = generic_inbound("disk-full", SignalState::firing, clock.now());
    in.events.front().fingerprint = "generic:disk-full:" + host;
    in.events.front().labels = {{"host", host}, {"tier", tier}};
    REQUIRE(engine.ingest(in));
  };
  REQUIRE(engine.add_silence(Json{{"matchers", {{"name", "disk-*"}}},
                                  {"duration", "6h"},
                                  {"by", "alice"},
                                  {"comment", "disk resize"}}));
  fire("db1", "db");  // never_suppress: the glob does not quiet it
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(0min)});
  clock.set(k_t0 + 5min);
  fire("web1", "web");  // another member of the same group: the alert's labels are now web1's
  clock.set(k_t0 + 20min);
  REQUIRE(engine.fire_due_timers());
  CHECK(outbox(reader) ==
        std::vector<std::string>{"oncall:trigger@" + at(0min), "cto:escalate@" + at(20min)});
}

TEST_CASE("silences: an episode two silences withheld pages once, at the first end that frees it") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  const auto fire = [&](Severity severity) {
    auto in = generic_inbound("forms-api-5xx", SignalState::firing, clock.now());
    in.events.front().severity = severity;
    REQUIRE(node.engine.ingest(in));
  };
  node.silence(R"({"name": "forms-*", "severity": "warning"})", "3h");  // withholds the warning
  node.silence(R"({"name": "forms-*"})", "2h");  // and then the critical, until 2h
  clock.set(k_t0 + 10min);
  fire(Severity::warning);
  clock.set(k_t0 + 20min);
  fire(Severity::critical);
  node.run_to(k_t0 + 2h);  // the critical is free: it pages
  node.run_to(k_t0 + 2h + 20min);
  node.run_to(k_t0 + 3h);  // the warnings' silence ends: nothing is left for it to page
  node.run_to(k_t0 + 4h);
  CHECK(outbox(reader) ==
        std::vector<std::string>{"oncall:trigger@" + at(2h), "cto:escalate@" + at(2h + 20min)});
}

TEST_CASE("silences: at most k_max_silences in force or pending, refused with 409 past it") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  REQUIRE_FALSE(node.writer
                    .submit([&](storage::Transaction& tx) {
                      for (std::int64_t i = 0; i < rules::k_max_silences; ++i) {
                        rules::Silence s;
                        s.spelled = Json{{"name", "forms-" + std::to_string(i)}};
                        s.created_at = s.starts_at = k_t0;
                        s.ends_at = k_t0 + 1h;
                        s.created_by = "bot";
                        s.comment = "one per host";
                        tx.insert_silence(s);
                      }
                    })
                    .get()
                    .has_value());
  const Json request{
      {"matchers", {{"name", "forms-*"}}}, {"duration", "1h"}, {"by", "a"}, {"comment", "c"}};
  auto refused = node.engine.add_silence(request);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().status == 409);
  CHECK(refused.error().code == "too_many_silences");
  REQUIRE(node.engine.expire_silence(1, "alice"));  // one fewer in force: room for one more
  CHECK(node.engine.add_silence(request));
}

TEST_CASE("silences: a silence row this version cannot read quiets nothing") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  storage::Reader reader(db);
  REQUIRE_FALSE(node.writer
                    .submit([&](storage::Transaction& tx) {
                      rules::Silence s;  // as a newer version might write it
                      s.spelled = Json{{"name", "forms-*"}, {"team", "web"}};
                      s.created_at = s.starts_at = k_t0;
                      s.ends_at = k_t0 + 1h;
                      s.created_by = "bot";
                      s.comment = "newer";
                      tx.insert_silence(s);
                    })
                    .get()
                    .has_value());
  node.silence(R"({"name": "billing-*"})", "1h");  // a readable one beside it still works
  node.fire("forms-api-5xx");
  node.fire("billing-api-5xx");
  CHECK(outbox(reader) == std::vector<std::string>{"oncall:trigger@" + at(0min)});
}

}  // namespace engine_engine_silences_test
