// End-to-end: acknowledging, unacknowledging and resolving through the REST API of the real
// binary, with bearer-token scopes, and the outbox the decisions leave behind.

#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_write_api_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const std::string k_rules =
    "version: 1\n" +
    sources_section("  sns: {verify_signature: false, allow_unauthenticated: true}\n") +
    R"(channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [cto]}]}
rules:
  - {name: queue-backlog, match: {metric: ApproximateAgeOfOldestMessage}, escalation: page}
api:
  tokens:
    - {name: reader, token_env: TEST_READ_TOKEN, scope: read}
    - {name: admin, token_env: TEST_ADMIN_TOKEN, scope: write}
)";

const httplib::Headers k_read = {{"Authorization", "Bearer read-secret"}};
const httplib::Headers k_admin = {{"Authorization", "Bearer admin-secret"}};

httplib::Result act(httplib::Client& c, std::int64_t id, const std::string& action,
                    const std::string& body, const httplib::Headers& auth = k_admin) {
  return c.Post("/api/v1/alerts/" + std::to_string(id) + "/" + action, auth, body,
                "application/json");
}

}  // namespace

TEST_CASE("write API: ack, unack and resolve are decisions, guarded by the write scope") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << k_rules;
  ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", dir.file("t.db")},
                       {"TEST_READ_TOKEN=read-secret", "TEST_ADMIN_TOKEN=admin-secret"});
  httplib::Client c("127.0.0.1", server.port());

  auto posted = c.Post("/hooks/sns", {{"x-amz-sns-message-type", "Notification"}},
                       fixture("sns_notification_alarm.json"), "text/plain");
  REQUIRE(posted);
  REQUIRE(posted->status == 200);
  const std::int64_t id = Json::parse(posted->body)["results"][0]["alert_id"].get<std::int64_t>();

  // The page and the pending escalation step are there before anyone acts.
  auto detail = c.Get("/api/v1/alerts/" + std::to_string(id), k_read);
  REQUIRE(detail);
  Json alert = Json::parse(detail->body);
  CHECK(alert["episode"]["level"] == 0);
  bool step_pending = false;
  for (const auto& t : alert["timers"])
    step_pending |= t["kind"] == "escalation" && t["step"] == 1;
  CHECK(step_pending);

  SUBCASE("credentials and input are checked before anything changes") {
    auto anonymous = c.Post("/api/v1/alerts/" + std::to_string(id) + "/ack", R"({"by":"x"})",
                            "application/json");
    REQUIRE(anonymous);
    CHECK(anonymous->status == 401);
    auto read_only = act(c, id, "ack", R"({"by":"mallory"})", k_read);
    REQUIRE(read_only);
    CHECK(read_only->status == 403);
    auto nobody = act(c, id, "ack", R"({"note":"who am I"})");
    REQUIRE(nobody);
    CHECK(nobody->status == 400);
    CHECK(Json::parse(nobody->body)["error"] == "missing_field");
    auto extra = act(c, id, "ack", R"({"by":"alice","urgent":true})");
    REQUIRE(extra);
    CHECK(extra->status == 400);
    CHECK(Json::parse(extra->body)["error"] == "unknown_field");
    auto unknown = act(c, id + 99, "ack", R"({"by":"alice"})");
    REQUIRE(unknown);
    CHECK(unknown->status == 404);
    auto still = Json::parse(c.Get("/api/v1/alerts/" + std::to_string(id), k_read)->body);
    CHECK(still["status"] == "open");
  }

  SUBCASE("ack stops escalation; unack resumes it; resolve closes and tells the channel") {
    auto ack = act(c, id, "ack", R"({"by":"alice","note":"draining the queue"})");
    REQUIRE(ack);
    REQUIRE(ack->status == 200);
    CHECK(Json::parse(ack->body)["status"] == "acknowledged");
    Json acked = Json::parse(c.Get("/api/v1/alerts/" + std::to_string(id), k_read)->body);
    CHECK(acked["episode"]["acknowledged_by"] == "alice");
    for (const auto& t : acked["timers"])
      CHECK(t["kind"] != "escalation");

    auto twice = act(c, id, "ack", R"({"by":"bob"})");
    REQUIRE(twice);
    CHECK(twice->status == 409);
    CHECK(Json::parse(twice->body)["error"] == "already_acknowledged");

    auto unack = act(c, id, "unack", R"({"by":"alice"})");
    REQUIRE(unack);
    CHECK(unack->status == 200);
    Json reopened = Json::parse(c.Get("/api/v1/alerts/" + std::to_string(id), k_read)->body);
    bool resumed = false;
    for (const auto& t : reopened["timers"])
      resumed |= t["kind"] == "escalation";
    CHECK(resumed);

    auto resolve = act(c, id, "resolve", R"({"by":"alice","note":"worker restarted"})");
    REQUIRE(resolve);
    CHECK(resolve->status == 200);
    CHECK(Json::parse(resolve->body)["status"] == "resolved");
    auto again = act(c, id, "resolve", R"({"by":"alice"})");
    REQUIRE(again);
    CHECK(again->status == 409);

    // Every step is in the decision log, with who and why.
    Json events =
        Json::parse(c.Get("/api/v1/alerts/" + std::to_string(id) + "/events", k_read)->body);
    std::vector<std::string> outcomes;
    for (const auto& e : events["events"])
      outcomes.push_back(e["outcome"].get<std::string>() + ":" + e["reason"].get<std::string>());
    CHECK(outcomes == std::vector<std::string>{
                          "resolved:by alice: worker restarted", "unacknowledged:by alice",
                          "acknowledged:by alice: draining the queue", "created:first_occurrence"});

    // The outbox holds what the channel must hear, newest first.
    auto listed = c.Get("/api/v1/notifications?alert_id=" + std::to_string(id), k_read);
    REQUIRE(listed);
    REQUIRE(listed->status == 200);
    std::vector<std::string> actions;
    const Json notifications = Json::parse(listed->body)["notifications"];
    for (const auto& n : notifications) {
      CHECK(n["alias"] == Json::parse(detail->body)["episode"]["alias"]);
      actions.push_back(n["channel"].get<std::string>() + ":" + n["action"].get<std::string>());
    }
    CHECK(actions ==
          std::vector<std::string>{"oncall:resolve", "oncall:acknowledge", "oncall:trigger"});
    auto metrics = c.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find("tocsin_decisions_total{decision=\"acknowledged\"} 1") !=
          std::string::npos);
    CHECK(metrics->body.find(
              "tocsin_notifications_queued_total{channel=\"oncall\",action=\"trigger\"} 1") !=
          std::string::npos);
    auto bad_filter = c.Get("/api/v1/notifications?status=lost", k_read);
    REQUIRE(bad_filter);
    CHECK(bad_filter->status == 400);
    CHECK(bad_filter->body.find("status must be one of pending, sent, failed, superseded; got ") !=
          std::string::npos);
  }
  CHECK(server.stop() == 0);
}

}  // namespace e2e_write_api_test
