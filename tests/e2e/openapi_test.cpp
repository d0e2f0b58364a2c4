// End-to-end: the real binary's answers against the OpenAPI document it serves. Every answer
// below must have its status documented for its operation and fit that status's schema, so a
// field added, renamed or dropped in the code without the document fails here.

#include "server/openapi.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/openapi.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_openapi_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const std::string k_rules = "version: 1\n" +
                            sources_section(
                                "  sns: {verify_signature: false, allow_unauthenticated: true}\n"
                                "  generic: {token_env: TEST_HOOK_TOKEN}\n") +
                            R"(channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [oncall]}]}
rules:
  - {name: everything, match: {}, escalation: page}
heartbeats:
  - {name: nightly, every: 1h, grace: 5m, severity: warning, escalation: page}
api:
  tokens:
    - {name: reader, token_env: TEST_READ_TOKEN, scope: read}
    - {name: admin, token_env: TEST_ADMIN_TOKEN, scope: write}
)";

const httplib::Headers k_read = {{"Authorization", "Bearer read-secret"}};
const httplib::Headers k_admin = {{"Authorization", "Bearer admin-secret"}};

// The answer's status is documented for its operation, and its body fits that schema.
Json check_answer(const std::string& method, const std::string& path, const httplib::Result& r,
                  int expected_status) {
  INFO(method, " ", path);
  REQUIRE(r);
  INFO("answer: ", r->status, " ", r->body.substr(0, 2000));
  CHECK(r->status == expected_status);
  const Json& document = served_document();
  REQUIRE_MESSAGE(find_operation(document, method, path), "no documented operation");
  const auto schema = response_schema(document, method, path, r->status);
  REQUIRE_MESSAGE(schema, "status ", r->status, " is not documented for this operation");
  CHECK(r->get_header_value("Content-Type") == "application/json");
  const Json body = Json::parse(r->body);
  std::string problems;
  for (const auto& p : schema_problems(document, *schema, body))
    problems += p + "\n";
  CHECK_MESSAGE(problems.empty(), problems);
  return body;
}

Json get(httplib::Client& c, const std::string& path, int status = 200,
         const httplib::Headers& auth = k_read) {
  const auto query = path.find('?');
  return check_answer("GET", path.substr(0, query), c.Get(path, auth), status);
}

Json post(httplib::Client& c, const std::string& path, const std::string& body, int status,
          const httplib::Headers& headers = k_admin) {
  const auto query = path.find('?');
  return check_answer("POST", path.substr(0, query),
                      c.Post(path, headers, body, "application/json"), status);
}

}  // namespace

TEST_CASE("openapi e2e: the server's answers fit the document it serves") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << k_rules;
  ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", dir.file("t.db")},
                       {"TEST_READ_TOKEN=read-secret", "TEST_ADMIN_TOKEN=admin-secret",
                        "TEST_HOOK_TOKEN=hook-secret"});
  httplib::Client c("127.0.0.1", server.port());

  // The document itself: no token needed, JSON, the bytes compiled in.
  auto doc = c.Get("/api/v1/openapi.json");
  REQUIRE(doc);
  CHECK(doc->status == 200);
  CHECK(doc->get_header_value("Content-Type") == "application/json");
  CHECK(doc->body == tocsin::server::openapi_document());
  auto alias = c.Get("/api/v1/openapi_json");
  REQUIRE(alias);
  CHECK(alias->status == 404);

  // Hooks: an SNS alarm, a generic event with its token, a heartbeat ping.
  const Json sns = check_answer("POST", "/hooks/sns",
                                c.Post("/hooks/sns", {{"x-amz-sns-message-type", "Notification"}},
                                       fixture("sns_notification_alarm.json"), "text/plain"),
                                200);
  const std::int64_t id = sns["results"][0]["alert_id"].get<std::int64_t>();
  const std::string alert = "/api/v1/alerts/" + std::to_string(id);
  post(c, "/hooks/generic?token=hook-secret",
       R"({"key": "disk", "status": "firing", "labels": {"env": "prod"}})", 200, {});
  post(c, "/hooks/generic?token=wrong", R"({"key": "disk", "status": "firing"})", 401, {});
  post(c, "/hooks/generic?token=hook-secret", R"({"status": "firing"})", 400, {});
  check_answer("GET", "/hooks/heartbeat/nightly",
               c.Get("/hooks/heartbeat/nightly?token=hook-secret"), 200);
  check_answer("GET", "/hooks/heartbeat/unknown",
               c.Get("/hooks/heartbeat/unknown?token=hook-secret"), 404);
  check_answer("POST", "/hooks/opsgenie",
               c.Post("/hooks/opsgenie", {{"Content-Encoding", "gzip"}}, "xx", "application/json"),
               415);

  // Every read endpoint, with data in it.
  get(c, "/api/v1/alerts");
  get(c, "/api/v1/alerts?status=open&severity=critical&source=cloudwatch&limit=2");
  const Json detail = get(c, alert);
  CHECK(detail["timers"].size() > 0);
  const Json events = get(c, alert + "/events?limit=5");
  CHECK(events["events"].size() > 0);
  get(c, "/api/v1/noise");
  const Json outbox = get(c, "/api/v1/notifications");
  REQUIRE(outbox["notifications"].size() > 0);
  get(c, "/api/v1/notifications/" +
             std::to_string(outbox["notifications"][0]["id"].get<std::int64_t>()));
  get(c, "/api/v1/subscriptions");
  const Json heartbeats = get(c, "/api/v1/heartbeats");
  CHECK(heartbeats["heartbeats"][0]["state"] == "up");
  get(c, "/api/v1/channels");
  get(c, "/api/v1/cluster");
  get(c, "/api/v1/rules");
  get(c, "/healthz", 200, {});
  get(c, "/readyz", 200, {});

  // Silences: add, list, read, expire, expire again.
  const Json silence =
      post(c, "/api/v1/silences",
           R"({"matchers": {"labels": {"env": "prod"}}, "duration": "1h", "by": "alice",
               "comment": "maintenance"})",
           201);
  const std::string silence_path = "/api/v1/silences/" + std::to_string(silence["id"].get<int>());
  get(c, "/api/v1/silences?status=active");
  get(c, "/api/v1/silences?alert=" + std::to_string(id));
  get(c, silence_path);
  post(c, silence_path + "/expire", "", 200);
  post(c, silence_path + "/expire", R"({"by": "bob"})", 409);
  post(c, "/api/v1/silences", R"({"matchers": {}, "duration": "1h", "by": "a", "comment": "c"})",
       400);

  // Human actions, and refusals of each kind.
  post(c, alert + "/ack", R"({"by": "alice", "note": "on it"})", 200);
  post(c, alert + "/ack", R"({"by": "alice"})", 409);
  post(c, alert + "/unack", R"({"by": "alice"})", 200);
  post(c, alert + "/resolve", R"({"by": "alice"})", 200);
  post(c, alert + "/ack", R"({"note": "who?"})", 400);
  post(c, "/api/v1/alerts/999999/ack", R"({"by": "alice"})", 404);
  post(c, alert + "/ack", R"({"by": "mallory"})", 403, k_read);
  post(c, "/api/v1/rules/reload", "", 200);

  // An SNS subscription, rejected (confirming visits SNS: tests/e2e/subscriptions_test.cpp).
  post(c, "/hooks/sns", fixture("sns_subscription_confirmation.json"), 200,
       {{"x-amz-sns-message-type", "SubscriptionConfirmation"}});
  const Json subscriptions = get(c, "/api/v1/subscriptions");
  REQUIRE(subscriptions["subscriptions"].size() == 1);
  const std::string subscription =
      "/api/v1/subscriptions/" +
      std::to_string(subscriptions["subscriptions"][0]["id"].get<std::int64_t>());
  post(c, subscription + "/reject", R"({"note": "who?"})", 400);
  post(c, subscription + "/confirm", R"({"by": "alice"})", 403, k_read);
  post(c, subscription + "/reject", R"({"by": "alice", "note": "not ours"})", 200);
  post(c, subscription + "/confirm", R"({"by": "alice"})", 409);
  post(c, "/api/v1/subscriptions/999999/confirm", R"({"by": "alice"})", 404);
  CHECK(get(c, "/api/v1/subscriptions")["subscriptions"][0]["rejected_by"] == "alice");
  get(c, "/api/v1/alerts?colour=red", 400);
  get(c, "/api/v1/alerts?limit=501", 400);
  get(c, "/api/v1/alerts/abc", 400);
  get(c, "/api/v1/alerts/999999", 404);
  get(c, "/api/v1/alerts", 401, {});
  get(c, "/api/v1/notifications/999999", 404);
}

}  // namespace e2e_openapi_test
