#pragma once
// CloudWatch alarm state-change JSON (docs/formats.md §2): metric, metric-math, anomaly-detection
// and composite alarms, as carried in an SNS Notification's `Message`.

#include <optional>
#include <string_view>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/json.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

// Parses the alarm JSON text (parsed strictly: the depth limit applies to this second parse).
// Identity fields (AlarmName, AWSAccountId, NewStateValue, ...) must be present with the right
// type; informational fields are read leniently, since refusing an alarm over a malformed
// threshold would drop a real page.
// `topic_arn` supplies the region when a legacy message has no AlarmArn.
Expected<NormalizedEvent, IngestError> parse_cloudwatch_alarm(std::string_view message,
                                                              std::string_view topic_arn = {});

// Same, for an already-parsed object.
Expected<NormalizedEvent, IngestError> cloudwatch_alarm_from_json(const Json& alarm,
                                                                  std::string_view topic_arn = {});

// A CloudWatch alarm state as SNS and EventBridge spell it: ALARM (firing), OK (resolved),
// INSUFFICIENT_DATA; nullopt for any other text.
std::optional<SignalState> parse_alarm_state(std::string_view s);

// `cloudwatch:{account}:{region}:{alarm name}`
// (docs/behaviour.md "Episodes, escalation and timers"): the same for SNS and EventBridge.
std::string cloudwatch_fingerprint(std::string_view account, std::string_view region,
                                   std::string_view alarm_name);

// The region code of an ARN (`arn:aws:cloudwatch:us-east-1:...` -> `us-east-1`), or "".
std::string region_from_arn(std::string_view arn);

}  // namespace tocsin::ingest
