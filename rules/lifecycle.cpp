#include "rules/lifecycle.hpp"

#include <algorithm>

#include "core/duration.hpp"
#include "rules/escalation.hpp"
#include "rules/ignored.hpp"

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

Episode open_episode(int number, Severity severity, Priority priority,
                     std::optional<TimePoint> source_time, TimePoint now) {
  Episode e;
  e.number = number;
  e.status = EpisodeStatus::open;
  e.severity = severity;
  e.priority = priority;
  e.opened_at = now;
  e.last_activity_at = now;
  e.last_source_time = source_time;
  e.event_count = 1;
  e.escalation_base = now;
  return e;
}

// A silence withholds `what` of the episode: recorded, nothing sent, no step armed.
void withhold(const Episode& e, const SilenceRef& silence, const std::string& what, Effects& out) {
  out.notes.push_back(Note{e.number, NoteKind::silenced,
                           silence.describe() + " (withheld " + what +
                               "; it pages when the silence ends if still open)"});
  out.silence = silence.id;
}

// A new episode starts its escalation (unless its rule only records) and its sweeps. A noisy
// alert's episode runs a one-step route to the low-priority channel instead (demoted); a
// historically transient one starts its route `hold_for` later (held).
void start_episode(const AlertPolicy& policy, const Routing& routing, Episode& e, TimePoint now,
                   Effects& out) {
  e.noise = routing.noise;
  if (routing.drop) {
    out.notes.push_back(
        Note{e.number, NoteKind::dropped_by_rule, "rule says drop: recorded, never notified"});
  } else {
    e.escalation = routing.escalation;
    Route route = routing.route;
    if (routing.demote_to && !route.empty()) {
      e.demoted_to = routing.demote_to;
      route = Route{{EscalationStep{Duration{0}, {*routing.demote_to}}}, std::nullopt};
      out.notes.push_back(Note{e.number, NoteKind::demoted, routing.demote_reason});
    }
    if (routing.silence && !route.empty()) {
      withhold(e, *routing.silence, "its first page", out);
    } else {
      if (routing.hold_for && !route.empty()) {
        e.held_until = now + *routing.hold_for;
        e.escalation_base = *e.held_until;
        out.notes.push_back(Note{e.number, NoteKind::held, routing.hold_reason});
      }
      start_escalation(route, e, now, out);
    }
  }
  out.timers.push_back(Timer{TimerKind::max_open_age, now + policy.max_open_age, e.number, 0});
  if (policy.auto_resolve_after) {
    out.timers.push_back(
        Timer{TimerKind::auto_resolve, now + *policy.auto_resolve_after, e.number, 0});
  }
}

// An episode held back (hold_for) that ends before anyone was told is dropped: the hold
// did its job.
void note_if_dropped(const Episode& e, TimePoint now, Effects& out) {
  if (!e.held_until || e.level >= 0 || !e.notified.empty()) return;
  out.notes.push_back(Note{e.number, NoteKind::dropped_while_held,
                           "ended " + format_duration(now - e.opened_at) +
                               " after opening, while held until " +
                               format_timestamp(*e.held_until) + ": never notified"});
}

// Whether a firing event starts a new occurrence rather than continuing `active`
// (docs/behaviour.md "Episodes, escalation and timers" `reopened`); returns the reason, or nullptr
// when it continues. `last` is the event's member as last applied (nullopt: never seen). REQUIRES:
// the event is a transition newer than `last`'s (not older, not the same).
const char* new_occurrence_reason(const AlertPolicy& policy, const Episode& active,
                                  const std::optional<Member>& last, const NormalizedEvent& event,
                                  TimePoint now) {
  // (a) The member was firing, and the source says it was not firing just before this
  // transition: we missed the resolve in between. The previous state is read through the rule's
  // insufficient_data policy like the event's own: under `ignore` an ALARM → INSUFFICIENT_DATA →
  // ALARM bounce (a sparse metric) was never a resolve, so it does not page again; under
  // `resolve` it was one, and we missed it.
  const auto previous =
      event.previous_state ? effective_state(policy, *event.previous_state) : std::nullopt;
  if (last && last->state == SignalState::firing && previous && *previous != SignalState::firing) {
    return reason::k_missed_resolve;
  }
  // (b) Nothing touched the episode for longer than stale_after: whatever is firing now is
  // not what someone looked at back then.
  if (now - active.last_activity_at > policy.stale_after) return reason::k_stale;
  return nullptr;
}

// The event's member as last applied. An alert that tracks no members stands for its only
// member: firing while an episode is active, ordered by that episode's last source time.
std::optional<Member> last_applied(const AlertState& state) {
  if (state.tracks_members) return state.member;
  if (!state.active) return std::nullopt;
  Member m;
  m.state = SignalState::firing;
  m.source_time = state.active->last_source_time;
  m.transition_at = state.active->last_source_time;
  m.changed_at = state.active->opened_at;
  m.last_seen_at = state.active->last_activity_at;
  return m;
}

enum class Order { newer, same, older };

// Where the event's transition stands against the member's last one. Without a time on either
// side they cannot be ordered: the event counts as newer (applied as it comes).
Order order_of(const std::optional<Member>& last, std::optional<TimePoint> source_time,
               std::optional<TimePoint> transition_at, SignalState asserted) {
  if (!last || !source_time || !last->transition_at) return Order::newer;
  // Identity by the time as sent, so a clamped future time still recognises its repeats.
  if (last->source_time && *source_time == *last->source_time && asserted == last->state) {
    return Order::same;
  }
  if (*transition_at < *last->transition_at) return Order::older;
  return Order::newer;
}

std::optional<TimePoint> latest(std::optional<TimePoint> a, std::optional<TimePoint> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

}  // namespace

const char* ignored_by_policy(const AlertPolicy& policy, const NormalizedEvent& event) {
  const auto asserted = effective_state(policy, event.state);
  if (!asserted) return reason::k_insufficient_data;
  // The team asked the source not to act on this transition (a composite alarm's suppressor):
  // recorded, and nothing else, unless the rule says to page anyway. Only a firing one: a
  // resolve closes what is open whatever the source did with its own OK actions
  // (docs/behaviour.md "Other hooks").
  if (*asserted == SignalState::firing && !event.actions_suppressed_by.empty() &&
      policy.actions_suppressed == ActionsSuppressedPolicy::ignore) {
    return reason::k_actions_suppressed;
  }
  return nullptr;
}

Decision decide(const AlertPolicy& policy, const AlertState& state, const NormalizedEvent& event,
                Severity severity, Priority priority, TimePoint now, const Routing& routing) {
  Decision d;
  const auto asserted = effective_state(policy, event.state);
  if (const char* why = ignored_by_policy(policy, event); why || !asserted) {
    d.outcome = Outcome::ignored;
    d.reason = why ? why : reason::k_insufficient_data;
    return d;
  }

  const std::optional<Episode>& active = state.active;
  const std::optional<Member> last = last_applied(state);
  // Ordered by the source's time, clamped: a sender's clock far ahead must not make every
  // later transition look older than this one.
  std::optional<TimePoint> at = event.source_time;
  if (at && *at > now + k_future_tolerance) at = now + k_future_tolerance;

  switch (order_of(last, event.source_time, at, *asserted)) {
    case Order::older:
      // Stale news (SNS does not keep order; a late path), whether or not an episode is open.
      d.outcome = Outcome::out_of_order;
      d.reason = reason::k_older_than_last_change;
      d.member = *last;
      d.member->fingerprint = event.fingerprint;
      d.member->last_seen_at = now;
      return d;
    case Order::same: {
      // Applied already, through this path or another: never a reopen, never a second
      // resolve. A repeated firing keeps its episode alive (Alertmanager re-sends it every
      // repeat_interval).
      d.outcome = Outcome::duplicate;
      d.reason = reason::k_same_transition;
      d.member = *last;
      d.member->fingerprint = event.fingerprint;
      d.member->last_seen_at = now;
      if (*asserted == SignalState::firing && active) {
        Episode continued = *active;
        continued.event_count += 1;
        continued.last_activity_at = now;
        d.active = std::move(continued);
      }
      return d;
    }
    case Order::newer:
      break;
  }

  Member applied;
  applied.fingerprint = event.fingerprint;
  applied.state = *asserted;
  applied.source_time = event.source_time;
  applied.transition_at = at;
  applied.changed_at = now;
  applied.last_seen_at = now;
  d.member = applied;

  if (*asserted == SignalState::resolved) {
    if (!active) {
      d.outcome = Outcome::ignored;
      d.reason = reason::k_nothing_open;
      return d;
    }
    if (state.other_firing > 0) {
      // A group's episode lasts while any member fires.
      Episode continued = *active;
      continued.event_count += 1;
      continued.last_activity_at = now;
      continued.last_source_time = latest(continued.last_source_time, at);
      d.outcome = Outcome::duplicate;
      d.reason = std::string(reason::k_member_resolved) +
                 ";still_firing=" + std::to_string(state.other_firing);
      d.active = std::move(continued);
      return d;
    }
    Episode ended = *active;
    ended.status = EpisodeStatus::resolved;
    ended.ended_by = EndedBy::source;
    ended.closed_at = now;
    ended.last_activity_at = now;
    ended.event_count += 1;
    ended.last_source_time = latest(ended.last_source_time, at);
    d.outcome = Outcome::resolved;
    d.reason = reason::k_source_resolved;
    notify_channels(state.notified, ended, NotifyAction::resolve, std::max(ended.level, 0),
                    "resolved by the source", d.effects);
    note_if_dropped(ended, now, d.effects);
    d.ended = std::move(ended);
    d.notify = true;
    return d;
  }

  // Firing.
  if (!active) {
    d.outcome = Outcome::created;
    d.reason =
        state.last_episode_number == 0 ? reason::k_first_occurrence : reason::k_new_occurrence;
    d.active = open_episode(state.last_episode_number + 1, severity, priority, at, now);
    start_episode(policy, routing, *d.active, now, d.effects);
    d.opened = true;
    d.notify = true;
    return d;
  }

  if (const char* why = new_occurrence_reason(policy, *active, last, event, now)) {
    Episode ended = *active;
    ended.status = EpisodeStatus::superseded;
    ended.ended_by = EndedBy::superseded;
    ended.closed_at = now;
    d.outcome = Outcome::reopened;
    d.reason = why;
    // Downstream tools close the old alias: it must not linger as a forgotten open alert.
    notify_channels(
        state.notified, ended, NotifyAction::resolve, std::max(ended.level, 0),
        "superseded by episode " + std::to_string(ended.number + 1) + " (" + std::string(why) + ")",
        d.effects);
    d.effects.notes.push_back(Note{ended.number, NoteKind::superseded, why});
    d.ended = std::move(ended);
    d.active = open_episode(state.last_episode_number + 1, severity, priority, at, now);
    start_episode(policy, routing, *d.active, now, d.effects);
    d.opened = true;
    d.notify = true;
    return d;
  }

  Episode continued = *active;
  continued.event_count += 1;
  continued.last_activity_at = now;
  continued.last_source_time = latest(continued.last_source_time, at);
  d.outcome = Outcome::duplicate;
  d.reason = reason::k_continues_episode;
  if (severity > continued.severity) {
    continued.severity = severity;
    // A priority derived from the severity rises with it; one the rules set is passed in
    // unchanged and stays. Never lowered: a raise makes nothing less urgent.
    continued.priority = Priority{std::min(continued.priority.level, priority.level)};
    d.reason = reason::k_severity_raised;
    d.notify = true;
    if (routing.silence) {
      withhold(continued, *routing.silence,
               "the page for severity raised to " + std::string(to_string(severity)), d.effects);
    } else {
      notify_channels(state.notified, continued, NotifyAction::trigger,
                      std::max(continued.level, 0),
                      "severity raised to " + std::string(to_string(severity)), d.effects);
    }
  }
  d.active = std::move(continued);
  return d;
}

namespace {

std::string idle_text(const Episode& e, TimePoint now) {
  return "open " + format_duration(now - e.opened_at) + ", no activity for " +
         format_duration(now - e.last_activity_at);
}

// The channels that own an episode: its route's first step.
const std::vector<std::string>& owners(const Route& route) {
  static const std::vector<std::string> none;
  return route.empty() ? none : route.steps.front().notify;
}

}  // namespace

TimerDecision on_timer(const AlertPolicy& policy, const Route& route, const Episode& episode,
                       const std::vector<std::string>& notified, const Timer& timer, TimePoint now,
                       const std::optional<SilenceRef>& silence) {
  TimerDecision d;
  if (!is_active(episode.status)) return d;  // it ended; its timers are moot
  Episode e = episode;
  Effects& out = d.effects;
  switch (timer.kind) {
    case TimerKind::escalation:
      // Acknowledging deletes escalation timers; this guards a race with a stale timer row.
      if (e.status != EpisodeStatus::open) return d;
      if (silence) {
        withhold(e, *silence, "escalation step " + std::to_string(timer.step), out);
        break;
      }
      fire_step(route, e, timer.step, timer.due, now, out);
      break;
    case TimerKind::max_open_age: {
      const TimePoint stale_at = e.last_activity_at + policy.max_open_age;
      if (now < stale_at) {
        // Activity since the timer was set: check again when it could next be stale.
        out.timers.push_back(Timer{TimerKind::max_open_age, stale_at, e.number, 0});
        return d;
      }
      // Flagged already, and nothing happened since: it stays listed as stale (API, report);
      // announcing it again every max_open_age would turn a forgotten alert into a noisy one.
      out.timers.push_back(Timer{TimerKind::max_open_age, now + policy.max_open_age, e.number, 0});
      if (e.flagged_stale_at && *e.flagged_stale_at >= e.last_activity_at) return d;
      const std::string why =
          idle_text(e, now) + " (max_open_age " + format_duration(policy.max_open_age) + ")";
      out.notes.push_back(Note{e.number, NoteKind::stale, why});
      if (silence) {
        withhold(e, *silence, "the stale reminder", out);
      } else {
        notify_channels(owners(route), e, NotifyAction::reminder, 0, "stale: " + why, out);
      }
      e.flagged_stale_at = now;
      break;
    }
    case TimerKind::auto_resolve: {
      if (!policy.auto_resolve_after) return d;  // the rule no longer expires it
      const TimePoint expires_at = e.last_activity_at + *policy.auto_resolve_after;
      if (now < expires_at) {
        out.timers.push_back(Timer{TimerKind::auto_resolve, expires_at, e.number, 0});
        return d;
      }
      const std::string why = idle_text(e, now) + " (auto_resolve_after " +
                              format_duration(*policy.auto_resolve_after) + ")";
      e.status = EpisodeStatus::expired;
      e.ended_by = EndedBy::expired;
      e.closed_at = now;
      out.notes.push_back(Note{e.number, NoteKind::expired, why});
      notify_channels(notified, e, NotifyAction::resolve, std::max(e.level, 0), "expired: " + why,
                      out);
      note_if_dropped(e, now, out);
      d.ended = true;
      break;
    }
    case TimerKind::heartbeat:
    case TimerKind::digest:
    case TimerKind::silence:
      return d;  // handled by the engine: about no single episode
    case TimerKind::ack_timeout: {
      if (e.status != EpisodeStatus::acknowledged || !policy.ack_timeout || !e.acknowledged_at)
        return d;
      const TimePoint back_at = *e.acknowledged_at + *policy.ack_timeout;
      if (now < back_at) {
        out.timers.push_back(Timer{TimerKind::ack_timeout, back_at, e.number, 0});
        return d;
      }
      out.notes.push_back(Note{
          e.number, NoteKind::ack_timeout,
          "acknowledged by " + (e.acknowledged_by.empty() ? "someone" : e.acknowledged_by) + " " +
              format_duration(now - *e.acknowledged_at) + " ago and still firing (ack_timeout " +
              format_duration(*policy.ack_timeout) + ")"});
      e.status = EpisodeStatus::open;
      e.acknowledged_at.reset();
      e.acknowledged_by.clear();
      if (silence) {
        withhold(e, *silence, "the escalation resumed by ack_timeout", out);
      } else {
        resume_escalation(route, e, now, true, out);
      }
      break;
    }
  }
  d.episode = std::move(e);
  return d;
}

void unsilence(const Route& route, Episode& e, const std::string& why, TimePoint now,
               Effects& out) {
  out.notes.push_back(Note{e.number, NoteKind::unsilenced, why});
  // As if it had just opened: the route runs again from its first step, counted from now.
  e.level = -1;
  e.escalation_base = now;
  e.held_until.reset();
  out.cancel_escalation = true;
  start_escalation(route, e, now, out);
}

TimerDecision on_silence_end(const Route& route, const Episode& episode, const SilenceRef& ended,
                             TimePoint now) {
  TimerDecision d;
  // Acknowledged: someone is on it (its unack resumes escalation); ended: nothing to page.
  if (episode.status != EpisodeStatus::open) return d;
  Episode e = episode;
  unsilence(route, e,
            ended.describe() +
                " is over and the episode is still open: paging now, as if it had just opened",
            now, d.effects);
  d.episode = std::move(e);
  return d;
}

bool would_page(const Effects& effects) {
  for (const auto& n : effects.notifications) {
    if (pages(n.action)) return true;
  }
  for (const auto& t : effects.timers) {
    if (t.kind == TimerKind::escalation) return true;
  }
  return false;
}

std::string_view to_string(EndedBy b) {
  switch (b) {
    case EndedBy::none:
      return "";
    case EndedBy::source:
      return "source";
    case EndedBy::person:
      return "person";
    case EndedBy::expired:
      return "expired";
    case EndedBy::superseded:
      return "superseded";
  }
  return "";
}

std::optional<EndedBy> parse_ended_by(std::string_view s) {
  for (auto b :
       {EndedBy::none, EndedBy::source, EndedBy::person, EndedBy::expired, EndedBy::superseded}) {
    if (to_string(b) == s) return b;
  }
  return std::nullopt;
}

std::string_view to_string(HumanAction a) {
  switch (a) {
    case HumanAction::ack:
      return "ack";
    case HumanAction::unack:
      return "unack";
    case HumanAction::resolve:
      return "resolve";
  }
  return "ack";
}

ActionDecision on_action(const AlertPolicy& policy, const Route& route, const AlertState& state,
                         HumanAction action, const std::string& by, const std::string& note,
                         TimePoint now, const std::optional<SilenceRef>& silence) {
  ActionDecision d;
  if (!state.active) {
    d.refused = {"no_open_episode", "the alert has no open episode"};
    return d;
  }
  Episode e = *state.active;
  const std::string who = by.empty() ? "someone" : by;
  const std::string reason = "by " + who + (note.empty() ? "" : ": " + note);
  Effects& out = d.effects;
  switch (action) {
    case HumanAction::ack:
      if (e.status == EpisodeStatus::acknowledged) {
        d.refused = {"already_acknowledged",
                     "episode " + std::to_string(e.number) + " is already acknowledged by " +
                         (e.acknowledged_by.empty() ? "someone" : e.acknowledged_by)};
        return d;
      }
      e.status = EpisodeStatus::acknowledged;
      e.ever_acknowledged = true;
      e.acknowledged_at = now;
      e.acknowledged_by = who;
      out.cancel_escalation = true;
      out.notes.push_back(Note{e.number, NoteKind::acknowledged, reason});
      notify_channels(state.notified, e, NotifyAction::acknowledge, std::max(e.level, 0),
                      "acknowledged " + reason, out);
      if (policy.ack_timeout) {
        out.timers.push_back(Timer{TimerKind::ack_timeout, now + *policy.ack_timeout, e.number, 0});
      }
      break;
    case HumanAction::unack:
      if (e.status != EpisodeStatus::acknowledged) {
        d.refused = {"not_acknowledged",
                     "episode " + std::to_string(e.number) + " is not acknowledged"};
        return d;
      }
      e.status = EpisodeStatus::open;
      e.acknowledged_at.reset();
      e.acknowledged_by.clear();
      out.cancel_ack_timeout = true;
      out.notes.push_back(Note{e.number, NoteKind::unacknowledged, reason});
      if (silence) {
        withhold(e, *silence, "the escalation resumed by the unacknowledgement", out);
      } else {
        resume_escalation(route, e, now, false, out);
      }
      break;
    case HumanAction::resolve:
      e.status = EpisodeStatus::resolved;
      e.ended_by = EndedBy::person;
      e.closed_at = now;
      e.last_activity_at = now;
      out.notes.push_back(Note{e.number, NoteKind::resolved, reason});
      notify_channels(state.notified, e, NotifyAction::resolve, std::max(e.level, 0),
                      "resolved " + reason, out);
      note_if_dropped(e, now, out);
      d.ended = true;
      break;
  }
  d.episode = std::move(e);
  return d;
}

}  // namespace tocsin::rules
