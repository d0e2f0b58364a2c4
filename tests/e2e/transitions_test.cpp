// End-to-end: one source transition pages once however many paths deliver it, and a dedup_key
// group resolves with its last firing member (docs/behaviour.md "Episodes, escalation and timers").
// The real binary, SNS signatures verified (messages signed here with the offline test key), and a
// recording receiver as the paging channel.

#include <doctest/doctest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "core/json.hpp"
#include "ingest/sns.hpp"
#include "ingest/sns_verify.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_transitions_test {

using namespace tocsin::testing;
using tocsin::Json;
using namespace std::chrono_literals;

namespace {

constexpr const char* k_pinned_cert =
    "SimpleNotificationService-ac9ba2946855213a28bfa93d609aeb4b.pem";

// Signs an SNS envelope as SNS would (SignatureVersion 2, SHA256withRSA) with the offline test
// key whose certificate the server pins.
std::string signed_sns(Json envelope) {
  envelope["SignatureVersion"] = "2";
  envelope["Signature"] = "";
  auto parsed = tocsin::ingest::parse_sns_envelope({}, envelope.dump());
  REQUIRE(parsed);
  const std::string text = tocsin::ingest::sns_string_to_sign(*parsed);

  const std::string pem = fixture("sns-signing/test-signing-key.pem");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  REQUIRE(key);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  std::size_t length = 0;
  REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &length,
                         reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 1);
  std::string signature(length, '\0');
  REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                         reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 1);
  signature.resize(length);
  std::string encoded(4 * ((length + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                      reinterpret_cast<const unsigned char*>(signature.data()), int(length));
  encoded.resize(std::size_t(n));
  envelope["Signature"] = encoded;
  return envelope.dump();
}

// The CloudWatch state change `state` (from `old_state`) at `change_time`, delivered by SNS
// from `topic`, signed.
std::string sns_alarm(const std::string& message_id, const std::string& topic,
                      const std::string& state, const std::string& old_state,
                      const std::string& change_time) {
  Json body = Json::parse(fixture("sns_notification_alarm.json"));
  Json message = Json::parse(body["Message"].get<std::string>());
  message["NewStateValue"] = state;
  message["OldStateValue"] = old_state;
  message["StateChangeTime"] = change_time;
  body["Message"] = message.dump();
  body["MessageId"] = message_id;
  body["TopicArn"] = "arn:aws:sns:us-east-1:123456789012:" + topic;
  return signed_sns(body);
}

std::string eventbridge_alarm(const std::string& id, const std::string& state,
                              const std::string& old_state, const std::string& change_time) {
  Json body = Json::parse(fixture("eventbridge_alarm_state_change.json"));
  body["id"] = id;
  body["detail"]["state"]["value"] = state;
  body["detail"]["state"]["timestamp"] = change_time;
  body["detail"]["previousState"]["value"] = old_state;
  return body.dump();
}

struct Pod {
  std::string name, status, starts_at, ends_at = "0001-01-01T00:00:00Z";
};

std::string alertmanager_group(const std::vector<Pod>& pods) {
  Json body = Json::parse(fixture("alertmanager_webhook_v4.json"));
  Json model = body["alerts"][0];
  body["alerts"] = Json::array();
  for (const auto& p : pods) {
    Json a = model;
    a["status"] = p.status;
    a["labels"]["pod"] = p.name;
    a["startsAt"] = p.starts_at;
    a["endsAt"] = p.ends_at;
    body["alerts"].push_back(a);
  }
  return body.dump();
}

struct Server {
  RecordingReceiver pager;
  TempDir dir;
  std::optional<ServerProcess> process;

  Server() {
    std::filesystem::create_directories(dir.file("certs"));
    std::filesystem::copy_file(fixture_path("sns-signing/test-signing-cert.pem"),
                               dir.file(std::string("certs/") + k_pinned_cert));
    const std::string rules = dir.file("rules.yaml");
    std::ofstream(rules)
        << "version: 1\n"
           "sources:\n"
           "  sns:\n"
           "    verify_signature: true\n"
           "    cert_dir: " +
               dir.file("certs") +
               "\n"
               "    fetch_certs: false\n"
               "  eventbridge: {token_env: TEST_HOOK_TOKEN}\n"
               "  alertmanager: {token_env: TEST_HOOK_TOKEN}\n"
               "channels:\n"
               "  pager: {type: webhook, url: \""
        << pager.url()
        << "/page\"}\n"
           "rules:\n"
           "  - name: pods\n"
           "    match: {source: alertmanager}\n"
           "    dedup_key: \"{source}:{name}\"\n"
           "    notify: [pager]\n"
           "  - {name: cloudwatch, match: {source: cloudwatch}, notify: [pager]}\n";
    process.emplace(dir.file("server.log"),
                    std::vector<std::string>{"--rules", rules, "--db", dir.file("t.db")},
                    std::vector<std::string>{"TEST_HOOK_TOKEN=hook-secret"});
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", process->port()); }
};

// Posts and returns the outcome/reason of every event of the request.
std::vector<std::string> post(httplib::Client& c, const std::string& path, const std::string& body,
                              const httplib::Headers& headers = {}) {
  auto res = c.Post(path, headers, body, "application/json");
  REQUIRE(res);
  INFO("answer: " << res->body);
  REQUIRE(res->status == 200);
  const Json j = Json::parse(res->body);
  std::vector<std::string> out;
  const Json results = j.contains("results") ? j["results"] : Json::array({j});
  for (const auto& r : results)
    out.push_back(r["outcome"].get<std::string>() + "/" + r["reason"].get<std::string>());
  return out;
}

std::vector<std::string> actions(const std::vector<RecordedRequest>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests)
    out.push_back(Json::parse(r.body)["action"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("e2e: one CloudWatch transition through SNS, EventBridge and a second topic pages once") {
  Server s;
  auto c = s.client();
  const httplib::Headers sns{{"x-amz-sns-message-type", "Notification"}};
  const std::string eb = "/hooks/eventbridge?token=hook-secret";
  const std::string alarm_at = "2026-11-01T10:00:00.118+0000";
  const std::string ok_at = "2026-11-01T10:30:00.512+0000";

  CHECK(post(c, "/hooks/sns", sns_alarm("m1", "alerts-critical", "ALARM", "OK", alarm_at), sns) ==
        std::vector<std::string>{"created/first_occurrence"});
  CHECK(post(c, eb, eventbridge_alarm("e1", "ALARM", "OK", alarm_at)) ==
        std::vector<std::string>{"duplicate/same_transition"});
  CHECK(post(c, "/hooks/sns", sns_alarm("m2", "alerts-critical-2", "ALARM", "OK", alarm_at), sns) ==
        std::vector<std::string>{"duplicate/same_transition"});
  CHECK(post(c, eb, eventbridge_alarm("e1-retry", "ALARM", "OK", alarm_at)) ==
        std::vector<std::string>{"duplicate/same_transition"});
  // One trigger reached the pager, and nothing else is on its way.
  auto pages = s.pager.wait_for(1);
  CHECK(actions(pages) == std::vector<std::string>{"trigger"});

  CHECK(post(c, "/hooks/sns", sns_alarm("m3", "alerts-critical", "OK", "ALARM", ok_at), sns) ==
        std::vector<std::string>{"resolved/source_resolved"});
  CHECK(post(c, eb, eventbridge_alarm("e2", "OK", "ALARM", ok_at)) ==
        std::vector<std::string>{"duplicate/same_transition"});
  CHECK(post(c, "/hooks/sns", sns_alarm("m4", "alerts-critical-2", "OK", "ALARM", ok_at), sns) ==
        std::vector<std::string>{"duplicate/same_transition"});
  CHECK(post(c, eb, eventbridge_alarm("e1-late", "ALARM", "OK", alarm_at)) ==
        std::vector<std::string>{"out_of_order/older_than_last_change"});

  pages = s.pager.wait_for(2);
  CHECK(actions(pages) == std::vector<std::string>{"trigger", "resolve"});
  // Every notification queued was delivered: nothing more is pending that could arrive later.
  auto listed = c.Get("/api/v1/notifications");
  REQUIRE(listed);
  const Json notifications = Json::parse(listed->body)["notifications"];
  CHECK(notifications.size() == 2);
  for (const auto& n : notifications)
    CHECK(n["episode"] == 1);
  CHECK(actions(s.pager.requests()) == std::vector<std::string>{"trigger", "resolve"});
}

TEST_CASE("e2e: an Alertmanager dedup_key group resolves with its last firing pod") {
  Server s;
  auto c = s.client();
  const std::string am = "/hooks/alertmanager?token=hook-secret";

  CHECK(post(c, am,
             alertmanager_group({{"pod-a", "firing", "2026-11-01T09:59:30Z"},
                                 {"pod-b", "firing", "2026-11-01T09:58:00Z"}})) ==
        std::vector<std::string>{"created/first_occurrence", "duplicate/continues_episode"});
  // Paged before anything resolves (a resolve supersedes a trigger still unsent).
  REQUIRE(s.pager.wait_for(1).size() == 1);
  CHECK(post(c, am,
             alertmanager_group(
                 {{"pod-a", "resolved", "2026-11-01T09:59:30Z", "2026-11-01T10:09:30Z"},
                  {"pod-b", "firing", "2026-11-01T09:58:00Z"}})) ==
        std::vector<std::string>{"duplicate/member_resolved;still_firing=1",
                                 "duplicate/same_transition"});

  // The API lists the members: pod-b still firing, pod-a resolved.
  auto alerts = c.Get("/api/v1/alerts?source=alertmanager");
  REQUIRE(alerts);
  auto listed = Json::parse(alerts->body);
  REQUIRE(listed["alerts"].size() == 1);
  CHECK(listed["alerts"][0]["fingerprint"] == "alertmanager:HooksWorkerBacklog");
  auto detail =
      c.Get("/api/v1/alerts/" + std::to_string(listed["alerts"][0]["alert_id"].get<long>()));
  REQUIRE(detail);
  const Json alert = Json::parse(detail->body);
  INFO(alert.dump());
  CHECK(alert["members_total"] == 2);
  CHECK(alert["members_firing"] == 1);
  REQUIRE(alert["members"].size() == 2);
  std::map<std::string, std::string> states;
  for (const auto& m : alert["members"])
    states[m["fingerprint"].get<std::string>()] = m["state"];
  CHECK(states.size() == 2);
  for (const auto& [fingerprint, state] : states)
    CHECK(state == (fingerprint.find("pod-b") != std::string::npos ? "firing" : "resolved"));

  CHECK(post(c, am,
             alertmanager_group(
                 {{"pod-b", "resolved", "2026-11-01T09:58:00Z", "2026-11-01T10:20:00Z"}})) ==
        std::vector<std::string>{"resolved/source_resolved"});
  CHECK(post(c, am, alertmanager_group({{"pod-a", "firing", "2026-11-01T10:40:00Z"}})) ==
        std::vector<std::string>{"created/new_occurrence"});

  // Episodes are delivered independently: their order across episodes is not fixed.
  std::multiset<std::string> pages;
  for (const auto& r : s.pager.wait_for(3)) {
    const Json n = Json::parse(r.body);
    pages.insert(std::to_string(n["episode"].get<int>()) + ":" + n["action"].get<std::string>());
  }
  CHECK(pages == std::multiset<std::string>{"1:trigger", "1:resolve", "2:trigger"});
}

}  // namespace e2e_transitions_test
