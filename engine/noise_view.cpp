#include "engine/noise_view.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/duration.hpp"

namespace tocsin::engine {

namespace {

constexpr int k_scan_limit = 20'000;

// Below this much history a score is a guess, and advice to change or delete an alert would
// be made from one burst: say how little there is instead (docs/behaviour.md "Noise").
constexpr int k_advice_min_episodes = 5;
constexpr Duration k_advice_min_known = std::chrono::hours(24);

std::optional<std::string> not_enough_history(const rules::NoiseScore& s) {
  if (s.episodes >= k_advice_min_episodes && s.known >= k_advice_min_known) return std::nullopt;
  const Duration known =
      std::max<Duration>(Duration::zero(), std::chrono::floor<std::chrono::seconds>(s.known));
  return "not enough history (" + std::to_string(s.episodes) +
         (s.episodes == 1 ? " episode" : " episodes") + " over " + format_duration(known) +
         "): advice needs at least " + std::to_string(k_advice_min_episodes) + " episodes over " +
         format_duration(k_advice_min_known);
}

}  // namespace

rules::NoiseScore noise_score_now(storage::Reader& reader, const rules::Rules& rules,
                                  const storage::AlertRecord& alert, TimePoint now) {
  const rules::NoiseState state = reader.noise_at(alert, rules::window_cutoff(rules.noise, now));
  return rules::score(state, rules.noise, alert.first_seen, now);
}

std::vector<NoisyAlert> noisiest(storage::Reader& reader, const rules::Rules& rules, TimePoint now,
                                 std::size_t limit) {
  std::vector<NoisyAlert> out;
  for (auto& view : reader.noise_candidates(rules::window_cutoff(rules.noise, now), k_scan_limit)) {
    rules::NoiseScore score =
        rules::score(view.alert.noise, rules.noise, view.alert.first_seen, now);
    if (score.score <= 0) continue;
    out.push_back(NoisyAlert{std::move(view), score});
  }
  // Candidates come most recently seen first; a stable sort keeps that order among ties.
  std::stable_sort(out.begin(), out.end(), [](const NoisyAlert& a, const NoisyAlert& b) {
    return a.score.score > b.score.score;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

Json noise_json(const rules::NoiseScore& s, const rules::Noise& cfg) {
  const auto& w = cfg.weights;
  return Json{
      {"score", s.score},
      {"demote_above", cfg.demote_above},
      {"above_demote", s.score > cfg.demote_above},
      {"window", format_duration(cfg.window)},
      {"factors",
       {{"flap",
         {{"percent", s.flap.value},
          {"flapping", s.flapping},
          {"flap_high", cfg.flap_high},
          {"flap_low", cfg.flap_low},
          {"history", cfg.flap_history},
          {"weight", w.flap},
          {"points", s.flap.points}}},
        {"rate",
         {{"per_day", s.rate.value},
          {"episodes", s.episodes},
          {"days", std::round(s.rate_days * 100.0) / 100.0},
          {"ceiling", cfg.rate_ceiling},
          {"weight", w.rate},
          {"points", s.rate.points}}},
        {"transient",
         {{"share", std::round(s.transient.value * 1000.0) / 1000.0},
          {"count", s.transient_count},
          {"ended", s.ended},
          {"within", format_duration(cfg.transient_within)},
          {"weight", w.transient},
          {"points", s.transient.points}}},
        {"ignored",
         {{"share", std::round(s.ignored.value * 1000.0) / 1000.0},
          {"count", s.ignored_count},
          {"ended", s.ended},
          {"weight", w.ignored},
          {"points", s.ignored.points}}}}},
      {"explanation", rules::explain(s)},
  };
}

std::vector<std::string> noise_advice(const NoisyAlert& alert, const rules::Rules& rules) {
  std::vector<std::string> out;
  const auto& s = alert.score;
  const auto& a = alert.view.alert;
  const auto& cfg = rules.noise;
  const rules::Rule* rule = rules.find_rule(a.rule);

  if (auto few = not_enough_history(s)) return {std::move(*few)};
  if (s.flapping) {
    std::string fix;
    switch (a.source) {
      case Source::cloudwatch:
        fix = "widen the evaluation period or add datapoints-to-alarm (e.g. 3 out of 5)";
        break;
      case Source::alertmanager:
        fix = "add or lengthen `for:` in the alerting rule";
        break;
      case Source::grafana:
        fix = "lengthen the alert rule's pending period";
        break;
      default:
        fix = "debounce at the source: require the condition for longer before firing";
        break;
    }
    out.push_back("flapping " + rules::format_score(s.flap.value) + "%: " + fix);
  }
  if (s.rate.value >= cfg.rate_ceiling / 2) {
    out.push_back(rules::format_score(s.rate.value) +
                  " episodes/day: raise the threshold, or alert on a sustained condition rather "
                  "than on every breach");
  }
  if (s.ended > 0 && 2 * s.transient_count >= s.ended) {
    std::string fix = rules::format_share(s.transient.value) +
                      " of episodes resolved by the source within " +
                      format_duration(cfg.transient_within) + " unacknowledged: ";
    if (rule && rule->hold_for) {
      fix += "rule " + rule->name + " already holds them " + format_duration(*rule->hold_for) +
             "; lengthen the alarm's period so it fires only when the problem lasts";
    } else if (rule) {
      fix += "set hold_for on rule " + rule->name + ", or lengthen the alarm's period";
    } else {
      fix += "match it with a rule that sets hold_for, or lengthen the alarm's period";
    }
    out.push_back(std::move(fix));
  }
  const bool demoted =
      rule && rule->low_priority && !rule->never_suppress && s.score > cfg.demote_above;
  if (s.ended > 0 && 2 * s.ignored_count >= s.ended) {
    out.push_back(rules::format_share(s.ignored.value) +
                  " of episodes ended without anyone acknowledging them: nobody acts on this "
                  "alert; " +
                  (demoted
                       ? "it already goes to " + *rule->low_priority + ", so fix it or delete it"
                       : std::string("route it to a low-priority channel or delete it")));
  }
  if (s.score > cfg.demote_above) {
    if (rule && rule->never_suppress) {
      out.push_back("rule " + rule->name + " is never_suppress, so it still pages at noise " +
                    rules::format_score(s.score) + ": fix the alarm itself");
    } else if (rule && !rule->low_priority) {
      out.push_back("noise " + rules::format_score(s.score) + " is above demote_above " +
                    rules::format_score(cfg.demote_above) + " but rule " + rule->name +
                    " has no low_priority channel, so it still goes to its escalation");
    } else if (!rule) {
      out.push_back("it matched no rule: nobody is notified; add a rule for it or drop it");
    }
  }
  return out;
}

}  // namespace tocsin::engine
