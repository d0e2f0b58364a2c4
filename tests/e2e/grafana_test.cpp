// End-to-end: Grafana Alerting's webhook on /hooks/grafana (docs/behaviour.md "Other hooks"),
// with the real samples of the peer payload collection, through the real binary: the alerts, their
// links in the API, the resolve, the refusals on the wrong hook, and replay/export of the hook.

#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>
#include <sstream>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/peer_payloads.hpp"
#include "support/process.hpp"
#include "support/rules_server.hpp"
#include "support/temp_dir.hpp"

namespace e2e_grafana_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

constexpr const char* k_sample = "alertmanager/grafana_v1_via_firehydrant_docs.json";

std::string grafana_rules() {
  return "version: 1\n" + sources_section("  grafana: {token_env: T_GRAFANA}\n") +
         "rules:\n"
         "  - {name: grafana, match: {source: grafana}, severity: high}\n"
         "  - {name: everything, match: {}}\n";
}

Json json_of(const httplib::Result& r, int status = 200) {
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == status);
  return Json::parse(r->body);
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The sample as Grafana sends it when its first alert resolves: status resolved, endsAt set.
std::string resolved_first_alert(const std::string& sample) {
  Json body = Json::parse(sample);
  body["status"] = "resolved";
  body["alerts"][0]["status"] = "resolved";
  body["alerts"][0]["endsAt"] = "2021-10-12T10:06:03.157076+02:00";
  body["alerts"].erase(1);
  return body.dump();
}

}  // namespace

TEST_CASE(
    "grafana: the real webhook sample opens alerts whose links the API shows, then resolves") {
  const auto sample = peer_payload(k_sample);
  if (!sample) {
    MESSAGE("the peer payload collection is absent (../shared/peer-payloads): skipped");
    return;
  }
  RulesServer s(grafana_rules(), {}, {"T_GRAFANA=grafana-secret"});
  auto c = s.client();
  // Grafana's contact point keeps credentials in its Authorization header fields.
  const httplib::Headers bearer{{"Authorization", "Bearer grafana-secret"}};

  const Json created = json_of(c.Post("/hooks/grafana", bearer, *sample, "application/json"));
  REQUIRE(created["results"].size() == 2);
  for (const auto& r : created["results"]) {
    CHECK(r["outcome"] == "created");
    CHECK(r["reason"] == "first_occurrence");
  }
  CHECK(created["results"][0]["fingerprint"] ==
        R"(grafana:{alertname="High memory usage",team="blue",zone="us-1"})");

  const Json list = json_of(c.Get("/api/v1/alerts?source=grafana"));
  CHECK(list["total"] == 2);
  const auto id = created["results"][0]["alert_id"].get<std::int64_t>();
  const Json alert = json_of(c.Get("/api/v1/alerts/" + std::to_string(id)));
  INFO(alert.dump(2));
  CHECK(alert["source"] == "grafana");
  CHECK(alert["name"] == "High memory usage");
  CHECK(alert["summary"] == "This alert was triggered for zone us-1");
  CHECK(alert["labels"]["team"] == "blue");
  CHECK(alert["episode"]["severity"] == "high");
  const std::string description = alert["description"];
  CHECK(has(description, "The system has high memory usage"));
  CHECK(has(description, "Runbook: https://myrunbook.com/runbook/1234"));
  CHECK(has(description, "Values: B=44.23943737541908, C=1"));
  CHECK(has(description, "Source: https://play.grafana.org/alerting/1afz29v7z/edit"));
  CHECK(has(description,
            "Silence: https://play.grafana.org/alerting/silence/new?alertmanager=grafana&"
            "matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1"));

  // Grafana re-sends the group every repeat interval: the same transition, applied once.
  const Json again =
      json_of(c.Post("/hooks/grafana?token=grafana-secret", *sample, "application/json"));
  CHECK(again["results"][0]["outcome"] == "duplicate");
  CHECK(again["results"][0]["reason"] == "same_transition");

  const Json resolved =
      json_of(c.Post("/hooks/grafana", bearer, resolved_first_alert(*sample), "application/json"));
  REQUIRE(resolved["results"].size() == 1);
  CHECK(resolved["results"][0]["outcome"] == "resolved");
  CHECK(resolved["results"][0]["alert_id"] == id);
  const Json after = json_of(c.Get("/api/v1/alerts/" + std::to_string(id)));
  CHECK(after["episode"]["status"] == "resolved");
}

TEST_CASE("grafana: the hook takes its own token and refuses payloads that are not its own") {
  const auto sample = peer_payload(k_sample);
  if (!sample) {
    MESSAGE("the peer payload collection is absent (../shared/peer-payloads): skipped");
    return;
  }
  RulesServer s(grafana_rules(), {}, {"T_GRAFANA=grafana-secret"});
  auto c = s.client();
  struct Case {
    const char* intent;
    std::string path;
    httplib::Headers headers;
    std::string body;
    int status;
    const char* error;
    const char* detail;  // in the detail, or nullptr
  };
  std::vector<Case> cases = {
      {"no token", "/hooks/grafana", {}, *sample, 401, "missing_token", "Authorization: Bearer"},
      {"a wrong bearer token",
       "/hooks/grafana",
       {{"Authorization", "Bearer nope"}},
       *sample,
       401,
       "invalid_token",
       nullptr},
      {"another scheme is no token",
       "/hooks/grafana",
       {{"Authorization", "Basic Z3JhZmFuYTpzZWNyZXQ="}},
       *sample,
       401,
       "missing_token",
       nullptr},
      {"Grafana's payload on Alertmanager's hook",
       "/hooks/alertmanager",
       {},
       *sample,
       400,
       "wrong_hook",
       "/hooks/grafana"},
      {"Alertmanager's payload on Grafana's hook",
       "/hooks/grafana?token=grafana-secret",
       {},
       fixture("alertmanager_webhook_v4.json"),
       400,
       "wrong_hook",
       "/hooks/alertmanager"},
  };
  for (const char* legacy :
       {"mapped/grafana-legacy/alerta_alerting.json", "mapped/grafana-legacy/alerta_ok.json"}) {
    cases.push_back({legacy,
                     "/hooks/grafana?token=grafana-secret",
                     {},
                     *peer_payload(legacy),
                     400,
                     "invalid_grafana_payload",
                     "legacy"});
  }
  for (const auto& k : cases) {
    CAPTURE(k.intent);
    const Json body = json_of(c.Post(k.path, k.headers, k.body, "application/json"), k.status);
    CHECK(body["error"] == k.error);
    if (k.detail) CHECK(has(body["detail"].get<std::string>(), k.detail));
  }
  // Nothing refused was stored.
  CHECK(json_of(c.Get("/api/v1/alerts"))["total"] == 0);
}

TEST_CASE("grafana: export writes the hook's requests and replay decides them again") {
  const auto sample = peer_payload(k_sample);
  if (!sample) {
    MESSAGE("the peer payload collection is absent (../shared/peer-payloads): skipped");
    return;
  }
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  const std::string db = dir.file("tocsin.db");
  std::ofstream(rules) << grafana_rules();
  {
    ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", db},
                         {"T_GRAFANA=grafana-secret"});
    httplib::Client c("127.0.0.1", server.port());
    const httplib::Headers token{{"X-Tocsin-Token", "grafana-secret"}};
    json_of(c.Post("/hooks/grafana", token, *sample, "application/json"));
    json_of(c.Post("/hooks/grafana", token, resolved_first_alert(*sample), "application/json"));
    CHECK(server.stop() == 0);
  }
  const CommandResult exported = run_tocsin({"export", "--db", db, "--since", "7d"});
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  std::istringstream lines(exported.output);
  std::string line;
  int grafana_lines = 0;
  while (std::getline(lines, line)) {
    const Json j = Json::parse(line);
    CHECK(j["hook"] == "grafana");
    CHECK(j["body"]["orgId"] == 1);
    ++grafana_lines;
  }
  CHECK(grafana_lines == 2);

  const std::string events = dir.file("grafana.jsonl");
  std::ofstream(events) << exported.output;
  const CommandResult replayed =
      run_tocsin({"replay", "--rules", rules, events}, {"T_GRAFANA=grafana-secret"});
  INFO(replayed.output);
  REQUIRE(replayed.exit_code == 0);
  CHECK(has(
      replayed.output,
      R"("fingerprint":"grafana:{alertname=\"High memory usage\",team=\"blue\",zone=\"us-1\"}")"));
  CHECK(has(replayed.output, R"("outcome":"resolved")"));
  CHECK_FALSE(has(replayed.output, "warning"));
}

TEST_CASE("suppressed: the real composite alarm sample is recorded as ignored, or pages by rule") {
  const auto sample = peer_payload("eventbridge/awsdocs_composite_alarm_suppressor_ALARM.json");
  if (!sample) {
    MESSAGE("the peer payload collection is absent (../shared/peer-payloads): skipped");
    return;
  }
  SUBCASE("by default: 200, outcome ignored, reason actions_suppressed, visible in the API") {
    RulesServer s(RulesServer::with_sections(""));
    auto c = s.client();
    const Json r = json_of(c.Post("/hooks/eventbridge", *sample, "application/json"));
    REQUIRE(r["results"].size() == 1);
    CHECK(r["results"][0]["outcome"] == "ignored");
    CHECK(r["results"][0]["reason"] == "actions_suppressed");
    CHECK(r["results"][0]["fingerprint"] ==
          "cloudwatch:123456789012:us-east-1:ServiceAggregatedAlarm");
    const auto id = r["results"][0]["alert_id"].get<std::int64_t>();
    const Json events = json_of(c.Get("/api/v1/alerts/" + std::to_string(id) + "/events"));
    INFO(events.dump(2));
    REQUIRE(events["events"].size() == 1);
    CHECK(events["events"][0]["outcome"] == "ignored");
    CHECK(events["events"][0]["reason"] == "actions_suppressed");
    CHECK(json_of(c.Get("/api/v1/alerts/" + std::to_string(id)))["episode"].is_null());
  }
  SUBCASE("with actions_suppressed: firing the same event opens an episode") {
    RulesServer s("version: 1\n" + sources_section() +
                  "rules:\n"
                  "  - {name: composite, match: {name: ServiceAggregatedAlarm}, "
                  "actions_suppressed: firing}\n");
    const Json r = json_of(s.client().Post("/hooks/eventbridge", *sample, "application/json"));
    CHECK(r["results"][0]["outcome"] == "created");
    CHECK(r["results"][0]["reason"] == "first_occurrence");
  }
  SUBCASE("tocsin check refuses a bad value with its line and column") {
    TempDir dir;
    const std::string rules = dir.file("rules.yaml");
    std::ofstream(rules)
        << "version: 1\nrules:\n  - {name: r, match: {}, actions_suppressed: fire}\n";
    const CommandResult check = run_tocsin({"check", rules});
    INFO(check.output);
    CHECK(check.exit_code == 1);
    CHECK(has(check.output, rules + ":3:46: error:"));
    CHECK(has(check.output, "expected one of ignore, firing for \"actions_suppressed\""));
  }
}

}  // namespace e2e_grafana_test
