#include "ingest/cloudwatch.hpp"

#include <doctest/doctest.h>

#include "ingest/sns.hpp"
#include "support/fixtures.hpp"

namespace ingest_cloudwatch_test {

using namespace tocsin;
using namespace tocsin::ingest;
using tocsin::testing::fixture;

namespace {

// The CloudWatch message inside an SNS fixture.
std::string alarm_message(const char* file) {
  HeaderMap h;
  auto m = parse_sns_envelope(h, fixture(file));
  REQUIRE(m.has_value());
  return m->message;
}

}  // namespace

TEST_CASE("CloudWatch alarms of every shape normalize to the same kind of event") {
  struct Case {
    const char* intent;
    const char* file;
    const char* fingerprint;
    SignalState state;
    std::optional<SignalState> previous;
    const char* metric;
    const char* ns;
  };
  const Case cases[] = {
      {"a metric alarm firing", "sns_notification_alarm.json",
       "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age", SignalState::firing,
       SignalState::resolved, "ApproximateAgeOfOldestMessage", "AWS/SQS"},
      {"the same alarm back to OK", "sns_notification_ok.json",
       "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age", SignalState::resolved,
       SignalState::firing, "ApproximateAgeOfOldestMessage", "AWS/SQS"},
      {"a metric-math alarm is named after its first metric", "sns_notification_metric_math.json",
       "cloudwatch:123456789012:us-east-1:api-5xx-rate", SignalState::firing, SignalState::resolved,
       "HTTPCode_Target_5XX_Count", "AWS/ApplicationELB"},
      {"a composite alarm has no metric", "sns_notification_composite.json",
       "cloudwatch:123456789012:us-east-1:checkout-degraded", SignalState::firing,
       SignalState::resolved, "", ""},
      {"INSUFFICIENT_DATA is its own state", "sns_notification_insufficient.json", nullptr,
       SignalState::insufficient_data, std::nullopt, nullptr, nullptr},
      {"the legacy shape still parses", "edge/sns_notification_legacy_format.json",
       "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age", SignalState::firing,
       SignalState::insufficient_data, "ApproximateAgeOfOldestMessage", "AWS/SQS"},
      {"a threshold written as a string does not drop the page",
       "bad/sns_alarm_threshold_as_string.json",
       "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age", SignalState::firing,
       SignalState::resolved, "ApproximateAgeOfOldestMessage", "AWS/SQS"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = parse_cloudwatch_alarm(alarm_message(c.file));
    REQUIRE(e.has_value());
    CHECK(e->source == Source::cloudwatch);
    CHECK(e->state == c.state);
    CHECK(e->source_time.has_value());
    if (c.fingerprint) CHECK(e->fingerprint == c.fingerprint);
    if (c.previous) CHECK(e->previous_state == c.previous);
    if (c.metric) CHECK(e->metric == c.metric);
    if (c.ns) CHECK(e->namespace_ == c.ns);
  }
}

TEST_CASE("dimensions become labels and the description keeps the reason") {
  auto e = parse_cloudwatch_alarm(alarm_message("sns_notification_alarm.json"));
  REQUIRE(e.has_value());
  CHECK(e->labels.at("QueueName") == "hooks-worker");
  CHECK(e->account == "123456789012");
  CHECK(e->region == "us-east-1");
  CHECK(e->name == "hooks-worker-oldest-message-age");
  CHECK(e->description.find("Runbook") != std::string::npos);
  CHECK(e->description.find("Threshold Crossed") != std::string::npos);
  CHECK(format_timestamp(*e->source_time) == "2026-03-02T10:03:41.118Z");
}

TEST_CASE("a legacy alarm without AlarmArn takes its region from the topic") {
  std::string msg = R"json({"AlarmName":"old","AWSAccountId":"000000000001","NewStateValue":"ALARM",
    "OldStateValue":"OK","StateChangeTime":"2016-01-01T00:00:00.000+0000","Region":"EU (Ireland)"})json";
  auto e = parse_cloudwatch_alarm(msg, "arn:aws:sns:eu-west-1:000000000001:alerts");
  REQUIRE(e.has_value());
  CHECK(e->fingerprint == "cloudwatch:000000000001:eu-west-1:old");
}

TEST_CASE("broken alarms are refused, and messages that are not alarms are told apart") {
  struct Case {
    const char* intent;
    const char* file;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {"NewStateValue missing", "bad/sns_alarm_missing_newstatevalue.json", 400,
       "invalid_alarm_payload"},
      {"NewStateValue not one of the three states", "bad/sns_alarm_unknown_newstatevalue.json", 400,
       "invalid_alarm_payload"},
      {"NewStateValue a number", "bad/sns_alarm_newstatevalue_wrong_type.json", 400,
       "invalid_alarm_payload"},
      {"AlarmName an array", "bad/sns_alarm_alarmname_wrong_type.json", 400,
       "invalid_alarm_payload"},
      {"Message nested 10,000 deep", "bad/sns_message_deeply_nested.json", 400, "json_too_deep"},
      {"Message plain text from another publisher", "bad/sns_message_not_json.json", 200,
       "not_a_cloudwatch_alarm"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = parse_cloudwatch_alarm(alarm_message(c.file));
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().status == c.status);
    CHECK(e.error().code == c.code);
  }
}

TEST_CASE("region_from_arn reads the fourth field") {
  CHECK(region_from_arn("arn:aws:cloudwatch:us-east-1:123:alarm:a:b c") == "us-east-1");
  CHECK(region_from_arn("arn:aws-cn:sns:cn-north-1:123:t") == "cn-north-1");
  CHECK(region_from_arn("not an arn") == "");
  CHECK(region_from_arn("arn:aws:sns") == "");
}

}  // namespace ingest_cloudwatch_test
