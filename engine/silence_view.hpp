#pragma once
// Silences as they bear on one stored alert (docs/behaviour.md "Silences"): the alert as a
// silence's matchers see it, whether it is `never_suppress`, and the silences that cover it.
// Shared by the engine (which asks when a decision would page) and the API (GET
// /api/v1/alerts/{id}, GET /api/v1/silences?alert=ID), so both judge an alert the same way.

#include <optional>
#include <vector>

#include "core/event.hpp"
#include "rules/rules.hpp"
#include "rules/silence.hpp"
#include "storage/records.hpp"

namespace tocsin::engine {

// The alert as a silence's matchers see it: its latest description under its fingerprint (after
// dedup_key), with the severity of its episode (none: an alert without one).
NormalizedEvent silence_view(const storage::AlertRecord& alert, std::optional<Severity> severity);

// Whether the rules make the alert `never_suppress`: any rule matching `view` says so. A heartbeat
// alert (rule "heartbeat:NAME") is routed by its heartbeat, not by a rule, and never is.
bool never_suppressed(const rules::Rules& rules, const storage::AlertRecord& alert,
                      const NormalizedEvent& view);

// The alert as the silences see it now: its view with its latest episode's severity, and
// whether it is never_suppress under `rules`.
struct SilenceTarget {
  NormalizedEvent view;
  bool never_suppress = false;
};
SilenceTarget silence_target(const rules::Rules& rules, const storage::AlertView& alert);

// The silences among `silences` that cover `target` (rules::silence_covers), in their order.
std::vector<storage::SilenceView> covering(const std::vector<storage::SilenceView>& silences,
                                           const SilenceTarget& target);

}  // namespace tocsin::engine
