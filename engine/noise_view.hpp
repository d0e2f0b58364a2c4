#pragma once
// Noise as people read it (docs/behaviour.md "Noise"): an alert's score with every factor's value
// and points, the noisiest alerts, and what to do about each. Shared by GET /api/v1/alerts/{id},
// GET /api/v1/noise and `tocsin report`.

#include <string>
#include <vector>

#include "core/json.hpp"
#include "rules/noise.hpp"
#include "rules/rules.hpp"
#include "storage/reader.hpp"

namespace tocsin::engine {

struct NoisyAlert {
  storage::AlertView view;  // the alert (its noise slid to now) and its latest episode
  rules::NoiseScore score;  // at now
};

// The alert's score at `now`, from its stored state.
rules::NoiseScore noise_score_now(storage::Reader& reader, const rules::Rules& rules,
                                  const storage::AlertRecord& alert, TimePoint now);

// The alerts with a score above zero, noisiest first (ties: most recently seen), at most
// `limit`. Looks at the alerts seen within the window (no other can score), up to 20,000.
std::vector<NoisyAlert> noisiest(storage::Reader& reader, const rules::Rules& rules, TimePoint now,
                                 std::size_t limit);

// {"score", "demote_above", "above_demote", "window", "factors": {"flap": {...}, "rate": {...},
//  "transient": {...}, "ignored": {...}}, "explanation"}: every factor with its value, weight
// and points.
Json noise_json(const rules::NoiseScore& score, const rules::Noise& cfg);

// Suggested fixes for an alert, most telling first, in words an SRE can act on
// ("flapping 71%: widen the evaluation period or add datapoints-to-alarm"). With fewer than 5
// episodes in the window, or less than a day since the alert was first seen, the one line
// "not enough history (N episodes over D): ..." instead.
std::vector<std::string> noise_advice(const NoisyAlert& alert, const rules::Rules& rules);

}  // namespace tocsin::engine
