#include "delivery/policy.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

namespace tocsin::delivery {

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::sent:
      return "sent";
    case Verdict::retry:
      return "retry";
    case Verdict::failed:
      return "failed";
  }
  return "failed";
}

storage::AttemptOutcome recorded_as(Verdict v) {
  switch (v) {
    case Verdict::sent:
      return storage::AttemptOutcome::sent;
    case Verdict::retry:
      return storage::AttemptOutcome::retry;
    case Verdict::failed:
      return storage::AttemptOutcome::failed;
  }
  return storage::AttemptOutcome::failed;
}

Verdict classify(const AttemptResult& r) {
  if (!r.http_status) return Verdict::retry;  // the network, or the receiver, may recover
  const int s = *r.http_status;
  if (s >= 200 && s < 300) return Verdict::sent;
  if (s == 408 || s == 429 || s >= 500) return Verdict::retry;
  return Verdict::failed;  // other 4xx: our request is wrong; 3xx: redirects are not followed
}

std::optional<Duration> parse_retry_after(std::string_view value, TimePoint now) {
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ')
    value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::int64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && ptr == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::seconds(std::min<std::int64_t>(seconds, 7 * 24 * 3600));
  }
  // IMF-fixdate: "Wed, 21 Oct 2015 07:28:00 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const std::time_t at = timegm(&tm);
  const auto when =
      std::chrono::time_point_cast<Duration>(std::chrono::system_clock::from_time_t(at));
  if (when <= now) return Duration{0};
  return std::min<Duration>(when - now, std::chrono::hours(24 * 7));
}

Duration backoff(int attempts, const rules::Delivery& config, double unit_random,
                 std::optional<Duration> retry_after) {
  const int doublings = std::clamp(attempts - 1, 0, 40);
  const double cap = static_cast<double>(config.backoff_max.count());
  const double grown = std::min(
      cap, static_cast<double>(config.backoff_initial.count()) * std::ldexp(1.0, doublings));
  auto delay = Duration{static_cast<Duration::rep>(grown * std::clamp(unit_random, 0.0, 1.0))};
  if (retry_after && *retry_after > delay) delay = *retry_after;
  return delay;
}

Outcome after_attempt(storage::OutboxRecord row, const AttemptResult& r,
                      const rules::Delivery& config, TimePoint now, double unit_random) {
  Outcome out;
  out.verdict = classify(r);
  row.last_status = r.http_status;
  row.last_error = out.verdict == Verdict::sent ? std::string() : r.error;
  if (out.verdict == Verdict::retry && row.attempts >= config.max_attempts) {
    out.verdict = Verdict::failed;
    row.last_error = "gave up after " + std::to_string(row.attempts) + " attempts: " + r.error;
  }
  switch (out.verdict) {
    case Verdict::sent:
      row.status = storage::OutboxStatus::sent;
      row.sent_at = now;
      break;
    case Verdict::retry:
      row.due_at = now + backoff(row.attempts, config, unit_random, r.retry_after);
      break;
    case Verdict::failed:
      row.status = storage::OutboxStatus::failed;
      break;
  }
  out.row = std::move(row);
  return out;
}

}  // namespace tocsin::delivery
