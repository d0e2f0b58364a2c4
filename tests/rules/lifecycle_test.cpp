#include "rules/lifecycle.hpp"

#include <doctest/doctest.h>

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
      {"OldStateValue INSUFFICIENT_DATA also means a new occurrence", policy, open_now,
       event(F, I, k_t0 + 1min), k_t0 + 1min, Outcome::reopened, reason::k_missed_resolve, true},
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
