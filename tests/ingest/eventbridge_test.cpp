#include "ingest/eventbridge.hpp"

#include <doctest/doctest.h>

#include "ingest/cloudwatch.hpp"
#include "ingest/sns.hpp"
#include "support/fixtures.hpp"

namespace ingest_eventbridge_test {

using namespace tocsin;
using namespace tocsin::ingest;
using tocsin::testing::fixture;
using tocsin::testing::mutated_fixture;

namespace {

constexpr const char* k_state_change = "eventbridge_alarm_state_change.json";

NormalizedEvent only_event(const std::string& body) {
  auto events = parse_eventbridge_event(body);
  REQUIRE(events.has_value());
  REQUIRE(events->size() == 1);
  return events->front();
}

// The Message of an SNS fixture.
std::string sns_message(const char* file) {
  auto m = parse_sns_envelope(HeaderMap{}, fixture(file));
  REQUIRE(m.has_value());
  return m->message;
}

// The state-change fixture with the value at `pointer` replaced, or removed when `value` is
// discarded.
std::string mutated(const char* pointer, const Json& value) {
  return mutated_fixture(k_state_change, pointer, value);
}

const Json k_removed = Json(Json::value_t::discarded);

}  // namespace

TEST_CASE("EventBridge state changes of every alarm shape normalize like their SNS messages") {
  struct Case {
    const char* intent;
    const char* file;
    const char* fingerprint;
    const char* event_id;
    const char* metric;
    const char* ns;
    const char* time;
  };
  const Case cases[] = {
      {"a metric alarm", k_state_change,
       "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age",
       "03447d33-b360-53f5-bc48-226ab12dd0e4", "ApproximateAgeOfOldestMessage", "AWS/SQS",
       "2026-03-02T10:03:41.118Z"},
      {"a metric-math alarm is named after its first queried metric",
       "edge/eventbridge_metric_math_alarm.json", "cloudwatch:123456789012:us-east-1:api-5xx-rate",
       "4fc0e348-0a95-5f4f-98a6-28a3da2e991c", "HTTPCode_Target_5XX_Count", "AWS/ApplicationELB",
       "2026-03-02T14:22:03.551Z"},
      {"a composite alarm has no metric", "edge/eventbridge_composite_alarm_state_change.json",
       "cloudwatch:123456789012:us-east-1:checkout-degraded",
       "ac65b821-dba3-5082-9c03-a9f8fa83fa77", "", "", "2026-03-02T14:22:03.707Z"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = only_event(fixture(c.file));
    CHECK(e.source == Source::cloudwatch);
    CHECK(e.hook == "eventbridge");
    CHECK(e.fingerprint == c.fingerprint);
    CHECK(e.source_event_id == c.event_id);
    CHECK(e.state == SignalState::firing);
    CHECK(e.previous_state == SignalState::resolved);
    CHECK(e.metric == c.metric);
    CHECK(e.namespace_ == c.ns);
    REQUIRE(e.source_time.has_value());
    CHECK(format_timestamp(*e.source_time) == c.time);
  }
}

TEST_CASE("an EventBridge alarm keeps its dimensions, description and reason") {
  auto e = only_event(fixture(k_state_change));
  CHECK(e.name == "hooks-worker-oldest-message-age");
  CHECK(e.account == "123456789012");
  CHECK(e.region == "us-east-1");
  CHECK(e.labels == std::map<std::string, std::string>{{"QueueName", "hooks-worker"}});
  CHECK(e.summary == e.name);
  CHECK(e.description.find("Runbook") != std::string::npos);
  CHECK(e.description.find("Threshold Crossed") != std::string::npos);
  CHECK_FALSE(e.severity.has_value());
}

TEST_CASE("the same alarm through SNS and through EventBridge is the same alert") {
  struct Case {
    const char* intent;
    const char* sns_file;
    const char* eventbridge_file;
  };
  const Case cases[] = {
      {"a metric alarm", "sns_notification_alarm.json", k_state_change},
      {"a metric-math alarm", "sns_notification_metric_math.json",
       "edge/eventbridge_metric_math_alarm.json"},
      {"a composite alarm", "sns_notification_composite.json",
       "edge/eventbridge_composite_alarm_state_change.json"},
      {"an EventBridge event carried by SNS", "edge/sns_notification_eventbridge_event.json",
       k_state_change},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto via_sns = parse_sns_alarm_message(sns_message(c.sns_file),
                                           "arn:aws:sns:us-east-1:123456789012:alerts-critical");
    REQUIRE(via_sns.has_value());
    auto via_eventbridge = only_event(fixture(c.eventbridge_file));
    CHECK(via_sns->fingerprint == via_eventbridge.fingerprint);
    CHECK(via_sns->source == via_eventbridge.source);
    CHECK(via_sns->name == via_eventbridge.name);
    CHECK(via_sns->account == via_eventbridge.account);
    CHECK(via_sns->region == via_eventbridge.region);
    CHECK(via_sns->state == via_eventbridge.state);
    CHECK(via_sns->previous_state == via_eventbridge.previous_state);
    CHECK(via_sns->source_time == via_eventbridge.source_time);
    CHECK(via_sns->metric == via_eventbridge.metric);
    CHECK(via_sns->namespace_ == via_eventbridge.namespace_);
    CHECK(via_sns->labels == via_eventbridge.labels);
  }
}

TEST_CASE("an SNS Message is read as whichever of the two shapes it holds") {
  struct Case {
    const char* intent;
    std::string message;
    int status;        // 0: parsed
    const char* code;  // when refused
  };
  const Case cases[] = {
      {"classic CloudWatch alarm JSON", sns_message("sns_notification_alarm.json"), 0, nullptr},
      {"an EventBridge state change", sns_message("edge/sns_notification_eventbridge_event.json"),
       0, nullptr},
      {"an EventBridge configuration change is accepted and ignored",
       fixture("edge/eventbridge_alarm_configuration_change.json"), 200,
       "not_an_alarm_state_change"},
      {"plain text from another publisher is accepted and ignored",
       sns_message("bad/sns_message_not_json.json"), 200, "not_a_cloudwatch_alarm"},
      {"a hostile nested Message is still refused",
       sns_message("bad/sns_message_deeply_nested.json"), 400, "json_too_deep"},
      {"a broken EventBridge event is refused like on its own hook",
       mutated("/detail/alarmName", 42), 400, "invalid_eventbridge_event"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = parse_sns_alarm_message(c.message);
    if (c.status == 0) {
      REQUIRE(e.has_value());
      CHECK(e->fingerprint == "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age");
    } else {
      REQUIRE_FALSE(e.has_value());
      CHECK(e.error().status == c.status);
      CHECK(e.error().code == c.code);
    }
  }
}

TEST_CASE("EventBridge events that are not state changes are accepted and ignored") {
  struct Case {
    const char* intent;
    std::string body;
  };
  const Case cases[] = {
      {"a per-contributor state of a Metrics Insights alarm",
       fixture("edge/eventbridge_alarm_contributor_state_change.json")},
      {"an alarm configuration change",
       fixture("edge/eventbridge_alarm_configuration_change.json")},
      {"another service's event on the same rule",
       mutated("/detail-type", "EC2 Instance State-change Notification")},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = parse_eventbridge_event(c.body);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().status == 200);
    CHECK(e.error().code == "not_an_alarm_state_change");
    CHECK_FALSE(e.error().detail.empty());
  }
}

TEST_CASE("broken EventBridge events are refused with the field named") {
  struct Case {
    const char* intent;
    std::string body;
    const char* code;
    const char* field;  // must appear in the detail
  };
  const Case cases[] = {
      {"an empty body", "", "empty_body", nullptr},
      {"not JSON", fixture("bad/not_json.txt"), "invalid_json", nullptr},
      {"nested 10,000 deep", fixture("bad/deeply_nested_objects_10000.json"), "json_too_deep",
       nullptr},
      {"a duplicate key", R"({"id": "a", "id": "b"})", "duplicate_key", nullptr},
      {"invalid UTF-8", "{\"id\": \"\xC3\x28\"}", "invalid_utf8", nullptr},
      {"a top-level array", "[]", "not_an_object", nullptr},
      {"no detail-type at all", mutated("/detail-type", k_removed), "invalid_eventbridge_event",
       "detail-type"},
      {"detail-type not a string", mutated("/detail-type", 1), "invalid_eventbridge_event",
       "detail-type"},
      {"no event id", mutated("/id", k_removed), "invalid_eventbridge_event", "\"id\""},
      {"account a number", mutated("/account", 123456789012), "invalid_eventbridge_event",
       "account"},
      {"region empty", mutated("/region", ""), "invalid_eventbridge_event", "region"},
      {"no detail", mutated("/detail", k_removed), "invalid_eventbridge_event", "detail"},
      {"detail a string", mutated("/detail", "{}"), "invalid_eventbridge_event", "detail"},
      {"alarmName an array", mutated("/detail/alarmName", Json::array({"a"})),
       "invalid_eventbridge_event", "detail.alarmName"},
      {"no state", mutated("/detail/state", k_removed), "invalid_eventbridge_event",
       "detail.state"},
      {"a state value that does not exist", mutated("/detail/state/value", "CRITICAL"),
       "invalid_eventbridge_event", "detail.state.value"},
      {"state value in the wrong case", mutated("/detail/state/value", "alarm"),
       "invalid_eventbridge_event", "detail.state.value"},
      {"no transition time", mutated("/detail/state/timestamp", k_removed),
       "invalid_eventbridge_event", "detail.state.timestamp"},
      {"a transition time that is not one", mutated("/detail/state/timestamp", "yesterday"),
       "invalid_eventbridge_event", "detail.state.timestamp"},
      {"previousState without a value", mutated("/detail/previousState/value", k_removed),
       "invalid_eventbridge_event", "detail.previousState.value"},
      {"previousState a string", mutated("/detail/previousState", "OK"),
       "invalid_eventbridge_event", "detail.previousState"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = parse_eventbridge_event(c.body);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().status == 400);
    CHECK(e.error().code == c.code);
    if (c.field) CHECK(e.error().detail.find(c.field) != std::string::npos);
  }
}

TEST_CASE("informational EventBridge fields never refuse a page") {
  struct Case {
    const char* intent;
    std::string body;
  };
  const Case cases[] = {
      {"no configuration", mutated("/detail/configuration", k_removed)},
      {"configuration a string", mutated("/detail/configuration", "x")},
      {"metrics an object", mutated("/detail/configuration/metrics", Json::object())},
      {"dimensions an array",
       mutated("/detail/configuration/metrics/0/metricStat/metric/dimensions",
               Json::array({1, 2}))},
      {"a dimension value a number",
       mutated("/detail/configuration/metrics/0/metricStat/metric/dimensions/QueueName", 7)},
      {"no reason", mutated("/detail/state/reason", k_removed)},
      {"reasonData not a JSON string", mutated("/detail/state/reasonData", "{not json")},
      {"no previousState (as in contributor events)", mutated("/detail/previousState", k_removed)},
      {"previousState null", mutated("/detail/previousState", nullptr)},
      {"no source or time in the envelope",
       [] {
         Json e = Json::parse(fixture(k_state_change));
         e.erase("source");
         e.erase("time");
         e.erase("resources");
         return e.dump();
       }()},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = only_event(c.body);
    CHECK(e.fingerprint == "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age");
    CHECK(e.state == SignalState::firing);
  }
}

TEST_CASE("EventBridge OK and INSUFFICIENT_DATA map like SNS states") {
  struct Case {
    const char* intent;
    const char* value;
    SignalState state;
  };
  const Case cases[] = {
      {"OK resolves", "OK", SignalState::resolved},
      {"INSUFFICIENT_DATA is its own state", "INSUFFICIENT_DATA", SignalState::insufficient_data},
      {"ALARM fires", "ALARM", SignalState::firing},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = only_event(mutated("/detail/state/value", c.value));
    CHECK(e.state == c.state);
  }
}

TEST_CASE("a composite alarm's suppressed actions are read, through EventBridge and through SNS") {
  struct Case {
    const char* intent;
    Json value;  // of detail.state.actionsSuppressedBy; discarded: absent
    const char* expected;
  };
  const Case cases[] = {
      {"WaitPeriod", "WaitPeriod", "WaitPeriod"},
      {"ExtensionPeriod", "ExtensionPeriod", "ExtensionPeriod"},
      {"the suppressor in ALARM", "Alarm", "Alarm"},
      {"absent: the actions ran", k_removed, ""},
      {"of another type: not read, the alarm still pages", 5, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const std::string body = mutated_fixture("edge/eventbridge_composite_alarm_state_change.json",
                                             "/detail/state/actionsSuppressedBy", c.value);
    CHECK(only_event(body).actions_suppressed_by == c.expected);
    // An EventBridge rule with an SNS target carries the same event in the Message.
    auto via_sns = parse_sns_alarm_message(body);
    REQUIRE(via_sns.has_value());
    CHECK(via_sns->actions_suppressed_by == c.expected);
  }
  // Only the state being entered counts: the previous state's suppression is history.
  const std::string previous =
      mutated_fixture("edge/eventbridge_composite_alarm_state_change.json",
                      "/detail/previousState/actionsSuppressedBy", "WaitPeriod");
  CHECK(only_event(previous).actions_suppressed_by.empty());
  // A classic alarm message never carries it: SNS is one of the suppressed actions.
  auto classic = parse_cloudwatch_alarm(sns_message("sns_notification_composite.json"));
  REQUIRE(classic.has_value());
  CHECK(classic->actions_suppressed_by.empty());
}

}  // namespace ingest_eventbridge_test
