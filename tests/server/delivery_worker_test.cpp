// The outbox worker in process, on a virtual clock: escalation reaches PagerDuty on time,
// retries wait their backoff, an acknowledgement stops what was not sent yet.
#include "server/delivery_worker.hpp"

#include <doctest/doctest.h>

#include "core/json.hpp"
#include "rules/loader.hpp"
#include "server/app.hpp"
#include "server/engine.hpp"
#include "support/events.hpp"
#include "support/temp_dir.hpp"

using namespace tocsin;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-12-22T04:00:00Z");

rules::RulesSnapshot delivery_rules() {
  auto loaded = rules::load_rules_text(
      R"(version: 1
channels:
  oncall: {type: webhook, url: "http://receiver.invalid/oncall"}
  cto: {type: pagerduty, url: "http://receiver.invalid/pd", routing_key_env: TEST_PD_KEY}
delivery: {backoff_initial: 10s, backoff_max: 1m, max_attempts: 3}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [cto]}]}
rules:
  - {name: queue, match: {name: "queue-*"}, escalation: page}
)",
      "rules.yaml", [](const std::string& name) {
        return name == "TEST_PD_KEY" ? std::optional<std::string>("pd-key") : std::nullopt;
      });
  REQUIRE(loaded.ok());
  return loaded.rules;
}

// Engine and worker on one database, with a scripted sender instead of the network.
struct Rig {
  TempDir dir;
  ManualClock clock{k_t0};
  Metrics metrics;
  RulesHolder rules{*activate(delivery_rules(), clock)};
  storage::Writer writer{dir.file("t.db"), storage::Durability::normal};
  storage::Reader reader{dir.file("t.db")};
  Engine engine{writer, clock, rules, metrics};
  std::vector<delivery::HttpRequest> sent;
  std::deque<delivery::AttemptResult> answers;  // then 202s
  delivery::Worker worker{writer,
                          reader,
                          clock,
                          rules,
                          metrics,
                          [this](const delivery::HttpRequest& r, Duration) {
                            sent.push_back(r);
                            if (answers.empty()) {
                              delivery::AttemptResult ok;
                              ok.http_status = 202;
                              return ok;
                            }
                            auto a = answers.front();
                            answers.pop_front();
                            return a;
                          },
                          options()};

  static delivery::WorkerOptions options() {
    delivery::WorkerOptions o;
    o.env = [](const std::string& name) {
      return name == "TEST_PD_KEY" ? std::optional<std::string>("pd-key") : std::nullopt;
    };
    return o;
  }

  std::int64_t fire(const std::string& name) {
    Inbound in = generic_inbound(name, SignalState::firing, clock.now());
    auto r = engine.ingest(std::move(in));
    REQUIRE(r);
    return *r->front().alert_id;
  }
  int drain() {
    int n = 0;
    while (worker.deliver_one())
      ++n;
    return n;
  }
};

}  // namespace

TEST_CASE("worker: escalation reaches PagerDuty at +20m with the episode's dedup key") {
  Rig rig;
  rig.fire("queue-a");
  CHECK(rig.drain() == 1);
  REQUIRE(rig.sent.size() == 1);
  CHECK(rig.sent[0].url == "http://receiver.invalid/oncall");

  rig.clock.set(k_t0 + 19min);
  REQUIRE(rig.engine.fire_due_timers());
  CHECK(rig.drain() == 0);  // not yet

  rig.clock.set(k_t0 + 20min);
  REQUIRE(rig.engine.fire_due_timers());
  CHECK(rig.drain() == 1);
  REQUIRE(rig.sent.size() == 2);
  CHECK(rig.sent[1].url == "http://receiver.invalid/pd");
  const Json event = Json::parse(rig.sent[1].body);
  CHECK(event["event_action"] == "trigger");
  CHECK(event["routing_key"] == "pd-key");
  CHECK(event["dedup_key"].get<std::string>().rfind("tocsin-", 0) == 0);
}

TEST_CASE("worker: a retry waits its backoff on the clock, and Retry-After is honoured") {
  Rig rig;
  delivery::AttemptResult busy;
  busy.http_status = 429;
  busy.error = "HTTP 429";
  busy.retry_after = 90s;
  rig.answers.push_back(busy);
  rig.fire("queue-a");
  CHECK(rig.drain() == 1);  // tried once, 429
  rig.clock.set(k_t0 + 89s);
  CHECK(rig.drain() == 0);  // Retry-After: 90 s (longer than the 10 s backoff)
  rig.clock.set(k_t0 + 90s);
  CHECK(rig.drain() == 1);
  CHECK(rig.sent.size() == 2);
  storage::NotificationQuery q;
  auto rows = rig.reader.list_notifications(q);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == "sent");
  CHECK(rows[0].attempts == 2);
  CHECK(rig.reader.list_attempts(rows[0].id).size() == 2);
}

TEST_CASE("worker: per episode and channel in order; a resolve supersedes an unsent trigger") {
  Rig rig;
  delivery::AttemptResult down;
  down.error = "no answer: Connection";
  rig.answers.push_back(down);
  const auto id = rig.fire("queue-a");
  CHECK(rig.drain() == 1);  // the trigger failed; it waits for its retry
  REQUIRE(rig.engine.act(AlertRef{id, ""}, rules::HumanAction::ack, "alice", ""));
  // The acknowledge is queued behind the trigger: nothing is due until the trigger's retry.
  CHECK(rig.drain() == 0);
  rig.clock.set(k_t0 + 1min);
  CHECK(rig.drain() == 2);
  REQUIRE(rig.sent.size() == 3);
  CHECK(Json::parse(rig.sent[1].body)["action"] == "trigger");
  CHECK(Json::parse(rig.sent[2].body)["action"] == "acknowledge");

  // A second alert whose trigger never left: its resolve supersedes it, and nothing is sent.
  rig.answers.clear();
  REQUIRE(rig.engine.ingest(generic_inbound("queue-b", SignalState::firing, rig.clock.now())));
  REQUIRE(rig.engine.ingest(generic_inbound("queue-b", SignalState::resolved, rig.clock.now())));
  CHECK(rig.drain() == 0);
  storage::NotificationQuery superseded;
  superseded.status = "superseded";
  CHECK(rig.reader.list_notifications(superseded).size() == 2);
}
