#pragma once
// EventBridge "CloudWatch Alarm State Change" events (docs/formats.md §3), as an API destination
// POSTs them to /hooks/eventbridge or as an SNS topic target carries them in a Notification's
// `Message`. The same alarm transition normalizes exactly as its classic SNS message does
// (same fingerprint, state, time, metric and labels), so either path, or both, feed one alert.

#include <string_view>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/json.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

// The detail-type of the one event kind Tocsin acts on.
inline constexpr std::string_view k_alarm_state_change = "CloudWatch Alarm State Change";

// The body of /hooks/eventbridge, parsed strictly. One event, with hook `eventbridge`.
// Errors: the JsonError code for unparseable bodies (400), `not_an_object` (400),
// `invalid_eventbridge_event` (400) for a missing or mistyped identity field, and
// status 200 `not_an_alarm_state_change` for an authentic event of another detail-type
// (configuration change, contributor state change, ...): accept it so EventBridge neither
// retries nor dead-letters it, and record it as ignored.
Expected<std::vector<NormalizedEvent>, IngestError> parse_eventbridge_event(std::string_view body);

// Same, for an already-parsed event. Leaves `hook` empty: the caller knows which hook it came
// through. `source_event_id` is the event `id` (EventBridge repeats it on retries).
// Identity fields (id, detail-type, account, region, detail.alarmName, detail.state.value,
// detail.state.timestamp, detail.previousState.value when present) are strict; the
// description, reason and metric configuration are read leniently.
Expected<NormalizedEvent, IngestError> eventbridge_event_from_json(const Json& event);

// True when `message` is shaped like an EventBridge event (an object with `detail-type`)
// rather than a classic CloudWatch alarm message.
bool is_eventbridge_event(const Json& message);

// An SNS Notification's `Message` when the topic may carry either classic CloudWatch alarm
// JSON or EventBridge events (an EventBridge rule with an SNS target): dispatches to
// `cloudwatch_alarm_from_json` or `eventbridge_event_from_json`. Errors are those of
// `parse_cloudwatch_alarm` (a Message that is not JSON is status 200 `not_a_cloudwatch_alarm`)
// and of `eventbridge_event_from_json`. `hook` is the caller's to set, as for
// `parse_cloudwatch_alarm`; the caller may also replace `source_event_id` (the event id, for an
// EventBridge event) with the SNS MessageId.
Expected<NormalizedEvent, IngestError> parse_sns_alarm_message(std::string_view message,
                                                               std::string_view topic_arn = {});

}  // namespace tocsin::ingest
