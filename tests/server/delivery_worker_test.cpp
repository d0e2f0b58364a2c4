// The outbox worker in process, on a virtual clock: escalation reaches PagerDuty on time,
// retries wait their backoff, an acknowledgement stops what was not sent yet.
#include "server/delivery_worker.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>

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
  explicit Rig(rules::RulesSnapshot r = delivery_rules(), rules::EnvLookup env = test_env())
      : rules{*activate(std::move(r), clock)}, worker_env(std::move(env)) {}

  static rules::EnvLookup test_env() {
    return [](const std::string& name) {
      return name == "TEST_PD_KEY" ? std::optional<std::string>("pd-key") : std::nullopt;
    };
  }

  TempDir dir;
  ManualClock clock{k_t0};
  Metrics metrics;
  RulesHolder rules;
  rules::EnvLookup worker_env;
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
                            if (answer) return answer(r);
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
  // Every request sent, answered by `answer(request)` instead of `answers` when set.
  std::function<delivery::AttemptResult(const delivery::HttpRequest&)> answer;

  delivery::WorkerOptions options() {
    delivery::WorkerOptions o;
    o.env = worker_env;
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

namespace {

// Every secret the rules below make the process hold, by environment variable.
const std::map<std::string, std::string> k_secrets = {
    {"TEST_HOOK_URL", "http://receiver.invalid/hook/path-secret-41?token=query-secret-42"},
    {"TEST_HOOK_SECRET", "hmac-secret-43"},
    {"TEST_PD_KEY", "routing-secret-44"},
    {"TEST_OG_KEY", "genie-secret-45"},
    {"TEST_API_TOKEN", "api-token-secret-46"},
    {"TEST_GENERIC_TOKEN", "hook-token-secret-47"},
    {"TEST_RAW_TOKEN", "sns-raw-secret-48"},
    {"TEST_WATCHDOG_URL", "https://ping.invalid/ping/watchdog-secret-49"},
};
// Secret without an environment variable: the path of a Slack webhook URL.
const std::string k_slack_path = "/services/T1/B2/slack-path-secret-50";

rules::EnvLookup secret_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    auto it = k_secrets.find(name);
    if (it == k_secrets.end()) return std::nullopt;
    return it->second;
  };
}

rules::RulesSnapshot secret_rules() {
  auto loaded = rules::load_rules_text(R"(version: 1
sources:
  sns: {verify_signature: false, raw_token_env: TEST_RAW_TOKEN}
  generic: {token_env: TEST_GENERIC_TOKEN}
channels:
  hook: {type: webhook, url_env: TEST_HOOK_URL, secret_env: TEST_HOOK_SECRET}
  pd: {type: pagerduty, url: "http://receiver.invalid/pd", routing_key_env: TEST_PD_KEY}
  genie: {type: opsgenie, url: "http://receiver.invalid", api_key_env: TEST_OG_KEY}
  room: {type: slack, url: "https://hooks.slack.invalid)" + k_slack_path + R"("}
  fallback: {type: webhook, url: "http://receiver.invalid/fallback"}
delivery: {fallback: fallback, max_attempts: 1}
watchdog: {url_env: TEST_WATCHDOG_URL}
api:
  tokens: [{name: ops, token_env: TEST_API_TOKEN, scope: write}]
rules:
  - {name: all, match: {name: "*"}, notify: [hook, pd, genie, room]}
)",
                                       "rules.yaml", secret_env());
  REQUIRE(loaded.ok());
  return loaded.rules;
}

// A receiver that answers 400 with the request it got, and, for good measure, every secret
// the process holds: what it repeats must not reach the outbox, the API or the fallback.
delivery::AttemptResult echo_everything(const delivery::HttpRequest& r) {
  delivery::AttemptResult a;
  a.http_status = 400;
  std::string echo = "POST " + r.url + "\r\n";
  for (const auto& [name, value] : r.headers)
    echo += name + ": " + value + "\r\n";
  echo += "\r\n" + r.body + "\nknown:";
  for (const auto& [name, value] : k_secrets)
    echo += " " + value;
  echo += " " + k_slack_path;
  a.error = "HTTP 400: " + echo;
  return a;
}

std::vector<std::string> secret_values() {
  std::vector<std::string> out;
  for (const auto& [name, value] : k_secrets)
    out.push_back(value);
  // The parts of secret URLs a receiver sees on its own (the request line).
  out.push_back("path-secret-41");
  out.push_back("query-secret-42");
  out.push_back("watchdog-secret-49");
  out.push_back("slack-path-secret-50");
  return out;
}

}  // namespace

TEST_CASE("worker: a receiver echoing the request leaks no secret into what is stored") {
  Rig rig(secret_rules(), secret_env());
  // Four channels fail for good; each failure is announced on the fallback (which accepts).
  rig.answer = [](const delivery::HttpRequest& r) {
    if (r.url.find("/fallback") != std::string::npos) {
      delivery::AttemptResult ok;
      ok.http_status = 202;
      return ok;
    }
    return echo_everything(r);
  };
  rig.fire("queue-a");
  CHECK(rig.drain() == 8);
  storage::NotificationQuery all;
  const auto rows = rig.reader.list_notifications(all);
  REQUIRE(rows.size() == 8);
  for (const auto& row : rows) {
    std::vector<std::string> texts{row.last_error};
    for (const auto& a : rig.reader.list_attempts(row.id))
      texts.push_back(a.error);
    for (const auto& text : texts)
      CHECK_MESSAGE(text.size() <= 256, text);  // an excerpt, not the whole answer
    texts.push_back(row.why);  // a meta-alert's why quotes the failure
    for (const auto& text : texts) {
      for (const auto& secret : secret_values())
        CHECK_MESSAGE(text.find(secret) == std::string::npos, row.channel, ": ", text);
      CHECK_MESSAGE(text.find_first_of("\r\n") == std::string::npos, text);  // one line
    }
    // Where the excerpt shows a secret, it says it was redacted (the routing key comes too
    // late in PagerDuty's echo to be shown at all).
    if (row.channel == "hook" || row.channel == "genie" || row.channel == "room")
      CHECK_MESSAGE(row.last_error.find("[redacted]") != std::string::npos, row.last_error);
  }
  for (const auto& request : rig.sent) {
    if (request.url.find("/fallback") == std::string::npos) continue;
    for (const auto& secret : secret_values())
      CHECK_MESSAGE(request.body.find(secret) == std::string::npos, request.body);
  }
}
