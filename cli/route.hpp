#pragma once
// `tocsin route` (README "Rules as code"): which rules an alert matches, which apply, and how the
// alert would be routed: escalation steps, severity and priority, noise routing, its identity.
// Nothing is stored and nothing is sent; the answer comes from the engine's own functions
// (Rules::matching, engine::routing_for, engine::noise_routing, engine::alert_fingerprint) and
// the alert from the ingest adapters, so it is what a running server would decide.

#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/time.hpp"
#include "rules/rules.hpp"

namespace tocsin::cli {

struct RouteOptions {
  std::string rules_path;
  // The alert: a JSON file ("-": standard input) holding a generic-format event, a CloudWatch
  // alarm message, or an SNS Notification carrying one. Empty: from the flags below.
  std::string alert_path;
  // --hook: ALERT is a request body for this hook (sns, eventbridge, grafana, opsgenie,
  // mapped/NAME, ...), read by the hook's own intake as `tocsin replay` reads a hook line.
  std::string hook;
  std::string name;  // --name: build the alert from flags
  std::vector<std::pair<std::string, std::string>> labels;
  std::string source = "generic";                   // generic | cloudwatch | alertmanager
  std::string severity;                             // as the source would state it; empty: none
  std::string account, region, metric, namespace_;  // cloudwatch only
  std::optional<double> noise;                      // --noise: the alert's noise score, 0-100
  // --transient N/M: N of the M episodes that ended in the noise window were transient.
  std::optional<std::pair<int, int>> transient;
  bool json = false;
};

// The alert the flags describe, through the source's own adapter (so its fingerprint is the
// server's). The error names the problem.
Expected<NormalizedEvent, std::string> alert_from_flags(const RouteOptions& options, TimePoint now);

// The one alert a request body to `hook` carries, read by that hook's intake with `rules`
// (mapped sources need theirs). The error names the problem as the hook would answer it.
Expected<NormalizedEvent, std::string> alert_from_hook_body(const std::string& hook,
                                                            const std::string& body,
                                                            const rules::RulesSnapshot& rules);

// The alert a JSON document describes (see RouteOptions::alert_path).
Expected<NormalizedEvent, std::string> alert_from_json(const std::string& text);

// Returns the exit status: 0 a rule applies, 1 none does, 2 usage, input or rules errors
// (named on `err`).
int run_route(const RouteOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace tocsin::cli
