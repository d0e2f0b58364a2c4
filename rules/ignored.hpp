#pragma once
// What a rule's policy makes of an event before anything known about its alert counts
// (docs/behaviour.md "Other hooks"): the first question rules::decide asks, and the one
// `tocsin route` asks to say the same (README "Rules as code").

#include "core/event.hpp"
#include "rules/rules.hpp"

namespace tocsin::rules {

// Why decide() ignores `event` whatever the state of its alert, or nullptr when it does not:
// reason::k_insufficient_data (INSUFFICIENT_DATA under `insufficient_data: ignore`) or
// reason::k_actions_suppressed (a firing event whose source suppressed its own actions, under
// `actions_suppressed: ignore`). `policy` is the one decide() gets: the first applying rule's,
// else the defaults. Defined in rules/lifecycle.cpp beside decide().
const char* ignored_by_policy(const AlertPolicy& policy, const NormalizedEvent& event);

}  // namespace tocsin::rules
