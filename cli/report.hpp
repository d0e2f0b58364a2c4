#pragma once
// `tocsin report` (README "Running"): an audit of what Tocsin recorded, written as advice an SRE
// can act on. Seven sections, in this order in the text and in the JSON:
//
//   noisiest           the noisiest alerts (score over noise.window), each factor's points,
//                      whether their episodes are demoted, and suggested fixes
//   stale              open or acknowledged episodes idle for longer than their rule's
//                      max_open_age, or flagged stale by the sweep: oldest first
//   unmatched_rules    rules of the current file that were never the first match of an event
//                      in the period
//   no_rule            alerts whose events matched no rule: recorded, nobody notified
//   no_escalation      alerts whose episodes notified nobody although a rule matched them
//   failed_deliveries  notifications that failed for good, per channel
//   silences           silences in force now; and in the period, those whose withheld episodes
//                      were still firing at their end (they paged then), and those that
//                      matched no alert seen while they were in force
//
// Gathering (reads the database and the rules) is separate from rendering (pure functions of
// a Report), so the text and the JSON are tested from hand-built reports.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "rules/noise.hpp"
#include "rules/rules.hpp"
#include "storage/reader.hpp"

namespace tocsin::cli {

struct ReportOptions {
  std::string rules_path;  // resolved: flag > TOCSIN_RULES > ./rules.yaml
  std::string db_path;     // resolved: flag > TOCSIN_DB > ./tocsin.db
  Duration since = std::chrono::hours(24 * 7);
  bool json = false;
};

struct NoisyEntry {
  std::int64_t alert_id = 0;
  std::string fingerprint;
  Source source = Source::generic;
  std::string rule;  // that matched its last event; "" for none
  int episode = 0;   // its latest episode (0: none)
  std::optional<EpisodeStatus> status;
  rules::NoiseScore score;
  // Its new episodes go to this low-priority channel instead of the escalation: the rule has
  // `low_priority`, is not `never_suppress`, and the score is above demote_above.
  std::optional<std::string> demoted_to;
  // How it is routed, in a few words ("demoted to digest", "never_suppress: pages", ...).
  std::string routing;
  std::vector<std::string> advice;
};

struct StaleEntry {
  std::int64_t alert_id = 0;
  std::string fingerprint;
  Source source = Source::generic;
  int episode = 0;
  std::string alias;
  EpisodeStatus status = EpisodeStatus::open;
  std::string rule;
  TimePoint opened_at{}, last_activity_at{};
  Duration max_open_age{0};
  std::optional<TimePoint> flagged_stale_at;
  std::string acknowledged_by;
  std::string advice;
};

struct UnmatchedRule {
  std::string name;
  int line = 0;
  // Earlier rules that say `continue: true`: this rule may have applied after one of them,
  // which the decision log does not record.
  std::vector<std::string> after_continue;
  // An earlier rule that matches everything and does not continue: this one can never match.
  std::optional<std::string> shadowed_by;
  std::string advice;
};

struct NoRuleEntry {
  storage::UnroutedAlert alert;
  std::string advice;
};

struct NoEscalationEntry {
  storage::SilentEpisodes episodes;
  std::string advice;
};

struct FailedEntry {
  storage::FailedChannel channel;
  std::string advice;
};

// A silence worth a look (docs/behaviour.md "Silences").
struct SilenceEntry {
  storage::SilenceView view;  // the silence, the episodes it withheld, how many paged at its end
  bool active = false;        // in force now
  // No alert with an event while it was in force (up to now) matches it, and it withheld
  // nothing: a typo in its matchers protects nobody.
  bool matched_nothing = false;
  std::vector<std::string> advice;
};

struct Report {
  TimePoint at{};     // now
  Duration since{0};  // the period: [at - since, at]
  std::string rules_hash;
  rules::Noise noise;  // the score's configuration: window, demote_above, ...
  std::vector<NoisyEntry> noisiest;
  std::vector<StaleEntry> stale;
  std::vector<UnmatchedRule> unmatched_rules;
  std::vector<NoRuleEntry> no_rule;
  std::vector<NoEscalationEntry> no_escalation;
  std::vector<FailedEntry> failed_deliveries;
  // Active ones first (by id), then the ended ones of the period that paged at their end or
  // matched nothing (by start).
  std::vector<SilenceEntry> silences;
};

// Reads everything the report needs as of `now`. Throws what the reader throws
// (storage::DatabaseError, storage::ReadError).
Report gather_report(storage::Reader& reader, const rules::Rules& rules, TimePoint now,
                     Duration since);

// An age for people: exact below a minute, then to the minute, then to the hour ("62d3h").
std::string format_age(Duration d);

// The report as a readable text: headed sections, aligned columns, advice under each row,
// "nothing to report" for an empty section.
std::string report_text(const Report& report);

// The report as one JSON document, keys in section order:
// at, since, rules_hash, noisiest, stale, unmatched_rules, no_rule, no_escalation,
// failed_deliveries, silences.
std::string report_json(const Report& report);

// The command: loads the rules, opens the database read-only, prints the report. Returns the
// exit status: 0 done, 2 when the rules file is invalid or the database missing, unreadable
// or of another schema version (the reason on `err`).
int run_report(const ReportOptions& options, const Clock& clock, std::ostream& out,
               std::ostream& err);

}  // namespace tocsin::cli
