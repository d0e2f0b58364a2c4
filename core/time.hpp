#pragma once
// Time in Tocsin: UTC instants with millisecond precision, read only through a Clock so that
// tests and `tocsin replay` can drive time themselves (reading the system clock directly makes
// tests flaky and replays non-deterministic).

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tocsin {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::sys_time<Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
};

// A clock that moves only when told: tests, and the virtual clock of `tocsin replay`.
// Thread-safe, so a test can move it while the engine reads it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{}) : m_now(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint{Duration{m_now.load()}}; }
  void set(TimePoint t) { m_now.store(t.time_since_epoch().count()); }
  void advance(Duration d) { m_now.fetch_add(d.count()); }

 private:
  std::atomic<Duration::rep> m_now;
};

// Parses RFC 3339 / ISO 8601 instants as sources send them: `2026-03-02T10:03:41.187Z`,
// CloudWatch's `2026-03-02T10:03:41.118+0000` (offset without a colon), `+05:30` offsets,
// with or without fractional seconds. Returns nullopt for anything else, including
// out-of-range fields.
std::optional<TimePoint> parse_timestamp(std::string_view text);

// `2026-03-02T10:03:41.187Z`: always UTC, always milliseconds, so output is stable.
std::string format_timestamp(TimePoint t);

// Milliseconds since the Unix epoch, the storage representation.
inline std::int64_t to_unix_ms(TimePoint t) {
  return t.time_since_epoch().count();
}
inline TimePoint from_unix_ms(std::int64_t ms) {
  return TimePoint{Duration{ms}};
}

}  // namespace tocsin
