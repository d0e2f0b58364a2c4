#include "storage/retention.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include "rules/noise.hpp"
#include "storage/sql.hpp"
#include "storage/writer.hpp"

namespace tocsin::storage {

Duration retention_horizon(const rules::Rules& rules) {
  return std::max({rules.storage.retain_events, rules.noise.window, k_min_retention});
}

RetentionPolicy retention_policy(const rules::Rules& rules, TimePoint now) {
  RetentionPolicy p;
  p.now = now;
  p.cutoff = now - retention_horizon(rules);
  p.noise = rules.noise;
  return p;
}

const char* to_string(PruneTable t) {
  switch (t) {
    case PruneTable::episodes:
      return "episodes";
    case PruneTable::decisions:
      return "decisions";
    case PruneTable::outbox:
      return "outbox";
    case PruneTable::inbound:
      return "inbound";
    case PruneTable::subscriptions:
      return "subscriptions";
    case PruneTable::alert_members:
      return "alert_members";
  }
  return "?";
}

bool PruneBatch::done() const {
  return examined < batch_rows;
}

namespace {

// Each query walks one table by (time, id) from the cursor, through the time index of
// migration 6, and says of every row it examines whether it may go (column 2). Bound: 1 and 2
// the cursor (time, id), 3 the cutoff, 4 the batch size. Rows at exactly the cursor's time
// with a smaller id were examined by the previous batch.
//
// The newest row of decisions, outbox and inbound always stays: their ids leave the process
// (an outbox id is the X-Tocsin-Event-Id receivers deduplicate by and the meta-alert alias
// "tocsin-delivery-<id>"; the API shows all three), and without AUTOINCREMENT SQLite gives a
// new row max(id) + 1, so deleting the newest row would hand its id out again.
// Truth values are read as numbers (CASE: PostgreSQL's are booleans). alert_members has no
// rowid (SQLite's is WITHOUT ROWID since migration 11): it walks by (last_seen_at, alert_id),
// through alert_members_seen (migration 8), and deletes the alert's resolved members last seen
// at that time (all of them examined, and all eligible). A firing member is never examined: it
// keeps its group's episode open. A member pruned and seen again counts as new.
const char* select_sql(PruneTable t) {
  if (t == PruneTable::alert_members)
    return "SELECT m.alert_id, m.last_seen_at, 1 FROM alert_members m "
           "WHERE m.state = 'resolved' AND m.last_seen_at >= ?1 AND m.last_seen_at < ?3 AND "
           "NOT (m.last_seen_at = ?1 AND m.alert_id <= ?2) ORDER BY m.last_seen_at, m.alert_id "
           "LIMIT ?4";
  switch (t) {
    case PruneTable::episodes:
      // Column 3 and 4 name the episode, for sliding its alert's noise window first.
      return "SELECT e.id, e.closed_at, CASE WHEN (e.status IN ('resolved','expired','superseded') "
             "AND "
             "e.last_activity_at < ?3 AND e.opened_at < ?3 AND "
             "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = e.alert_id AND "
             "o.episode = e.number AND o.status = 'pending') AND "
             "NOT EXISTS (SELECT 1 FROM timers t WHERE t.alert_id = e.alert_id AND "
             "t.episode = e.number) AND "
             "NOT EXISTS (SELECT 1 FROM digest_items d WHERE d.alert_id = e.alert_id AND "
             "d.episode = e.number)) THEN 1 ELSE 0 END, e.alert_id, e.number "
             "FROM episodes e WHERE e.closed_at IS NOT NULL AND e.closed_at >= ?1 AND "
             "e.closed_at < ?3 AND NOT (e.closed_at = ?1 AND e.id <= ?2) "
             "ORDER BY e.closed_at, e.id LIMIT ?4";
    case PruneTable::decisions:
      return "SELECT d.id, d.at, CASE WHEN (d.episode IS NULL OR NOT EXISTS (SELECT 1 FROM "
             "episodes e WHERE e.alert_id = d.alert_id AND e.number = d.episode)) AND "
             "d.id < (SELECT max(id) FROM decisions) THEN 1 ELSE 0 END "
             "FROM decisions d WHERE d.at >= ?1 AND d.at < ?3 AND NOT (d.at = ?1 AND d.id <= ?2) "
             "ORDER BY d.at, d.id LIMIT ?4";
    case PruneTable::outbox:
      return "SELECT o.id, o.created_at, CASE WHEN (o.status != 'pending' AND (o.episode IS NULL "
             "OR "
             "NOT EXISTS (SELECT 1 FROM episodes e WHERE e.alert_id = o.alert_id AND "
             "e.number = o.episode)) AND NOT EXISTS (SELECT 1 FROM outbox m WHERE "
             "m.about = o.id) AND o.id < (SELECT max(id) FROM outbox)) THEN 1 ELSE 0 END "
             "FROM outbox o WHERE o.created_at >= ?1 AND o.created_at < ?3 AND "
             "NOT (o.created_at = ?1 AND o.id <= ?2) ORDER BY o.created_at, o.id LIMIT ?4";
    case PruneTable::inbound:
      return "SELECT i.id, i.received_at, CASE WHEN NOT EXISTS (SELECT 1 FROM decisions d WHERE "
             "d.inbound_id = i.id) AND i.id < (SELECT max(id) FROM inbound) THEN 1 ELSE 0 END "
             "FROM inbound i WHERE i.received_at >= ?1 AND i.received_at < ?3 AND "
             "NOT (i.received_at = ?1 AND i.id <= ?2) ORDER BY i.received_at, i.id LIMIT ?4";
    case PruneTable::subscriptions:
      // Few rows (one per SNS subscription request): no index needed.
      // A pending one waits for a person; a `confirming` one for its visit to be recorded.
      return "SELECT s.id, s.updated_at, CASE WHEN s.status != 'pending' AND "
             "s.status != 'confirming' THEN 1 ELSE 0 END "
             "FROM subscriptions s WHERE s.updated_at >= ?1 AND s.updated_at < ?3 AND "
             "NOT (s.updated_at = ?1 AND s.id <= ?2) ORDER BY s.updated_at, s.id LIMIT ?4";
    case PruneTable::alert_members:
      break;  // above
  }
  return "";
}

const char* delete_sql(PruneTable t) {
  if (t == PruneTable::alert_members)
    return "DELETE FROM alert_members WHERE alert_id = ?1 AND last_seen_at = ?2 AND "
           "state = 'resolved'";
  switch (t) {
    case PruneTable::episodes:
      return "DELETE FROM episodes WHERE id = ?";
    case PruneTable::decisions:
      return "DELETE FROM decisions WHERE id = ?";
    case PruneTable::outbox:
      return "DELETE FROM outbox WHERE id = ?";
    case PruneTable::inbound:
      return "DELETE FROM inbound WHERE id = ?";
    case PruneTable::subscriptions:
      return "DELETE FROM subscriptions WHERE id = ?";
    case PruneTable::alert_members:
      break;  // above
  }
  return "";
}

struct Candidate {
  std::int64_t id = 0;
  std::int64_t at = 0;  // the row's time
  std::int64_t alert_id = 0;
  int number = 0;
};

}  // namespace

PruneBatch Transaction::prune_batch(PruneTable table, const RetentionPolicy& policy,
                                    PruneCursor from) {
  PruneBatch batch;
  batch.batch_rows = policy.batch_rows;
  batch.next = from;
  std::vector<Candidate> candidates;
  {
    sql::CachedStatement q(m_db, select_sql(table));
    q->bind(1, static_cast<int64_t>(from.at));
    q->bind(2, static_cast<int64_t>(from.id));
    q->bind(3, static_cast<int64_t>(to_unix_ms(policy.cutoff)));
    q->bind(4, policy.batch_rows);
    while (q->step()) {
      ++batch.examined;
      batch.next = {q->get_int64(1), q->get_int64(0)};
      if (q->get_int(2) == 0) continue;
      Candidate c{q->get_int64(0), q->get_int64(1)};
      if (table == PruneTable::episodes) {
        c.alert_id = q->get_int64(3);
        c.number = q->get_int(4);
      }
      candidates.push_back(c);
    }
  }

  if (table == PruneTable::episodes) {
    // The noise window subtracts an episode when it leaves the window, lazily, at the alert's
    // next change (rules/noise.hpp). Slide each alert now, as the engine would, so every
    // episode about to go has been subtracted; keep the ones still counted.
    std::set<std::int64_t> alerts;
    for (const auto& c : candidates)
      alerts.insert(c.alert_id);
    std::map<std::int64_t, int> window_first;
    for (std::int64_t id : alerts) {
      auto loaded = load_alert_by_id(id);
      if (!loaded) continue;
      AlertRecord& alert = loaded->first;
      const rules::NoiseState before = alert.noise;
      rules::slide(alert.noise, episodes_leaving(alert.id, alert.noise.window_first,
                                                 rules::window_cutoff(policy.noise, policy.now)));
      if (!(alert.noise == before)) {
        alert.noise_score =
            rules::score(alert.noise, policy.noise, alert.first_seen, policy.now).score;
        save_alert(alert);
      }
      window_first[id] = alert.noise.window_first;
    }
    std::erase_if(candidates, [&](const Candidate& c) {
      auto it = window_first.find(c.alert_id);
      return it == window_first.end() || c.number >= it->second;
    });
  }

  if (table == PruneTable::outbox) {
    sql::CachedStatement attempts(m_db, "DELETE FROM delivery_attempts WHERE outbox_id = ?");
    for (const auto& c : candidates) {
      attempts->reset();
      attempts->bind(1, static_cast<int64_t>(c.id));
      batch.deleted["delivery_attempts"] += attempts->exec();
    }
  }
  const bool by_time = table == PruneTable::alert_members;
  sql::CachedStatement del(m_db, delete_sql(table));
  for (const auto& c : candidates) {
    del->reset();
    del->bind(1, static_cast<int64_t>(c.id));
    if (by_time) del->bind(2, static_cast<int64_t>(c.at));
    batch.deleted[to_string(table)] += del->exec();
  }
  return batch;
}

PruneRun prune(Writer& writer, const RetentionPolicy& policy) {
  PruneRun run;
  for (PruneTable table : k_prune_order) {
    PruneCursor cursor;
    for (;;) {
      PruneBatch batch;
      auto status =
          writer.submit([&](Transaction& tx) { batch = tx.prune_batch(table, policy, cursor); })
              .get();
      ++run.batches;
      if (status) {
        run.ok = false;
        run.error = status->message;
        run.fault = status->fault;
        return run;
      }
      for (const auto& [name, n] : batch.deleted)
        run.deleted[name] += n;
      if (batch.done()) break;
      cursor = batch.next;
    }
  }
  return run;
}

}  // namespace tocsin::storage
