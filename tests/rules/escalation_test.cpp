// The clock-driven half of the decision core: escalation steps, sweeps, acknowledgements.
#include "rules/escalation.hpp"

#include <doctest/doctest.h>

#include "rules/lifecycle.hpp"
#include "rules/loader.hpp"
#include "storage/vocabulary.hpp"
#include "support/rules.hpp"

namespace rules_escalation_test {

using namespace tocsin;
using namespace tocsin::rules;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-12-22T04:00:00Z");

Route two_steps(std::optional<Duration> repeat = 30min) {
  Route r;
  r.steps = {EscalationStep{0min, {"oncall", "alerts"}}, EscalationStep{20min, {"cto"}}};
  r.repeat_every = repeat;
  return r;
}

Episode opened(TimePoint at = k_t0, int number = 2) {
  Episode e;
  e.number = number;
  e.opened_at = e.last_activity_at = e.escalation_base = at;
  e.escalation = {"queue-critical"};
  return e;
}

// "channel:action:level" for each notification, in order: compact to compare in tables.
std::vector<std::string> sent(const Effects& fx) {
  std::vector<std::string> out;
  for (const auto& n : fx.notifications) {
    out.push_back(n.channel + ":" + std::string(storage::to_text(n.action)) + ":" +
                  std::to_string(n.level));
  }
  return out;
}

std::vector<std::string> timers(const Effects& fx) {
  std::vector<std::string> out;
  for (const auto& t : fx.timers) {
    out.push_back(std::string(to_string(t.kind)) + "@" + format_timestamp(t.due) + "#" +
                  std::to_string(t.step));
  }
  return out;
}

std::string at(TimePoint t) {
  return format_timestamp(t);
}

}  // namespace

TEST_CASE("route_for merges the policies of every matching rule by delay") {
  const auto loaded = tocsin::testing::rules_or_fail(R"(version: 1
channels:
  a: {type: webhook, url: "http://127.0.0.1:1/a"}
  b: {type: webhook, url: "http://127.0.0.1:1/b"}
  c: {type: webhook, url: "http://127.0.0.1:1/c"}
escalations:
  first: {steps: [{after: 0m, notify: [a]}, {after: 20m, notify: [b]}], repeat_every: 30m}
  second: {steps: [{after: 0m, notify: [a, c]}, {after: 10m, notify: [b]}], repeat_every: 15m}
rules:
  - {name: r, match: {}, escalation: first}
)");
  const Rules& rules = *loaded;

  Route one = route_for(rules, {"first"});
  REQUIRE(one.steps.size() == 2);
  CHECK(one.steps[1].after == 20min);
  CHECK(one.repeat_every == 30min);

  Route both = route_for(rules, {"first", "second"});
  REQUIRE(both.steps.size() == 3);
  CHECK(both.steps[0].notify == std::vector<std::string>{"a", "c"});  // a once
  CHECK(both.steps[1].after == 10min);
  CHECK(both.steps[2].after == 20min);
  CHECK(both.repeat_every == 15min);  // the more insistent repeat wins

  CHECK(route_for(rules, {"removed-by-a-reload"}).empty());
}

TEST_CASE("escalation steps from a table") {
  const Route route = two_steps();
  const Route no_repeat = two_steps(std::nullopt);
  Route delayed = two_steps();
  delayed.steps[0].after = 5min;

  struct Case {
    const char* intent;
    Route route;
    int step;
    TimePoint due, now;
    std::vector<std::string> notified;
    std::vector<std::string> next;
    int level_after;
  };
  const Case cases[] = {
      {"step 1 escalates to its channels and schedules the first repeat",
       route,
       1,
       k_t0 + 20min,
       k_t0 + 20min,
       {"cto:escalate:1"},
       {"escalation@" + at(k_t0 + 50min) + "#2"},
       1},
      {"a repeat reminds the last step and keeps its rhythm",
       route,
       2,
       k_t0 + 50min,
       k_t0 + 50min,
       {"cto:reminder:1"},
       {"escalation@" + at(k_t0 + 80min) + "#2"},
       1},
      {"without repeat_every the last step is the end",
       no_repeat,
       1,
       k_t0 + 20min,
       k_t0 + 20min,
       {"cto:escalate:1"},
       {},
       1},
      {"a step due while the engine was down fires once, late; the next keeps its time",
       route,
       0,
       k_t0,
       k_t0 + 2h,
       {"oncall:trigger:0", "alerts:trigger:0"},
       {"escalation@" + at(k_t0 + 20min) + "#1"},
       0},
      {"a repeat missed during downtime is not caught up in a burst",
       route,
       2,
       k_t0 + 50min,
       k_t0 + 5h,
       {"cto:reminder:1"},
       {"escalation@" + at(k_t0 + 5h + 30min) + "#2"},
       1},
      {"a delayed first step is still a trigger at level 0",
       delayed,
       0,
       k_t0 + 5min,
       k_t0 + 5min,
       {"oncall:trigger:0", "alerts:trigger:0"},
       {"escalation@" + at(k_t0 + 20min) + "#1"},
       0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    Episode e = opened();
    Effects fx;
    fire_step(c.route, e, c.step, c.due, c.now, fx);
    CHECK(sent(fx) == c.notified);
    CHECK(timers(fx) == c.next);
    CHECK(e.level == c.level_after);
  }
}

TEST_CASE("a new episode pages at once and schedules its next step and sweeps") {
  AlertPolicy policy;
  policy.max_open_age = 12h;
  policy.auto_resolve_after = 7 * 24h;
  NormalizedEvent ev;
  ev.state = SignalState::firing;
  ev.previous_state = SignalState::resolved;
  Routing routing;
  routing.escalation = {"queue-critical"};
  routing.route = two_steps();

  Decision d = decide(policy, AlertState{}, ev, Severity::critical, Priority{1}, k_t0, routing);
  CHECK(sent(d.effects) == std::vector<std::string>{"oncall:trigger:0", "alerts:trigger:0"});
  CHECK(timers(d.effects) == std::vector<std::string>{"escalation@" + at(k_t0 + 20min) + "#1",
                                                      "max_open_age@" + at(k_t0 + 12h) + "#0",
                                                      "auto_resolve@" + at(k_t0 + 7 * 24h) + "#0"});
  REQUIRE(d.active);
  CHECK(d.active->level == 0);
  CHECK(d.active->escalation == std::vector<std::string>{"queue-critical"});

  SUBCASE("a rule with drop records the episode and notifies nobody") {
    routing.drop = true;
    Decision dropped =
        decide(policy, AlertState{}, ev, Severity::critical, Priority{1}, k_t0, routing);
    CHECK(dropped.outcome == Outcome::created);
    CHECK(dropped.effects.notifications.empty());
    REQUIRE(dropped.effects.notes.size() == 1);
    CHECK(dropped.effects.notes[0].decision == NoteKind::dropped_by_rule);
    CHECK_FALSE(is_noise_routing(dropped.effects.notes[0].decision));
  }
  SUBCASE("a held episode that ends before anyone heard is dropped as noise, not by a rule") {
    routing.hold_for = 5min;
    Decision held =
        decide(policy, AlertState{}, ev, Severity::critical, Priority{1}, k_t0, routing);
    REQUIRE(held.active);
    REQUIRE(held.effects.notes.size() == 1);
    CHECK(held.effects.notes[0].decision == NoteKind::held);
    AlertState state;
    state.last_episode_number = held.active->number;
    state.active = held.active;
    NormalizedEvent resolve = ev;
    resolve.state = SignalState::resolved;
    resolve.previous_state = SignalState::firing;
    Decision ended =
        decide(policy, state, resolve, Severity::critical, Priority{1}, k_t0 + 3min, routing);
    REQUIRE(ended.ended);
    REQUIRE(ended.effects.notes.size() == 1);
    CHECK(ended.effects.notes[0].decision == NoteKind::dropped_while_held);
    CHECK(is_noise_routing(ended.effects.notes[0].decision));
  }
  SUBCASE("a reopen resolves the superseded alias where it was sent") {
    AlertState state;
    state.last_episode_number = 1;
    state.active = opened(k_t0 - 80 * 24h, 1);
    state.active->status = EpisodeStatus::acknowledged;
    state.notified = {"oncall", "alerts"};
    Decision r = decide(policy, state, ev, Severity::critical, Priority{1}, k_t0, routing);
    CHECK(r.outcome == Outcome::reopened);
    REQUIRE(r.effects.notifications.size() == 4);
    CHECK(r.effects.notifications[0].episode == 1);
    CHECK(r.effects.notifications[0].action == NotifyAction::resolve);
    CHECK(r.effects.notifications[2].episode == 2);
    CHECK(r.effects.notifications[2].action == NotifyAction::trigger);
  }
  SUBCASE("a source resolve tells exactly the channels that were told") {
    AlertState state;
    state.last_episode_number = 1;
    state.active = opened(k_t0 - 1h, 1);
    state.notified = {"oncall", "alerts", "cto"};
    NormalizedEvent ok = ev;
    ok.state = SignalState::resolved;
    Decision r = decide(policy, state, ok, Severity::critical, Priority{1}, k_t0, routing);
    CHECK(sent(r.effects) ==
          std::vector<std::string>{"oncall:resolve:0", "alerts:resolve:0", "cto:resolve:0"});
  }
}

TEST_CASE("timers from a table: sweeps and ack timeout") {
  AlertPolicy policy;
  policy.max_open_age = 12h;
  policy.auto_resolve_after = 3 * 24h;
  policy.ack_timeout = 30min;
  const Route route = two_steps();

  Episode quiet = opened(k_t0 - 13h);  // no activity for 13h
  Episode busy = opened(k_t0 - 13h);
  busy.last_activity_at = k_t0 - 1h;
  Episode flagged = quiet;
  flagged.flagged_stale_at = k_t0 - 1h;
  Episode acked = opened(k_t0 - 2h);
  acked.status = EpisodeStatus::acknowledged;
  acked.acknowledged_at = k_t0 - 31min;
  acked.acknowledged_by = "alice";
  acked.level = 1;
  Episode reacked = acked;
  reacked.acknowledged_at = k_t0 - 10min;
  Episode old = opened(k_t0 - 4 * 24h);
  Episode ended = quiet;
  ended.status = EpisodeStatus::resolved;

  struct Case {
    const char* intent;
    Episode episode;
    TimerKind kind;
    std::vector<std::string> notified;
    std::vector<std::string> next;
    std::optional<NoteKind> note;  // decision recorded
    std::optional<EpisodeStatus> status_after;
  };
  const Case cases[] = {
      {"no activity for max_open_age: flagged stale and announced to the owners",
       quiet,
       TimerKind::max_open_age,
       {"oncall:reminder:0", "alerts:reminder:0"},
       {"max_open_age@" + at(k_t0 + 12h) + "#0"},
       NoteKind::stale,
       EpisodeStatus::open},
      {"activity since: no flag, check again when it could be stale",
       busy,
       TimerKind::max_open_age,
       {},
       {"max_open_age@" + at(k_t0 + 11h) + "#0"},
       std::nullopt,
       std::nullopt},
      {"flagged already and still quiet: not announced again",
       flagged,
       TimerKind::max_open_age,
       {},
       {"max_open_age@" + at(k_t0 + 12h) + "#0"},
       std::nullopt,
       std::nullopt},
      {"auto_resolve_after without activity expires the episode",
       old,
       TimerKind::auto_resolve,
       {},
       {},
       NoteKind::expired,
       EpisodeStatus::expired},
      {"auto_resolve_after with recent activity waits",
       busy,
       TimerKind::auto_resolve,
       {},
       {"auto_resolve@" + at(k_t0 - 1h + 3 * 24h) + "#0"},
       std::nullopt,
       std::nullopt},
      {"ack_timeout returns the episode to open, reminds its level and resumes",
       acked,
       TimerKind::ack_timeout,
       {"cto:reminder:1"},
       {"escalation@" + at(k_t0 + 30min) + "#2"},
       NoteKind::ack_timeout,
       EpisodeStatus::open},
      {"a later acknowledgement moves the ack timeout",
       reacked,
       TimerKind::ack_timeout,
       {},
       {"ack_timeout@" + at(k_t0 + 20min) + "#0"},
       std::nullopt,
       std::nullopt},
      {"timers of an ended episode do nothing",
       ended,
       TimerKind::max_open_age,
       {},
       {},
       std::nullopt,
       std::nullopt},
      {"an escalation timer of an acknowledged episode does nothing",
       acked,
       TimerKind::escalation,
       {},
       {},
       std::nullopt,
       std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    TimerDecision d = on_timer(policy, route, c.episode, {}, Timer{c.kind, k_t0, 2, 1}, k_t0);
    CHECK(sent(d.effects) == c.notified);
    CHECK(timers(d.effects) == c.next);
    if (c.note) {
      REQUIRE(d.effects.notes.size() == 1);
      CHECK(d.effects.notes[0].decision == *c.note);
    } else {
      CHECK(d.effects.notes.empty());
    }
    if (c.status_after) {
      REQUIRE(d.episode);
      CHECK(d.episode->status == *c.status_after);
    } else {
      CHECK_FALSE(d.episode);
    }
  }
}

TEST_CASE("people's actions from a table") {
  AlertPolicy policy;
  policy.ack_timeout = 1h;
  const Route route = two_steps();
  AlertState open_state{2, opened(k_t0 - 25min), {"oncall", "alerts", "cto"}};
  open_state.active->level = 1;
  AlertState acked_state = open_state;
  acked_state.active->status = EpisodeStatus::acknowledged;
  acked_state.active->acknowledged_by = "alice";
  acked_state.active->acknowledged_at = k_t0 - 5min;
  const AlertState nothing_open{2, std::nullopt, {}};

  struct Case {
    const char* intent;
    AlertState state;
    HumanAction action;
    const char* refused;  // "" when applied
    std::optional<EpisodeStatus> status_after;
    std::vector<std::string> notified;
    std::vector<std::string> next;
    bool cancels_escalation;
  };
  const Case cases[] = {
      {"ack stops escalation, tells the channels, and arms the ack timeout",
       open_state,
       HumanAction::ack,
       "",
       EpisodeStatus::acknowledged,
       {"oncall:acknowledge:1", "alerts:acknowledge:1", "cto:acknowledge:1"},
       {"ack_timeout@" + at(k_t0 + 1h) + "#0"},
       true},
      {"acknowledging twice is refused",
       acked_state,
       HumanAction::ack,
       "already_acknowledged",
       std::nullopt,
       {},
       {},
       false},
      {"unack resumes the remaining escalation from now",
       acked_state,
       HumanAction::unack,
       "",
       EpisodeStatus::open,
       {},
       {"escalation@" + at(k_t0 + 30min) + "#2"},
       false},
      {"unack of an open episode is refused",
       open_state,
       HumanAction::unack,
       "not_acknowledged",
       std::nullopt,
       {},
       {},
       false},
      {"resolve closes it and tells every channel that was told",
       acked_state,
       HumanAction::resolve,
       "",
       EpisodeStatus::resolved,
       {"oncall:resolve:1", "alerts:resolve:1", "cto:resolve:1"},
       {},
       false},
      {"nothing open: refused",
       nothing_open,
       HumanAction::resolve,
       "no_open_episode",
       std::nullopt,
       {},
       {},
       false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    ActionDecision d = on_action(policy, route, c.state, c.action, "bob", "on it", k_t0);
    if (*c.refused) {
      REQUIRE(d.refused);
      CHECK(d.refused->first == c.refused);
      continue;
    }
    REQUIRE_FALSE(d.refused);
    REQUIRE(d.episode);
    CHECK(d.episode->status == *c.status_after);
    CHECK(sent(d.effects) == c.notified);
    CHECK(timers(d.effects) == c.next);
    CHECK(d.effects.cancel_escalation == c.cancels_escalation);
    REQUIRE(d.effects.notes.size() == 1);
    CHECK(d.effects.notes[0].reason == "by bob: on it");
  }
}

}  // namespace rules_escalation_test
