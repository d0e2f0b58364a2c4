#include "rules/noise.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/duration.hpp"
#include "core/outcome.hpp"
#include "rules/lifecycle.hpp"

namespace tocsin::rules {

namespace {

double round1(double v) {
  return std::round(v * 10.0) / 10.0;
}

double days(Duration d) {
  return std::chrono::duration<double>(d).count() / 86400.0;
}

}  // namespace

std::string format_score(double v) {
  std::ostringstream out;
  out.precision(1);
  out << std::fixed << v;
  return out.str();
}

std::string format_share(double share) {
  return std::to_string(static_cast<int>(std::lround(share * 100.0))) + "%";
}

EpisodeFacts facts_of(const Episode& e) {
  EpisodeFacts f;
  f.number = e.number;
  f.opened_at = e.opened_at;
  f.ended = !is_active(e.status);
  f.transient = f.ended && e.transient;
  f.ignored = f.ended && !e.ever_acknowledged && e.ended_by != EndedBy::person;
  return f;
}

double flap_percent(const std::vector<Observation>& history, int flap_history, TimePoint since) {
  const auto first = std::find_if(history.begin(), history.end(),
                                  [&](const Observation& o) { return o.at >= since; });
  const auto in_window = static_cast<int>(history.end() - first);
  const int m = std::min(in_window, flap_history);
  if (m < 2 || flap_history < 2) return 0;
  const auto* o = &*(history.end() - m);
  // Change x (0 = the oldest a full history can hold, H-2 = the newest) weighs
  // 0.75 + 0.5 x / (H-2). A short history's changes are the newest ones.
  const int newest = flap_history - 2;
  double weighted = 0;
  for (int j = 1; j < m; ++j) {
    if (o[j].firing == o[j - 1].firing) continue;
    const int x = newest - (m - 1 - j);
    weighted += newest > 0 ? 0.75 + 0.5 * x / newest : 1.0;
  }
  return 100.0 * weighted / (flap_history - 1);
}

TimePoint window_cutoff(const Noise& cfg, TimePoint now) {
  return now - cfg.window;
}

void observe(NoiseState& s, const Noise& cfg, Observation o) {
  s.history.push_back(o);
  const auto keep = static_cast<std::size_t>(std::max(cfg.flap_history, 1));
  if (s.history.size() > keep) {
    s.history.erase(s.history.begin(),
                    s.history.begin() + static_cast<std::ptrdiff_t>(s.history.size() - keep));
  }
  const double p = flap_percent(s.history, cfg.flap_history, window_cutoff(cfg, o.at));
  s.flapping = s.flapping ? p >= cfg.flap_low : p >= cfg.flap_high;
}

void slide(NoiseState& s, const std::vector<EpisodeFacts>& leaving) {
  for (const auto& e : leaving) {
    if (e.number < s.window_first) continue;
    s.window_first = e.number + 1;
    s.episodes = std::max(0, s.episodes - 1);
    if (e.ended) {
      s.ended = std::max(0, s.ended - 1);
      if (e.transient) s.transient = std::max(0, s.transient - 1);
      if (e.ignored) s.ignored = std::max(0, s.ignored - 1);
    }
  }
}

void count_opened(NoiseState& s, const Episode& e) {
  if (e.number >= s.window_first) ++s.episodes;
}

void count_ended(NoiseState& s, const Noise& cfg, Episode& e) {
  e.transient = e.ended_by == EndedBy::source && !e.ever_acknowledged && e.closed_at &&
                *e.closed_at - e.opened_at <= cfg.transient_within;
  if (e.number < s.window_first) return;
  const EpisodeFacts f = facts_of(e);
  ++s.ended;
  if (f.transient) ++s.transient;
  if (f.ignored) ++s.ignored;
}

NoiseScore score(const NoiseState& s, const Noise& cfg, TimePoint first_seen, TimePoint now) {
  NoiseScore out;
  const double p = flap_percent(s.history, cfg.flap_history, window_cutoff(cfg, now));
  out.flapping = s.flapping ? p >= cfg.flap_low : p >= cfg.flap_high;
  out.flap.value = round1(p);
  out.flap.points = out.flapping ? round1(cfg.weights.flap * p) : 0;

  out.known = now - first_seen;
  out.rate_days = std::clamp(days(now - first_seen), 1.0, std::max(1.0, days(cfg.window)));
  const double per_day = s.episodes / out.rate_days;
  out.rate.value = round1(per_day);
  out.rate.points = round1(cfg.weights.rate * 100.0 * std::min(1.0, per_day / cfg.rate_ceiling));

  out.episodes = s.episodes;
  out.ended = s.ended;
  out.transient_count = s.transient;
  out.ignored_count = s.ignored;
  if (s.ended > 0) {
    out.transient.value = static_cast<double>(s.transient) / s.ended;
    out.ignored.value = static_cast<double>(s.ignored) / s.ended;
  }
  out.transient.points = round1(cfg.weights.transient * 100.0 * out.transient.value);
  out.ignored.points = round1(cfg.weights.ignored * 100.0 * out.ignored.value);
  out.score = std::clamp(
      round1(out.flap.points + out.rate.points + out.transient.points + out.ignored.points), 0.0,
      100.0);
  return out;
}

std::string explain(const NoiseScore& s) {
  std::string out = "noise " + format_score(s.score) + " = flap " + format_score(s.flap.value) +
                    "%" + (s.flapping ? " (flapping)" : " (not flapping)") + " " +
                    format_score(s.flap.points) + " + rate " + format_score(s.rate.value) +
                    "/day " + format_score(s.rate.points);
  out += " + transient " + std::to_string(s.transient_count) + "/" + std::to_string(s.ended) + " " +
         format_score(s.transient.points);
  out += " + ignored " + std::to_string(s.ignored_count) + "/" + std::to_string(s.ended) + " " +
         format_score(s.ignored.points);
  return out;
}

bool historically_transient(const NoiseScore& s) {
  return s.ended >= 2 && 2 * s.transient_count >= s.ended;
}

NoiseState recompute(const std::vector<Observation>& observations,
                     const std::vector<EpisodeFacts>& episodes, int last_episode_number,
                     const Noise& cfg, TimePoint now) {
  NoiseState s;
  for (const auto& o : observations)
    observe(s, cfg, o);
  const TimePoint cutoff = window_cutoff(cfg, now);
  s.window_first = last_episode_number + 1;
  for (const auto& e : episodes) {
    if (e.opened_at < cutoff) continue;
    s.window_first = std::min(s.window_first, e.number);
    ++s.episodes;
    if (!e.ended) continue;
    ++s.ended;
    if (e.transient) ++s.transient;
    if (e.ignored) ++s.ignored;
  }
  return s;
}

std::optional<bool> observed_firing(std::string_view outcome, std::string_view reason) {
  // A transition delivered again asserts nothing new; one member's resolve says nothing of the
  // group, which still fires.
  if (reason.starts_with(reason::k_same_transition) ||
      reason.starts_with(reason::k_member_resolved)) {
    return std::nullopt;
  }
  if (outcome == to_string(Outcome::created) || outcome == to_string(Outcome::reopened) ||
      outcome == to_string(Outcome::duplicate)) {
    return true;
  }
  if (outcome == to_string(Outcome::resolved)) return false;
  if (outcome == to_string(Outcome::ignored) && reason.starts_with("nothing_open")) return false;
  return std::nullopt;
}

}  // namespace tocsin::rules
