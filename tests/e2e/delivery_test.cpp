// End-to-end delivery: the real binary sends to a recording receiver on loopback.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>
#include <thread>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_delivery_test {

using namespace tocsin::testing;
using tocsin::Json;
using namespace std::chrono_literals;

namespace {

std::string rules_for(const RecordingReceiver& receiver) {
  return "version: 1\n" +
         sources_section("  sns: {verify_signature: false, allow_unauthenticated: true}\n") +
         R"(channels:
  oncall: {type: opsgenie, url: ")" +
         receiver.url() + R"(", api_key_env: TEST_OPSGENIE_KEY}
  fallback: {type: webhook, url: ")" +
         receiver.url() + R"(/fallback"}
delivery:
  fallback: fallback
  timeout: 2s
  max_attempts: 4
  backoff_initial: 50ms
  backoff_max: 200ms
rules:
  - {name: queue, match: {metric: ApproximateAgeOfOldestMessage}, notify: [oncall]}
)";
}

httplib::Result post_alarm(httplib::Client& c, const std::string& fixture_name,
                           const std::string& message_id) {
  Json body = Json::parse(fixture(fixture_name));
  body["MessageId"] = message_id;
  return c.Post("/hooks/sns", {{"x-amz-sns-message-type", "Notification"}}, body.dump(),
                "text/plain");
}

// A server whose channels point at a recording receiver (script it before start()).
struct DeliveryEnv {
  RecordingReceiver receiver;
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::unique_ptr<ServerProcess> server;

  DeliveryEnv() { std::ofstream(rules) << rules_for(receiver); }
  httplib::Client start(const std::string& db_name = "t.db", const std::string& log = "s.log") {
    server = std::make_unique<ServerProcess>(
        dir.file(log), std::vector<std::string>{"--rules", rules, "--db", dir.file(db_name)},
        std::vector<std::string>{"TEST_OPSGENIE_KEY=og-secret"});
    return httplib::Client("127.0.0.1", server->port());
  }
};

Json notifications(httplib::Client& c) {
  auto res = c.Get("/api/v1/notifications");
  REQUIRE(res);
  return Json::parse(res->body)["notifications"];
}

}  // namespace

TEST_CASE("delivery: an ALARM reaches OpsGenie under the episode alias after two 500s") {
  DeliveryEnv env;
  RecordingReceiver& receiver = env.receiver;
  receiver.script({{500, "{}", "", 0ms}, {500, "{}", "", 0ms}});
  httplib::Client c = env.start();

  auto posted = post_alarm(c, "sns_notification_alarm.json", "alarm-1");
  REQUIRE(posted);
  REQUIRE(posted->status == 200);
  auto sent = receiver.wait_for(3);
  REQUIRE(sent.size() == 3);
  for (const auto& r : sent) {
    CHECK(r.path == "/v2/alerts");
    CHECK(r.header("Authorization") == "GenieKey og-secret");
  }
  const Json create = Json::parse(sent[2].body);
  CHECK(create["alias"].get<std::string>().rfind("tocsin-", 0) == 0);
  CHECK(create["alias"].get<std::string>().substr(create["alias"].get<std::string>().size() - 2) ==
        "-1");
  CHECK(create["priority"].is_string());

  // The outbox says so: sent after three attempts, and each attempt is kept.
  Json rows;
  for (int i = 0; i < 100; ++i) {  // the attempt is recorded just after the receiver answered
    rows = notifications(c);
    if (!rows.empty() && rows[0]["status"] == "sent") break;
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["status"] == "sent");
  CHECK(rows[0]["attempts"] == 3);
  CHECK(rows[0]["alias"] == create["alias"]);

  SUBCASE("an API acknowledgement and the OK follow, in order, under the same alias") {
    const auto id = Json::parse(posted->body)["results"][0]["alert_id"].get<std::int64_t>();
    auto ack = c.Post("/api/v1/alerts/" + std::to_string(id) + "/ack", R"({"by":"alice"})",
                      "application/json");
    REQUIRE(ack);
    REQUIRE(ack->status == 200);
    REQUIRE(post_alarm(c, "sns_notification_ok.json", "ok-1")->status == 200);
    auto all = receiver.wait_for(5);
    REQUIRE(all.size() == 5);
    const std::string alias = create["alias"];
    CHECK(all[3].path == "/v2/alerts/" + alias + "/acknowledge?identifierType=alias");
    CHECK(all[4].path == "/v2/alerts/" + alias + "/close?identifierType=alias");
  }
  SUBCASE("a permanent failure is announced on the fallback channel, once") {
    receiver.script({{401, R"({"message":"bad key"})", "", 0ms}});
    Json other = Json::parse(fixture("sns_notification_alarm.json"));
    Json message = Json::parse(other["Message"].get<std::string>());
    message["AlarmName"] = "reports-worker-oldest-message-age";
    other["Message"] = message.dump();
    other["MessageId"] = "other-1";
    REQUIRE(c.Post("/hooks/sns", {{"x-amz-sns-message-type", "Notification"}}, other.dump(),
                   "text/plain")
                ->status == 200);
    auto all = receiver.wait_for(5);
    REQUIRE(all.size() >= 5);
    CHECK(all[4].path == "/fallback");
    const Json meta = Json::parse(all[4].body);
    CHECK(meta["why"].get<std::string>().find("failed for good: HTTP 401") != std::string::npos);
  }
  CHECK(env.server->stop() == 0);
}

TEST_CASE("delivery: a restart in the middle of a retry sequence loses nothing") {
  RecordingReceiver receiver;
  // The receiver is down (503, come back in a while) when the alarm arrives.
  receiver.script({{503, "{}", "3600", 0ms}});
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << rules_for(receiver);
  const std::string db = dir.file("t.db");
  {
    ServerProcess server(dir.file("a.log"), {"--rules", rules, "--db", db},
                         {"TEST_OPSGENIE_KEY=og-secret"});
    httplib::Client c("127.0.0.1", server.port());
    REQUIRE(post_alarm(c, "sns_notification_alarm.json", "alarm-1")->status == 200);
    REQUIRE(receiver.wait_for(1).size() == 1);
    CHECK(server.stop() == 0);  // stopped while the notification waits an hour for its retry
  }
  // The hour passes while Tocsin is down: move the stored retry time, and the channel's hold
  // and probe (a Retry-After longer than backoff_max marks the channel down), into the past.
  // The restarted worker must find the row and send it.
  {
    SQLite::Database handle(db, SQLite::OPEN_READWRITE);
    CHECK(handle.exec("UPDATE outbox SET due_at = 0 WHERE status = 'pending' AND channel = "
                      "'oncall'") == 1);
    CHECK(handle.exec("UPDATE channel_health SET hold_until = 0, probe_at = 0") == 1);
  }
  ServerProcess server(dir.file("b.log"), {"--rules", rules, "--db", db},
                       {"TEST_OPSGENIE_KEY=og-secret"});
  // The fallback (same receiver, another path) hears of the outage and its end.
  std::vector<RecordedRequest> sent;
  for (int i = 0; i < 300 && sent.size() < 2; ++i) {
    sent.clear();
    for (const auto& r : receiver.requests()) {
      if (r.path == "/v2/alerts") sent.push_back(r);
    }
    if (sent.size() < 2) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(sent.size() == 2);
  // The same create, under the same alias.
  CHECK(Json::parse(sent[1].body)["alias"] == Json::parse(sent[0].body)["alias"]);
  CHECK(Json::parse(sent[1].body)["message"] == Json::parse(sent[0].body)["message"]);
  CHECK(server.stop() == 0);
}

TEST_CASE(
    "two-way sync: an OpsGenie acknowledgement of Tocsin's alias stops escalation, echoes "
    "and old aliases change nothing") {
  DeliveryEnv env;
  RecordingReceiver& receiver = env.receiver;
  httplib::Client c = env.start();
  auto posted = post_alarm(c, "sns_notification_alarm.json", "alarm-1");
  REQUIRE(posted);
  const auto id = Json::parse(posted->body)["results"][0]["alert_id"].get<std::int64_t>();
  REQUIRE(receiver.wait_for(1).size() == 1);
  const std::string alias = Json::parse(receiver.requests()[0].body)["alias"];

  auto webhook = [&](const std::string& action, const std::string& user,
                     const std::string& source_type, const std::string& on_alias,
                     const std::string& updated) {
    Json w = Json::parse(fixture("opsgenie_acknowledge.json"));
    w["action"] = action;
    w["alert"]["alias"] = on_alias;
    w["alert"]["username"] = user;
    w["alert"]["updatedAt"] = std::stoll(updated);
    w["source"]["type"] = source_type;
    return c.Post("/hooks/opsgenie", w.dump(), "application/json");
  };
  auto status = [&] {
    return Json::parse(c.Get("/api/v1/alerts/" + std::to_string(id))->body)["status"];
  };

  // Tocsin's own acknowledgement echoed back (user Tocsin, through the API): recorded only.
  auto echo = webhook("Acknowledge", "Tocsin", "API", alias, "1772446019872000001");
  REQUIRE(echo);
  CHECK(echo->status == 200);
  CHECK(Json::parse(echo->body)["results"][0]["reason"] == "own_echo_acknowledge");
  CHECK(status() == "open");

  // An alias of an episode that does not exist (or is no longer current) never touches this one.
  auto stale = webhook("Acknowledge", "jane", "web", alias.substr(0, alias.size() - 1) + "7",
                       "1772446019872000002");
  REQUIRE(stale);
  CHECK(Json::parse(stale->body)["results"][0]["reason"] == "sync_unknown_alias");
  CHECK(status() == "open");

  // A person acknowledges in OpsGenie: the episode follows, and OpsGenie is not told back.
  auto ack = webhook("Acknowledge", "jane", "web", alias, "1772446019872000003");
  REQUIRE(ack);
  CHECK(ack->status == 200);
  CHECK(Json::parse(ack->body)["results"][0]["reason"] == "sync_ack");
  CHECK(status() == "acknowledged");
  Json detail = Json::parse(c.Get("/api/v1/alerts/" + std::to_string(id))->body);
  CHECK(detail["episode"]["acknowledged_by"] == "opsgenie:jane");
  for (const auto& t : detail["timers"])
    CHECK(t["kind"] != "escalation");

  // A redelivered webhook changes nothing; a Close resolves.
  auto again = webhook("Acknowledge", "jane", "web", alias, "1772446019872000003");
  CHECK(Json::parse(again->body)["results"][0]["outcome"] == "redelivery");
  auto close = webhook("Close", "jane", "web", alias, "1772446019872000004");
  CHECK(Json::parse(close->body)["results"][0]["reason"] == "sync_resolve");
  CHECK(status() == "resolved");
  // Nothing more was queued for OpsGenie: the outbox is written with each decision, so it is
  // complete once the hook has answered (no waiting on the clock).
  const Json queued = notifications(c);
  REQUIRE(queued.size() == 1);
  CHECK(queued[0]["action"] == "trigger");
  CHECK(receiver.requests().size() == 1);
  CHECK(env.server->stop() == 0);
}

TEST_CASE("watchdog: Tocsin pings the external dead-man's switch") {
  RecordingReceiver receiver;
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\nwatchdog: {url: \"" << receiver.url()
                       << "/ping/abc\", every: 200ms}\n";
  ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", dir.file("t.db")});
  auto pings = receiver.wait_for(2);
  REQUIRE(pings.size() >= 2);
  CHECK(pings[0].path == "/ping/abc");
  CHECK(server.stop() == 0);
  CHECK(server.log().find("/ping/abc") == std::string::npos);  // a ping URL is a secret
}

TEST_CASE("delivery: a receiver that hangs is cut at delivery.timeout and retried") {
  DeliveryEnv env;
  // Longer than the rules' 2 s timeout: the first attempt must give up and retry.
  env.receiver.script({{202, "{}", "", 3500ms}});
  httplib::Client c = env.start();
  REQUIRE(post_alarm(c, "sns_notification_alarm.json", "alarm-1")->status == 200);
  auto sent = env.receiver.wait_for(2);
  REQUIRE(sent.size() == 2);
  Json rows;
  for (int i = 0; i < 100; ++i) {
    rows = notifications(c);
    if (!rows.empty() && rows[0]["status"] == "sent") break;
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["status"] == "sent");
  auto detail = c.Get("/api/v1/notifications/" + std::to_string(rows[0]["id"].get<int>()));
  REQUIRE(detail);
  const Json log = Json::parse(detail->body)["attempts_log"];
  REQUIRE(log.size() == 2);
  CHECK(log[1]["outcome"] == "retry");  // oldest last
  CHECK(log[1]["http_status"].is_null());
  CHECK(log[1]["error"].get<std::string>().rfind("timed out after 2s: http://127.0.0.1:", 0) == 0);
  CHECK(log[1]["duration_ms"].get<int>() >= 1900);
  CHECK(log[0]["outcome"] == "sent");
  CHECK(env.server->stop() == 0);
}

}  // namespace e2e_delivery_test
