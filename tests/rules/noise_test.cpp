// The noise score (docs/behaviour.md "Noise") as pure functions: the Nagios-style flap percentage
// against hand-computed cases, hysteresis, the other factors, and the incremental state against a
// from-scratch recomputation.
#include "rules/noise.hpp"

#include <doctest/doctest.h>

#include <random>

namespace rules_noise_test {

using namespace tocsin;
using namespace tocsin::rules;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-11-01T00:00:00Z");

// Observations one minute apart from k_t0, spelled "FFRF…" (F firing, R resolved).
std::vector<Observation> spelled(const std::string& states) {
  std::vector<Observation> out;
  for (std::size_t i = 0; i < states.size(); ++i) {
    out.push_back(Observation{k_t0 + std::chrono::minutes(i), states[i] == 'F'});
  }
  return out;
}

double percent_of(const std::string& states, int history) {
  return flap_percent(spelled(states), history, k_t0);
}

Noise config(int history, double high, double low) {
  Noise cfg;
  cfg.flap_history = history;
  cfg.flap_high = high;
  cfg.flap_low = low;
  return cfg;
}

}  // namespace

TEST_CASE("flap: the weighted percent state change, against hand-computed cases") {
  // flap_history 21: 20 possible changes weighing 0.75 + 0.5·x/19 for x = 0 (oldest) … 19.
  struct Case {
    const char* intent;
    std::string states;
    double percent;
  };
  const Case cases[] = {
      {"no change at all", std::string(21, 'F'), 0.0},
      {"every observation changes: the weights sum to 20", "FRFRFRFRFRFRFRFRFRFRF", 100.0},
      {"only the newest change: 1.25 / 20", std::string(20, 'F') + "R", 6.25},
      {"only the oldest change: 0.75 / 20", "R" + std::string(20, 'F'), 3.75},
      {"changes at x = 9 and 10: (1.5 + 9.5/19) / 20",
       std::string(10, 'F') + "R" + std::string(10, 'F'), 10.0},
      {"a short history's changes are the newest: F,R counts x = 19", "FR", 6.25},
      {"one observation has no change", "F", 0.0},
      {"only the last 21 count: the old change fell out", "R" + std::string(21, 'F'), 0.0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(percent_of(c.states, 21) == doctest::Approx(c.percent));
  }

  // flap_history 5: 4 changes weighing 0.75, 0.9167, 1.0833, 1.25.
  // F R R F F: changes at x = 0 and x = 2 → (0.75 + 1.0833) / 4 = 45.83 %.
  CHECK(percent_of("FRRFF", 5) == doctest::Approx(45.8333).epsilon(1e-4));
  // flap_history 2: one change of weight 1.
  CHECK(percent_of("FR", 2) == doctest::Approx(100.0));
}

TEST_CASE("flap: observations older than the window do not count") {
  auto history = spelled("FRFRF");
  // Since the third observation: F R F → changes at x = 18 and 19 of 20.
  const double expected = 100.0 * ((0.75 + 0.5 * 18 / 19) + 1.25) / 20;
  CHECK(flap_percent(history, 21, k_t0 + 2min) == doctest::Approx(expected));
  CHECK(flap_percent(history, 21, k_t0 + 10min) == 0.0);
}

TEST_CASE("flap: hysteresis — flapping starts at flap_high and ends below flap_low") {
  const Noise cfg = config(5, 50, 25);
  NoiseState s;
  struct Step {
    char state;
    double percent;
    bool flapping;
    const char* intent;
  };
  // Percentages by hand with the flap_history 5 weights above.
  const Step steps[] = {
      {'F', 0, false, "first observation"},
      {'R', 31.25, false, "one newest change: 1.25/4, below flap_high"},
      {'F', 58.33, true, "(1.0833 + 1.25)/4 reaches flap_high: starts flapping"},
      {'R', 81.25, true, "three changes"},
      {'F', 100, true, "every change"},
      {'F', 68.75, true, "(0.75 + 0.9167 + 1.0833)/4"},
      {'F', 41.67, true, "(0.75 + 0.9167)/4: below flap_high, still above flap_low: flapping"},
      {'F', 18.75, false, "0.75/4 falls below flap_low: stops"},
      {'R', 31.25, false, "31.25 would not start it again: only flap_high does"},
  };
  TimePoint at = k_t0;
  for (const auto& step : steps) {
    CAPTURE(step.intent);
    observe(s, cfg, Observation{at, step.state == 'F'});
    CHECK(flap_percent(s.history, cfg.flap_history, at - cfg.window) ==
          doctest::Approx(step.percent).epsilon(1e-3));
    CHECK(s.flapping == step.flapping);
    at += 1min;
  }
  CHECK(s.history.size() == 5);  // only flap_history observations are kept
}

TEST_CASE("score: each factor's points, and the sum, by hand") {
  Noise cfg;  // weights flap 0.4, rate 0.3, transient 0.2, ignored 0.1; rate_ceiling 24
  NoiseState s;
  for (int i = 0; i < 21; ++i)
    observe(s, cfg, Observation{k_t0 + std::chrono::minutes(30 * i), i % 2 == 0});
  REQUIRE(s.flapping);
  s.episodes = 24;
  s.ended = 12;
  s.transient = 6;
  s.ignored = 9;
  const TimePoint now = k_t0 + 10h;
  // Known for two days: 24 episodes / 2 days = 12/day, half the ceiling.
  const NoiseScore sc = score(s, cfg, now - 48h, now);
  CHECK(sc.flap.value == doctest::Approx(100.0));
  CHECK(sc.flap.points == doctest::Approx(40.0));
  CHECK(sc.rate.value == doctest::Approx(12.0));
  CHECK(sc.rate.points == doctest::Approx(15.0));
  CHECK(sc.transient.value == doctest::Approx(0.5));
  CHECK(sc.transient.points == doctest::Approx(10.0));
  CHECK(sc.ignored.value == doctest::Approx(0.75));
  CHECK(sc.ignored.points == doctest::Approx(7.5));
  CHECK(sc.score == doctest::Approx(72.5));
  CHECK(explain(sc) ==
        "noise 72.5 = flap 100.0% (flapping) 40.0 + rate 12.0/day 15.0 + transient 6/12 10.0 + "
        "ignored 9/12 7.5");

  SUBCASE("a new alert's rate counts at least one day; an old one's at most the window") {
    CHECK(score(s, cfg, now - 1h, now).rate.value == doctest::Approx(24.0));
    CHECK(score(s, cfg, now - 1h, now).rate.points == doctest::Approx(30.0));
    // 24 / 7 days, shown rounded to 0.1.
    CHECK(score(s, cfg, now - 90 * 24h, now).rate.value == doctest::Approx(3.4));
  }
  SUBCASE("a flap percentage earns nothing while not flapping") {
    s.flapping = false;
    s.history = spelled("FFFFFFFFFFFFFFFFFFFRF");  // two newest changes: 12%, under flap_high
    const NoiseScore quiet = score(s, cfg, now - 48h, k_t0 + 30min);
    CHECK(quiet.flap.value > 0);
    CHECK(quiet.flap.points == 0);
    CHECK_FALSE(quiet.flapping);
  }
  SUBCASE("no ended episode: no transient or ignored share") {
    s.ended = s.transient = s.ignored = 0;
    const NoiseScore sc2 = score(s, cfg, now - 48h, now);
    CHECK(sc2.transient.points == 0);
    CHECK(sc2.ignored.points == 0);
  }
}

TEST_CASE("ended episodes: transient and ignored, by how they ended") {
  Noise cfg;
  cfg.transient_within = 5min;
  struct Case {
    const char* intent;
    EndedBy by;
    Duration open_for;
    bool acked;
    bool transient, ignored;
  };
  const Case cases[] = {
      {"the source resolved it within 5m, untouched", EndedBy::source, 4min, false, true, true},
      {"exactly transient_within still counts", EndedBy::source, 5min, false, true, true},
      {"the source resolved it after 6m", EndedBy::source, 6min, false, false, true},
      {"someone acknowledged it first", EndedBy::source, 2min, true, false, false},
      {"a person resolved it: attention, not ignored", EndedBy::person, 2min, false, false, false},
      {"expired untouched: ignored", EndedBy::expired, 48h, false, false, true},
      {"superseded untouched: ignored", EndedBy::superseded, 1h, false, false, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    NoiseState s;
    Episode e;
    e.number = 1;
    e.opened_at = k_t0;
    e.closed_at = k_t0 + c.open_for;
    e.status = EpisodeStatus::resolved;
    e.ended_by = c.by;
    e.ever_acknowledged = c.acked;
    count_opened(s, e);
    count_ended(s, cfg, e);
    CHECK(e.transient == c.transient);
    CHECK(s.episodes == 1);
    CHECK(s.ended == 1);
    CHECK(s.transient == (c.transient ? 1 : 0));
    CHECK(s.ignored == (c.ignored ? 1 : 0));
  }
}

TEST_CASE("observations: what an event decision asserted, from the decision log") {
  CHECK(observed_firing("created", "first_occurrence") == true);
  CHECK(observed_firing("reopened", "missed_resolve") == true);
  CHECK(observed_firing("duplicate", "severity_raised") == true);
  CHECK(observed_firing("resolved", "source_resolved") == false);
  CHECK(observed_firing("ignored", "nothing_open;no_rule_matched") == false);
  CHECK(observed_firing("ignored", "insufficient_data") == std::nullopt);
  CHECK(observed_firing("out_of_order", "older_than_last_change") == std::nullopt);
  CHECK(observed_firing("redelivery", "seen_before") == std::nullopt);
  // A transition delivered again, or one member of a group resolving, asserts nothing new.
  CHECK(observed_firing("duplicate", "same_transition") == std::nullopt);
  CHECK(observed_firing("duplicate", "same_transition;no_rule_matched") == std::nullopt);
  CHECK(observed_firing("duplicate", "member_resolved;still_firing=2") == std::nullopt);
  CHECK(observed_firing("duplicate", "continues_episode") == true);
}

TEST_CASE("incremental state equals a from-scratch recomputation over random histories") {
  // A pure simulation of an alert's life: firing and resolved events, acknowledgements,
  // people resolving, expiry; the window slides as the engine slides it (before a change).
  Noise cfg;
  cfg.window = 6h;  // short: episodes often leave it while still open
  cfg.flap_history = 7;
  cfg.flap_high = 40;
  cfg.flap_low = 20;
  std::mt19937 rng(20261126);
  for (int run = 0; run < 40; ++run) {
    CAPTURE(run);
    NoiseState s;
    std::vector<Observation> observations;
    std::vector<Episode> episodes;  // the "database"
    int active = -1;                // index in `episodes`
    TimePoint now = k_t0;
    const auto leaving = [&] {
      std::vector<EpisodeFacts> out;
      for (const auto& e : episodes) {
        if (e.number < s.window_first) continue;
        if (e.opened_at >= window_cutoff(cfg, now)) break;
        out.push_back(facts_of(e));
      }
      return out;
    };
    const auto end = [&](EndedBy by) {
      Episode& e = episodes[static_cast<std::size_t>(active)];
      e.status = by == EndedBy::expired ? EpisodeStatus::expired : EpisodeStatus::resolved;
      e.ended_by = by;
      e.closed_at = now;
      count_ended(s, cfg, e);
      active = -1;
    };
    for (int step = 0; step < 300; ++step) {
      now += std::chrono::minutes(1 + rng() % 240);
      slide(s, leaving());
      switch (rng() % 6) {
        case 0:
        case 1:  // firing
          observations.push_back(Observation{now, true});
          observe(s, cfg, observations.back());
          if (active < 0) {
            Episode e;
            e.number = static_cast<int>(episodes.size()) + 1;
            e.opened_at = now;
            episodes.push_back(e);
            active = static_cast<int>(episodes.size()) - 1;
            count_opened(s, episodes.back());
          }
          break;
        case 2:
        case 3:  // resolved by the source
          observations.push_back(Observation{now, false});
          observe(s, cfg, observations.back());
          if (active >= 0) end(EndedBy::source);
          break;
        case 4:  // acknowledged
          if (active >= 0) episodes[static_cast<std::size_t>(active)].ever_acknowledged = true;
          break;
        case 5:  // a person resolves, or it expires
          if (active >= 0) end(rng() % 2 ? EndedBy::person : EndedBy::expired);
          break;
      }
      std::vector<EpisodeFacts> all;
      for (const auto& e : episodes)
        all.push_back(facts_of(e));
      const NoiseState fresh =
          recompute(observations, all, static_cast<int>(episodes.size()), cfg, now);
      REQUIRE(s == fresh);
      const TimePoint first_seen = k_t0;
      CHECK(score(s, cfg, first_seen, now).score == score(fresh, cfg, first_seen, now).score);
    }
  }
}

TEST_CASE("historically transient: at least two ended episodes, half of them transient") {
  NoiseScore s;
  s.ended = 1;
  s.transient_count = 1;
  CHECK_FALSE(historically_transient(s));
  s.ended = 2;
  CHECK(historically_transient(s));
  s.ended = 3;
  CHECK_FALSE(historically_transient(s));
}

}  // namespace rules_noise_test
