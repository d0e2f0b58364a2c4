#include "rules/lifecycle.hpp"

#include <doctest/doctest.h>

namespace rules_lifecycle_test {

using namespace tocsin;
using namespace tocsin::rules;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-10-01T00:00:00Z");

Episode open_episode_at(TimePoint opened, int number = 1) {
  Episode e;
  e.number = number;
  e.status = EpisodeStatus::open;
  e.severity = Severity::warning;
  e.opened_at = opened;
  e.last_activity_at = opened;
  e.last_source_time = opened;
  return e;
}

NormalizedEvent event(SignalState state, std::optional<SignalState> previous,
                      TimePoint source_time) {
  NormalizedEvent e;
  e.source = Source::cloudwatch;
  e.fingerprint = "cloudwatch:1:us-east-1:queue-age";
  e.state = state;
  e.previous_state = previous;
  e.source_time = source_time;
  return e;
}

}  // namespace

TEST_CASE("decide: every outcome of an event from a table") {
  AlertPolicy policy;  // stale_after 24h, insufficient_data ignore
  AlertPolicy id_fires = policy;
  id_fires.insufficient_data = InsufficientDataPolicy::firing;
  AlertPolicy id_resolves = policy;
  id_resolves.insufficient_data = InsufficientDataPolicy::resolve;
  AlertPolicy suppressed_fires = policy;
  suppressed_fires.actions_suppressed = ActionsSuppressedPolicy::firing;
  AlertPolicy id_fires_suppressed_ignored = id_fires;  // actions_suppressed: ignore
  auto suppressed = [](NormalizedEvent e) {
    e.actions_suppressed_by = "WaitPeriod";
    return e;
  };

  const AlertState never_seen{};
  const AlertState closed_before{3, std::nullopt, {}};
  const AlertState open_now{1, open_episode_at(k_t0), {}};
  Episode acked = open_episode_at(k_t0);
  acked.status = EpisodeStatus::acknowledged;
  const AlertState acked_now{1, acked, {}};

  const auto F = SignalState::firing;
  const auto R = SignalState::resolved;
  const auto I = SignalState::insufficient_data;

  struct Case {
    const char* intent;
    AlertPolicy policy;
    AlertState state;
    NormalizedEvent ev;
    TimePoint now;
    Outcome outcome;
    const char* reason;
    bool notify;
  };
  const Case cases[] = {
      {"first firing ever opens episode 1", policy, never_seen, event(F, R, k_t0), k_t0,
       Outcome::created, reason::k_first_occurrence, true},
      {"firing after a closed episode opens the next one", policy, closed_before, event(F, R, k_t0),
       k_t0, Outcome::created, reason::k_new_occurrence, true},
      {"firing that continues the open episode is a duplicate", policy, open_now,
       event(F, F, k_t0 + 1min), k_t0 + 1min, Outcome::duplicate, reason::k_continues_episode,
       false},
      {"OldStateValue OK while open means we missed the resolve", policy, open_now,
       event(F, R, k_t0 + 1min), k_t0 + 1min, Outcome::reopened, reason::k_missed_resolve, true},
      {"OldStateValue INSUFFICIENT_DATA, ignored by the rule, was no resolve: it continues", policy,
       open_now, event(F, I, k_t0 + 1min), k_t0 + 1min, Outcome::duplicate,
       reason::k_continues_episode, false},
      {"OldStateValue INSUFFICIENT_DATA, a resolve by the rule, means a missed resolve",
       id_resolves, open_now, event(F, I, k_t0 + 1min), k_t0 + 1min, Outcome::reopened,
       reason::k_missed_resolve, true},
      {"OldStateValue INSUFFICIENT_DATA, firing by the rule, continues", id_fires, open_now,
       event(F, I, k_t0 + 1min), k_t0 + 1min, Outcome::duplicate, reason::k_continues_episode,
       false},
      {"an acknowledged episode two months old does not swallow a new occurrence", policy,
       acked_now, event(F, R, k_t0 + 24h * 60), k_t0 + 24h * 60, Outcome::reopened,
       reason::k_missed_resolve, true},
      {"firing with no previous state after stale_after is stale", policy, open_now,
       event(F, std::nullopt, k_t0 + 25h), k_t0 + 25h, Outcome::reopened, reason::k_stale, true},
      {"firing with no previous state within stale_after continues", policy, open_now,
       event(F, std::nullopt, k_t0 + 23h), k_t0 + 23h, Outcome::duplicate,
       reason::k_continues_episode, false},
      {"OK closes the open episode", policy, open_now, event(R, F, k_t0 + 5min), k_t0 + 5min,
       Outcome::resolved, reason::k_source_resolved, true},
      {"OK closes an acknowledged episode too", policy, acked_now, event(R, F, k_t0 + 5min),
       k_t0 + 5min, Outcome::resolved, reason::k_source_resolved, true},
      {"OK with nothing open is ignored", policy, closed_before, event(R, F, k_t0), k_t0,
       Outcome::ignored, reason::k_nothing_open, false},
      {"INSUFFICIENT_DATA is ignored by default", policy, open_now, event(I, F, k_t0 + 1min),
       k_t0 + 1min, Outcome::ignored, reason::k_insufficient_data, false},
      {"INSUFFICIENT_DATA mapped to firing opens an episode", id_fires, never_seen,
       event(I, R, k_t0), k_t0, Outcome::created, reason::k_first_occurrence, true},
      {"INSUFFICIENT_DATA mapped to resolve closes the episode", id_resolves, open_now,
       event(I, F, k_t0 + 1min), k_t0 + 1min, Outcome::resolved, reason::k_source_resolved, true},
      {"an ALARM whose actions the source suppressed is ignored by default", policy, never_seen,
       suppressed(event(F, R, k_t0)), k_t0, Outcome::ignored, reason::k_actions_suppressed, false},
      {"a suppressed ALARM while open is ignored too, not a continuation", policy, open_now,
       suppressed(event(F, F, k_t0 + 1min)), k_t0 + 1min, Outcome::ignored,
       reason::k_actions_suppressed, false},
      {"a suppressed ALARM opens an episode under actions_suppressed: firing", suppressed_fires,
       never_seen, suppressed(event(F, R, k_t0)), k_t0, Outcome::created,
       reason::k_first_occurrence, true},
      {"a suppressed OK still closes the open episode", policy, open_now,
       suppressed(event(R, F, k_t0 + 5min)), k_t0 + 5min, Outcome::resolved,
       reason::k_source_resolved, true},
      {"a suppressed INSUFFICIENT_DATA that the rule makes firing is suppressed",
       id_fires_suppressed_ignored, never_seen, suppressed(event(I, R, k_t0)), k_t0,
       Outcome::ignored, reason::k_actions_suppressed, false},
      {"an OK older than the last change applied is out of order", policy, open_now,
       event(R, F, k_t0 - 1min), k_t0 + 1min, Outcome::out_of_order,
       reason::k_older_than_last_change, false},
      {"an ALARM older than the last change applied is out of order", policy, open_now,
       event(F, R, k_t0 - 1s), k_t0 + 1min, Outcome::out_of_order, reason::k_older_than_last_change,
       false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    Decision d = decide(c.policy, c.state, c.ev, Severity::warning, Priority{3}, c.now);
    CHECK(d.outcome == c.outcome);
    CHECK(d.reason == c.reason);
    CHECK(d.notify == c.notify);
  }
}

namespace {

// A member of the alert as last applied: `state` at source time `at`.
Member member(SignalState state, TimePoint at,
              const std::string& fingerprint = "cloudwatch:1:us-east-1:queue-age") {
  Member m;
  m.fingerprint = fingerprint;
  m.state = state;
  m.source_time = at;
  m.transition_at = at;
  m.changed_at = at;
  m.last_seen_at = at;
  return m;
}

// What the engine loads for an alert that tracks members.
AlertState tracked(int last_episode, std::optional<Episode> active, std::optional<Member> m,
                   int other_firing = 0) {
  AlertState s{last_episode, std::move(active), {}};
  s.member = std::move(m);
  s.other_firing = other_firing;
  s.tracks_members = true;
  return s;
}

NormalizedEvent pod(SignalState state, TimePoint source_time, const std::string& name) {
  NormalizedEvent e;
  e.source = Source::alertmanager;
  e.fingerprint = "alertmanager:{alertname=\"Backlog\",pod=\"" + name + "\"}";
  e.state = state;
  e.source_time = source_time;
  return e;
}

}  // namespace

// docs/behaviour.md "Episodes, escalation and timers": a transition is (member, source time, new
// state); it is applied once, whatever path delivers it, and a group lasts while a member fires.
TEST_CASE("decide: one transition, one decision, per member") {
  AlertPolicy policy;
  const auto F = SignalState::firing;
  const auto R = SignalState::resolved;
  const TimePoint t1 = k_t0;
  const TimePoint t2 = k_t0 + 30min;
  Episode ended_episode = open_episode_at(t1);
  ended_episode.status = EpisodeStatus::resolved;

  struct Case {
    const char* intent;
    AlertState state;
    NormalizedEvent ev;
    TimePoint now;
    Outcome outcome;
    std::string reason;
    bool notify;
  };
  const Case cases[] = {
      {"the same ALARM by a second path continues, never reopens",
       tracked(1, open_episode_at(t1), member(F, t1)), event(F, R, t1), t1 + 2s, Outcome::duplicate,
       reason::k_same_transition, false},
      {"the same ALARM on an alert stored before members (no rows) is the same transition",
       AlertState{1, open_episode_at(t1), {}}, event(F, R, t1), t1 + 2s, Outcome::duplicate,
       reason::k_same_transition, false},
      {"the same OK after the episode ended is a duplicate, not nothing_open",
       tracked(1, std::nullopt, member(R, t2)), event(R, F, t2), t2 + 2s, Outcome::duplicate,
       reason::k_same_transition, false},
      {"the same ALARM after the episode was resolved by a person opens nothing",
       tracked(1, std::nullopt, member(F, t1)), event(F, R, t1), t1 + 1h, Outcome::duplicate,
       reason::k_same_transition, false},
      {"an ALARM older than the OK that ended the episode is out of order",
       tracked(1, std::nullopt, member(R, t2)), event(F, R, t1), t2 + 1min, Outcome::out_of_order,
       reason::k_older_than_last_change, false},
      {"a newer ALARM with previous OK while the member fires: we missed the resolve",
       tracked(1, open_episode_at(t1), member(F, t1)), event(F, R, t2), t2, Outcome::reopened,
       reason::k_missed_resolve, true},
      {"a newer ALARM with previous OK after the OK was applied opens the next episode",
       tracked(1, std::nullopt, member(R, t1 + 1min)), event(F, R, t2), t2, Outcome::created,
       reason::k_new_occurrence, true},
      {"a group member's resolve while another fires keeps the episode",
       tracked(1, open_episode_at(t1), member(F, t1, pod(F, t1, "a").fingerprint), 1),
       pod(R, t2, "a"), t2, Outcome::duplicate,
       std::string(reason::k_member_resolved) + ";still_firing=1", false},
      {"the last firing member's resolve resolves the group",
       tracked(1, open_episode_at(t1), member(F, t1, pod(F, t1, "b").fingerprint), 0),
       pod(R, t2, "b"), t2, Outcome::resolved, reason::k_source_resolved, true},
      {"a member firing after the group resolved opens the next episode",
       tracked(1, std::nullopt, member(R, t2, pod(F, t1, "a").fingerprint)), pod(F, t2 + 1h, "a"),
       t2 + 1h, Outcome::created, reason::k_new_occurrence, true},
      {"a member never seen that started before another is not out of order",
       tracked(1, open_episode_at(t2), std::nullopt, 1), pod(F, t1, "b"), t2 + 1min,
       Outcome::duplicate, reason::k_continues_episode, false},
      {"a member re-firing while the group still fires continues, not missed_resolve",
       tracked(1, open_episode_at(t1), member(R, t1 + 5min), 1), event(F, R, t2), t2,
       Outcome::duplicate, reason::k_continues_episode, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    Decision d = decide(policy, c.state, c.ev, Severity::warning, Priority{3}, c.now);
    CHECK(d.outcome == c.outcome);
    CHECK(d.reason == c.reason);
    CHECK(d.notify == c.notify);
    REQUIRE(d.member);
    CHECK(d.member->fingerprint == c.ev.fingerprint);
    CHECK(d.member->last_seen_at == c.now);
  }
}

TEST_CASE("decide: what a transition leaves on the member and the episode") {
  AlertPolicy policy;
  const auto F = SignalState::firing;
  const auto R = SignalState::resolved;

  SUBCASE("a repeated firing counts as activity, so a long-firing re-sent alert never goes stale") {
    Episode open = open_episode_at(k_t0);
    const AlertState s = tracked(1, open, member(F, k_t0));
    Decision d =
        decide(policy, s, event(F, std::nullopt, k_t0), Severity::warning, Priority{3}, k_t0 + 23h);
    REQUIRE(d.active);
    CHECK(d.active->last_activity_at == k_t0 + 23h);
    CHECK(d.active->event_count == 2);
    // The next re-send, 23h later: within stale_after of the last one, so still the same.
    Decision again = decide(policy, tracked(1, d.active, d.member), event(F, std::nullopt, k_t0),
                            Severity::warning, Priority{3}, k_t0 + 46h);
    CHECK(again.outcome == Outcome::duplicate);
    CHECK(again.reason == reason::k_same_transition);
  }
  SUBCASE("a member's resolve records it resolved, at its time") {
    Decision d = decide(policy, tracked(1, open_episode_at(k_t0), member(F, k_t0), 2),
                        event(R, F, k_t0 + 10min), Severity::warning, Priority{3}, k_t0 + 11min);
    CHECK(d.reason == "member_resolved;still_firing=2");
    REQUIRE(d.member);
    CHECK(d.member->state == R);
    CHECK(d.member->transition_at == k_t0 + 10min);
    CHECK(d.member->changed_at == k_t0 + 11min);
    REQUIRE(d.active);
    CHECK(d.active->status == EpisodeStatus::open);
    CHECK_FALSE(d.ended);
  }
  SUBCASE("a source time far in the future is clamped, so it pins the order only briefly") {
    const TimePoint now = k_t0;
    Decision d = decide(policy, AlertState{}, event(F, R, now + 24h * 365), Severity::warning,
                        Priority{3}, now);
    REQUIRE(d.member);
    CHECK(d.member->source_time == now + 24h * 365);  // as sent: its repeats still match
    CHECK(d.member->transition_at == now + k_future_tolerance);
    CHECK(d.active->last_source_time == now + k_future_tolerance);
    // The same future-dated delivery again is still the same transition.
    Decision repeat = decide(policy, tracked(1, d.active, d.member), event(F, R, now + 24h * 365),
                             Severity::warning, Priority{3}, now + 1min);
    CHECK(repeat.reason == reason::k_same_transition);
    // Ten minutes later a real OK, timed correctly, is newer than the clamped time.
    Decision ok = decide(policy, tracked(1, d.active, d.member), event(R, F, now + 10min),
                         Severity::warning, Priority{3}, now + 10min);
    CHECK(ok.outcome == Outcome::resolved);
    // A time within the tolerance is kept as sent.
    Decision near =
        decide(policy, AlertState{}, event(F, R, now + 4min), Severity::warning, Priority{3}, now);
    CHECK(near.member->transition_at == now + 4min);
  }
  SUBCASE("INSUFFICIENT_DATA that is ignored leaves the member as it was") {
    Decision d = decide(policy, tracked(1, open_episode_at(k_t0), member(F, k_t0)),
                        event(SignalState::insufficient_data, F, k_t0 + 1min), Severity::warning,
                        Priority{3}, k_t0 + 1min);
    CHECK(d.outcome == Outcome::ignored);
    CHECK_FALSE(d.member);
  }
}

TEST_CASE("decide: the episodes a decision leaves behind") {
  AlertPolicy policy;
  const AlertState open_now{4, open_episode_at(k_t0, 4), {}};

  SUBCASE("a reopen supersedes the old episode and opens the next number") {
    Decision d =
        decide(policy, open_now, event(SignalState::firing, SignalState::resolved, k_t0 + 1h),
               Severity::critical, Priority{1}, k_t0 + 1h);
    REQUIRE(d.ended);
    CHECK(d.ended->number == 4);
    CHECK(d.ended->status == EpisodeStatus::superseded);
    CHECK(d.ended->closed_at == k_t0 + 1h);
    REQUIRE(d.active);
    CHECK(d.opened);
    CHECK(d.active->number == 5);
    CHECK(d.active->status == EpisodeStatus::open);
    CHECK(d.active->severity == Severity::critical);
    CHECK(d.active->priority == Priority{1});
    CHECK(d.active->opened_at == k_t0 + 1h);
  }
  SUBCASE("a duplicate counts and refreshes activity but keeps the episode") {
    Decision d =
        decide(policy, open_now, event(SignalState::firing, SignalState::firing, k_t0 + 2min),
               Severity::warning, Priority{3}, k_t0 + 3min);
    CHECK_FALSE(d.ended);
    REQUIRE(d.active);
    CHECK_FALSE(d.opened);
    CHECK(d.active->number == 4);
    CHECK(d.active->event_count == 2);
    CHECK(d.active->last_activity_at == k_t0 + 3min);
    CHECK(d.active->last_source_time == k_t0 + 2min);
  }
  SUBCASE("a duplicate with a higher severity notifies and raises the episode") {
    Decision d =
        decide(policy, open_now, event(SignalState::firing, SignalState::firing, k_t0 + 2min),
               Severity::critical, Priority{3}, k_t0 + 3min);
    CHECK(d.outcome == Outcome::duplicate);
    CHECK(d.reason == reason::k_severity_raised);
    CHECK(d.notify);
    CHECK(d.active->severity == Severity::critical);
  }
  SUBCASE("a resolve closes the episode and leaves nothing active") {
    Decision d =
        decide(policy, open_now, event(SignalState::resolved, SignalState::firing, k_t0 + 5min),
               Severity::warning, Priority{3}, k_t0 + 6min);
    REQUIRE(d.ended);
    CHECK(d.ended->status == EpisodeStatus::resolved);
    CHECK(d.ended->closed_at == k_t0 + 6min);
    CHECK_FALSE(d.active);
  }
}

}  // namespace rules_lifecycle_test
