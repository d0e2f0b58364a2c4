// ingest/eventbridge.hpp parse_sns_alarm_message on an arbitrary SNS `Message`: classic
// CloudWatch alarm JSON and EventBridge "CloudWatch Alarm State Change" events alike.
// A refusal is 200 (not ours to page on) or 400 with a code and detail. An accepted alarm is
// identified as `cloudwatch:{account}:{region}:{name}`, has its transition time, and leaves
// `hook` to the caller. The dispatch adds nothing of its own: a classic message gives exactly
// what parse_cloudwatch_alarm gives, an EventBridge one what parse_eventbridge_event gives.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/cloudwatch.hpp"
#include "ingest/eventbridge.hpp"
#include "invariants.hpp"

namespace {

using namespace tocsin;

// The topic a legacy message without AlarmArn takes its region from.
constexpr std::string_view k_topic_arn = "arn:aws:sns:eu-west-1:123456789012:alarms";

using Result = Expected<NormalizedEvent, ingest::IngestError>;

bool same_outcome(const Result& a, const Result& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return a.error().status == b.error().status && a.error().code == b.error().code;
  return a->fingerprint == b->fingerprint && a->state == b->state &&
         a->previous_state == b->previous_state && a->source_time == b->source_time &&
         a->source_event_id == b->source_event_id && a->metric == b->metric &&
         a->namespace_ == b->namespace_ && a->labels == b->labels &&
         a->description == b->description;
}

// Only eventbridge_event_from_json sets an id or uses these codes.
bool took_eventbridge_path(const Result& r) {
  if (r) return !r->source_event_id.empty();
  return r.error().code == "invalid_eventbridge_event" ||
         r.error().code == "not_an_alarm_state_change";
}

void check_alarm(const NormalizedEvent& e) {
  fuzz::check_event(e, Source::cloudwatch);
  TOCSIN_FUZZ_CHECK(e.hook.empty());
  TOCSIN_FUZZ_CHECK(!e.name.empty());
  TOCSIN_FUZZ_CHECK(!e.account.empty());
  TOCSIN_FUZZ_CHECK(e.fingerprint == ingest::cloudwatch_fingerprint(e.account, e.region, e.name));
  TOCSIN_FUZZ_CHECK(e.source_time.has_value());
  TOCSIN_FUZZ_CHECK(e.summary == e.name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view message = fuzz::as_text(data, size);
  const Result result = ingest::parse_sns_alarm_message(message, k_topic_arn);
  if (!result) {
    fuzz::check_error(result.error());
    TOCSIN_FUZZ_CHECK(result.error().status == 200 || result.error().status == 400);
  } else {
    check_alarm(*result);
  }

  if (took_eventbridge_path(result)) {
    auto direct = ingest::parse_eventbridge_event(message);
    TOCSIN_FUZZ_CHECK(direct.has_value() == result.has_value());
    if (direct) {
      TOCSIN_FUZZ_CHECK(direct->size() == 1);
      TOCSIN_FUZZ_CHECK(direct->front().hook == "eventbridge");
      TOCSIN_FUZZ_CHECK(same_outcome(Result(direct->front()), result));
    } else {
      TOCSIN_FUZZ_CHECK(direct.error().code == result.error().code);
    }
  } else {
    TOCSIN_FUZZ_CHECK(same_outcome(ingest::parse_cloudwatch_alarm(message, k_topic_arn), result));
  }
  return 0;
}
