#include "delivery/breaker.hpp"

#include <algorithm>
#include <cmath>

namespace tocsin::delivery {

std::optional<Signal> signal_of(const AttemptResult& r, bool request_made) {
  if (!request_made) return std::nullopt;
  if (!r.http_status) return Signal::failure;
  const int s = *r.http_status;
  if (s >= 200 && s < 300) return Signal::success;
  if (s == 408 || s == 429 || s >= 500) return Signal::failure;
  return Signal::answered;
}

Duration probe_interval(int probes, const rules::Delivery& config) {
  Duration wait = config.backoff_initial;
  for (int i = 0; i < probes && wait < config.backoff_max; ++i)
    wait *= 2;
  return std::min(wait, config.backoff_max);
}

Transition apply_result(storage::ChannelHealth& h, Signal s, const std::string& error,
                        std::optional<Duration> retry_after, const rules::Delivery& config,
                        TimePoint now) {
  const Duration at_least = retry_after.value_or(Duration::zero());
  if (s == Signal::failure) {
    if (retry_after && retry_after->count() > 0) {
      h.hold_until = std::max(h.hold_until.value_or(now), now + *retry_after);
      // Asked to wait longer than a probe ever would: the channel is down now, told as such
      // (the fallback, the log, the metric) and caught up at its pace when it is back, rather
      // than held quietly with one failure counted.
      if (*retry_after > config.backoff_max && !h.down()) {
        h.failures = std::max(h.failures, config.breaker_after - 1);
      }
    }
    h.failures += 1;
    h.last_error = error;
    if (h.down()) {  // a probe failed (or a request that left before the channel went down)
      h.probes += 1;
      h.probe_at = now + std::max(probe_interval(h.probes, config), at_least);
      return Transition::none;
    }
    if (h.failures < config.breaker_after) return Transition::none;
    h.down_since = now;
    h.changed_at = now;
    h.probes = 0;
    h.probe_at = now + std::max(probe_interval(0, config), at_least);
    h.pace_at.reset();
    return Transition::went_down;
  }
  h.failures = 0;
  if (!h.down()) return Transition::none;
  h.down_since.reset();
  h.changed_at = now;
  h.probes = 0;
  h.probe_at.reset();
  h.pace_at = now;
  return Transition::came_up;
}

bool blocked(const storage::ChannelHealth& h, TimePoint now) {
  if (h.hold_until && *h.hold_until > now) return true;
  if (h.down()) return !h.probe_at || *h.probe_at > now;
  return h.pace_at && *h.pace_at > now;
}

double catch_up_rate(const rules::Rules& rules, const std::string& channel) {
  const auto c = rules.channels.find(channel);
  if (c != rules.channels.end() && c->second.catch_up_rate) return *c->second.catch_up_rate;
  return rules.delivery.catch_up_rate;
}

namespace {

TimePoint pace_base(const storage::ChannelHealth& h, TimePoint now, Duration window) {
  return std::max(h.pace_at.value_or(now), now - window);
}

}  // namespace

int paced_rows(const storage::ChannelHealth& h, double rate, int most, TimePoint now,
               Duration window) {
  const double owed = std::chrono::duration<double>(now - pace_base(h, now, window)).count() * rate;
  return std::clamp(static_cast<int>(std::floor(owed)), 1, std::max(1, most));
}

void pace(storage::ChannelHealth& h, int taken, double rate, TimePoint now, Duration window) {
  const auto step = std::chrono::duration_cast<Duration>(
      std::chrono::duration<double>(static_cast<double>(taken) / rate));
  h.pace_at = pace_base(h, now, window) + std::max(step, Duration(1));
}

}  // namespace tocsin::delivery
