#include "rules/escalation.hpp"

#include <algorithm>
#include <map>

#include "core/duration.hpp"

namespace tocsin::rules {

std::string_view to_string(TimerKind k) {
  switch (k) {
    case TimerKind::escalation:
      return "escalation";
    case TimerKind::max_open_age:
      return "max_open_age";
    case TimerKind::auto_resolve:
      return "auto_resolve";
    case TimerKind::ack_timeout:
      return "ack_timeout";
    case TimerKind::heartbeat:
      return "heartbeat";
    case TimerKind::digest:
      return "digest";
    case TimerKind::silence:
      return "silence";
  }
  return "escalation";
}

std::optional<TimerKind> parse_timer_kind(std::string_view s) {
  for (auto k :
       {TimerKind::escalation, TimerKind::max_open_age, TimerKind::auto_resolve,
        TimerKind::ack_timeout, TimerKind::heartbeat, TimerKind::digest, TimerKind::silence}) {
    if (to_string(k) == s) return k;
  }
  return std::nullopt;
}

Route route_for(const Rules& rules, const std::vector<std::string>& escalation) {
  std::map<Duration, std::vector<std::string>> by_after;
  Route route;
  for (const auto& name : escalation) {
    auto it = rules.escalations.find(name);
    if (it == rules.escalations.end()) continue;
    const EscalationPolicy& policy = it->second;
    for (const auto& step : policy.steps) {
      auto& channels = by_after[step.after];
      for (const auto& c : step.notify) {
        if (std::find(channels.begin(), channels.end(), c) == channels.end()) channels.push_back(c);
      }
    }
    if (policy.repeat_every && (!route.repeat_every || *policy.repeat_every < *route.repeat_every))
      route.repeat_every = policy.repeat_every;
  }
  for (auto& [after, channels] : by_after)
    route.steps.push_back(EscalationStep{after, std::move(channels)});
  return route;
}

Route route_of(const Rules& rules, const Episode& episode) {
  if (episode.demoted_to) {
    return Route{{EscalationStep{Duration{0}, {*episode.demoted_to}}}, std::nullopt};
  }
  return route_for(rules, episode.escalation);
}

void notify_channels(const std::vector<std::string>& channels, Episode& episode,
                     NotifyAction action, int level, const std::string& why, Effects& out) {
  const bool tells = pages(action);
  for (const auto& c : channels) {
    if (tells &&
        std::find(episode.notified.begin(), episode.notified.end(), c) == episode.notified.end()) {
      episode.notified.push_back(c);
    }
    const bool seen =
        std::any_of(out.notifications.begin(), out.notifications.end(), [&](const Notification& n) {
          return n.episode == episode.number && n.channel == c && n.action == action;
        });
    if (!seen) out.notifications.push_back(Notification{episode.number, c, action, level, why});
  }
}

namespace {

int last_step(const Route& route) {
  return static_cast<int>(route.steps.size()) - 1;
}

// Schedules what follows `step` (which just fired at `due`, handled at `now`).
void schedule_next(const Route& route, const Episode& episode, int step, TimePoint due,
                   TimePoint now, Effects& out) {
  if (step < last_step(route)) {
    const int next = step + 1;
    out.timers.push_back(
        Timer{TimerKind::escalation,
              episode.escalation_base + route.steps[static_cast<std::size_t>(next)].after,
              episode.number, next});
    return;
  }
  if (!route.repeat_every) return;
  // Repeats keep their rhythm, but a repeat missed while the engine was down is not caught
  // up with a burst: the next one is a full interval after now.
  TimePoint next =
      std::max(due, episode.escalation_base + route.steps.back().after) + *route.repeat_every;
  if (next <= now) next = now + *route.repeat_every;
  out.timers.push_back(Timer{TimerKind::escalation, next, episode.number, last_step(route) + 1});
}

}  // namespace

void start_escalation(const Route& route, Episode& episode, TimePoint now, Effects& out) {
  if (route.empty()) return;
  const TimePoint due = episode.escalation_base + route.steps.front().after;
  if (due <= now) {
    fire_step(route, episode, 0, due, now, out);
  } else {
    out.timers.push_back(Timer{TimerKind::escalation, due, episode.number, 0});
  }
}

void fire_step(const Route& route, Episode& episode, int step, TimePoint due, TimePoint now,
               Effects& out) {
  if (route.empty() || step < 0) return;
  const bool repeat = step > last_step(route);
  if (repeat && !route.repeat_every) return;  // the policy lost its repeat in a reload
  const int level = repeat ? last_step(route) : step;
  const auto& s = route.steps[static_cast<std::size_t>(level)];
  NotifyAction action = NotifyAction::escalate;
  std::string why =
      "escalation level " + std::to_string(level) + " (after " + format_duration(s.after) + ")";
  if (repeat) {
    action = NotifyAction::reminder;
    why = "repeat of level " + std::to_string(level) + " every " +
          format_duration(*route.repeat_every) + " until acknowledged";
  } else if (level == 0) {
    action = NotifyAction::trigger;
  }
  notify_channels(s.notify, episode, action, level, why, out);
  episode.level = std::max(episode.level, level);
  if (level > 0 || repeat) out.notes.push_back(Note{episode.number, NoteKind::escalated, why});
  schedule_next(route, episode, repeat ? last_step(route) + 1 : step, due, now, out);
}

void resume_escalation(const Route& route, Episode& episode, TimePoint now, bool renotify,
                       Effects& out) {
  if (route.empty()) return;
  const int level = std::min(episode.level, last_step(route));
  if (level < 0) {
    // Nothing was notified yet (a delayed first step, a hold, a silence): the first step keeps
    // its original time while it is ahead; once past, it is due now and the steps after it keep
    // their spacing from now, rather than all falling due at once.
    const TimePoint first = episode.escalation_base + route.steps.front().after;
    if (first < now) episode.escalation_base = now - route.steps.front().after;
    out.timers.push_back(Timer{TimerKind::escalation, std::max(now, first), episode.number, 0});
    return;
  }
  const auto& s = route.steps[static_cast<std::size_t>(level)];
  if (renotify) {
    notify_channels(s.notify, episode, NotifyAction::reminder, level,
                    "escalation resumed at level " + std::to_string(level), out);
  }
  // The remaining steps keep their spacing, counted from now.
  episode.escalation_base = now - s.after;
  schedule_next(route, episode, level, now, now, out);
}

}  // namespace tocsin::rules
