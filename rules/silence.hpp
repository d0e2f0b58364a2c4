#pragma once
// Silences (docs/behaviour.md "Silences"): a person quiets the alerts that match, for a bounded
// time. Pure: parsing a request, matching an alert, choosing the silence that applies. The
// engine stores them and asks which one applies when a decision would page; the decision core
// (rules/lifecycle) then withholds the page and records why.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "rules/rules.hpp"

namespace tocsin::rules {

// What a silence matches: the keys of a rule's `match` (same value syntax: exact, glob with
// `*`, `/regex/`), and `fingerprint`, the alert's identity as the API shows it.
struct SilenceMatchers {
  Match match;
  std::optional<ValueMatcher> fingerprint;

  // True when every key given matches the alert.
  bool matches(const NormalizedEvent& alert) const;
  // True when the silence names one alert exactly: an exact `fingerprint` or an exact `name`.
  // Only such a silence quiets a `never_suppress` alert.
  bool names_exactly() const;
};

enum class SilenceStatus { pending, active, expired };
std::string_view to_string(SilenceStatus s);
std::optional<SilenceStatus> parse_silence_status(std::string_view s);

struct Silence {
  std::int64_t id = 0;
  // The matchers as given, a JSON object (stored, shown, exported as they were written).
  Json spelled = Json::object();
  SilenceMatchers matchers;
  TimePoint created_at{}, starts_at{}, ends_at{};
  std::string created_by, comment;
  // Ended by hand before ends_at.
  std::optional<TimePoint> expired_at;
  std::string expired_by;

  // When it stops quieting anything: ends_at, or earlier when expired by hand.
  TimePoint end() const;
  SilenceStatus status(TimePoint now) const;
  // In force at `now`: started, not ended.
  bool active(TimePoint now) const { return status(now) == SilenceStatus::active; }
};

// What the decision core needs to know of the silence that applies: who quieted what, why,
// until when. Written into the reason of every decision it causes.
struct SilenceRef {
  std::int64_t id = 0;
  std::string by, comment;
  TimePoint until{};
  // "silence 12 by alice until 2026-11-30T14:00:00Z: database upgrade"
  std::string describe() const;
};
SilenceRef ref_of(const Silence& s);

// A field of a silence request that is wrong, named as the API names it ("matchers.labels.env",
// "ends_at") with a sentence for a person.
struct SilenceError {
  std::string field;
  std::string message;
};

// The bounds every silence keeps.
struct SilenceLimits {
  Duration max_duration = std::chrono::hours(24 * 7);  // silences.max_duration
  Duration max_ahead = std::chrono::hours(24 * 90);    // how far ahead starts_at may be
};
inline constexpr std::size_t k_silence_max_by = 200;
inline constexpr std::size_t k_silence_max_comment = 2000;
inline constexpr std::size_t k_silence_max_matchers = 32;
// Silences in force or pending at once: every paging decision reads and matches them all.
inline constexpr std::int64_t k_max_silences = 1000;

// Reads a JSON matcher object (the stored or requested form). Errors name the key as
// "matchers.<key>".
Expected<SilenceMatchers, SilenceError> parse_silence_matchers(const Json& spelled);

// Reads a request to create a silence (POST /api/v1/silences, a replay `silence` line) at `now`:
// `matchers`, `ends_at` (RFC 3339) or `duration` (e.g. "2h"), optional `starts_at`, `by` and
// `comment`. A start in the past counts from now. Refused: unknown keys, a silence matching
// everything, one ending before it starts or in the past, one longer than max_duration, one
// starting further ahead than max_ahead.
Expected<Silence, SilenceError> parse_silence_request(const Json& body, TimePoint now,
                                                      const SilenceLimits& limits);

// The silence quieting `alert` at `now`, among `silences`: the one that applies and ends last
// (then the lowest id), or nullptr. `never_suppress` alerts are quieted only by a silence that
// names them exactly.
const Silence* applying_silence(const std::vector<Silence>& silences, const NormalizedEvent& alert,
                                bool never_suppress, TimePoint now);

// Whether `silence` applies to `alert` (whatever the time).
bool silence_covers(const Silence& silence, const NormalizedEvent& alert, bool never_suppress);

// The silence as the API and replay show it.
Json silence_json(const Silence& s, TimePoint now);

}  // namespace tocsin::rules
