#include "engine/silence_view.hpp"

#include <algorithm>

namespace tocsin::engine {

NormalizedEvent silence_view(const storage::AlertRecord& a, std::optional<Severity> severity) {
  NormalizedEvent e;
  e.source = a.source;
  e.fingerprint = a.fingerprint;
  e.name = a.name;
  e.account = a.account;
  e.region = a.region;
  e.metric = a.metric;
  e.namespace_ = a.namespace_;
  e.labels = a.labels;
  e.severity = severity;
  return e;
}

bool never_suppressed(const rules::Rules& rules, const storage::AlertRecord& alert,
                      const NormalizedEvent& view) {
  if (alert.rule.starts_with("heartbeat:")) return false;
  return rules::any_never_suppress(rules.matching(view));
}

SilenceTarget silence_target(const rules::Rules& rules, const storage::AlertView& alert) {
  SilenceTarget t;
  t.view = silence_view(
      alert.alert, alert.current ? std::optional(alert.current->episode.severity) : std::nullopt);
  t.never_suppress = (alert.current && alert.current->episode.never_suppress) ||
                     never_suppressed(rules, alert.alert, t.view);
  return t;
}

std::vector<storage::SilenceView> covering(const std::vector<storage::SilenceView>& silences,
                                           const SilenceTarget& target) {
  std::vector<storage::SilenceView> out;
  for (const auto& s : silences) {
    if (rules::silence_covers(s.silence, target.view, target.never_suppress)) out.push_back(s);
  }
  return out;
}

}  // namespace tocsin::engine
