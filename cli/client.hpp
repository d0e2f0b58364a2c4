#pragma once
// The command-line client (README "Command-line client"), like Alertmanager's amtool:
// `tocsin alerts`, `show`, `ack`, `unack`, `resolve`, `notifications` and `silence
// add|list|expire` talk to a running `tocsin serve` through its REST API (cli/api_client.hpp).
// Rendering is separate from talking: each view below is a pure function of the API's JSON and
// the time, tested from hand-written answers. Every text that came from outside (names,
// summaries, reasons) is written with its control characters escaped: an alert's name must not
// drive the on-call engineer's terminal.

#include <cstddef>
#include <string>
#include <vector>

#include "core/expected.hpp"
#include "core/json.hpp"
#include "core/time.hpp"

namespace tocsin::cli {

// The widest line a view writes (tables cut their widest column to fit).
constexpr std::size_t k_client_width = 100;

// The answer of POST /api/v1/alerts/{id}/ack|unack|resolve, in one line: `done` ("acknowledged")
// by `by`, and the episode's status now. Every field of the answer is shown escaped, "-" when
// missing or not what the API sends.
std::string action_view(const Json& answer, const std::string& done, const std::string& by);

// GET /api/v1/alerts: ID, STATUS, SEVERITY, LVL, NAME, AGE (of the current episode), ACK BY;
// then how many there are and how to page.
std::string alerts_view(const Json& page, TimePoint now);

// One alert: GET /api/v1/alerts/{id}, its /events (newest first, as the API gives them) and
// GET /api/v1/notifications?alert_id= (newest first). Its current state, episodes, pending
// timers, silences, the timeline of decisions with their reasons (oldest first), and the
// notifications with their attempts.
std::string alert_view(const Json& alert, const Json& events, const Json& notifications,
                       TimePoint now);

// GET /api/v1/notifications: the outbox, newest first.
std::string notifications_view(const Json& page, TimePoint now);

// GET /api/v1/silences.
std::string silences_view(const Json& list, TimePoint now);

// The answer of POST /api/v1/silences or /silences/{id}/expire, in one line.
std::string silence_line(const Json& silence);

// GET /api/v1/subscriptions: SNS confirmations, newest first
// (docs/behaviour.md "SNS subscriptions").
std::string subscriptions_view(const Json& list, TimePoint now);

// The answer of POST /api/v1/subscriptions/{id}/confirm or /reject, in one line.
std::string subscription_line(const Json& subscription);

// `key=value` of --match (a rule's match keys: source, name, severity, metric, namespace,
// account, region) and --label into the `matchers` object of POST /api/v1/silences. The error
// names the flag and the value.
struct SilenceMatchers {
  std::vector<std::string> match, labels;
  std::string fingerprint;
};
Expected<Json, std::string> silence_matchers(const SilenceMatchers& m);

}  // namespace tocsin::cli
