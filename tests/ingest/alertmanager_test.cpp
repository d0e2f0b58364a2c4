#include "ingest/alertmanager.hpp"

#include <doctest/doctest.h>

#include "core/mapping.hpp"
#include "support/fixtures.hpp"

namespace ingest_alertmanager_test {

using namespace tocsin;
using namespace tocsin::ingest;
using tocsin::testing::fixture;
using tocsin::testing::mutated_fixture;

namespace {

constexpr const char* k_firing = "alertmanager_webhook_v4.json";
constexpr const char* k_resolved = "edge/alertmanager_webhook_v4_resolved.json";

const Json k_removed = Json(Json::value_t::discarded);

// The firing fixture with the value at `pointer` replaced, or removed when `value` is discarded.
std::string mutated(const char* pointer, const Json& value, const char* file = k_firing) {
  return mutated_fixture(file, pointer, value);
}

std::vector<NormalizedEvent> events_of(const std::string& body) {
  auto events = parse_alertmanager_webhook(body);
  REQUIRE(events.has_value());
  return std::move(*events);
}

const std::string k_pod_1_fingerprint =
    R"(alertmanager:{alertname="HooksWorkerBacklog",namespace="hooks",)"
    R"(pod="hooks-worker-7d9f8c6b5d-2xk4p",service="hooks-worker",severity="critical"})";

}  // namespace

TEST_CASE("every alert of a firing notification becomes its own event") {
  auto events = events_of(fixture(k_firing));
  REQUIRE(events.size() == 2);
  const auto& e = events[0];
  CHECK(e.source == Source::alertmanager);
  CHECK(e.hook == "alertmanager");
  CHECK(e.fingerprint == k_pod_1_fingerprint);
  CHECK(e.name == "HooksWorkerBacklog");
  CHECK(e.state == SignalState::firing);
  CHECK_FALSE(e.previous_state.has_value());
  CHECK(e.severity == Severity::critical);
  CHECK(e.labels.at("pod") == "hooks-worker-7d9f8c6b5d-2xk4p");
  CHECK(e.labels.size() == 5);
  CHECK(e.summary == "hooks-worker backlog above 900s");
  CHECK(e.description.find("Oldest queued webhook") == 0);
  CHECK(e.description.find("Runbook: https://runbooks.example.com/hooks-worker#backlog") !=
        std::string::npos);
  REQUIRE(e.source_time.has_value());
  CHECK(format_timestamp(*e.source_time) == "2026-03-02T10:02:30.000Z");
  CHECK(events[1].fingerprint != e.fingerprint);
  CHECK(format_timestamp(*events[1].source_time) == "2026-03-02T10:03:00.000Z");
}

TEST_CASE("a resolved notification resolves the same alerts, at their end time") {
  auto firing = events_of(fixture(k_firing));
  auto resolved = events_of(fixture(k_resolved));
  REQUIRE(resolved.size() == firing.size());
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    CAPTURE(i);
    CHECK(resolved[i].fingerprint == firing[i].fingerprint);
    CHECK(resolved[i].state == SignalState::resolved);
    CHECK(format_timestamp(*resolved[i].source_time) == "2026-03-02T10:41:30.000Z");
  }
}

// The engine applies a transition (member fingerprint, source time, state) once; Alertmanager
// names no delivery, so every re-send must carry the same transition.
TEST_CASE("the transition repeats for re-sends of one state and changes for a new one") {
  auto transition = [](const NormalizedEvent& e) {
    return e.fingerprint + "|" + std::string(to_string(e.state)) + "|" +
           format_timestamp(*e.source_time);
  };
  const std::string firing = transition(events_of(fixture(k_firing))[0]);
  struct Case {
    const char* intent;
    std::string body;
    bool same;
  };
  const Case cases[] = {
      {"a retry of the identical notification", fixture(k_firing), true},
      {"a repeat_interval re-send with another group status", mutated("/status", "resolved"), true},
      {"the same alert routed through another group", mutated("/groupKey", "{}:{other}"), true},
      {"a new firing of the same labels (new startsAt)",
       mutated("/alerts/0/startsAt", "2026-03-03T08:00:00Z"), false},
      {"the alert's resolve", fixture(k_resolved), false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto events = events_of(c.body);
    CHECK(events[0].source_event_id.empty());
    CHECK((transition(events[0]) == firing) == c.same);
  }
}

TEST_CASE("the label set is sorted and escaped the Prometheus way") {
  struct Case {
    const char* intent;
    std::map<std::string, std::string> labels;
    const char* expected;
  };
  const Case cases[] = {
      {"names sort bytewise", {{"b", "2"}, {"a", "1"}, {"B", "0"}}, R"({B="0",a="1",b="2"})"},
      {"quotes, backslashes and newlines are escaped",
       {{"x", "a\"b\\c\nd"}},
       R"({x="a\"b\\c\nd"})"},
      {"an empty value is kept", {{"x", ""}}, R"({x=""})"},
      {"no labels", {}, "{}"},
      {"a name outside the classic syntax is quoted", {{"a=\"1\",b", "2"}}, R"({"a=\"1\",b"="2"})"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(alertmanager_label_set(c.labels) == c.expected);
  }
  // Found by fuzzing: a crafted name must not print like a different label set.
  CHECK(alertmanager_label_set({{"a=\"1\",b", "2"}}) !=
        alertmanager_label_set({{"a", "1"}, {"b", "2"}}));
}

TEST_CASE("the severity label maps common spellings and leaves the rest to the rules") {
  struct Case {
    const char* intent;
    const char* label;
    std::optional<Severity> severity;
  };
  const Case cases[] = {
      {"Tocsin's own names", "high", Severity::high},
      {"case does not matter", "CRITICAL", Severity::critical},
      {"page means critical", "page", Severity::critical},
      {"error means high", "error", Severity::high},
      {"warn means warning", "warn", Severity::warning},
      {"Watchdog's none is informational", "none", Severity::info},
      {"an unknown word is no severity", "sev2", std::nullopt},
      {"an empty label is no severity", "", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(severity_from_label(c.label) == c.severity);
  }
}

TEST_CASE("informational Alertmanager fields never refuse a notification") {
  SUBCASE("no annotations: the alertname is the summary") {
    auto e = events_of(mutated("/alerts/0/annotations", k_removed))[0];
    CHECK(e.summary == "HooksWorkerBacklog");
    CHECK(e.description.empty());
  }
  SUBCASE("a non-string annotation is skipped") {
    auto e = events_of(mutated("/alerts/0/annotations/summary", 5))[0];
    CHECK(e.summary ==
          "Oldest queued webhook on hooks-worker-7d9f8c6b5d-2xk4p is older than 15 minutes.");
  }
  SUBCASE("the message annotation stands in for summary and description") {
    Json annotations = {{"message", "line one\nline two"}};
    auto e = events_of(mutated("/alerts/0/annotations", annotations))[0];
    CHECK(e.summary == "line one");
    CHECK(e.description == "line one\nline two");
  }
  SUBCASE("an unknown severity leaves severity to the rules") {
    auto e = events_of(mutated("/alerts/0/labels/severity", "sev2"))[0];
    CHECK_FALSE(e.severity.has_value());
  }
  SUBCASE("a firing alert's endsAt is not read") {
    auto e = events_of(mutated("/alerts/0/endsAt", "garbage"))[0];
    CHECK(e.state == SignalState::firing);
  }
  SUBCASE("without alertname the alert still parses, with an empty name") {
    auto e = events_of(mutated("/alerts/0/labels/alertname", k_removed))[0];
    CHECK(e.name.empty());
    CHECK(e.summary == "hooks-worker backlog above 900s");
  }
  SUBCASE("an empty alerts array is nothing to do") {
    CHECK(events_of(mutated("/alerts", Json::array())).empty());
  }
}

TEST_CASE("broken Alertmanager payloads are refused with the field named") {
  struct Case {
    const char* intent;
    std::string body;
    const char* code;
    const char* field;  // must appear in the detail
  };
  const Case cases[] = {
      {"the fixture without alerts", fixture("bad/alertmanager_missing_alerts.json"),
       "invalid_alertmanager_payload", "alerts"},
      {"nested 10,000 deep", fixture("bad/deeply_nested_objects_10000.json"), "json_too_deep",
       nullptr},
      {"an empty body", "", "empty_body", nullptr},
      {"a top-level array", "[]", "not_an_object", nullptr},
      {"no version", mutated("/version", k_removed), "invalid_alertmanager_payload", "version"},
      {"version 3", mutated("/version", "3"), "invalid_alertmanager_payload", "\"3\""},
      {"version as a number", mutated("/version", 4), "invalid_alertmanager_payload", "version"},
      {"alerts an object", mutated("/alerts", Json::object()), "invalid_alertmanager_payload",
       "alerts"},
      {"an alert that is a string", mutated("/alerts/1", "x"), "invalid_alertmanager_payload",
       "alerts[1]"},
      {"an alert without status", mutated("/alerts/1/status", k_removed),
       "invalid_alertmanager_payload", "alerts[1]"},
      {"an alert status that does not exist", mutated("/alerts/0/status", "pending"),
       "invalid_alertmanager_payload", "alerts[0].status"},
      {"an alert without labels", mutated("/alerts/0/labels", k_removed),
       "invalid_alertmanager_payload", "labels"},
      {"empty labels", mutated("/alerts/0/labels", Json::object()), "invalid_alertmanager_payload",
       "alerts[0].labels"},
      {"a label value that is a number", mutated("/alerts/0/labels/pod", 3),
       "invalid_alertmanager_payload", "alerts[0].labels.pod"},
      {"a firing alert without startsAt", mutated("/alerts/0/startsAt", k_removed),
       "invalid_alertmanager_payload", "startsAt"},
      {"a resolved alert with an unreadable endsAt",
       mutated("/alerts/0/endsAt", "2026-03-02 late", k_resolved), "invalid_alertmanager_payload",
       "alerts[0].endsAt"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = parse_alertmanager_webhook(c.body);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().status == 400);
    CHECK(e.error().code == c.code);
    if (c.field) CHECK(e.error().detail.find(c.field) != std::string::npos);
  }
}

TEST_CASE("an Alertmanager notification carries at most 1000 alerts, or is refused whole") {
  // A group this large is a runaway grouping: applied in one transaction, it would hold the
  // database for one request. Alertmanager's max_alerts keeps a real one below the limit.
  const Json fixture_body = Json::parse(fixture(k_firing));
  const auto body_with = [&](std::size_t n) {
    Json body = fixture_body;
    Json alert = body["alerts"][0];
    body["alerts"] = Json::array();
    for (std::size_t i = 0; i < n; ++i) {
      alert["labels"]["pod"] = "pod-" + std::to_string(i);
      body["alerts"].push_back(alert);
    }
    return body.dump();
  };
  CHECK(events_of(body_with(mapping::k_max_events)).size() == 1000);
  auto refused = parse_alertmanager_webhook(body_with(mapping::k_max_events + 1));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().status == 400);
  CHECK(refused.error().code == "invalid_alertmanager_payload");
  CHECK(refused.error().detail ==
        "\"alerts\" holds 1001 alerts; at most 1000 are taken in one request");
}

}  // namespace ingest_alertmanager_test
