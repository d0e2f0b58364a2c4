// End-to-end ingestion: every fixture of cases.json against the real server with signature
// verification on (the offline test certificate pinned), shared-secret hooks, redelivery
// under concurrency, heartbeats and subscriptions.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_ingest_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

// The name SNS would give the test certificate (docs/formats.md §8): pinned, so nothing is fetched.
constexpr const char* k_pinned_cert =
    "SimpleNotificationService-ac9ba2946855213a28bfa93d609aeb4b.pem";

struct VerifyingServer {
  TempDir dir;
  std::string db = dir.file("tocsin.db");
  std::string rules = dir.file("rules.yaml");
  std::optional<ServerProcess> server;

  explicit VerifyingServer(const std::string& extra_sources = "",
                           const std::vector<std::string>& env = {}) {
    std::filesystem::create_directories(dir.file("certs"));
    std::filesystem::copy_file(fixture_path("sns-signing/test-signing-cert.pem"),
                               dir.file(std::string("certs/") + k_pinned_cert));
    std::ofstream(rules)
        << "version: 1\n"
        << sources_section(
               "  sns:\n"
               "    verify_signature: true\n"
               "    topics: [\"arn:aws:sns:us-east-1:123456789012:alerts-critical\",\n"
               "             \"arn:aws:sns:eu-west-1:123456789012:alerts-db\"]\n"
               "    cert_dir: " +
               dir.file("certs") +
               "\n"
               "    fetch_certs: false\n"
               "    raw_token_env: TOCSIN_TEST_RAW_TOKEN\n" +
               extra_sources)
        << "heartbeats:\n"
           "  - {name: hooks-worker, every: 5m, grace: 2m}\n"
           "rules:\n"
           "  - {name: everything, match: {}}\n";
    std::vector<std::string> full_env{"TOCSIN_TEST_RAW_TOKEN=raw-secret"};
    full_env.insert(full_env.end(), env.begin(), env.end());
    server.emplace(dir.file("server.log"), std::vector<std::string>{"--rules", rules, "--db", db},
                   full_env);
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", server->port()); }
};

Json json_of(const httplib::Result& r) {
  REQUIRE(r);
  auto j = Json::parse(r->body, nullptr, false);
  INFO("body: " << r->body);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

httplib::Headers headers_of(const Json& c) {
  httplib::Headers h;
  for (auto it = c["headers"].begin(); it != c["headers"].end(); ++it) {
    if (it.key() != "Content-Type") h.emplace(it.key(), it.value().get<std::string>());
  }
  return h;
}

std::string content_type_of(const Json& c) {
  if (c["headers"].contains("Content-Type")) return c["headers"]["Content-Type"];
  return "application/json";
}

}  // namespace

TEST_CASE("every case of cases.json gets its expected status and error code") {
  VerifyingServer s;
  auto c = s.client();
  const Json cases = Json::parse(fixture("cases.json"));
  REQUIRE(cases.size() >= 80);

  for (const auto& k : cases) {
    const std::string file = k["dir"].get<std::string>() + "/" + k["file"].get<std::string>();
    int expect_status = k["expect_status"];
    std::string expect_error =
        k["expect_error"].is_null() ? "" : k["expect_error"].get<std::string>();
    std::string path = k["endpoint"];
    // Our deliberate departures from the recommendations (docs/behaviour.md "SNS"):
    if (k["file"] == "sns_missing_type_header.json") {
      // docs/behaviour.md "Inbound endpoints": the type comes from the header *or* the body's Type;
      // this body is a validly signed Notification, so it is accepted.
      expect_status = 200;
      expect_error = "";
    } else if (k["file"] == "opsgenie_payload_on_sns_endpoint.json") {
      expect_error = "missing_field";  // no header, and the body has no Type either
    } else if (path == "/hooks/sns-raw") {
      path += "?token=raw-secret";  // unsigned, so authenticated by its token
    }
    CAPTURE(file);
    CAPTURE(k["tests"].get<std::string>());
    auto r = c.Post(path.c_str(), headers_of(k), fixture(file), content_type_of(k).c_str());
    REQUIRE(r);
    INFO("body: " << r->body);
    CHECK(r->status == expect_status);
    Json body = json_of(r);
    if (expect_status != 200) {
      CHECK(body["error"] == expect_error);
      CHECK(body["detail"].is_string());
      continue;
    }
    REQUIRE(body["results"].is_array());
    for (const auto& result : body["results"]) {
      const std::string outcome = result["outcome"];
      if (outcome == "redelivery") continue;  // the same MessageId appears in several cases
      if (expect_error == "ignored") {
        CHECK(outcome == "ignored");
      } else if (!expect_error.empty()) {
        CHECK(outcome == "ignored");
        CHECK(result["reason"] == expect_error);
      }
    }
  }
}

TEST_CASE("nothing refused leaves a trace beyond a counter") {
  VerifyingServer s;
  auto c = s.client();
  const httplib::Headers h{{"x-amz-sns-message-type", "Notification"}};
  for (const char* f :
       {"bad/sns_bad_signature_tampered_message.json", "bad/sns_signed_by_attacker_key.json",
        "bad/sns_topic_not_allowed.json", "bad/sns_cert_url_userinfo_trick.json"}) {
    auto r = c.Post("/hooks/sns", h, fixture(f), "text/plain");
    REQUIRE(r);
    CHECK(r->status == 403);
  }
  SQLite::Database db(s.db, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT count(*) FROM inbound").getInt() == 0);
  CHECK(db.execAndGet("SELECT count(*) FROM decisions").getInt() == 0);
  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("error=\"bad_signature\"} 2") != std::string::npos);
}

TEST_CASE("an SNS retry storm of one message creates exactly one event") {
  VerifyingServer s;
  const std::string body = fixture("sns-signing/signed/sns_notification_alarm.v2.json");
  constexpr int k_threads = 8, k_each = 5;
  std::vector<std::thread> threads;
  std::mutex m;
  std::multiset<std::string> outcomes;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&] {
      auto c = s.client();
      for (int i = 0; i < k_each; ++i) {
        auto r =
            c.Post("/hooks/sns", {{"x-amz-sns-message-type", "Notification"}}, body, "text/plain");
        std::lock_guard lock(m);
        if (r && r->status == 200) {
          outcomes.insert(Json::parse(r->body)["results"][0]["outcome"].get<std::string>());
        } else {
          outcomes.insert("failed");
        }
      }
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(outcomes.count("created") == 1);
  CHECK(outcomes.count("redelivery") == k_threads * k_each - 1);
  SQLite::Database db(s.db, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT count(*) FROM inbound").getInt() == 1);
  CHECK(db.execAndGet("SELECT count(*) FROM episodes").getInt() == 1);
  // Applied once by the request's own unique (hook, MessageId): its decision needs no event key.
  CHECK(db.execAndGet("SELECT count(*) FROM decisions WHERE event_key IS NOT NULL").getInt() == 0);
}

TEST_CASE("a request is stored without headers, but for raw SNS delivery's x-amz-sns-*") {
  VerifyingServer s;
  auto c = s.client();
  // SNS's JSON envelope, with the headers SNS sends: its body repeats their type, id and topic.
  const httplib::Headers sns{
      {"x-amz-sns-message-type", "Notification"},
      {"x-amz-sns-message-id", "860c5fb4-fbda-50ea-8da3-09257e8ae967"},
      {"x-amz-sns-topic-arn", "arn:aws:sns:us-east-1:123456789012:alerts-critical"},
      {"User-Agent", "Amazon Simple Notification Service Agent"}};
  auto r = c.Post("/hooks/sns", sns, fixture("sns-signing/signed/sns_notification_alarm.v2.json"),
                  "text/plain; charset=UTF-8");
  REQUIRE(r);
  CHECK(r->status == 200);
  // Raw delivery: only the headers say which message and topic it is.
  const Json cases = Json::parse(fixture("cases.json"));
  Json raw;
  for (const auto& k : cases) {
    if (k["file"] == "sns_raw_delivery_alarm.json") raw = k;
  }
  REQUIRE(raw.is_object());
  r = c.Post("/hooks/sns-raw?token=raw-secret", headers_of(raw),
             fixture("edge/sns_raw_delivery_alarm.json"), content_type_of(raw).c_str());
  REQUIRE(r);
  CHECK(r->status == 200);
  r = c.Post("/hooks/generic", {{"User-Agent", "cron-wrapper/1.0"}},
             R"({"key": "nightly-backup", "status": "firing"})", "application/json");
  REQUIRE(r);
  INFO(r->body);
  CHECK(r->status == 200);

  SQLite::Database db(s.db, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT hook, headers FROM inbound ORDER BY id");
  std::map<std::string, Json> stored;
  while (q.executeStep())
    stored[q.getColumn(0).getString()] = Json::parse(q.getColumn(1).getString());
  REQUIRE(stored.size() == 3);
  CHECK(stored["sns"] == Json::object());
  CHECK(stored["generic"] == Json::object());
  CHECK(stored["sns-raw"] ==
        Json{{"x-amz-sns-message-type", "Notification"},
             {"x-amz-sns-message-id", "2eb2ef4a-dbd3-5fea-a629-58055d0cd1f0"},
             {"x-amz-sns-topic-arn", "arn:aws:sns:us-east-1:123456789012:alerts-critical"},
             {"x-amz-sns-subscription-arn",
              "arn:aws:sns:us-east-1:123456789012:alerts-critical:"
              "44158cf3-29a0-5086-8155-041df3d26557"},
             {"x-amz-sns-rawdelivery", "true"}});
}

TEST_CASE("the same CloudWatch alarm via SNS and via EventBridge is one alert") {
  VerifyingServer s;
  auto c = s.client();
  auto sns = c.Post("/hooks/sns", {{"x-amz-sns-message-type", "Notification"}},
                    fixture("sns_notification_alarm.json"), "text/plain");
  auto eb = c.Post("/hooks/eventbridge", fixture("eventbridge_alarm_state_change.json"),
                   "application/json");
  Json a = json_of(sns)["results"][0];
  Json b = json_of(eb)["results"][0];
  CHECK(a["fingerprint"] == b["fingerprint"]);
  CHECK(a["alert_id"] == b["alert_id"]);
  // One state change (same StateChangeTime, same new state) by two paths: applied once.
  CHECK(b["outcome"] == "duplicate");
  CHECK(b["reason"] == "same_transition");
}

TEST_CASE("an Alertmanager group sent twice applies each alert once") {
  VerifyingServer s;
  auto c = s.client();
  const std::string body = fixture("alertmanager_webhook_v4.json");
  Json first = json_of(c.Post("/hooks/alertmanager", body, "application/json"));
  Json second = json_of(c.Post("/hooks/alertmanager", body, "application/json"));
  REQUIRE(first["results"].size() == 2);
  REQUIRE(second["results"].size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(first["results"][i]["outcome"] == "created");
    // Alertmanager names no delivery: the re-send is the same transition, applied once.
    CHECK(second["results"][i]["outcome"] == "duplicate");
    CHECK(second["results"][i]["reason"] == "same_transition");
    CHECK(second["results"][i]["episode"] == 1);
    CHECK(second["results"][i]["alert_id"] == first["results"][i]["alert_id"]);
  }
}

TEST_CASE("shared-secret hooks: 401 without or with a wrong token, 503 if the server has none") {
  VerifyingServer s(
      "  generic: {token_env: TOCSIN_TEST_GENERIC_TOKEN}\n"
      "  alertmanager: {token_env: TOCSIN_TEST_UNSET_TOKEN}\n",
      {"TOCSIN_TEST_GENERIC_TOKEN=s3cret"});
  auto c = s.client();
  const std::string event =
      R"({"key": "disk-full", "status": "firing", "severity": "high", "summary": "disk /data 95%"})";
  struct Case {
    const char* intent;
    std::string path;
    httplib::Headers headers;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {"no token", "/hooks/generic", {}, 401, "missing_token"},
      {"wrong token", "/hooks/generic", {{"X-Tocsin-Token", "s3cret-not"}}, 401, "invalid_token"},
      {"a prefix of the token",
       "/hooks/generic",
       {{"X-Tocsin-Token", "s3cre"}},
       401,
       "invalid_token"},
      {"right token in the header", "/hooks/generic", {{"X-Tocsin-Token", "s3cret"}}, 200, ""},
      {"right token in the query", "/hooks/generic?token=s3cret", {}, 200, ""},
      {"token variable unset on the server",
       "/hooks/alertmanager?token=x",
       {},
       503,
       "token_not_configured"},
  };
  for (const auto& k : cases) {
    CAPTURE(k.intent);
    auto r = c.Post(k.path.c_str(), k.headers,
                    k.path.find("alertmanager") != std::string::npos
                        ? fixture("alertmanager_webhook_v4.json")
                        : event,
                    "application/json");
    REQUIRE(r);
    CHECK(r->status == k.status);
    if (k.status != 200) CHECK(json_of(r)["error"] == k.code);
    if (k.status == 503) CHECK(r->has_header("Retry-After"));
  }
}

TEST_CASE("heartbeat pings are recorded, an undeclared heartbeat is a 404") {
  VerifyingServer s;
  auto c = s.client();
  auto post = c.Post("/hooks/heartbeat/hooks-worker", "", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 200);
  auto get = c.Get("/hooks/heartbeat/hooks-worker");
  REQUIRE(get);
  CHECK(get->status == 200);
  auto unknown = c.Get("/hooks/heartbeat/nobody");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  CHECK(json_of(unknown)["error"] == "unknown_heartbeat");

  Json hb = json_of(c.Get("/api/v1/heartbeats"))["heartbeats"];
  REQUIRE(hb.size() == 1);
  CHECK(hb[0]["name"] == "hooks-worker");
  CHECK(hb[0]["pings"] == 2);
  CHECK(hb[0]["overdue"] == false);
  CHECK(hb[0]["state"] == "up");
}

TEST_CASE("a subscription confirmation is listed for a human, never visited") {
  VerifyingServer s;
  auto c = s.client();
  auto r = c.Post("/hooks/sns", {{"x-amz-sns-message-type", "SubscriptionConfirmation"}},
                  fixture("sns_subscription_confirmation.json"), "text/plain");
  REQUIRE(r);
  CHECK(r->status == 200);
  Json subs = json_of(c.Get("/api/v1/subscriptions"))["subscriptions"];
  REQUIRE(subs.size() == 1);
  CHECK(subs[0]["status"] == "pending");
  CHECK(subs[0]["topic_arn"] == "arn:aws:sns:us-east-1:123456789012:alerts-critical");
  // The token would let a read token confirm it: shown redacted, the rest as stored.
  CHECK(subs[0]["url"] ==
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:"
        "us-east-1:123456789012:alerts-critical&Token=redacted");
  CHECK(c.Get("/api/v1/subscriptions")->body.find("1faad0699d0c7ae5ce02") == std::string::npos);
}

TEST_CASE("a request with a flood of headers is refused with 431") {
  VerifyingServer s;
  auto c = s.client();
  httplib::Headers many;
  for (int i = 0; i < 150; ++i)
    many.emplace("X-Filler-" + std::to_string(i), "x");
  auto r = c.Get("/healthz", many);
  REQUIRE(r);
  CHECK(r->status == 431);
}

}  // namespace e2e_ingest_test
