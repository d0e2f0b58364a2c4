// The circuit breaker's rows (docs/behaviour.md "The circuit breaker and the catch-up"):
// Transaction's channel health statements. The decisions about them are server::DeliveryWorker's.

#include "storage/detail/dialect.hpp"
#include "storage/detail/rows.hpp"
#include "storage/sql.hpp"
#include "storage/transaction.hpp"

namespace tocsin::storage {

namespace {

std::optional<TimePoint> optional_time(sql::Statement& q, int column) {
  if (q.is_null(column)) return std::nullopt;
  return from_unix_ms(q.get_int64(column));
}

std::optional<std::int64_t> optional_ms(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return static_cast<std::int64_t>(to_unix_ms(*t));
}

}  // namespace

const char* const k_channel_health_select =
    "SELECT channel, down_since, failures, last_error, changed_at, probe_at, probes, "
    "hold_until, pace_at FROM channel_health";

ChannelHealth read_channel_health(sql::Statement& q) {
  ChannelHealth h;
  h.channel = q.get_text(0);
  h.down_since = optional_time(q, 1);
  h.failures = q.get_int(2);
  h.last_error = q.get_text(3);
  h.changed_at = from_unix_ms(q.get_int64(4));
  h.probe_at = optional_time(q, 5);
  h.probes = q.get_int(6);
  h.hold_until = optional_time(q, 7);
  h.pace_at = optional_time(q, 8);
  return h;
}

std::optional<ChannelHealth> Transaction::channel_health_of(const std::string& channel,
                                                            RowLock lock) {
  static const std::string one = std::string(k_channel_health_select) + " WHERE channel = ?";
  static const std::string wait = one + dialect::for_update(sql::Backend::postgres);
  static const std::string skip = one + dialect::skip_locked(sql::Backend::postgres);
  const bool postgres = dialect::is_postgres(m_db.backend());
  sql::CachedStatement q(m_db, !postgres || lock == RowLock::none ? one
                               : lock == RowLock::wait            ? wait
                                                                  : skip);
  q->bind(1, channel);
  if (!q->step()) return std::nullopt;
  return read_channel_health(q);
}

void Transaction::delete_channel_health(const std::string& channel) {
  sql::CachedStatement q(m_db, "DELETE FROM channel_health WHERE channel = ?");
  q->bind(1, channel);
  q->exec();
}

std::map<std::string, ChannelHealth> Transaction::channel_health() {
  sql::CachedStatement q(m_db, k_channel_health_select);
  std::map<std::string, ChannelHealth> out;
  while (q->step()) {
    ChannelHealth h = read_channel_health(q);
    std::string name = h.channel;
    out.emplace(std::move(name), std::move(h));
  }
  return out;
}

void Transaction::save_channel_health(const ChannelHealth& h) {
  sql::CachedStatement q(
      m_db,
      "INSERT INTO channel_health (channel, down_since, failures, last_error, changed_at, "
      "probe_at, probes, hold_until, pace_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (channel) "
      "DO UPDATE SET down_since = excluded.down_since, failures = excluded.failures, "
      "last_error = excluded.last_error, changed_at = excluded.changed_at, "
      "probe_at = excluded.probe_at, probes = excluded.probes, "
      "hold_until = excluded.hold_until, pace_at = excluded.pace_at");
  q->bind(1, h.channel);
  q->bind(2, optional_ms(h.down_since));
  q->bind(3, h.failures);
  q->bind(4, h.last_error);
  q->bind(5, static_cast<std::int64_t>(to_unix_ms(h.changed_at)));
  q->bind(6, optional_ms(h.probe_at));
  q->bind(7, h.probes);
  q->bind(8, optional_ms(h.hold_until));
  q->bind(9, optional_ms(h.pace_at));
  q->exec();
}

void Transaction::set_channel_probe(const std::string& channel, TimePoint probe_at) {
  sql::CachedStatement q(
      m_db, "UPDATE channel_health SET probe_at = ? WHERE channel = ? AND down_since IS NOT NULL");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(probe_at)));
  q->bind(2, channel);
  q->exec();
}

void Transaction::set_channel_pace(const std::string& channel, std::optional<TimePoint> pace_at) {
  sql::CachedStatement q(
      m_db, "UPDATE channel_health SET pace_at = ? WHERE channel = ? AND down_since IS NULL");
  q->bind(1, optional_ms(pace_at));
  q->bind(2, channel);
  q->exec();
}

std::int64_t Transaction::pending_notifications(const std::string& channel) {
  sql::CachedStatement q(m_db,
                         "SELECT count(*) FROM outbox WHERE status = 'pending' AND channel = ?");
  q->bind(1, channel);
  return q->step() ? q->get_int64(0) : 0;
}

OutageReport Transaction::outage_report(const std::string& channel, TimePoint since) {
  // Through outbox_created: the rows queued since the outage began, every channel's, filtered.
  sql::CachedStatement q(
      m_db,
      "SELECT count(*), count(DISTINCT o.alert_id), count(DISTINCT CASE WHEN EXISTS (SELECT 1 "
      "FROM episodes e WHERE e.alert_id = o.alert_id AND e.status IN ('open','acknowledged')) "
      "THEN o.alert_id END) FROM outbox o WHERE o.created_at >= ? AND o.channel = ? AND "
      "o.action <> 'digest'");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(since)));
  q->bind(2, channel);
  OutageReport r;
  if (q->step()) {
    r.notifications = q->get_int64(0);
    r.alerts = q->get_int64(1);
    r.open_alerts = q->get_int64(2);
  }
  sql::CachedStatement first(
      m_db, "SELECT min(due_at) FROM outbox WHERE status = 'pending' AND channel = ?");
  first->bind(1, channel);
  if (first->step() && !first->is_null(0)) r.first_due = from_unix_ms(first->get_int64(0));
  return r;
}

}  // namespace tocsin::storage
