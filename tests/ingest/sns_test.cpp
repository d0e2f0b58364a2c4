#include "ingest/sns.hpp"

#include <doctest/doctest.h>

#include "support/fixtures.hpp"

namespace ingest_sns_test {

using namespace tocsin::ingest;
using tocsin::testing::fixture;

namespace {

HeaderMap sns_headers(const char* type) {
  HeaderMap h;
  if (type) h.emplace("x-amz-sns-message-type", type);
  return h;
}

}  // namespace

TEST_CASE("SNS envelopes of every type parse from the fixtures") {
  struct Case {
    const char* intent;
    const char* file;
    const char* header_type;
    SnsType type;
  };
  const Case cases[] = {
      {"an alarm notification", "sns_notification_alarm.json", "Notification",
       SnsType::notification},
      {"a composite alarm notification", "sns_notification_composite.json", "Notification",
       SnsType::notification},
      {"a subscription confirmation", "sns_subscription_confirmation.json",
       "SubscriptionConfirmation", SnsType::subscription_confirmation},
      {"an unsubscribe confirmation", "sns_unsubscribe_confirmation.json",
       "UnsubscribeConfirmation", SnsType::unsubscribe_confirmation},
      {"the type may come from the body alone", "sns_notification_alarm.json", nullptr,
       SnsType::notification},
      {"a notification without Subject", "edge/sns_notification_no_subject.json", "Notification",
       SnsType::notification},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto m = parse_sns_envelope(sns_headers(c.header_type), fixture(c.file));
    REQUIRE(m.has_value());
    CHECK(m->type == c.type);
    CHECK_FALSE(m->message_id.empty());
    CHECK(m->topic_arn.rfind("arn:aws:sns:", 0) == 0);
    CHECK_FALSE(m->message.empty());
  }
}

TEST_CASE("the alarm notification's fields are read verbatim") {
  auto m = parse_sns_envelope(sns_headers("Notification"), fixture("sns_notification_alarm.json"));
  REQUIRE(m.has_value());
  CHECK(m->message_id == "860c5fb4-fbda-50ea-8da3-09257e8ae967");
  CHECK(m->topic_arn == "arn:aws:sns:us-east-1:123456789012:alerts-critical");
  REQUIRE(m->subject.has_value());
  CHECK(m->subject->find("hooks-worker-oldest-message-age") != std::string::npos);
  CHECK(m->signature_version == "1");
  CHECK(m->message.rfind("{\"AlarmName\":", 0) == 0);
}

TEST_CASE("malformed SNS envelopes are refused with a code that names the problem") {
  struct Case {
    const char* intent;
    const char* file;
    const char* header_type;
    const char* code;
  };
  const Case cases[] = {
      {"an empty body", "bad/empty_body.txt", "Notification", "empty_body"},
      {"truncated JSON", "bad/truncated_json.json", "Notification", "invalid_json"},
      {"plain text", "bad/not_json.txt", "Notification", "invalid_json"},
      {"an array at the top level", "bad/top_level_array.json", "Notification", "not_an_object"},
      {"trailing garbage", "bad/trailing_garbage.json", "Notification", "invalid_json"},
      {"invalid UTF-8", "bad/sns_invalid_utf8.json", "Notification", "invalid_utf8"},
      {"a duplicated Message key", "bad/sns_duplicate_message_key.json", "Notification",
       "duplicate_key"},
      {"the header contradicts the body", "bad/sns_header_body_type_mismatch.json",
       "SubscriptionConfirmation", "header_body_mismatch"},
      {"an unknown Type", "bad/sns_unknown_type.json", "Notice", "unknown_sns_type"},
      {"SignatureVersion as a number", "bad/sns_signature_version_number.json", "Notification",
       "wrong_type"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto m = parse_sns_envelope(sns_headers(c.header_type), fixture(c.file));
    REQUIRE_FALSE(m.has_value());
    CHECK(m.error().status == 400);
    CHECK(m.error().code == c.code);
    CHECK_FALSE(m.error().detail.empty());
  }
}

TEST_CASE("an unknown Type in both header and body is named") {
  std::string body =
      R"({"Type": "Notice", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                         "Message": "m", "Timestamp": "2026-03-02T10:03:41.187Z"})";
  auto m = parse_sns_envelope(sns_headers("Notice"), body);
  REQUIRE_FALSE(m.has_value());
  CHECK(m.error().code == "unknown_sns_type");
  CHECK(m.error().detail.find("Notice") != std::string::npos);
}

TEST_CASE("a missing required field is named in the detail") {
  std::string body = R"({"Type": "Notification", "MessageId": "x", "Message": "m",
                         "Timestamp": "2026-03-02T10:03:41.187Z"})";
  auto m = parse_sns_envelope(sns_headers("Notification"), body);
  REQUIRE_FALSE(m.has_value());
  CHECK(m.error().code == "missing_field");
  CHECK(m.error().detail.find("TopicArn") != std::string::npos);
}

}  // namespace ingest_sns_test
