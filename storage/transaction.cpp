#include "storage/transaction.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <set>
#include <stdexcept>
#include <tuple>

#include "core/hash.hpp"
#include "core/json.hpp"
#include "storage/codec.hpp"
#include "storage/detail/body.hpp"
#include "storage/detail/dialect.hpp"
#include "storage/detail/rows.hpp"
#include "storage/sql.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::storage {

namespace {

void bind_optional_time(sql::Statement& q, int index, const std::optional<TimePoint>& t) {
  if (t) {
    q.bind(index, static_cast<int64_t>(to_unix_ms(*t)));
  } else {
    q.bind_null(index);  // NULL
  }
}

// An INSERT whose caller needs its row's id, in each backend's cheapest spelling. PostgreSQL:
// with RETURNING id, one round trip (lastval() would be another). SQLite: without, the id read
// from last_insert_rowid(); its RETURNING runs a trigger program and a temporary table per
// row, which made these inserts a fifth of a replay's CPU.
class IdInsert {
 public:
  explicit IdInsert(std::string insert)
      : m_sqlite(insert), m_postgres(std::move(insert) + " RETURNING id") {}
  const std::string& sql(sql::Backend b) const {
    return dialect::is_postgres(b) ? m_postgres : m_sqlite;
  }

 private:
  std::string m_sqlite, m_postgres;
};

// Runs `q`, prepared from an IdInsert for `db`'s backend, and returns the id it gave its row.
std::int64_t inserted_id(sql::Connection& db, sql::Statement& q) {
  if (!dialect::is_postgres(db.backend())) {
    q.exec();
    return db.last_insert_id();
  }
  if (!q.step()) throw std::logic_error("INSERT ... RETURNING id returned no row");
  return q.get_int64(0);
}

}  // namespace

std::optional<std::int64_t> Transaction::find_inbound(const std::string& hook,
                                                      const std::string& delivery_id) {
  sql::CachedStatement q(m_db, "SELECT id FROM inbound WHERE hook = ? AND delivery_id = ?");
  q->bind(1, hook);
  q->bind(2, delivery_id);
  if (q->step()) return q->get_int64(0);
  return std::nullopt;
}

namespace {

void bind_inbound(sql::Statement& q, const InboundRecord& r, sql::Backend backend) {
  q.bind(1, static_cast<int64_t>(to_unix_ms(r.received_at)));
  q.bind(2, r.hook);
  if (r.delivery_id.empty()) {
    q.bind_null(3);
  } else {
    q.bind(3, r.delivery_id);
  }
  q.bind(4, r.headers_json);
  // Compressed when that pays (storage/detail/body.hpp says how each backend tells).
  bind_stored_body(q, 5, stored_body_of(r), backend);
}

}  // namespace

std::optional<std::int64_t> Transaction::insert_new_inbound(const InboundRecord& r) {
  // DO NOTHING on inbound_delivery, the only unique index besides the id: a redelivery (a row
  // with the same hook and delivery id, committed, or on PostgreSQL committed by the
  // transaction this one waited for) inserts nothing and returns no row.
  static const IdInsert insert(
      "INSERT INTO inbound (received_at, hook, delivery_id, headers, body) VALUES (?,?,?,?,?) "
      "ON CONFLICT DO NOTHING");
  sql::CachedStatement q(m_db, insert.sql(m_db.backend()));
  bind_inbound(q, r, m_db.backend());
  if (!dialect::is_postgres(m_db.backend())) {
    if (q->exec() == 0) return std::nullopt;
    return m_db.last_insert_id();
  }
  if (!q->step()) return std::nullopt;
  return q->get_int64(0);
}

std::int64_t Transaction::insert_inbound(const InboundRecord& r) {
  static const IdInsert insert(
      "INSERT INTO inbound (received_at, hook, delivery_id, headers, body) VALUES (?,?,?,?,?)");
  sql::CachedStatement q(m_db, insert.sql(m_db.backend()));
  q->bind(1, static_cast<int64_t>(to_unix_ms(r.received_at)));
  q->bind(2, r.hook);
  if (r.delivery_id.empty()) {
    q->bind_null(3);
  } else {
    q->bind(3, r.delivery_id);
  }
  q->bind(4, r.headers_json);
  // Compressed when that pays (storage/detail/body.hpp says how each backend tells).
  bind_stored_body(*q, 5, stored_body_of(r), m_db.backend());
  return inserted_id(m_db, q);
}

namespace {}  // namespace

std::vector<DecisionRecord> Transaction::decisions_for_inbound(std::int64_t inbound_id) {
  sql::CachedStatement q(m_db, std::string("SELECT ") + k_decision_columns +
                                   " FROM decisions d WHERE inbound_id = ? ORDER BY id");
  q->bind(1, static_cast<int64_t>(inbound_id));
  std::vector<DecisionRecord> out;
  while (q->step())
    out.push_back(read_decision(q, 0));
  return out;
}

std::optional<DecisionRecord> Transaction::find_event_decision(const std::string& event_key) {
  sql::CachedStatement q(
      m_db, std::string("SELECT ") + k_decision_columns + " FROM decisions d WHERE event_key = ?");
  q->bind(1, event_key);
  if (q->step()) return read_decision(q, 0);
  return std::nullopt;
}

bool Transaction::save_subscription(const SubscriptionRecord& s) {
  sql::CachedStatement q(m_db,
                         "INSERT INTO subscriptions (topic_arn, kind, url, message_id, "
                         "received_at, status, updated_at, detail) VALUES (?,?,?,?,?,?,?,?) "
                         "ON CONFLICT DO NOTHING");
  q->bind(1, s.topic_arn);
  q->bind(2, std::string(to_text(s.kind)));
  q->bind(3, s.url);
  q->bind(4, s.message_id);
  q->bind(5, static_cast<int64_t>(to_unix_ms(s.received_at)));
  q->bind(6, std::string(to_text(s.status)));
  q->bind(7, static_cast<int64_t>(to_unix_ms(s.updated_at)));
  q->bind(8, s.detail);
  return q->exec() == 1;
}

std::optional<std::int64_t> Transaction::find_subscription(const std::string& message_id) {
  sql::CachedStatement q(m_db, "SELECT id FROM subscriptions WHERE message_id = ?");
  q->bind(1, message_id);
  if (!q->step()) return std::nullopt;
  return q->get_int64(0);
}

std::optional<SubscriptionRecord> Transaction::load_subscription(std::int64_t id) {
  sql::CachedStatement q(m_db, std::string("SELECT ") + k_subscription_columns +
                                   " FROM subscriptions WHERE id = ?" +
                                   dialect::for_update(m_db.backend()));
  q->bind(1, static_cast<int64_t>(id));
  if (!q->step()) return std::nullopt;
  return read_subscription(*q, 0);
}

void Transaction::update_subscription(const SubscriptionRecord& s) {
  sql::CachedStatement q(m_db,
                         "UPDATE subscriptions SET status = ?, updated_at = ?, detail = ?, "
                         "decided_by = ?, subscription_arn = ? WHERE id = ?");
  q->bind(1, std::string(to_text(s.status)));
  q->bind(2, static_cast<int64_t>(to_unix_ms(s.updated_at)));
  q->bind(3, s.detail);
  q->bind(4, s.decided_by);
  q->bind(5, s.subscription_arn);
  q->bind(6, static_cast<int64_t>(s.id));
  q->exec();
}

namespace {

std::string ping_sql(sql::Backend b) {
  return "INSERT INTO heartbeat_pings (name, first_ping_at, last_ping_at, pings) "
         "VALUES (?1, ?2, ?2, 1) ON CONFLICT(name) DO UPDATE SET last_ping_at = " +
         dialect::greatest(b, "heartbeat_pings.last_ping_at", "?2") +
         ", pings = heartbeat_pings.pings + 1";
}

}  // namespace

void Transaction::record_heartbeat_ping(const std::string& name, TimePoint at) {
  static const std::string sqlite = ping_sql(sql::Backend::sqlite);
  static const std::string postgres = ping_sql(sql::Backend::postgres);
  sql::CachedStatement q(m_db, dialect::is_postgres(m_db.backend()) ? postgres : sqlite);
  q->bind(1, name);
  q->bind(2, static_cast<int64_t>(to_unix_ms(at)));
  q->exec();
}

namespace {

std::optional<std::pair<AlertRecord, rules::AlertState>> load_alert_where(
    sql::Connection& db, const char* where, const std::function<void(sql::Statement&)>& bind) {
  // Locked to the commit: events for one alert are applied one at a time, whichever instance
  // receives them (docs/postgres.md "Instances and claims").
  sql::CachedStatement q(db, std::string("SELECT ") + k_alert_columns + " FROM alerts a WHERE " +
                                 where + dialect::for_update(db.backend()));
  bind(*q);
  if (!q->step()) return std::nullopt;
  AlertRecord alert = read_alert(q, 0, db.backend());

  rules::AlertState state;
  state.last_episode_number = alert.last_episode_number;
  sql::CachedStatement e(db, std::string("SELECT ") + k_episode_columns +
                                 " FROM episodes e WHERE e.alert_id = ? AND e.status IN "
                                 "('open','acknowledged')");
  e->bind(1, static_cast<int64_t>(alert.id));
  if (e->step()) {
    state.active = read_episode(e, 0).episode;
    state.notified = state.active->notified;
  }
  return std::make_pair(std::move(alert), std::move(state));
}

}  // namespace

std::optional<std::pair<AlertRecord, rules::AlertState>> Transaction::load_alert(
    const std::string& fingerprint) {
  return load_alert_where(m_db, "a.fingerprint = ?",
                          [&](sql::Statement& q) { q.bind(1, fingerprint); });
}

void Transaction::load_members(std::int64_t alert_id, const std::string& member,
                               rules::AlertState& state) {
  // A member holds the active episode open only while it fires as far as that episode knows:
  // seen since it opened, or since the episode it superseded opened. A member last seen firing
  // before a person resolved (or expiry ended) an earlier episode, and silent since, is a ghost
  // (its resolve was lost); counting it would keep every later episode of the group open.
  std::int64_t since = 0;
  if (state.active) {
    since = to_unix_ms(state.active->opened_at);
    if (auto before = load_episode(alert_id, state.active->number - 1);
        before && before->ended_by == rules::EndedBy::superseded) {
      since = std::min(since, static_cast<std::int64_t>(to_unix_ms(before->opened_at)));
    }
  }
  // The member as stored: '' when it is the alert's fingerprint (migration 12).
  static const std::string key = member_key(1, 2);
  static const std::string count_sql =
      "SELECT count(*), count(*) FILTER (WHERE state = 'firing' AND member <> " + key +
      " AND last_seen_at >= ?3) FROM alert_members WHERE alert_id = ?1";
  sql::CachedStatement counts(m_db, count_sql);
  counts->bind(1, static_cast<int64_t>(alert_id));
  counts->bind(2, member);
  counts->bind(3, static_cast<int64_t>(since));
  if (counts->step()) {
    state.tracks_members = counts->get_int64(0) > 0;
    state.other_firing = counts->get_int(1);
  }
  static const std::string member_sql = std::string("SELECT ") + k_member_columns +
                                        " FROM alert_members m WHERE m.alert_id = ?1 AND "
                                        "m.member = " +
                                        key;
  sql::CachedStatement q(m_db, member_sql);
  q->bind(1, static_cast<int64_t>(alert_id));
  q->bind(2, member);
  state.member.reset();
  if (q->step()) state.member = read_member(q, 0);
}

void Transaction::save_member(std::int64_t alert_id, const rules::Member& m) {
  // The member is '' when it is the alert's fingerprint (migration 12): the alert is saved
  // first, and read in the INSERT itself.
  static const std::string sql =
      "INSERT INTO alert_members (alert_id, member, state, source_time, "
      "transition_at, changed_at, last_seen_at) VALUES (?1," +
      member_key(1, 2) +
      ",?3,?4,?5,?6,?7) "
      "ON CONFLICT (alert_id, member) DO UPDATE SET state = excluded.state, "
      "source_time = excluded.source_time, transition_at = excluded.transition_at, "
      "changed_at = excluded.changed_at, last_seen_at = excluded.last_seen_at";
  sql::CachedStatement q(m_db, sql);
  q->bind(1, static_cast<int64_t>(alert_id));
  q->bind(2, m.fingerprint);
  q->bind(3, m.state == SignalState::firing ? "firing" : "resolved");
  bind_optional_time(q, 4, m.source_time);
  bind_optional_time(q, 5, m.transition_at);
  q->bind(6, static_cast<int64_t>(to_unix_ms(m.changed_at)));
  q->bind(7, static_cast<int64_t>(to_unix_ms(m.last_seen_at)));
  q->exec();
}

std::optional<std::pair<AlertRecord, rules::AlertState>> Transaction::load_alert_by_id(
    std::int64_t id) {
  return load_alert_where(m_db, "a.id = ?",
                          [&](sql::Statement& q) { q.bind(1, static_cast<int64_t>(id)); });
}

std::optional<std::pair<std::int64_t, int>> Transaction::find_episode_by_alias(
    const std::string& alias) {
  sql::CachedStatement q(m_db, "SELECT alert_id, number FROM episodes WHERE alias = ?");
  q->bind(1, alias);
  if (q->step()) return std::make_pair(q->get_int64(0), q->get_int(1));
  return std::nullopt;
}

std::optional<rules::Episode> Transaction::load_episode(std::int64_t alert_id, int number) {
  sql::CachedStatement q(m_db, std::string("SELECT ") + k_episode_columns +
                                   " FROM episodes e WHERE e.alert_id = ? AND e.number = ?");
  q->bind(1, static_cast<int64_t>(alert_id));
  q->bind(2, number);
  if (q->step()) return read_episode(q, 0).episode;
  return std::nullopt;
}

void Transaction::insert_timer(std::int64_t alert_id, const rules::Timer& t) {
  sql::CachedStatement q(
      m_db, "INSERT INTO timers (due_at, kind, alert_id, episode, step) VALUES (?,?,?,?,?)");
  q->bind(1, static_cast<int64_t>(to_unix_ms(t.due)));
  q->bind(2, std::string(to_string(t.kind)));
  q->bind(3, static_cast<int64_t>(alert_id));
  q->bind(4, t.episode);
  q->bind(5, t.step);
  q->exec();
}

namespace {

// A due timer is claimed by the transaction that fires it: locked, and skipped by every other
// instance's, until it commits (deleting it) or rolls back (a dead instance's transaction does
// when its connection drops). Its own lock does not skip it: next_due_timer_id and
// next_due_timer find the same row.
std::string due_timer_sql(sql::Backend b, const std::string& columns) {
  return "SELECT " + columns + " FROM timers WHERE due_at <= ? ORDER BY due_at, id LIMIT 1" +
         dialect::skip_locked(b);
}

}  // namespace

std::optional<StoredTimer> Transaction::next_due_timer(TimePoint not_after) {
  static const std::string columns = "id, alert_id, due_at, kind, episode, step, name";
  static const std::string sqlite = due_timer_sql(sql::Backend::sqlite, columns);
  static const std::string postgres = due_timer_sql(sql::Backend::postgres, columns);
  sql::CachedStatement q(m_db, dialect::is_postgres(m_db.backend()) ? postgres : sqlite);
  q->bind(1, static_cast<int64_t>(to_unix_ms(not_after)));
  if (!q->step()) return std::nullopt;
  StoredTimer t;
  t.id = q->get_int64(0);
  t.alert_id = q->is_null(1) ? 0 : q->get_int64(1);
  t.timer.due = from_unix_ms(q->get_int64(2));
  t.timer.kind = parse_stored<rules::TimerKind>(q->get_text(3));
  t.timer.episode = q->get_int(4);
  t.timer.step = q->get_int(5);
  if (!q->is_null(6)) t.name = q->get_text(6);
  return t;
}

void Transaction::set_heartbeat_deadline(const std::string& name, TimePoint due) {
  sql::CachedStatement del(m_db, "DELETE FROM timers WHERE kind = 'heartbeat' AND name = ?");
  del->bind(1, name);
  del->exec();
  sql::CachedStatement ins(m_db,
                           "INSERT INTO timers (due_at, kind, name) VALUES (?, 'heartbeat', ?)");
  ins->bind(1, static_cast<int64_t>(to_unix_ms(due)));
  ins->bind(2, name);
  ins->exec();
}

bool Transaction::has_heartbeat_deadline(const std::string& name) {
  sql::CachedStatement q(m_db, "SELECT 1 FROM timers WHERE kind = 'heartbeat' AND name = ?");
  q->bind(1, name);
  return q->step();
}

std::optional<HeartbeatPing> Transaction::heartbeat_ping(const std::string& name) {
  sql::CachedStatement q(
      m_db, "SELECT first_ping_at, last_ping_at, pings FROM heartbeat_pings WHERE name = ?");
  q->bind(1, name);
  if (!q->step()) return std::nullopt;
  HeartbeatPing p;
  p.name = name;
  p.first_ping_at = from_unix_ms(q->get_int64(0));
  p.last_ping_at = from_unix_ms(q->get_int64(1));
  p.pings = q->get_int64(2);
  return p;
}

std::optional<std::int64_t> Transaction::next_due_timer_id(TimePoint not_after) {
  static const std::string sqlite = due_timer_sql(sql::Backend::sqlite, "id");
  static const std::string postgres = due_timer_sql(sql::Backend::postgres, "id");
  sql::CachedStatement q(m_db, dialect::is_postgres(m_db.backend()) ? postgres : sqlite);
  q->bind(1, static_cast<int64_t>(to_unix_ms(not_after)));
  if (!q->step()) return std::nullopt;
  return q->get_int64(0);
}

std::optional<std::int64_t> Transaction::timer_alert_id(std::int64_t id) {
  sql::CachedStatement q(m_db, "SELECT alert_id FROM timers WHERE id = ?");
  q->bind(1, static_cast<int64_t>(id));
  if (!q->step() || q->is_null(0)) return std::nullopt;
  return q->get_int64(0);
}

void Transaction::defer_timer(std::int64_t id, TimePoint due) {
  sql::CachedStatement q(m_db, "UPDATE timers SET due_at = ? WHERE id = ?");
  q->bind(1, static_cast<int64_t>(to_unix_ms(due)));
  q->bind(2, static_cast<int64_t>(id));
  q->exec();
}

std::optional<TimePoint> Transaction::next_timer_due() {
  sql::CachedStatement q(m_db, "SELECT min(due_at) FROM timers");
  if (q->step() && !q->is_null(0)) return from_unix_ms(q->get_int64(0));
  return std::nullopt;
}

void Transaction::delete_timer(std::int64_t id) {
  sql::CachedStatement q(m_db, "DELETE FROM timers WHERE id = ?");
  q->bind(1, static_cast<int64_t>(id));
  q->exec();
}

void Transaction::cancel_timers(std::int64_t alert_id, int episode,
                                std::optional<rules::TimerKind> kind) {
  // The kind is written into the statement, one per kind, not bound: SQLite plans a `kind = ?`
  // against the partial index timers_one_per_name with the bound value, and so prepares the
  // statement again whenever the value differs from its last execution's (3 % of replay's CPU).
  static const std::string any_kind = "DELETE FROM timers WHERE alert_id = ? AND episode = ?";
  sql::CachedStatement q(
      m_db, kind ? any_kind + " AND kind = '" + std::string(to_string(*kind)) + "'" : any_kind);
  q->bind(1, static_cast<int64_t>(alert_id));
  q->bind(2, episode);
  q->exec();
}

std::vector<std::pair<std::int64_t, rules::Episode>> Transaction::active_episodes_without_sweep(
    int limit) {
  sql::CachedStatement q(m_db, std::string("SELECT ") + k_episode_columns +
                                   " FROM episodes e WHERE e.status IN ('open','acknowledged') AND "
                                   "NOT EXISTS (SELECT 1 FROM timers t WHERE t.alert_id = "
                                   "e.alert_id AND t.episode = e.number AND t.kind = "
                                   "'max_open_age') ORDER BY e.id LIMIT ?");
  q->bind(1, limit);
  std::vector<std::pair<std::int64_t, rules::Episode>> out;
  while (q->step()) {
    auto r = read_episode(q, 0);
    out.emplace_back(r.alert_id, std::move(r.episode));
  }
  return out;
}

namespace {

// Supersedes the episode's rows of `actions` still queued (never attempted) for the channel,
// those another transaction holds left out (Transaction::insert_notification). Parameters:
// alert id, episode, channel. For SQLite it is a SELECT of the rows' ids, which
// supersede_queued then updates one by one; for PostgreSQL one UPDATE of them all.
//
// SQLite has no row locks, so it needs neither the subquery PostgreSQL needs for SKIP LOCKED nor
// one statement: an UPDATE through the index it modifies (outbox_episode holds the status) first
// copies the rows into a throwaway b-tree, as does an `IN` subquery or a constant `IN (...)` list
// of more than two values, on every execution. That was 45,000 instructions a call, a tenth of
// replay's CPU; the ids, then an UPDATE by id, take a few index probes (docs/benchmarks.md).
std::string supersede_sql(sql::Backend b, std::initializer_list<const char*> actions) {
  std::string any_action;
  for (const char* a : actions)
    any_action += std::string(any_action.empty() ? "" : " OR ") + "action = '" + a + "'";
  const std::string queued =
      "alert_id = ? AND episode = ? AND channel = ? AND status = 'pending' AND attempts = 0 "
      "AND (" + any_action + ")";
  if (!dialect::is_postgres(b)) return "SELECT id FROM outbox WHERE " + queued;
  return "UPDATE outbox SET status = 'superseded' WHERE id IN (SELECT id FROM outbox WHERE " +
         queued + dialect::skip_locked(b) + ")";
}

void supersede_queued(sql::Connection& db, const OutboxRecord& n, const std::string& sqlite,
                      const std::string& postgres) {
  const bool postgres_backend = dialect::is_postgres(db.backend());
  sql::CachedStatement supersede(db, postgres_backend ? postgres : sqlite);
  supersede->bind(1, static_cast<int64_t>(*n.alert_id));
  supersede->bind(2, *n.episode);
  supersede->bind(3, n.channel);
  if (postgres_backend) {
    supersede->exec();
    return;
  }
  std::vector<std::int64_t> ids;
  while (supersede->step())
    ids.push_back(supersede->get_int64(0));
  for (const std::int64_t id : ids) {
    sql::CachedStatement update(db, "UPDATE outbox SET status = 'superseded' WHERE id = ?");
    update->bind(1, static_cast<int64_t>(id));
    update->exec();
  }
}

}  // namespace

std::int64_t Transaction::insert_notification(const OutboxRecord& n) {
  OutboxStatus status = n.status;
  if (n.action == rules::NotifyAction::reminder && n.alert_id && n.episode) {
    // Reminders of one episode that are still queued for the channel (a receiver that was
    // down, a backlog) collapse into the newest: it says all they would have
    // (docs/behaviour.md "Delivery"). Rows being claimed are left, as for a resolve.
    static const std::string sqlite = supersede_sql(sql::Backend::sqlite, {"reminder"});
    static const std::string postgres = supersede_sql(sql::Backend::postgres, {"reminder"});
    supersede_queued(m_db, n, sqlite, postgres);
  }
  if (n.action == rules::NotifyAction::resolve && n.alert_id && n.episode) {
    // A resolve supersedes what is still queued for the same episode and channel
    // (docs/behaviour.md "Delivery"); if nothing about the episode ever left for that channel,
    // there is nothing to resolve there either.
    //
    // A queued row locked by another transaction is being claimed for sending by another
    // instance (docs/postgres.md "Instances and claims"), whose transaction may also be waiting
    // for a row this one holds: waiting for it would be a deadlock, broken only after the
    // server's deadlock_timeout. So it is skipped, not superseded, and counts as told below: it
    // is sent, or (its claim rolled back) sent later, and this resolve follows it.
    static const std::string sqlite =
        supersede_sql(sql::Backend::sqlite, {"trigger", "escalate", "reminder"});
    static const std::string postgres =
        supersede_sql(sql::Backend::postgres, {"trigger", "escalate", "reminder"});
    supersede_queued(m_db, n, sqlite, postgres);
    sql::CachedStatement told(
        m_db,
        "SELECT 1 FROM outbox WHERE alert_id = ? AND episode = ? AND channel = ? "
        "AND (status IN ('sent','failed') OR (status = 'pending' AND (attempts > 0 OR "
        "action = 'trigger' OR action = 'escalate' OR action = 'reminder'))) LIMIT 1");
    told->bind(1, static_cast<int64_t>(*n.alert_id));
    told->bind(2, *n.episode);
    told->bind(3, n.channel);
    if (!told->step()) status = OutboxStatus::superseded;
  }
  static const IdInsert insert(
      "INSERT INTO outbox (created_at, due_at, alert_id, episode, fingerprint, alias, channel, "
      "action, level, severity, priority, noise, why, status, about, digest) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  sql::CachedStatement q(m_db, insert.sql(m_db.backend()));
  q->bind(1, static_cast<int64_t>(to_unix_ms(n.created_at)));
  q->bind(2, static_cast<int64_t>(to_unix_ms(n.due_at)));
  q->bind(3, n.alert_id);
  q->bind(4, n.episode);
  q->bind(5, n.fingerprint);
  q->bind(6, n.alias);
  q->bind(7, n.channel);
  q->bind(8, std::string(to_text(n.action)));
  q->bind(9, n.level);
  q->bind(10, std::string(to_string(n.severity)));
  q->bind(11, n.priority.level);
  q->bind(12, n.noise);
  q->bind(13, n.why);
  q->bind(14, std::string(to_text(status)));
  q->bind(15, n.about);
  if (n.digest.empty()) {
    q->bind_null(16);
  } else {
    q->bind(16, n.digest);
  }
  return inserted_id(m_db, q);
}

std::vector<rules::EpisodeFacts> Transaction::episodes_leaving(std::int64_t alert_id, int from,
                                                               TimePoint cutoff) {
  sql::CachedStatement q(m_db, k_leaving_sql);
  q->bind(1, static_cast<int64_t>(alert_id));
  q->bind(2, from);
  return read_leaving(q, cutoff);
}

void Transaction::insert_digest_item(const DigestItem& item) {
  const OutboxRecord& n = item.notification;
  sql::CachedStatement q(m_db,
                         "INSERT INTO digest_items (channel, created_at, alert_id, episode, "
                         "fingerprint, alias, action, severity, priority, noise, summary, why) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  q->bind(1, n.channel);
  q->bind(2, static_cast<int64_t>(to_unix_ms(n.created_at)));
  q->bind(3, n.alert_id);
  q->bind(4, n.episode);
  q->bind(5, n.fingerprint);
  q->bind(6, n.alias);
  q->bind(7, std::string(to_text(n.action)));
  q->bind(8, std::string(to_string(n.severity)));
  q->bind(9, n.priority.level);
  q->bind(10, n.noise);
  q->bind(11, item.summary);
  q->bind(12, n.why);
  q->exec();
}

std::vector<DigestItem> Transaction::take_digest_items(const std::string& channel) {
  // One statement deletes exactly the rows it returns: another instance's item committed while
  // this runs is either among them or left for the next digest (a SELECT then a DELETE, under
  // READ COMMITTED, deleted items committed in between without returning them).
  std::vector<DigestItem> out;
  sql::CachedStatement q(
      m_db,
      "DELETE FROM digest_items WHERE channel = ? RETURNING id, created_at, alert_id, episode, "
      "fingerprint, alias, action, severity, priority, noise, summary, why");
  q->bind(1, channel);
  while (q->step()) {
    DigestItem item;
    item.id = q->get_int64(0);
    OutboxRecord& n = item.notification;
    n.channel = channel;
    n.created_at = n.due_at = from_unix_ms(q->get_int64(1));
    if (!q->is_null(2)) n.alert_id = q->get_int64(2);
    if (!q->is_null(3)) n.episode = q->get_int(3);
    n.fingerprint = q->get_text(4);
    n.alias = q->get_text(5);
    n.action = parse_stored<rules::NotifyAction>(q->get_text(6), "digest_items.action");
    n.severity = parse_stored<Severity>(q->get_text(7), "digest_items.severity");
    n.priority = Priority{q->get_int(8)};
    if (!q->is_null(9)) n.noise = q->get_double(9);
    item.summary = q->get_text(10);
    n.why = q->get_text(11);
    out.push_back(std::move(item));
  }
  // RETURNING gives no order: the digest lists items as they came.
  std::sort(out.begin(), out.end(),
            [](const DigestItem& a, const DigestItem& b) { return a.id < b.id; });
  return out;
}

bool Transaction::arm_digest(const std::string& channel, TimePoint due) {
  // One statement on the unique index timers_one_per_name: two instances arming at once arm
  // one timer, the second waiting for the first's commit and then doing nothing.
  sql::CachedStatement q(m_db,
                         "INSERT INTO timers (due_at, kind, name) VALUES (?, 'digest', ?) "
                         "ON CONFLICT DO NOTHING RETURNING id");
  q->bind(1, static_cast<int64_t>(to_unix_ms(due)));
  q->bind(2, channel);
  // The change is made by the first step (SQLite's RETURNING), whatever happens after.
  return q->step();
}

std::int64_t Transaction::next_digest_number(const std::string& channel) {
  sql::CachedStatement q(
      m_db,
      "INSERT INTO digest_sequence (channel, last) VALUES (?, 1) "
      "ON CONFLICT (channel) DO UPDATE SET last = digest_sequence.last + 1 RETURNING last");
  q->bind(1, channel);
  if (!q->step()) throw std::logic_error("digest_sequence: an upsert returned no row");
  // The change is made by the first step (SQLite's RETURNING), whatever happens after.
  return q->get_int64(0);
}

// A macro so that the column list can be joined to literals.
#define TOCSIN_OUTBOX_COLUMNS                                                                   \
  "id, created_at, due_at, alert_id, episode, fingerprint, alias, channel, action, level, "     \
  "severity, priority, noise, why, status, attempts, last_status, last_error, sent_at, about, " \
  "digest"

namespace {

constexpr const char* k_outbox_columns = TOCSIN_OUTBOX_COLUMNS;

}  // namespace

OutboxRecord read_outbox(sql::Statement& q) {
  OutboxRecord n;
  n.id = q.get_int64(0);
  n.created_at = from_unix_ms(q.get_int64(1));
  n.due_at = from_unix_ms(q.get_int64(2));
  if (!q.is_null(3)) n.alert_id = q.get_int64(3);
  if (!q.is_null(4)) n.episode = q.get_int(4);
  n.fingerprint = q.get_text(5);
  n.alias = q.get_text(6);
  n.channel = q.get_text(7);
  n.action = parse_stored<rules::NotifyAction>(q.get_text(8));
  n.level = q.get_int(9);
  n.severity = parse_stored<Severity>(q.get_text(10), "outbox.severity");
  n.priority = Priority{q.get_int(11)};
  if (!q.is_null(12)) n.noise = q.get_double(12);
  n.why = q.get_text(13);
  n.status = parse_stored<OutboxStatus>(q.get_text(14));
  n.attempts = q.get_int(15);
  if (!q.is_null(16)) n.last_status = q.get_int(16);
  n.last_error = q.get_text(17);
  if (!q.is_null(18)) n.sent_at = from_unix_ms(q.get_int64(18));
  if (!q.is_null(19)) n.about = q.get_int64(19);
  if (!q.is_null(20)) n.digest = q.get_text(20);
  return n;
}

const char* outbox_columns() {
  return k_outbox_columns;
}

namespace {

// A claim reads each channel's due rows on its own, through outbox_claim (channel, priority,
// due_at, id; pending rows only): the channels left out (held down by the breaker, paced, lanes
// full) cost nothing, however long their backlog, and each channel's rows come already in claim
// order, so a query stops at its limit. (One query over every channel read past a held backlog
// of 20,000 rows on each claim: 3 ms of the writer's time, which ingest waited for.) INDEXED BY:
// without statistics (no ANALYZE) SQLite would prefer outbox_pending, whose due_at range holds
// every due row. Parameters: now (unix ms) twice, live_since, the channel, the limit.
std::string due_notifications_sql(sql::Backend b) {
  return "SELECT " TOCSIN_OUTBOX_COLUMNS " FROM outbox o" + dialect::indexed_by(b, "outbox_claim") +
         " WHERE o.status = 'pending' AND o.channel = ?4 AND o.due_at <= ?1 AND "
         "(o.claimed_by IS NULL OR o.claimed_until <= ?2 OR NOT EXISTS (SELECT 1 FROM "
         "instances i WHERE i.id = o.claimed_by AND i.last_seen >= ?3)) AND NOT EXISTS "
         "(SELECT 1 FROM outbox p WHERE p.alias = o.alias AND p.channel = "
         "o.channel AND p.status = 'pending' AND p.id < o.id) ORDER BY "
         "o.priority, o.due_at, o.id LIMIT ?5";
}

// The channels with pending rows: a loose index scan of outbox_claim, one seek per channel,
// not a read of every pending row.
std::string pending_channels_sql(sql::Backend b) {
  const std::string from = "FROM outbox o" + dialect::indexed_by(b, "outbox_claim");
  return "WITH RECURSIVE c(name) AS (SELECT (SELECT min(o.channel) " + from +
         " WHERE o.status = 'pending') UNION ALL SELECT (SELECT min(o.channel) " + from +
         " WHERE o.status = 'pending' AND o.channel > c.name) FROM c WHERE c.name IS NOT NULL) "
         "SELECT name FROM c WHERE name IS NOT NULL";
}

const std::string k_due_notifications_sqlite = due_notifications_sql(sql::Backend::sqlite);
const std::string k_due_notifications_postgres = due_notifications_sql(sql::Backend::postgres);
const std::string k_pending_channels_sqlite = pending_channels_sql(sql::Backend::sqlite);
const std::string k_pending_channels_postgres = pending_channels_sql(sql::Backend::postgres);

}  // namespace

const char* const k_due_notifications_sql = k_due_notifications_sqlite.c_str();

std::vector<OutboxRecord> Transaction::due_notifications(
    TimePoint now, int limit, const std::vector<std::string>& skip_channels,
    std::optional<TimePoint> live_since) {
  // Only the head of each (episode, channel) queue: delivery is in order per episode and
  // channel, so a trigger waiting for its retry holds back the resolve behind it. Most urgent
  // priority first (P1), then oldest due, over every channel not skipped: the first `limit` of
  // all is among the first `limit` of each.
  const bool postgres = dialect::is_postgres(m_db.backend());
  const std::set<std::string> skip(skip_channels.begin(), skip_channels.end());
  // A row this version cannot read (written by a newer one, or by hand) would otherwise make
  // every claim fail: it is settled failed, naming what could not be read, and the claim is
  // made again without it (each round settles at least one row).
  for (;;) {
    std::vector<std::string> channels;
    {
      sql::CachedStatement q(m_db,
                             postgres ? k_pending_channels_postgres : k_pending_channels_sqlite);
      while (q->step()) {
        std::string name = q->get_text(0);
        if (!skip.count(name)) channels.push_back(std::move(name));
      }
    }
    std::vector<OutboxRecord> out;
    std::vector<std::pair<std::int64_t, std::string>> unreadable;
    for (const auto& channel : channels) {
      sql::CachedStatement q(m_db,
                             postgres ? k_due_notifications_postgres : k_due_notifications_sqlite);
      q->bind(1, static_cast<int64_t>(to_unix_ms(now)));
      q->bind(2, static_cast<int64_t>(to_unix_ms(now)));
      // Without a liveness bound, every registered instance counts as alive.
      q->bind(3, live_since ? static_cast<int64_t>(to_unix_ms(*live_since))
                            : std::numeric_limits<int64_t>::min());
      q->bind(4, channel);
      q->bind(5, limit);
      while (q->step()) {
        try {
          out.push_back(read_outbox(q));
        } catch (const UnknownStoredValue& e) {
          unreadable.emplace_back(q->get_int64(0), e.what());
        }
      }
    }
    if (unreadable.empty()) {
      std::sort(out.begin(), out.end(), [](const OutboxRecord& a, const OutboxRecord& b) {
        return std::tie(a.priority.level, a.due_at, a.id) <
               std::tie(b.priority.level, b.due_at, b.id);
      });
      if (out.size() > static_cast<std::size_t>(std::max(limit, 0)))
        out.resize(static_cast<std::size_t>(std::max(limit, 0)));
      return out;
    }
    for (const auto& [id, error] : unreadable) {
      spdlog::error("delivery: outbox row {} cannot be read, settled failed: {}", id, error);
      sql::CachedStatement fail(m_db,
                                "UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?");
      fail->bind(1, "this version of Tocsin cannot read the row: " + error);
      fail->bind(2, static_cast<int64_t>(id));
      fail->exec();
    }
  }
}

std::optional<OutboxRecord> Transaction::load_notification(std::int64_t id) {
  sql::CachedStatement q(m_db,
                         std::string("SELECT ") + k_outbox_columns + " FROM outbox WHERE id = ?");
  q->bind(1, static_cast<int64_t>(id));
  if (q->step()) return read_outbox(q);
  return std::nullopt;
}

namespace {

// The claim of one row: only while it is still pending and free to claim (as
// due_notifications read it), and, on PostgreSQL, only if no other transaction holds it (an
// instance claiming it, a resolve superseding it): SKIP LOCKED, so a claim never waits.
std::string claim_sql(sql::Backend b) {
  return "UPDATE outbox SET attempts = attempts + 1, claimed_by = ?, claimed_until = ? "
         "WHERE id = (SELECT o.id FROM outbox o WHERE o.id = ? AND o.status = 'pending' AND "
         "(o.claimed_by IS NULL OR o.claimed_until <= ? OR NOT EXISTS (SELECT 1 FROM instances i "
         "WHERE i.id = o.claimed_by AND i.last_seen >= ?))" +
         dialect::skip_locked(b) + ")";
}

}  // namespace

bool Transaction::count_attempt(std::int64_t id, const std::string& claimed_by,
                                TimePoint claimed_until, TimePoint now,
                                std::optional<TimePoint> live_since) {
  static const std::string sqlite = claim_sql(sql::Backend::sqlite);
  static const std::string postgres = claim_sql(sql::Backend::postgres);
  sql::CachedStatement q(m_db, dialect::is_postgres(m_db.backend()) ? postgres : sqlite);
  q->bind(1, claimed_by);
  q->bind(2, static_cast<int64_t>(to_unix_ms(claimed_until)));
  q->bind(3, static_cast<int64_t>(id));
  q->bind(4, static_cast<int64_t>(to_unix_ms(now)));
  q->bind(5, live_since ? static_cast<int64_t>(to_unix_ms(*live_since))
                        : std::numeric_limits<int64_t>::min());
  return q->exec() == 1;
}

namespace {

// Why an update of a claimed outbox row changed nothing: the row is no longer `claimed_by`'s.
void warn_claim_lost(sql::Connection& db, std::int64_t id, const std::string& claimed_by,
                     const char* what) {
  sql::CachedStatement q(db, "SELECT claimed_by, status FROM outbox WHERE id = ?");
  q->bind(1, static_cast<int64_t>(id));
  std::string holder = "nobody";
  std::string status = "gone";
  if (q->step()) {
    if (!q->is_null(0)) holder = "instance " + q->get_text(0);
    status = q->get_text(1);
  }
  spdlog::warn(
      "delivery: outbox row {} was taken over while instance {} sent it ({} now, claimed by "
      "{}): its {} is not applied to the row",
      id, claimed_by, status, holder, what);
}

}  // namespace

bool Transaction::uncount_attempt(std::int64_t id, const std::string& claimed_by) {
  static const std::string sqlite =
      "UPDATE outbox SET attempts = " +
      dialect::greatest(sql::Backend::sqlite, "attempts - 1", "0") +
      ", claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ? AND "
      "status = 'pending'";
  static const std::string postgres =
      "UPDATE outbox SET attempts = " +
      dialect::greatest(sql::Backend::postgres, "attempts - 1", "0") +
      ", claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ? AND "
      "status = 'pending'";
  sql::CachedStatement q(m_db, dialect::is_postgres(m_db.backend()) ? postgres : sqlite);
  q->bind(1, static_cast<int64_t>(id));
  q->bind(2, claimed_by);
  if (q->exec() > 0) return true;
  warn_claim_lost(m_db, id, claimed_by, "attempt taken back");
  return false;
}

bool Transaction::record_attempt(const DeliveryAttempt& a, const OutboxRecord& after,
                                 const std::string& claimed_by) {
  sql::CachedStatement ins(m_db,
                           "INSERT INTO delivery_attempts (outbox_id, at, http_status, error, "
                           "duration_ms, outcome) VALUES (?,?,?,?,?,?)");
  ins->bind(1, static_cast<int64_t>(a.outbox_id));
  ins->bind(2, static_cast<int64_t>(to_unix_ms(a.at)));
  ins->bind(3, a.http_status);
  ins->bind(4, a.error);
  ins->bind(5, static_cast<int64_t>(a.duration_ms));
  ins->bind(6, std::string(to_text(a.outcome)));
  ins->exec();

  sql::CachedStatement upd(
      m_db,
      "UPDATE outbox SET status = ?, attempts = ?, due_at = ?, last_status = ?, "
      "last_error = ?, sent_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ? AND "
      "claimed_by = ? AND status = 'pending'");
  upd->bind(1, std::string(to_text(after.status)));
  upd->bind(2, after.attempts);
  upd->bind(3, static_cast<int64_t>(to_unix_ms(after.due_at)));
  upd->bind(4, after.last_status);
  upd->bind(5, after.last_error);
  bind_optional_time(upd, 6, after.sent_at);
  upd->bind(7, static_cast<int64_t>(after.id));
  upd->bind(8, claimed_by);
  if (upd->exec() > 0) return true;
  warn_claim_lost(m_db, after.id, claimed_by, "outcome");
  return false;
}

std::int64_t Transaction::save_alert(const AlertRecord& a) {
  const bool insert = a.id == 0;
  static const IdInsert insert_sql(
      "INSERT INTO alerts (source, name, account, region, metric, namespace, labels, summary, "
      "description, rule, first_seen, last_seen, last_episode, noise_state, noise_score, "
      "fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  sql::CachedStatement q(
      m_db, insert ? insert_sql.sql(m_db.backend())
                   : std::string("UPDATE alerts SET source=?, name=?, account=?, region=?, "
                                 "metric=?, namespace=?, labels=?, summary=?, description=?, "
                                 "rule=?, first_seen=?, last_seen=?, last_episode=?, "
                                 "noise_state=?, noise_score=? WHERE id=?"));
  q->bind(1, std::string(to_string(a.source)));
  q->bind(2, a.name);
  q->bind(3, a.account);
  q->bind(4, a.region);
  q->bind(5, a.metric);
  q->bind(6, a.namespace_);
  q->bind(7, labels_to_json(a.labels));
  q->bind(8, a.summary);
  // Compressed when that pays (migration 12), like a request's body.
  bind_stored_body(*q, 9, stored_body_of(a.description), m_db.backend());
  q->bind(10, a.rule);
  q->bind(11, static_cast<int64_t>(to_unix_ms(a.first_seen)));
  q->bind(12, static_cast<int64_t>(to_unix_ms(a.last_seen)));
  q->bind(13, a.last_episode_number);
  q->bind(14, noise_to_text(a.noise));
  q->bind(15, a.noise_score);
  if (insert) {
    q->bind(16, a.fingerprint);
  } else {
    q->bind(16, static_cast<int64_t>(a.id));
  }
  if (insert) return inserted_id(m_db, q);
  q->exec();
  return a.id;
}

void Transaction::save_episode(std::int64_t alert_id, const std::string& fingerprint,
                               const rules::Episode& e, bool is_new) {
  sql::CachedStatement q(
      m_db,
      is_new ? "INSERT INTO episodes (status, severity, priority, opened_at, "
               "last_activity_at, last_source_time, closed_at, event_count, escalation, "
               "level, escalation_base, acknowledged_at, acknowledged_by, flagged_stale_at, "
               "notified, ended_by, ever_acknowledged, transient, demoted_to, held_until, noise, "
               "never_suppress, alias, alert_id, number) "
               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
             : "UPDATE episodes SET status=?, severity=?, priority=?, opened_at=?, "
               "last_activity_at=?, last_source_time=?, closed_at=?, event_count=?, "
               "escalation=?, level=?, escalation_base=?, acknowledged_at=?, "
               "acknowledged_by=?, flagged_stale_at=?, notified=?, ended_by=?, "
               "ever_acknowledged=?, transient=?, demoted_to=?, held_until=?, noise=?, "
               "never_suppress=? WHERE "
               "alias=? AND "
               "alert_id=? AND number=?");
  q->bind(1, std::string(to_string(e.status)));
  q->bind(2, std::string(to_string(e.severity)));
  q->bind(3, e.priority.level);
  q->bind(4, static_cast<int64_t>(to_unix_ms(e.opened_at)));
  q->bind(5, static_cast<int64_t>(to_unix_ms(e.last_activity_at)));
  bind_optional_time(q, 6, e.last_source_time);
  bind_optional_time(q, 7, e.closed_at);
  q->bind(8, e.event_count);
  q->bind(9, names_to_json(e.escalation));
  q->bind(10, e.level);
  q->bind(11, static_cast<int64_t>(to_unix_ms(e.escalation_base)));
  bind_optional_time(q, 12, e.acknowledged_at);
  q->bind(13, e.acknowledged_by);
  bind_optional_time(q, 14, e.flagged_stale_at);
  q->bind(15, names_to_json(e.notified));
  q->bind(16, std::string(rules::to_string(e.ended_by)));
  q->bind(17, e.ever_acknowledged ? 1 : 0);
  q->bind(18, e.transient ? 1 : 0);
  q->bind(19, e.demoted_to);
  bind_optional_time(q, 20, e.held_until);
  q->bind(21, e.noise);
  q->bind(22, e.never_suppress ? 1 : 0);
  q->bind(23, episode_alias(fingerprint, e.number));
  q->bind(24, static_cast<int64_t>(alert_id));
  q->bind(25, e.number);
  if (q->exec() != 1) {
    throw std::logic_error("episode " + std::to_string(e.number) + " of alert " +
                           std::to_string(alert_id) + " not found for update");
  }
}

namespace {

// The rules_versions row of `hash`, added when it is new (migration 11: the hash is stored once,
// not in every decision). A concurrent instance adding the same hash makes the insert do
// nothing, and the second look finds its row.
std::int64_t rules_version_id(sql::Connection& db, const std::string& hash) {
  sql::CachedStatement find(db, "SELECT id FROM rules_versions WHERE hash = ?");
  find->bind(1, hash);
  if (find->step()) return find->get_int64(0);
  sql::CachedStatement add(db,
                           "INSERT INTO rules_versions (hash) VALUES (?) ON CONFLICT DO NOTHING");
  add->bind(1, hash);
  add->exec();
  find->reset();
  find->bind(1, hash);
  if (!find->step()) throw std::logic_error("rules_versions: the row just added is not there");
  return find->get_int64(0);
}

}  // namespace

void Transaction::insert_decision(const DecisionRecord& d) {
  sql::CachedStatement q(m_db,
                         "INSERT INTO decisions (at, alert_id, episode, inbound_id, kind, outcome, "
                         "reason, rule, rules_hash, fingerprint, event_key, rules_id) "
                         "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                         // The alert's own fingerprint is read from its row (k_decision_columns).
                         "CASE WHEN ?10 = (SELECT a.fingerprint FROM alerts a WHERE a.id = ?2) "
                         "THEN '' ELSE ?10 END,?11,?12)");
  q->bind(1, static_cast<int64_t>(to_unix_ms(d.at)));
  q->bind(2, d.alert_id);
  q->bind(3, d.episode);
  q->bind(4, d.inbound_id);
  q->bind(5, std::string(to_text(d.kind)));
  q->bind(6, std::string(to_text(d.outcome)));
  q->bind(7, d.reason);
  q->bind(8, d.rule);
  if (d.rules_hash.empty()) {
    q->bind(9, d.rules_hash);
    q->bind_null(12);
  } else {
    // Named by its row; "" here (COALESCE in k_decision_columns reads the row's hash).
    const std::int64_t rules_id = rules_version_id(m_db, d.rules_hash);
    q->bind(9, std::string());
    q->bind(12, static_cast<int64_t>(rules_id));
  }
  q->bind(10, d.fingerprint);
  if (d.event_key.empty()) {
    q->bind_null(11);
  } else {
    q->bind(11, d.event_key);
  }
  q->exec();
}

void Transaction::record_probe(TimePoint at) {
  sql::CachedStatement q(m_db, k_probe_sql);
  q->bind(1, static_cast<int64_t>(to_unix_ms(at)));
  q->exec();
}

}  // namespace tocsin::storage
