#include "rules/lifecycle.hpp"

namespace tocsin::rules {

namespace {

// The state the event asserts, after the rule's INSUFFICIENT_DATA policy; nullopt: ignore it.
std::optional<SignalState> effective_state(const AlertPolicy& policy, SignalState s) {
  if (s != SignalState::insufficient_data) return s;
  switch (policy.insufficient_data) {
    case InsufficientDataPolicy::ignore:
      return std::nullopt;
    case InsufficientDataPolicy::firing:
      return SignalState::firing;
    case InsufficientDataPolicy::resolve:
      return SignalState::resolved;
  }
  return std::nullopt;
}

Episode open_episode(int number, Severity severity, Priority priority, const NormalizedEvent& event,
                     TimePoint now) {
  Episode e;
  e.number = number;
  e.status = EpisodeStatus::open;
  e.severity = severity;
  e.priority = priority;
  e.opened_at = now;
  e.last_activity_at = now;
  e.last_source_time = event.source_time;
  e.event_count = 1;
  return e;
}

// Whether a firing event starts a new occurrence rather than continuing `active`
// (SPEC §4 `reopened`); returns the reason, or nullptr when it continues.
const char* new_occurrence_reason(const AlertPolicy& policy, const Episode& active,
                                  const NormalizedEvent& event, TimePoint now) {
  // (a) The source says it was not firing before: we missed the resolve in between.
  if (event.previous_state && *event.previous_state != SignalState::firing) {
    return reason::k_missed_resolve;
  }
  // (b) Nothing touched the episode for longer than stale_after: whatever is firing now is
  // not what someone looked at back then.
  if (now - active.last_activity_at > policy.stale_after) return reason::k_stale;
  return nullptr;
}

}  // namespace

Decision decide(const AlertPolicy& policy, const AlertState& state, const NormalizedEvent& event,
                Severity severity, Priority priority, TimePoint now) {
  Decision d;
  auto asserted = effective_state(policy, event.state);
  if (!asserted) {
    d.outcome = Outcome::ignored;
    d.reason = reason::k_insufficient_data;
    return d;
  }

  const std::optional<Episode>& active = state.active;
  // A transition older than the last one applied is stale news (SNS does not keep order).
  if (active && event.source_time && active->last_source_time &&
      *event.source_time < *active->last_source_time) {
    d.outcome = Outcome::out_of_order;
    d.reason = reason::k_older_than_last_change;
    return d;
  }

  if (*asserted == SignalState::resolved) {
    if (!active) {
      d.outcome = Outcome::ignored;
      d.reason = reason::k_nothing_open;
      return d;
    }
    Episode ended = *active;
    ended.status = EpisodeStatus::resolved;
    ended.closed_at = now;
    ended.last_activity_at = now;
    ended.event_count += 1;
    if (event.source_time) ended.last_source_time = event.source_time;
    d.outcome = Outcome::resolved;
    d.reason = reason::k_source_resolved;
    d.ended = std::move(ended);
    d.notify = true;
    return d;
  }

  // Firing.
  if (!active) {
    d.outcome = Outcome::created;
    d.reason =
        state.last_episode_number == 0 ? reason::k_first_occurrence : reason::k_new_occurrence;
    d.active = open_episode(state.last_episode_number + 1, severity, priority, event, now);
    d.opened = true;
    d.notify = true;
    return d;
  }

  if (const char* why = new_occurrence_reason(policy, *active, event, now)) {
    Episode ended = *active;
    ended.status = EpisodeStatus::superseded;
    ended.closed_at = now;
    d.outcome = Outcome::reopened;
    d.reason = why;
    d.ended = std::move(ended);
    d.active = open_episode(state.last_episode_number + 1, severity, priority, event, now);
    d.opened = true;
    d.notify = true;
    return d;
  }

  Episode continued = *active;
  continued.event_count += 1;
  continued.last_activity_at = now;
  if (event.source_time) continued.last_source_time = event.source_time;
  d.outcome = Outcome::duplicate;
  d.reason = reason::k_continues_episode;
  if (severity > continued.severity) {
    continued.severity = severity;
    d.reason = reason::k_severity_raised;
    d.notify = true;
  }
  d.active = std::move(continued);
  return d;
}

}  // namespace tocsin::rules
