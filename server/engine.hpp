#pragma once
// One event, one straight path: the hooks hand the engine normalized events; for each it
// loads the alert, lets the pure decision core (rules/lifecycle) decide, and writes the
// inbound request, the alert, its episodes and the decision in the same group transaction.
// The caller answers only after that commit.

#include <optional>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/outcome.hpp"
#include "server/metrics.hpp"
#include "server/rules_holder.hpp"
#include "storage/writer.hpp"

namespace tocsin {

struct IngestResult {
  std::optional<std::int64_t> alert_id;  // absent when no alert was involved (ignored input)
  std::string fingerprint;
  std::optional<int> episode;
  Outcome outcome = Outcome::ignored;
  std::string reason;
};

struct Inbound {
  storage::InboundRecord record;
  std::vector<NormalizedEvent> events;
  // Why an accepted request yields no events (e.g. an SNS message that is not an alarm);
  // recorded as an `ignored` decision. Used only when `events` is empty.
  std::string ignored_reason;
  // An SNS (un)subscription confirmation to list for a human, stored with the request.
  std::optional<storage::SubscriptionRecord> subscription;
};

class Engine {
 public:
  Engine(storage::Writer& writer, const Clock& clock, const RulesHolder& rules, Metrics& metrics)
      : m_writer(writer), m_clock(clock), m_rules(rules), m_metrics(metrics) {}

  // Decides and durably records the request. Blocks until committed. A redelivered request
  // (same hook and delivery id) changes nothing and reports outcome `redelivery`.
  Expected<std::vector<IngestResult>, storage::WriteError> ingest(Inbound inbound);

  // Records a heartbeat ping (what a missed ping does arrives with escalation).
  storage::WriteStatus record_ping(const std::string& name);

  // Runs `work` in the writer, after a commit. For small state updates outside the event path.
  storage::WriteStatus write(std::function<void(storage::Transaction&)> work);

 private:
  storage::Writer& m_writer;
  const Clock& m_clock;
  const RulesHolder& m_rules;
  Metrics& m_metrics;
};

// The severity an event's episode gets: the one the matched rule names, else the one the
// source states, else the defaults'.
Severity effective_severity(const rules::Rules& rules, const rules::Rule* rule,
                            const NormalizedEvent& e);

}  // namespace tocsin
