#include "server/engine.hpp"

#include <spdlog/spdlog.h>

#include "rules/dedup_key.hpp"
#include "rules/lifecycle.hpp"

namespace tocsin {

Severity effective_severity(const rules::Rules& rules, const rules::Rule* rule,
                            const NormalizedEvent& e) {
  if (rule && rule->sets_severity) return rule->policy.severity;
  return e.severity.value_or(rule ? rule->policy.severity : rules.defaults.severity);
}

namespace {

// Copies what the latest event says about the alert onto its record (names, labels and
// summary may change over time; identity does not).
void describe_alert(storage::AlertRecord& a, const NormalizedEvent& e, TimePoint now) {
  if (a.id == 0) a.first_seen = now;
  a.source = e.source;
  a.name = e.name;
  a.account = e.account;
  a.region = e.region;
  a.metric = e.metric;
  a.namespace_ = e.namespace_;
  a.labels = e.labels;
  a.summary = e.summary;
  a.description = e.description;
  a.last_seen = now;
}

// REQUIRES: runs on the writer thread inside the group transaction.
IngestResult apply_event(storage::Transaction& tx, const rules::Rules& rules,
                         const NormalizedEvent& event, std::int64_t inbound_id, TimePoint now) {
  // An event the source names (an Alertmanager alert in a re-sent group, ...) is applied once.
  const std::string event_key =
      event.source_event_id.empty() ? std::string() : event.hook + ":" + event.source_event_id;
  if (!event_key.empty()) {
    if (auto earlier = tx.find_event_decision(event_key)) {
      return IngestResult{earlier->alert_id, earlier->fingerprint, earlier->episode,
                          Outcome::redelivery, "seen_before"};
    }
  }

  auto matched = rules.matching(event);
  const rules::Rule* rule = matched.empty() ? nullptr : matched.front();
  const rules::AlertPolicy& policy = rule ? rule->policy : rules.defaults;
  // A rule may regroup alerts under its own identity (SPEC §8 dedup_key).
  const std::string fingerprint = rule && rule->dedup_key
                                      ? rules::render_dedup_key(*rule->dedup_key, event)
                                      : event.fingerprint;

  storage::AlertRecord alert;
  rules::AlertState state;
  if (auto loaded = tx.load_alert(fingerprint)) {
    alert = std::move(loaded->first);
    state = std::move(loaded->second);
  }

  rules::Decision d = rules::decide(policy, state, event, effective_severity(rules, rule, event),
                                    rule ? rule->policy.priority : rules.defaults.priority, now);

  alert.fingerprint = fingerprint;
  describe_alert(alert, event, now);
  alert.rule = rule ? rule->name : "";
  if (d.opened) alert.last_episode_number = d.active->number;
  alert.id = tx.save_alert(alert);

  // The ended episode is written first: the schema allows one active episode per alert.
  if (d.ended) tx.save_episode(alert.id, fingerprint, *d.ended, false);
  if (d.active) tx.save_episode(alert.id, fingerprint, *d.active, d.opened);

  storage::DecisionRecord record;
  record.at = now;
  record.alert_id = alert.id;
  if (d.active) {
    record.episode = d.active->number;
  } else if (d.ended) {
    record.episode = d.ended->number;
  } else if (state.active) {
    record.episode = state.active->number;
  }
  record.inbound_id = inbound_id;
  record.outcome = std::string(to_string(d.outcome));
  record.reason = rule ? d.reason : d.reason + ";no_rule_matched";
  record.rule = rule ? rule->name : "";
  record.rules_hash = rules.hash;
  record.fingerprint = fingerprint;
  record.event_key = event_key;
  tx.insert_decision(record);

  return IngestResult{alert.id, fingerprint, record.episode, d.outcome, record.reason};
}

}  // namespace

Expected<std::vector<IngestResult>, storage::WriteError> Engine::ingest(Inbound inbound) {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  std::vector<IngestResult> results;
  const TimePoint now = m_clock.now();

  auto status = m_writer.submit([&](storage::Transaction& tx) {
    const auto& rec = inbound.record;
    if (!rec.delivery_id.empty()) {
      if (auto earlier = tx.find_inbound(rec.hook, rec.delivery_id)) {
        for (const auto& d : tx.decisions_for_inbound(*earlier)) {
          results.push_back(IngestResult{d.alert_id, d.fingerprint, d.episode, Outcome::redelivery,
                                         "seen_before"});
        }
        return;
      }
    }
    const std::int64_t inbound_id = tx.insert_inbound(rec);
    if (inbound.subscription) tx.save_subscription(*inbound.subscription);
    if (inbound.events.empty()) {
      storage::DecisionRecord record;
      record.at = now;
      record.inbound_id = inbound_id;
      record.outcome = std::string(to_string(Outcome::ignored));
      record.reason = inbound.ignored_reason;
      record.rules_hash = rules.hash;
      tx.insert_decision(record);
      results.push_back(
          IngestResult{std::nullopt, "", std::nullopt, Outcome::ignored, inbound.ignored_reason});
      return;
    }
    for (const auto& event : inbound.events) {
      results.push_back(apply_event(tx, rules, event, inbound_id, now));
    }
  });

  if (auto error = status.get()) return unexpected(std::move(*error));

  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    // A request without events (ignored input) is counted under its hook.
    const std::string_view event_source = i < inbound.events.size()
                                              ? to_string(inbound.events[i].source)
                                              : std::string_view(inbound.record.hook);
    m_metrics.count_event(event_source, to_string(r.outcome));
    spdlog::info("{} event {}: {} ({}) alert={} episode={}", inbound.record.hook,
                 inbound.record.delivery_id, to_string(r.outcome), r.reason,
                 r.fingerprint.empty() ? "-" : r.fingerprint, r.episode.value_or(0));
  }
  return results;
}

storage::WriteStatus Engine::record_ping(const std::string& name) {
  const TimePoint now = m_clock.now();
  return write([&](storage::Transaction& tx) { tx.record_heartbeat_ping(name, now); });
}

storage::WriteStatus Engine::write(std::function<void(storage::Transaction&)> work) {
  return m_writer.submit(std::move(work)).get();
}

}  // namespace tocsin
