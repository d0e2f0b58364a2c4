#pragma once
// The episode state machine (SPEC §4) as a pure function: given the policy that applies, what
// is known about the alert, an event and the time, decide the outcome, why, and what the
// episodes look like afterwards. No I/O and no clock reads: the caller loads the state,
// passes `now`, and persists the result in one transaction.

#include <optional>
#include <string>

#include "core/event.hpp"
#include "core/outcome.hpp"
#include "rules/rules.hpp"

namespace tocsin::rules {

struct Episode {
  int number = 1;
  EpisodeStatus status = EpisodeStatus::open;
  Severity severity = Severity::warning;
  Priority priority{3};
  TimePoint opened_at{};
  TimePoint last_activity_at{};  // last event that touched it (for `stale_after`)
  // The source's time of the last state change applied (orders transitions); nullopt when the
  // source gives none.
  std::optional<TimePoint> last_source_time;
  std::optional<TimePoint> closed_at;
  int event_count = 1;
};

// What the engine knows of an alert before the event.
struct AlertState {
  int last_episode_number = 0;    // 0: no episode yet
  std::optional<Episode> active;  // the open or acknowledged episode, if any
};

// Reasons recorded in the decision log. Stable strings: tests, replay output and the API
// use them.
namespace reason {
inline constexpr const char* k_first_occurrence = "first_occurrence";
inline constexpr const char* k_new_occurrence = "new_occurrence";  // previous episode ended
inline constexpr const char* k_continues_episode = "continues_episode";
inline constexpr const char* k_severity_raised = "severity_raised";
inline constexpr const char* k_missed_resolve = "missed_resolve";
inline constexpr const char* k_stale = "stale";
inline constexpr const char* k_source_resolved = "source_resolved";
inline constexpr const char* k_nothing_open = "nothing_open";
inline constexpr const char* k_insufficient_data = "insufficient_data";
inline constexpr const char* k_older_than_last_change = "older_than_last_change";
}  // namespace reason

struct Decision {
  Outcome outcome = Outcome::ignored;
  std::string reason;
  // The previously active episode as it ends (resolved or superseded); nullopt if none ended.
  std::optional<Episode> ended;
  // The active episode after the event: newly opened (`opened` true) or updated in place.
  std::optional<Episode> active;
  bool opened = false;
  // Whether this event should notify the route (a new episode, a raised severity, a resolve).
  bool notify = false;
};

// `severity`/`priority` are what the matched rule (or the defaults) assign to this event.
Decision decide(const AlertPolicy& policy, const AlertState& state, const NormalizedEvent& event,
                Severity severity, Priority priority, TimePoint now);

}  // namespace tocsin::rules
