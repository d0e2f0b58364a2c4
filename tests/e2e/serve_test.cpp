// End-to-end: the real binary on a random loopback port, fixture payloads in, REST API out.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_serve_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const std::string k_rules =
    "version: 1\n" +
    sources_section("  sns: {verify_signature: false, allow_unauthenticated: true}\n") +
    R"(channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
rules:
  - name: queue-backlog
    match: {source: cloudwatch, metric: ApproximateAgeOfOldestMessage}
    severity: critical
    priority: P1
    notify: [alerts]
  - name: everything-else
    match: {}
    notify: [alerts]
)";

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// One server on a temp database, with the test's rules file.
struct Env {
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::string db = dir.file("tocsin.db");
  Env() { write_text(rules, k_rules); }

  ServerProcess start(const std::string& log_name = "server.log") {
    return ServerProcess(dir.file(log_name), {"--rules", rules, "--db", db});
  }
};

httplib::Headers sns_headers(const std::string& type = "Notification") {
  return {{"x-amz-sns-message-type", type},
          {"User-Agent", "Amazon Simple Notification Service Agent"}};
}

httplib::Result post_fixture(httplib::Client& c, const std::string& file,
                             const std::string& type = "Notification") {
  return c.Post("/hooks/sns", sns_headers(type), fixture(file), "text/plain; charset=UTF-8");
}

Json json_of(const httplib::Result& r) {
  REQUIRE(r);
  return Json::parse(r->body);
}

Json only_result(const httplib::Result& r) {
  REQUIRE(r);
  INFO("body: " << r->body);
  REQUIRE(r->status == 200);
  Json body = json_of(r);
  REQUIRE(body["results"].size() == 1);
  return body["results"][0];
}

Json alerts(httplib::Client& c, const std::string& query = "") {
  auto r = c.Get(("/api/v1/alerts" + query).c_str());
  REQUIRE(r);
  INFO("body: " << r->body);
  REQUIRE(r->status == 200);
  return json_of(r);
}

}  // namespace

TEST_CASE(
    "an SNS-delivered alarm becomes an open episode, survives a restart, and OK resolves it") {
  Env env;
  std::int64_t alert_id = 0;
  {
    auto server = env.start();
    httplib::Client c("127.0.0.1", server.port());

    auto health = c.Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    auto ready = c.Get("/readyz");
    REQUIRE(ready);
    CHECK(ready->status == 200);

    Json created = only_result(post_fixture(c, "sns_notification_alarm.json"));
    CHECK(created["outcome"] == "created");
    CHECK(created["episode"] == 1);
    CHECK(created["fingerprint"] ==
          "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age");
    alert_id = created["alert_id"].get<std::int64_t>();

    // SNS retries with the same MessageId: nothing changes.
    Json again = only_result(post_fixture(c, "sns_notification_alarm.json"));
    CHECK(again["outcome"] == "redelivery");
    CHECK(again["alert_id"] == alert_id);
    CHECK(again["episode"] == 1);

    Json list = alerts(c);
    CHECK(list["total"] == 1);
    Json a = list["alerts"][0];
    CHECK(a["alert_id"] == alert_id);
    CHECK(a["status"] == "open");
    CHECK(a["severity"] == "critical");
    CHECK(a["rule"] == "queue-backlog");
    CHECK(a["episode"]["event_count"] == 1);
    CHECK(a["episode"]["priority"] == "P1");
    CHECK(a["labels"]["QueueName"] == "hooks-worker");
    CHECK(server.stop() == 0);
  }
  {
    auto server = env.start("server2.log");
    httplib::Client c("127.0.0.1", server.port());
    Json list = alerts(c, "?status=open");
    REQUIRE(list["total"] == 1);
    CHECK(list["alerts"][0]["alert_id"] == alert_id);

    // The redelivery check survives the restart too.
    CHECK(only_result(post_fixture(c, "sns_notification_alarm.json"))["outcome"] == "redelivery");

    Json resolved = only_result(post_fixture(c, "sns_notification_ok.json"));
    CHECK(resolved["outcome"] == "resolved");
    CHECK(resolved["episode"] == 1);

    auto detail = c.Get(("/api/v1/alerts/" + std::to_string(alert_id)).c_str());
    REQUIRE(detail);
    REQUIRE(detail->status == 200);
    Json d = json_of(detail);
    CHECK(d["status"] == "resolved");
    CHECK(d["episode"]["closed_at"].is_string());
    CHECK(d["episodes"].size() == 1);
    CHECK(d["description"].get<std::string>().find("Runbook") != std::string::npos);
    CHECK(alerts(c, "?status=open")["total"] == 0);

    // The decision log explains the alert, newest first; redeliveries change nothing.
    const std::string events_path = "/api/v1/alerts/" + std::to_string(alert_id) + "/events";
    auto events = c.Get(events_path.c_str());
    REQUIRE(events);
    REQUIRE(events->status == 200);
    Json log = json_of(events)["events"];
    REQUIRE(log.size() == 2);
    CHECK(log[0]["outcome"] == "resolved");
    CHECK(log[0]["reason"] == "source_resolved");
    CHECK(log[1]["outcome"] == "created");
    CHECK(log[1]["rule"] == "queue-backlog");
    CHECK(log[1]["request"]["hook"] == "sns");
    CHECK(log[1]["request"]["delivery_id"] == "860c5fb4-fbda-50ea-8da3-09257e8ae967");
    Json first_page = json_of(c.Get((events_path + "?limit=1").c_str()));
    REQUIRE(first_page["events"].size() == 1);
    REQUIRE(first_page["next_before"].is_number());
    Json second_page = json_of(c.Get(
        (events_path + "?limit=1&before=" + std::to_string(first_page["next_before"].get<int>()))
            .c_str()));
    REQUIRE(second_page["events"].size() == 1);
    CHECK(second_page["events"][0]["outcome"] == "created");
    CHECK(server.stop() == 0);
  }
}

TEST_CASE(
    "every alarm shape is accepted, INSUFFICIENT_DATA and non-alarms are recorded as ignored") {
  Env env;
  auto server = env.start();
  httplib::Client c("127.0.0.1", server.port());

  CHECK(only_result(post_fixture(c, "sns_notification_metric_math.json"))["outcome"] == "created");
  CHECK(only_result(post_fixture(c, "sns_notification_composite.json"))["outcome"] == "created");
  Json insufficient = only_result(post_fixture(c, "sns_notification_insufficient.json"));
  CHECK(insufficient["outcome"] == "ignored");
  CHECK(insufficient["reason"].get<std::string>().find("insufficient_data") != std::string::npos);
  Json not_alarm = only_result(post_fixture(c, "bad/sns_message_not_json.json"));
  CHECK(not_alarm["outcome"] == "ignored");
  CHECK(not_alarm["reason"] == "not_a_cloudwatch_alarm");
  CHECK(not_alarm["alert_id"].is_null());

  CHECK(alerts(c, "?status=open")["total"] == 2);
  CHECK(alerts(c, "?q=checkout")["total"] == 1);
  CHECK(alerts(c, "?source=cloudwatch&limit=1")["alerts"].size() == 1);
  CHECK(alerts(c, "?source=cloudwatch&limit=1")["next_offset"] == 1);

  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("tocsin_events_total{source=\"cloudwatch\",outcome=\"created\"} 2") !=
        std::string::npos);
  CHECK(metrics->body.find("tocsin_commit_seconds_bucket") != std::string::npos);
  CHECK(metrics->body.find("tocsin_commit_group_size_count") != std::string::npos);
}

TEST_CASE(
    "malformed input is refused with 400 and a code that names the problem, nothing is stored") {
  Env env;
  auto server = env.start();
  httplib::Client c("127.0.0.1", server.port());
  struct Case {
    const char* intent;
    const char* file;
    const char* type;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {"empty body", "bad/empty_body.txt", "Notification", 400, "empty_body"},
      {"not JSON", "bad/not_json.txt", "Notification", 400, "invalid_json"},
      {"invalid UTF-8", "bad/sns_invalid_utf8.json", "Notification", 400, "invalid_utf8"},
      {"duplicate key", "bad/sns_duplicate_message_key.json", "Notification", 400, "duplicate_key"},
      {"alarm without NewStateValue", "bad/sns_alarm_missing_newstatevalue.json", "Notification",
       400, "invalid_alarm_payload"},
      {"Message nested too deep", "bad/sns_message_deeply_nested.json", "Notification", 400,
       "json_too_deep"},
      {"header and body disagree", "bad/sns_header_body_type_mismatch.json",
       "SubscriptionConfirmation", 400, "header_body_mismatch"},
      {"body over 1 MiB", "bad/sns_alarm_huge_description.json", "Notification", 413,
       "payload_too_large"},
  };
  for (const auto& k : cases) {
    CAPTURE(k.intent);
    auto r = post_fixture(c, k.file, k.type);
    REQUIRE(r);
    CHECK(r->status == k.status);
    Json body = json_of(r);
    CHECK(body["error"] == k.code);
    CHECK(body["detail"].is_string());
  }
  CHECK(alerts(c)["total"] == 0);
  SQLite::Database db(env.db, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT count(*) FROM inbound").getInt() == 0);
  CHECK(db.execAndGet("SELECT count(*) FROM decisions").getInt() == 0);

  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find(
            "tocsin_requests_rejected_total{hook=\"sns\",status=\"400\",error=\"empty_body\"} 1") !=
        std::string::npos);
}

TEST_CASE("the REST API validates its parameters") {
  Env env;
  auto server = env.start();
  httplib::Client c("127.0.0.1", server.port());
  for (const char* q : {"?status=bogus", "?severity=urgent", "?source=nagios", "?limit=0",
                        "?limit=abc", "?offset=-1", "?colour=red"}) {
    CAPTURE(q);
    auto r = c.Get((std::string("/api/v1/alerts") + q).c_str());
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json_of(r)["detail"].is_string());
  }
  auto missing = c.Get("/api/v1/alerts/999");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto nowhere = c.Get("/nowhere");
  REQUIRE(nowhere);
  CHECK(nowhere->status == 404);
  CHECK(json_of(nowhere)["error"] == "not_found");
}

TEST_CASE("when the database cannot commit, the hook answers 503 with Retry-After") {
  Env env;
  auto server = env.start();
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(30, 0);
  // Another process holds the write lock longer than the server's busy timeout.
  SQLite::Database blocker(env.db, SQLite::OPEN_READWRITE);
  // The server's own threads (timers, delivery) take the write lock briefly now and then.
  blocker.setBusyTimeout(5000);
  blocker.exec("BEGIN EXCLUSIVE");
  auto r = post_fixture(c, "sns_notification_alarm.json");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->has_header("Retry-After"));
  CHECK(json_of(r)["error"] == "database_busy");  // names the cause
  blocker.exec("ROLLBACK");
  // Nothing was half-stored: the same message now goes through as new.
  CHECK(only_result(post_fixture(c, "sns_notification_alarm.json"))["outcome"] == "created");
}

TEST_CASE("SIGHUP reloads valid rules and keeps the old ones when the file is invalid") {
  Env env;
  auto server = env.start();
  httplib::Client c("127.0.0.1", server.port());
  auto hash_now = [&] {
    auto r = c.Get("/api/v1/rules");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return json_of(r)["hash"].get<std::string>();
  };
  const std::string before = hash_now();

  write_text(env.rules,
             std::string(k_rules) + "  - name: late\n    match: {}\n    notify: [nowhere]\n");
  auto rejected = c.Post("/api/v1/rules/reload", "", "application/json");
  REQUIRE(rejected);
  CHECK(rejected->status == 400);
  CHECK(rejected->body.find("nowhere") != std::string::npos);
  CHECK(hash_now() == before);

  write_text(env.rules, std::string(k_rules) + "# a comment changes the hash\n");
  server.signal(SIGHUP);
  // The reload is asynchronous to us: wait (bounded) for the new hash to be served.
  std::string after = before;
  for (int i = 0; i < 200 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    after = hash_now();
  }
  CHECK(after != before);
  CHECK(server.log().find("rules reloaded") != std::string::npos);
}

TEST_CASE("a rule's dedup_key groups different alarms into one alert") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  write_text(rules, "version: 1\n" + sources_section() + R"(rules:
  - name: per-service
    match: {source: generic}
    dedup_key: "svc:{labels.service}"
)");
  ServerProcess server(dir.file("s.log"), {"--rules", rules, "--db", dir.file("t.db")});
  httplib::Client c("127.0.0.1", server.port());
  auto post = [&](const char* key) {
    return only_result(c.Post("/hooks/generic",
                              std::string(R"({"key": ")") + key +
                                  R"(", "status": "firing", "labels": {"service": "checkout"}})",
                              "application/json"));
  };
  Json first = post("checkout-5xx");
  Json second = post("checkout-latency");
  CHECK(first["fingerprint"] == "svc:checkout");
  CHECK(first["outcome"] == "created");
  CHECK(second["alert_id"] == first["alert_id"]);
  CHECK(second["outcome"] == "duplicate");
}

TEST_CASE("a serving instance lists itself in GET /api/v1/cluster and leaves it when it stops") {
  Env env;
  std::string first_id;
  {
    auto server = env.start();
    httplib::Client c("127.0.0.1", server.port());
    auto r = c.Get("/api/v1/cluster");
    REQUIRE(r);
    INFO("body: " << r->body);
    REQUIRE(r->status == 200);
    const Json body = json_of(r);
    REQUIRE(body["instances"].size() == 1);
    const Json& self = body["instances"][0];
    first_id = self["id"].get<std::string>();
    CHECK(body["self"] == first_id);
    CHECK(self["self"] == true);
    CHECK(self["live"] == true);
    CHECK(self["listen"] == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(self["version"] == "0.1.0");
    CHECK(self["rules_hash"].get<std::string>().size() == 64);
    CHECK(body["warnings"].empty());
    CHECK(server.stop() == 0);
  }
  // Stopped cleanly: the next start is a new instance, alone in the registry.
  auto server = env.start("second.log");
  httplib::Client c("127.0.0.1", server.port());
  const Json body = json_of(c.Get("/api/v1/cluster"));
  REQUIRE(body["instances"].size() == 1);
  CHECK(body["instances"][0]["id"] != first_id);
}

}  // namespace e2e_serve_test
