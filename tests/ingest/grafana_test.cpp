#include "ingest/grafana.hpp"

#include <doctest/doctest.h>

#include "core/mapping.hpp"
#include "ingest/alertmanager.hpp"
#include "support/fixtures.hpp"
#include "support/peer_payloads.hpp"

namespace ingest_grafana_test {

using namespace tocsin;
using namespace tocsin::ingest;
using tocsin::testing::fixture;
using tocsin::testing::mutated_fixture;
using tocsin::testing::peer_payload;

namespace {

constexpr const char* k_firing = "grafana_webhook_v1.json";
constexpr const char* k_resolved = "edge/grafana_webhook_v1_resolved.json";

const Json k_removed = Json(Json::value_t::discarded);

std::string mutated(const char* pointer, const Json& value, const char* file = k_firing) {
  return mutated_fixture(file, pointer, value);
}

std::vector<NormalizedEvent> events_of(const std::string& body) {
  auto events = parse_grafana_webhook(body);
  if (!events) FAIL(events.error().code << ": " << events.error().detail);
  return std::move(*events);
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::string k_fingerprint =
    R"(grafana:{alertname="HooksWorkerBacklog",grafana_folder="hooks",)"
    R"(service="hooks-worker",severity="critical"})";

}  // namespace

TEST_CASE("a Grafana alert is read like an Alertmanager alert, under its own source") {
  auto events = events_of(fixture(k_firing));
  REQUIRE(events.size() == 1);
  const auto& e = events[0];
  CHECK(e.source == Source::grafana);
  CHECK(e.hook == "grafana");
  CHECK(e.fingerprint == k_fingerprint);
  CHECK(e.name == "HooksWorkerBacklog");
  CHECK(e.state == SignalState::firing);
  CHECK(e.severity == Severity::critical);
  CHECK(e.labels.size() == 4);
  CHECK(e.summary == "hooks-worker backlog above 900s");
  CHECK(e.source_event_id.empty());
  REQUIRE(e.source_time.has_value());
  CHECK(format_timestamp(*e.source_time) == "2026-03-02T09:02:30.157Z");
}

TEST_CASE("Grafana's links and values are kept in the description, one line each") {
  const auto e = events_of(fixture(k_firing))[0];
  CHECK(e.description ==
        "Oldest queued webhook is older than 15 minutes.\n\n"
        "Runbook: https://runbooks.example.com/hooks-worker#backlog\n\n"
        "Values: A=1284.5, C=1\n"
        "Source: https://grafana.example.com/alerting/grafana/hw-backlog/view?orgId=1\n"
        "Silence: https://grafana.example.com/alerting/silence/new?alertmanager=grafana&"
        "matcher=alertname%3DHooksWorkerBacklog&matcher=service%3Dhooks-worker\n"
        "Dashboard: https://grafana.example.com/d/hooks?orgId=1\n"
        "Panel: https://grafana.example.com/d/hooks?orgId=1&viewPanel=4");
  struct Case {
    const char* intent;
    std::string body;
    const char* present;  // in the description, or nullptr
    const char* absent;   // not in it, or nullptr
  };
  const Case cases[] = {
      {"empty links are left out", mutated("/alerts/0/dashboardURL", ""), "Panel: ", "Dashboard: "},
      {"a link of another type is skipped", mutated("/alerts/0/panelURL", 5),
       "Dashboard: ", "Panel: "},
      {"without values, valueString stands in", mutated("/alerts/0/values", k_removed),
       "Values: [ var='A' labels={service=hooks-worker}", nullptr},
      {"a value that is not a number is skipped", mutated("/alerts/0/values/A", "NaN"),
       "Values: C=1\n", "A="},
      {"an image link is kept", mutated("/alerts/0/imageURL", "https://img.example.com/1.png"),
       "Image: https://img.example.com/1.png", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const auto d = events_of(c.body)[0].description;
    CAPTURE(d);
    if (c.present) CHECK(has(d, c.present));
    if (c.absent) CHECK_FALSE(has(d, c.absent));
  }
  SUBCASE("an alert without annotations or links has its name as summary, nothing else") {
    Json alert = Json::parse(fixture(k_firing))["alerts"][0];
    for (const char* key : {"annotations", "generatorURL", "silenceURL", "dashboardURL", "panelURL",
                            "values", "valueString"})
      alert.erase(key);
    const auto bare = events_of(mutated("/alerts", Json::array({alert})))[0];
    CHECK(bare.summary == "HooksWorkerBacklog");
    CHECK(bare.description.empty());
  }
}

TEST_CASE("a Grafana resolve resolves the same alert, at its end time") {
  const auto firing = events_of(fixture(k_firing))[0];
  const auto resolved = events_of(fixture(k_resolved))[0];
  CHECK(resolved.fingerprint == firing.fingerprint);
  CHECK(resolved.state == SignalState::resolved);
  CHECK(format_timestamp(*resolved.source_time) == "2026-03-02T09:41:30.000Z");
  CHECK(has(resolved.description, "Values: A=312.0, C=0"));
}

TEST_CASE("the same labels are different alerts in Grafana and in Alertmanager") {
  // One label set, two tools: each names the alert after itself, so a rule can tell them
  // apart and neither resolves the other's.
  const auto grafana = events_of(fixture(k_firing))[0];
  Json as_alertmanager = Json::parse(fixture(k_firing));
  as_alertmanager["version"] = "4";
  as_alertmanager.erase("orgId");
  auto am = parse_alertmanager_webhook(as_alertmanager.dump());
  REQUIRE(am.has_value());
  CHECK(am->at(0).fingerprint == "alertmanager:" + alertmanager_label_set(grafana.labels));
  CHECK(am->at(0).fingerprint != grafana.fingerprint);
}

TEST_CASE("broken or foreign Grafana payloads are refused with the reason named") {
  const std::string legacy =
      R"({"evalMatches": [], "message": "boom", "ruleId": 7, "ruleName": "cpu",)"
      R"( "state": "ok", "title": "[OK] cpu"})";
  struct Case {
    const char* intent;
    std::string body;
    const char* code;
    const char* detail;  // must appear in the detail
  };
  const Case cases[] = {
      {"an empty body", "", "empty_body", nullptr},
      {"a top-level array", "[]", "not_an_object", nullptr},
      {"no version", mutated("/version", k_removed), "invalid_grafana_payload", "version"},
      {"version as a number", mutated("/version", 1), "invalid_grafana_payload", "version"},
      {"version 2", mutated("/version", "2"), "invalid_grafana_payload", "\"2\""},
      {"Alertmanager's own webhook", fixture("alertmanager_webhook_v4.json"), "wrong_hook",
       "/hooks/alertmanager"},
      {"Grafana's legacy alerting webhook", legacy, "invalid_grafana_payload", "legacy"},
      {"no alerts", mutated("/alerts", k_removed), "invalid_grafana_payload", "alerts"},
      {"an alert with an unknown status", mutated("/alerts/0/status", "pending"),
       "invalid_grafana_payload", "alerts[0].status"},
      {"an alert without labels", mutated("/alerts/0/labels", Json::object()),
       "invalid_grafana_payload", "alerts[0].labels"},
      {"a firing alert without startsAt", mutated("/alerts/0/startsAt", k_removed),
       "invalid_grafana_payload", "startsAt"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto events = parse_grafana_webhook(c.body);
    REQUIRE_FALSE(events.has_value());
    CHECK(events.error().status == 400);
    CHECK(events.error().code == c.code);
    if (c.detail) CHECK(has(events.error().detail, c.detail));
  }
}

TEST_CASE("Alertmanager's hook refuses a Grafana payload, naming /hooks/grafana") {
  struct Case {
    const char* intent;
    std::string body;
  };
  const Case cases[] = {
      {"Grafana's webhook as sent", fixture(k_firing)},
      {"an orgId without version 1", mutated("/version", "4")},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto events = parse_alertmanager_webhook(c.body);
    REQUIRE_FALSE(events.has_value());
    CHECK(events.error().status == 400);
    CHECK(events.error().code == "wrong_hook");
    CHECK(has(events.error().detail, "Grafana"));
    CHECK(has(events.error().detail, "/hooks/grafana"));
  }
}

TEST_CASE("Grafana's documented webhook sample is accepted, every alert with its links") {
  const auto body = peer_payload("alertmanager/grafana_v1_via_firehydrant_docs.json");
  if (!body) {
    MESSAGE("the peer payload collection is absent (../shared/peer-payloads): skipped");
    return;
  }
  CHECK_FALSE(parse_alertmanager_webhook(*body).has_value());
  const auto events = events_of(*body);
  REQUIRE(events.size() == 2);
  const auto& e = events[0];
  CHECK(e.fingerprint == R"(grafana:{alertname="High memory usage",team="blue",zone="us-1"})");
  CHECK(e.name == "High memory usage");
  CHECK(e.state == SignalState::firing);
  CHECK_FALSE(e.severity.has_value());
  CHECK(e.summary == "This alert was triggered for zone us-1");
  CHECK(has(e.description, "The system has high memory usage"));
  CHECK(has(e.description, "Runbook: https://myrunbook.com/runbook/1234"));
  CHECK(has(e.description, "Values: B=44.23943737541908, C=1"));
  CHECK(has(e.description, "Source: https://play.grafana.org/alerting/1afz29v7z/edit"));
  CHECK(has(e.description, "Silence: https://play.grafana.org/alerting/silence/new?"));
  CHECK_FALSE(has(e.description, "Dashboard:"));
  CHECK(format_timestamp(*e.source_time) == "2021-10-12T07:51:03.157Z");
  CHECK(events[1].name == "High CPU usage");
  CHECK(events[1].fingerprint != e.fingerprint);
}

TEST_CASE("Grafana's legacy alerting samples are refused as legacy, not misread") {
  for (const char* file :
       {"mapped/grafana-legacy/alerta_alerting.json", "mapped/grafana-legacy/alerta_ok.json"}) {
    CAPTURE(file);
    const auto body = peer_payload(file);
    if (!body) {
      MESSAGE("the peer payload collection is absent (../shared/peer-payloads): skipped");
      return;
    }
    auto events = parse_grafana_webhook(*body);
    REQUIRE_FALSE(events.has_value());
    CHECK(events.error().code == "invalid_grafana_payload");
    CHECK(has(events.error().detail, "legacy"));
  }
}

TEST_CASE("an unknown version is echoed bounded, its control characters escaped") {
  const std::string version = std::string(5000, 'x') + "\x1b[31m";
  for (const auto& body : {mutated_fixture("grafana_webhook_v1.json", "/version", version),
                           mutated_fixture("alertmanager_webhook_v4.json", "/version", version)}) {
    const bool grafana = body.find("orgId") != std::string::npos;
    auto r = grafana ? parse_grafana_webhook(body) : parse_alertmanager_webhook(body);
    REQUIRE_FALSE(r.has_value());
    INFO(r.error().detail);
    CHECK(r.error().detail.size() < 200);
    CHECK(r.error().detail.find('\x1b') == std::string::npos);
    CHECK(r.error().detail.rfind("\"version\" is \"xxx", 0) == 0);
  }
}

TEST_CASE("a Grafana notification carries at most 1000 alerts, or is refused whole") {
  const Json fixture_body = Json::parse(fixture(k_firing));
  const auto body_with = [&](std::size_t n) {
    Json body = fixture_body;
    Json alert = body["alerts"][0];
    body["alerts"] = Json::array();
    for (std::size_t i = 0; i < n; ++i) {
      alert["labels"]["instance"] = "host-" + std::to_string(i);
      body["alerts"].push_back(alert);
    }
    return body.dump();
  };
  const auto accepted = events_of(body_with(mapping::k_max_events));
  REQUIRE(accepted.size() == 1000);
  CHECK(has(accepted.back().description, "Source: "));
  auto refused = parse_grafana_webhook(body_with(mapping::k_max_events + 1));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().status == 400);
  CHECK(refused.error().code == "invalid_grafana_payload");
  CHECK(refused.error().detail ==
        "\"alerts\" holds 1001 alerts; at most 1000 are taken in one request");
}

}  // namespace ingest_grafana_test
