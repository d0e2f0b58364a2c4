#pragma once
// The noise score (docs/behaviour.md "Noise") as pure functions: how noisy an alert has been within
// `noise.window`, as a number 0–100 whose every point is explained by a factor.
//
// The score is maintained incrementally. Each alert keeps a small NoiseState: its last
// `flap_history` state observations and counters over the episodes opened within the window.
// Events add observations and open or end episodes; the window slides by subtracting the
// episodes that left it (each exactly once, so the cost per event does not grow with the
// history). `recompute` builds the same state from the whole history; the two must agree
// exactly (tests/rules/noise_test.cpp and tests/engine/noise_replay_test.cpp check it).
//
// Factors, each worth up to its weight × 100 points:
//   flap       Nagios-style weighted percent state change over the last `flap_history`
//              observations: a change between observation k-1 and k weighs from 0.75 (the
//              oldest possible change) to 1.25 (the newest), and the sum is divided by the
//              flap_history − 1 changes a full history could hold. The alert starts flapping
//              when the percentage reaches `flap_high` and stops when it falls below
//              `flap_low` (hysteresis, so routing does not flip on every event near one
//              threshold). It earns points only while flapping: percent × weight.
//   rate       episodes opened per day, over the time the alert has been known (at least one
//              day, at most the window), against `rate_ceiling`.
//   transient  share of ended episodes the source resolved within `transient_within` while
//              nobody had acknowledged them.
//   ignored    share of ended episodes nobody acknowledged (a person resolving one counts as
//              attention).

#include <optional>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "rules/lifecycle.hpp"
#include "rules/rules.hpp"

namespace tocsin::rules {

// One state an event asserted about the alert.
struct Observation {
  TimePoint at{};
  bool firing = false;
  bool operator==(const Observation&) const = default;
};

struct NoiseState {
  std::vector<Observation> history;  // the last flap_history observations, oldest first
  bool flapping = false;             // after the last observation
  int window_first = 1;              // episodes numbered below it have left the window
  int episodes = 0;                  // opened within the window
  int ended = 0;                     // of those, ended
  int transient = 0;                 // of those ended, transient
  int ignored = 0;                   // of those ended, never acknowledged
  bool operator==(const NoiseState&) const = default;
};

// What the window needs to know of a stored episode.
struct EpisodeFacts {
  int number = 0;
  TimePoint opened_at{};
  bool ended = false;
  bool transient = false;
  bool ignored = false;
};
EpisodeFacts facts_of(const Episode& e);

// The weighted percent state change (0–100) of the observations at or after `since`.
double flap_percent(const std::vector<Observation>& history, int flap_history, TimePoint since);

// Adds an observation and updates the flapping state (hysteresis) as of `at`.
void observe(NoiseState& s, const Noise& cfg, Observation o);

// The first stored episode number that can still be in the window, and the cutoff: episodes
// opened before `window_cutoff(cfg, now)` have left it.
TimePoint window_cutoff(const Noise& cfg, TimePoint now);

// Removes the episodes that left the window. `leaving` are the stored episodes numbered from
// s.window_first whose opened_at is before the cutoff, in number order.
void slide(NoiseState& s, const std::vector<EpisodeFacts>& leaving);

void count_opened(NoiseState& s, const Episode& e);

// An episode ends: classifies it (sets e.transient) and counts it if it is in the window.
// REQUIRES: e.ended_by is set.
void count_ended(NoiseState& s, const Noise& cfg, Episode& e);

struct NoiseFactor {
  double value = 0;   // flap: percent; rate: episodes/day; transient, ignored: share 0–1
  double points = 0;  // rounded to 0.1
};

struct NoiseScore {
  double score = 0;  // 0–100, rounded to 0.1: the sum of the factors' points
  NoiseFactor flap, rate, transient, ignored;
  bool flapping = false;
  int episodes = 0, ended = 0, transient_count = 0, ignored_count = 0;
  double rate_days = 1;  // the days `rate` is averaged over
  Duration known{};      // how long the alert has been known (now - first seen), unclamped
};

// The score at `now`. REQUIRES: `s` was slid to `now` (see slide).
NoiseScore score(const NoiseState& s, const Noise& cfg, TimePoint first_seen, TimePoint now);

// A score or points with one decimal: "78.5".
std::string format_score(double v);
// A share 0–1 as a whole percentage: "53%".
std::string format_share(double share);

// One line for people: "78.5 (flap 100% flapping: 40.0, rate 48.0/day: 30.0, ...)".
std::string explain(const NoiseScore& s);

// Whether an alert counts as historically transient for `hold_for`: at least two episodes
// ended within the window and at least half of them were transient.
bool historically_transient(const NoiseScore& s);

// The same state built from the alert's whole history: every observation in order, every
// episode it ever had (numbers ascending), as of `now`.
NoiseState recompute(const std::vector<Observation>& observations,
                     const std::vector<EpisodeFacts>& episodes, int last_episode_number,
                     const Noise& cfg, TimePoint now);

// The observation an event decision stands for (nullopt: the event asserted nothing
// usable: out of order, a redelivery, a transition delivered again, one group member's
// resolve, ignored INSUFFICIENT_DATA). `outcome` and `reason`
// are as recorded in the decision log, so the log alone can rebuild the history.
std::optional<bool> observed_firing(std::string_view outcome, std::string_view reason);

}  // namespace tocsin::rules
