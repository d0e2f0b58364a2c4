#pragma once
// Bounded storage: deleting what `storage.retain_events` no longer keeps
// (README "Retention and disk size"). A run walks each table oldest first in small batches; every
// batch is one job of the writer (so ingest jobs interleave with it and none waits behind more than
// one batch), and deletes only rows older than the horizon that nothing live still needs:
//   episodes    ended, quiet since before the horizon, with no pending notification, timer or
//               digest item, and already subtracted from the alert's noise window (the alert
//               is slid first: the window's counters never meet a pruned episode);
//   decisions   whose episode is gone (or that have none): an open episode keeps its log;
//   outbox      not pending, whose episode is gone, and no meta-alert points at; with its
//               delivery attempts;
//   inbound     requests no kept decision points at;
//   subscriptions  confirmations handled (not pending or confirming) before the horizon;
//   alert_members  resolved members not seen since before the horizon (a dedup_key group over
//               short-lived things, such as pods, would otherwise keep one row per pod ever seen).
// Alerts, firing members, timers, digest items and heartbeat pings are live state and are never
// pruned.

#include <cstdint>
#include <map>
#include <string>

#include "core/time.hpp"
#include "rules/rules.hpp"
#include "storage/database.hpp"

namespace tocsin::storage {

class Writer;

// Nothing younger than this is pruned, whatever retain_events says: `tocsin report` looks back
// 7 days by default.
inline constexpr Duration k_min_retention = std::chrono::hours(24 * 7);

// How long stored events are kept: retain_events, but never less than the noise window (its
// counters read the episodes in it) nor k_min_retention. Redeliveries (the same SNS MessageId,
// the same source event id) are recognised for at least this long.
Duration retention_horizon(const rules::Rules& rules);

// The tables a run prunes, in the order it prunes them (each frees rows the next can take).
enum class PruneTable { episodes, decisions, outbox, inbound, subscriptions, alert_members };
inline constexpr PruneTable k_prune_order[] = {
    PruneTable::episodes, PruneTable::decisions,     PruneTable::outbox,
    PruneTable::inbound,  PruneTable::subscriptions, PruneTable::alert_members};
const char* to_string(PruneTable t);

struct RetentionPolicy {
  TimePoint now{};
  TimePoint cutoff{};  // rows older than this may go (now - retention_horizon)
  rules::Noise noise;  // to slide an alert's window before its episodes go
  int batch_rows = 500;  // rows examined per batch (one writer job)
};
RetentionPolicy retention_policy(const rules::Rules& rules, TimePoint now);

// Where a run has got to in one table: rows are walked by (time, id).
struct PruneCursor {
  std::int64_t at = INT64_MIN;
  std::int64_t id = 0;
};

struct PruneBatch {
  int examined = 0;
  std::map<std::string, std::int64_t> deleted;  // by table (delivery_attempts with outbox)
  PruneCursor next;
  bool done() const;  // examined fewer rows than a batch: the table is finished for this run
  int batch_rows = 0;
};

struct PruneRun {
  std::map<std::string, std::int64_t> deleted;  // by table
  int batches = 0;
  bool ok = true;  // false: a batch failed to commit (the next run starts over)
  std::string error;
  DatabaseFault fault = DatabaseFault::none;  // the database's, when that is why
};

// Runs every table's batches to the end, each as its own writer job, waiting for each.
// Safe to call while the writer serves other callers.
PruneRun prune(Writer& writer, const RetentionPolicy& policy);

}  // namespace tocsin::storage
