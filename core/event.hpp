#pragma once
// The normalized event: what every source adapter turns its payload into, and the only input
// the decision core sees. Adapters fill what their source knows; optional fields stay empty.

#include <map>
#include <optional>
#include <string>

#include "core/severity.hpp"
#include "core/time.hpp"

namespace tocsin {

// `source` values of docs/behaviour.md "The rules file" `match`.
enum class Source { cloudwatch, opsgenie, alertmanager, generic, heartbeat, grafana };

constexpr std::string_view to_string(Source s) {
  switch (s) {
    case Source::cloudwatch:
      return "cloudwatch";
    case Source::opsgenie:
      return "opsgenie";
    case Source::alertmanager:
      return "alertmanager";
    case Source::generic:
      return "generic";
    case Source::heartbeat:
      return "heartbeat";
    case Source::grafana:
      return "grafana";
  }
  return "generic";
}

// What the source says the state of the thing is now.
enum class SignalState { firing, resolved, insufficient_data };

constexpr std::string_view to_string(SignalState s) {
  switch (s) {
    case SignalState::firing:
      return "firing";
    case SignalState::resolved:
      return "resolved";
    case SignalState::insufficient_data:
      return "insufficient_data";
  }
  return "firing";
}

struct NormalizedEvent {
  Source source = Source::generic;
  // The hook that received it (`sns`, `eventbridge`, ...): CloudWatch arrives through two.
  std::string hook;
  // Identity of this delivery at the source (SNS MessageId, ...): redeliveries repeat it.
  // Empty when the source has none.
  std::string source_event_id;
  // Default identity of the alerting thing (docs/behaviour.md "Episodes, escalation and timers"); a
  // rule's dedup_key may replace it.
  std::string fingerprint;

  SignalState state = SignalState::firing;
  // What the source says the state was before this event, when it says (CloudWatch
  // OldStateValue). A firing event whose previous state was not firing starts a new occurrence.
  std::optional<SignalState> previous_state;
  // When the source says the state changed (CloudWatch StateChangeTime); orders transitions.
  std::optional<TimePoint> source_time;
  // Why the source itself did not act on this transition, when it says so: a CloudWatch
  // composite alarm's `actionsSuppressedBy` (`WaitPeriod`, `ExtensionPeriod`, `Alarm`). A
  // rule's `actions_suppressed` decides what a firing one does
  // (docs/behaviour.md "Other hooks"). Empty when the actions ran.
  std::string actions_suppressed_by;

  // Fields rules match on (docs/behaviour.md "The rules file" `match`).
  std::string name;  // AlarmName, alertname, key, alias
  std::string account;
  std::string region;  // region code (`us-east-1`), not the display name
  std::string metric;
  std::string namespace_;
  std::map<std::string, std::string> labels;
  std::optional<Severity> severity;  // as the source states it, if at all

  std::string summary;      // one line for humans
  std::string description;  // longer text, may be empty
};

}  // namespace tocsin
