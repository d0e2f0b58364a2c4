#include "storage/transaction.hpp"

#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <stdexcept>

#include "core/hash.hpp"
#include "core/json.hpp"
#include "storage/codec.hpp"
#include "storage/compression.hpp"
#include "storage/detail/rows.hpp"
#include "storage/detail/sqlite.hpp"
#include "storage/detail/statement_cache.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::storage {

namespace {

void bind_optional_time(SQLite::Statement& q, int index, const std::optional<TimePoint>& t) {
  if (t) {
    q.bind(index, static_cast<int64_t>(to_unix_ms(*t)));
  } else {
    q.bind(index);  // NULL
  }
}

template <class T>
void bind_optional(SQLite::Statement& q, int index, const std::optional<T>& v) {
  if (!v) {
    q.bind(index);  // NULL
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    q.bind(index, static_cast<int64_t>(*v));
  } else {
    q.bind(index, *v);
  }
}

}  // namespace

std::optional<std::int64_t> Transaction::find_inbound(const std::string& hook,
                                                      const std::string& delivery_id) {
  CachedStatement q(m_statements, "SELECT id FROM inbound WHERE hook = ? AND delivery_id = ?");
  q.bind(1, hook);
  q.bind(2, delivery_id);
  if (q.executeStep()) return q.getColumn(0).getInt64();
  return std::nullopt;
}

std::int64_t Transaction::insert_inbound(const InboundRecord& r) {
  CachedStatement q(m_statements,
                    "INSERT INTO inbound (received_at, hook, delivery_id, headers, body) "
                    "VALUES (?, ?, ?, ?, ?)");
  q.bind(1, static_cast<int64_t>(to_unix_ms(r.received_at)));
  q.bind(2, r.hook);
  if (r.delivery_id.empty()) {
    q.bind(3);
  } else {
    q.bind(3, r.delivery_id);
  }
  q.bind(4, r.headers_json);
  // A BLOB is the body compressed (storage/compression.hpp); TEXT the body as received.
  const auto frame = compress_body(r.body);
  if (frame) {
    q.bind(5, frame->data(), static_cast<int>(frame->size()));
  } else {
    q.bind(5, r.body);
  }
  q.exec();
  return m_db.getLastInsertRowid();
}

namespace {}  // namespace

std::vector<DecisionRecord> Transaction::decisions_for_inbound(std::int64_t inbound_id) {
  CachedStatement q(m_statements, std::string("SELECT ") + k_decision_columns +
                                      " FROM decisions d WHERE inbound_id = ? ORDER BY id");
  q.bind(1, static_cast<int64_t>(inbound_id));
  std::vector<DecisionRecord> out;
  while (q.executeStep())
    out.push_back(read_decision(q, 0));
  return out;
}

std::optional<DecisionRecord> Transaction::find_event_decision(const std::string& event_key) {
  CachedStatement q(m_statements, std::string("SELECT ") + k_decision_columns +
                                      " FROM decisions d WHERE event_key = ?");
  q.bind(1, event_key);
  if (q.executeStep()) return read_decision(q, 0);
  return std::nullopt;
}

bool Transaction::save_subscription(const SubscriptionRecord& s) {
  CachedStatement q(m_statements,
                    "INSERT OR IGNORE INTO subscriptions (topic_arn, kind, url, message_id, "
                    "received_at, status, updated_at, detail) VALUES (?,?,?,?,?,?,?,?)");
  q.bind(1, s.topic_arn);
  q.bind(2, std::string(to_text(s.kind)));
  q.bind(3, s.url);
  q.bind(4, s.message_id);
  q.bind(5, static_cast<int64_t>(to_unix_ms(s.received_at)));
  q.bind(6, std::string(to_text(s.status)));
  q.bind(7, static_cast<int64_t>(to_unix_ms(s.updated_at)));
  q.bind(8, s.detail);
  return q.exec() == 1;
}

void Transaction::set_subscription_status(const std::string& message_id, SubscriptionStatus status,
                                          const std::string& detail, TimePoint at) {
  CachedStatement q(m_statements,
                    "UPDATE subscriptions SET status = ?, detail = ?, updated_at = ? "
                    "WHERE message_id = ?");
  q.bind(1, std::string(to_text(status)));
  q.bind(2, detail);
  q.bind(3, static_cast<int64_t>(to_unix_ms(at)));
  q.bind(4, message_id);
  q.exec();
}

void Transaction::record_heartbeat_ping(const std::string& name, TimePoint at) {
  CachedStatement q(m_statements,
                    "INSERT INTO heartbeat_pings (name, first_ping_at, last_ping_at, pings) "
                    "VALUES (?1, ?2, ?2, 1) ON CONFLICT(name) DO UPDATE SET "
                    "last_ping_at = max(last_ping_at, ?2), pings = pings + 1");
  q.bind(1, name);
  q.bind(2, static_cast<int64_t>(to_unix_ms(at)));
  q.exec();
}

namespace {

std::optional<std::pair<AlertRecord, rules::AlertState>> load_alert_where(
    StatementCache& cache, const char* where, const std::function<void(SQLite::Statement&)>& bind) {
  CachedStatement q(cache,
                    std::string("SELECT ") + k_alert_columns + " FROM alerts a WHERE " + where);
  bind(q);
  if (!q.executeStep()) return std::nullopt;
  AlertRecord alert = read_alert(q, 0);

  rules::AlertState state;
  state.last_episode_number = alert.last_episode_number;
  CachedStatement e(cache, std::string("SELECT ") + k_episode_columns +
                               " FROM episodes e WHERE e.alert_id = ? AND e.status IN "
                               "('open','acknowledged')");
  e.bind(1, static_cast<int64_t>(alert.id));
  if (e.executeStep()) {
    state.active = read_episode(e, 0).episode;
    state.notified = state.active->notified;
  }
  return std::make_pair(std::move(alert), std::move(state));
}

}  // namespace

std::optional<std::pair<AlertRecord, rules::AlertState>> Transaction::load_alert(
    const std::string& fingerprint) {
  return load_alert_where(m_statements, "a.fingerprint = ?",
                          [&](SQLite::Statement& q) { q.bind(1, fingerprint); });
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
  CachedStatement counts(m_statements,
                         "SELECT count(*), count(*) FILTER (WHERE state = 'firing' AND "
                         "member <> ?2 AND last_seen_at >= ?3) FROM alert_members "
                         "WHERE alert_id = ?1");
  counts.bind(1, static_cast<int64_t>(alert_id));
  counts.bind(2, member);
  counts.bind(3, static_cast<int64_t>(since));
  if (counts.executeStep()) {
    state.tracks_members = counts.getColumn(0).getInt64() > 0;
    state.other_firing = counts.getColumn(1).getInt();
  }
  CachedStatement q(m_statements,
                    std::string("SELECT ") + k_member_columns +
                        " FROM alert_members m WHERE m.alert_id = ? AND m.member = ?");
  q.bind(1, static_cast<int64_t>(alert_id));
  q.bind(2, member);
  state.member.reset();
  if (q.executeStep()) state.member = read_member(q, 0);
}

void Transaction::save_member(std::int64_t alert_id, const rules::Member& m) {
  CachedStatement q(m_statements,
                    "INSERT OR REPLACE INTO alert_members (alert_id, member, state, source_time, "
                    "transition_at, changed_at, last_seen_at) VALUES (?,?,?,?,?,?,?)");
  q.bind(1, static_cast<int64_t>(alert_id));
  q.bind(2, m.fingerprint);
  q.bind(3, m.state == SignalState::firing ? "firing" : "resolved");
  bind_optional_time(q, 4, m.source_time);
  bind_optional_time(q, 5, m.transition_at);
  q.bind(6, static_cast<int64_t>(to_unix_ms(m.changed_at)));
  q.bind(7, static_cast<int64_t>(to_unix_ms(m.last_seen_at)));
  q.exec();
}

std::optional<std::pair<AlertRecord, rules::AlertState>> Transaction::load_alert_by_id(
    std::int64_t id) {
  return load_alert_where(m_statements, "a.id = ?",
                          [&](SQLite::Statement& q) { q.bind(1, static_cast<int64_t>(id)); });
}

std::optional<std::pair<std::int64_t, int>> Transaction::find_episode_by_alias(
    const std::string& alias) {
  CachedStatement q(m_statements, "SELECT alert_id, number FROM episodes WHERE alias = ?");
  q.bind(1, alias);
  if (q.executeStep()) return std::make_pair(q.getColumn(0).getInt64(), q.getColumn(1).getInt());
  return std::nullopt;
}

std::optional<rules::Episode> Transaction::load_episode(std::int64_t alert_id, int number) {
  CachedStatement q(m_statements, std::string("SELECT ") + k_episode_columns +
                                      " FROM episodes e WHERE e.alert_id = ? AND e.number = ?");
  q.bind(1, static_cast<int64_t>(alert_id));
  q.bind(2, number);
  if (q.executeStep()) return read_episode(q, 0).episode;
  return std::nullopt;
}

void Transaction::insert_timer(std::int64_t alert_id, const rules::Timer& t) {
  CachedStatement q(
      m_statements,
      "INSERT INTO timers (due_at, kind, alert_id, episode, step) VALUES (?,?,?,?,?)");
  q.bind(1, static_cast<int64_t>(to_unix_ms(t.due)));
  q.bind(2, std::string(to_string(t.kind)));
  q.bind(3, static_cast<int64_t>(alert_id));
  q.bind(4, t.episode);
  q.bind(5, t.step);
  q.exec();
}

std::optional<StoredTimer> Transaction::next_due_timer(TimePoint not_after) {
  CachedStatement q(m_statements,
                    "SELECT id, alert_id, due_at, kind, episode, step, name FROM timers "
                    "WHERE due_at <= ? ORDER BY due_at, id LIMIT 1");
  q.bind(1, static_cast<int64_t>(to_unix_ms(not_after)));
  if (!q.executeStep()) return std::nullopt;
  StoredTimer t;
  t.id = q.getColumn(0).getInt64();
  t.alert_id = q.getColumn(1).isNull() ? 0 : q.getColumn(1).getInt64();
  t.timer.due = from_unix_ms(q.getColumn(2).getInt64());
  t.timer.kind = parse_stored<rules::TimerKind>(q.getColumn(3).getString());
  t.timer.episode = q.getColumn(4).getInt();
  t.timer.step = q.getColumn(5).getInt();
  if (!q.getColumn(6).isNull()) t.name = q.getColumn(6).getString();
  return t;
}

void Transaction::set_heartbeat_deadline(const std::string& name, TimePoint due) {
  CachedStatement del(m_statements, "DELETE FROM timers WHERE kind = 'heartbeat' AND name = ?");
  del.bind(1, name);
  del.exec();
  CachedStatement ins(m_statements,
                      "INSERT INTO timers (due_at, kind, name) VALUES (?, 'heartbeat', ?)");
  ins.bind(1, static_cast<int64_t>(to_unix_ms(due)));
  ins.bind(2, name);
  ins.exec();
}

bool Transaction::has_heartbeat_deadline(const std::string& name) {
  CachedStatement q(m_statements, "SELECT 1 FROM timers WHERE kind = 'heartbeat' AND name = ?");
  q.bind(1, name);
  return q.executeStep();
}

std::optional<HeartbeatPing> Transaction::heartbeat_ping(const std::string& name) {
  CachedStatement q(
      m_statements,
      "SELECT first_ping_at, last_ping_at, pings FROM heartbeat_pings WHERE name = ?");
  q.bind(1, name);
  if (!q.executeStep()) return std::nullopt;
  HeartbeatPing p;
  p.name = name;
  p.first_ping_at = from_unix_ms(q.getColumn(0).getInt64());
  p.last_ping_at = from_unix_ms(q.getColumn(1).getInt64());
  p.pings = q.getColumn(2).getInt64();
  return p;
}

std::optional<TimePoint> Transaction::next_timer_due() {
  CachedStatement q(m_statements, "SELECT min(due_at) FROM timers");
  if (q.executeStep() && !q.getColumn(0).isNull()) return from_unix_ms(q.getColumn(0).getInt64());
  return std::nullopt;
}

void Transaction::delete_timer(std::int64_t id) {
  CachedStatement q(m_statements, "DELETE FROM timers WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  q.exec();
}

void Transaction::cancel_timers(std::int64_t alert_id, int episode,
                                std::optional<rules::TimerKind> kind) {
  CachedStatement q(m_statements, kind
                                      ? "DELETE FROM timers WHERE alert_id = ? AND episode = ? AND "
                                        "kind = ?"
                                      : "DELETE FROM timers WHERE alert_id = ? AND episode = ?");
  q.bind(1, static_cast<int64_t>(alert_id));
  q.bind(2, episode);
  if (kind) q.bind(3, std::string(to_string(*kind)));
  q.exec();
}

std::vector<std::pair<std::int64_t, rules::Episode>> Transaction::active_episodes_without_sweep(
    int limit) {
  CachedStatement q(m_statements,
                    std::string("SELECT ") + k_episode_columns +
                        " FROM episodes e WHERE e.status IN ('open','acknowledged') AND "
                        "NOT EXISTS (SELECT 1 FROM timers t WHERE t.alert_id = "
                        "e.alert_id AND t.episode = e.number AND t.kind = "
                        "'max_open_age') ORDER BY e.id LIMIT ?");
  q.bind(1, limit);
  std::vector<std::pair<std::int64_t, rules::Episode>> out;
  while (q.executeStep()) {
    auto r = read_episode(q, 0);
    out.emplace_back(r.alert_id, std::move(r.episode));
  }
  return out;
}

std::int64_t Transaction::insert_notification(const OutboxRecord& n) {
  OutboxStatus status = n.status;
  if (n.action == rules::NotifyAction::resolve && n.alert_id && n.episode) {
    // A resolve supersedes what is still queued for the same episode and channel
    // (docs/behaviour.md "Delivery"); if nothing about the episode ever left for that channel,
    // there is nothing to resolve there either.
    CachedStatement supersede(m_statements,
                              "UPDATE outbox SET status = 'superseded' WHERE alert_id = ? AND "
                              "episode = ? AND channel = ? AND status = 'pending' AND "
                              "attempts = 0 AND action IN ('trigger','escalate','reminder')");
    supersede.bind(1, static_cast<int64_t>(*n.alert_id));
    supersede.bind(2, *n.episode);
    supersede.bind(3, n.channel);
    supersede.exec();
    CachedStatement told(m_statements,
                         "SELECT 1 FROM outbox WHERE alert_id = ? AND episode = ? AND channel = ? "
                         "AND (status IN ('sent','failed') OR (status = 'pending' AND attempts > "
                         "0)) LIMIT 1");
    told.bind(1, static_cast<int64_t>(*n.alert_id));
    told.bind(2, *n.episode);
    told.bind(3, n.channel);
    if (!told.executeStep()) status = OutboxStatus::superseded;
  }
  CachedStatement q(m_statements,
                    "INSERT INTO outbox (created_at, due_at, alert_id, episode, fingerprint, "
                    "alias, channel, action, level, severity, priority, noise, why, status, "
                    "about, digest) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, static_cast<int64_t>(to_unix_ms(n.created_at)));
  q.bind(2, static_cast<int64_t>(to_unix_ms(n.due_at)));
  bind_optional(q, 3, n.alert_id);
  bind_optional(q, 4, n.episode);
  q.bind(5, n.fingerprint);
  q.bind(6, n.alias);
  q.bind(7, n.channel);
  q.bind(8, std::string(to_text(n.action)));
  q.bind(9, n.level);
  q.bind(10, std::string(to_string(n.severity)));
  q.bind(11, n.priority.level);
  bind_optional(q, 12, n.noise);
  q.bind(13, n.why);
  q.bind(14, std::string(to_text(status)));
  bind_optional(q, 15, n.about);
  if (n.digest.empty()) {
    q.bind(16);
  } else {
    q.bind(16, n.digest);
  }
  q.exec();
  return m_db.getLastInsertRowid();
}

std::vector<rules::EpisodeFacts> Transaction::episodes_leaving(std::int64_t alert_id, int from,
                                                               TimePoint cutoff) {
  CachedStatement q(m_statements, k_leaving_sql);
  q.bind(1, static_cast<int64_t>(alert_id));
  q.bind(2, from);
  return read_leaving(q, cutoff);
}

void Transaction::insert_digest_item(const DigestItem& item) {
  const OutboxRecord& n = item.notification;
  CachedStatement q(m_statements,
                    "INSERT INTO digest_items (channel, created_at, alert_id, episode, "
                    "fingerprint, alias, action, severity, priority, noise, summary, why) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, n.channel);
  q.bind(2, static_cast<int64_t>(to_unix_ms(n.created_at)));
  bind_optional(q, 3, n.alert_id);
  bind_optional(q, 4, n.episode);
  q.bind(5, n.fingerprint);
  q.bind(6, n.alias);
  q.bind(7, std::string(to_text(n.action)));
  q.bind(8, std::string(to_string(n.severity)));
  q.bind(9, n.priority.level);
  bind_optional(q, 10, n.noise);
  q.bind(11, item.summary);
  q.bind(12, n.why);
  q.exec();
}

std::vector<DigestItem> Transaction::take_digest_items(const std::string& channel) {
  std::vector<DigestItem> out;
  {
    CachedStatement q(m_statements,
                      "SELECT id, created_at, alert_id, episode, fingerprint, alias, action, "
                      "severity, priority, noise, summary, why FROM digest_items WHERE channel = ? "
                      "ORDER BY id");
    q.bind(1, channel);
    while (q.executeStep()) {
      DigestItem item;
      item.id = q.getColumn(0).getInt64();
      OutboxRecord& n = item.notification;
      n.channel = channel;
      n.created_at = n.due_at = from_unix_ms(q.getColumn(1).getInt64());
      if (!q.getColumn(2).isNull()) n.alert_id = q.getColumn(2).getInt64();
      if (!q.getColumn(3).isNull()) n.episode = q.getColumn(3).getInt();
      n.fingerprint = q.getColumn(4).getString();
      n.alias = q.getColumn(5).getString();
      n.action = parse_stored<rules::NotifyAction>(q.getColumn(6).getString());
      n.severity = parse_stored<Severity>(q.getColumn(7).getString(), "digest_items.severity");
      n.priority = Priority{q.getColumn(8).getInt()};
      if (!q.getColumn(9).isNull()) n.noise = q.getColumn(9).getDouble();
      item.summary = q.getColumn(10).getString();
      n.why = q.getColumn(11).getString();
      out.push_back(std::move(item));
    }
  }
  CachedStatement del(m_statements, "DELETE FROM digest_items WHERE channel = ?");
  del.bind(1, channel);
  del.exec();
  return out;
}

bool Transaction::arm_digest(const std::string& channel, TimePoint due) {
  CachedStatement has(m_statements, "SELECT 1 FROM timers WHERE kind = 'digest' AND name = ?");
  has.bind(1, channel);
  if (has.executeStep()) return false;
  CachedStatement q(m_statements,
                    "INSERT INTO timers (due_at, kind, name) VALUES (?, 'digest', ?)");
  q.bind(1, static_cast<int64_t>(to_unix_ms(due)));
  q.bind(2, channel);
  q.exec();
  return true;
}

std::int64_t Transaction::next_digest_number(const std::string& channel) {
  CachedStatement q(m_statements,
                    "INSERT INTO digest_sequence (channel, last) VALUES (?, 1) "
                    "ON CONFLICT (channel) DO UPDATE SET last = last + 1 RETURNING last");
  q.bind(1, channel);
  if (!q.executeStep()) throw std::logic_error("digest_sequence: an upsert returned no row");
  // The change is made by the first step (SQLite's RETURNING), whatever happens after.
  return q.getColumn(0).getInt64();
}

// A macro so that k_due_notifications_sql can be one literal.
#define TOCSIN_OUTBOX_COLUMNS                                                                   \
  "id, created_at, due_at, alert_id, episode, fingerprint, alias, channel, action, level, "     \
  "severity, priority, noise, why, status, attempts, last_status, last_error, sent_at, about, " \
  "digest"

namespace {

constexpr const char* k_outbox_columns = TOCSIN_OUTBOX_COLUMNS;

}  // namespace

OutboxRecord read_outbox(SQLite::Statement& q) {
  OutboxRecord n;
  n.id = q.getColumn(0).getInt64();
  n.created_at = from_unix_ms(q.getColumn(1).getInt64());
  n.due_at = from_unix_ms(q.getColumn(2).getInt64());
  if (!q.getColumn(3).isNull()) n.alert_id = q.getColumn(3).getInt64();
  if (!q.getColumn(4).isNull()) n.episode = q.getColumn(4).getInt();
  n.fingerprint = q.getColumn(5).getString();
  n.alias = q.getColumn(6).getString();
  n.channel = q.getColumn(7).getString();
  n.action = parse_stored<rules::NotifyAction>(q.getColumn(8).getString());
  n.level = q.getColumn(9).getInt();
  n.severity = parse_stored<Severity>(q.getColumn(10).getString(), "outbox.severity");
  n.priority = Priority{q.getColumn(11).getInt()};
  if (!q.getColumn(12).isNull()) n.noise = q.getColumn(12).getDouble();
  n.why = q.getColumn(13).getString();
  n.status = parse_stored<OutboxStatus>(q.getColumn(14).getString());
  n.attempts = q.getColumn(15).getInt();
  if (!q.getColumn(16).isNull()) n.last_status = q.getColumn(16).getInt();
  n.last_error = q.getColumn(17).getString();
  if (!q.getColumn(18).isNull()) n.sent_at = from_unix_ms(q.getColumn(18).getInt64());
  if (!q.getColumn(19).isNull()) n.about = q.getColumn(19).getInt64();
  if (!q.getColumn(20).isNull()) n.digest = q.getColumn(20).getString();
  return n;
}

const char* outbox_columns() {
  return k_outbox_columns;
}

// INDEXED BY: without statistics (no ANALYZE) SQLite prefers outbox_pending, whose due_at range
// holds every due row; outbox_claim yields them already in claim order, so the query stops at
// its limit. Rows not yet due are skipped inside the index, without reading the table.
const char* const k_due_notifications_sql =
    "SELECT " TOCSIN_OUTBOX_COLUMNS
    " FROM outbox o INDEXED BY outbox_claim WHERE o.status = 'pending' AND o.due_at <= ? AND "
    "o.channel NOT IN (SELECT value FROM json_each(?)) AND NOT EXISTS "
    "(SELECT 1 FROM outbox p WHERE p.alias = o.alias AND p.channel = "
    "o.channel AND p.status = 'pending' AND p.id < o.id) ORDER BY "
    "o.priority, o.due_at, o.id LIMIT ?";

std::vector<OutboxRecord> Transaction::due_notifications(
    TimePoint now, int limit, const std::vector<std::string>& skip_channels) {
  // Only the head of each (episode, channel) queue: delivery is in order per episode and
  // channel, so a trigger waiting for its retry holds back the resolve behind it. Most urgent
  // priority first (P1), then oldest due. Skipped channels are left out in the query, not
  // after it: a long backlog on a busy channel must not fill the limit and hide the others.
  Json skip = Json::array();
  for (const auto& c : skip_channels)
    skip.push_back(c);
  CachedStatement q(m_statements, k_due_notifications_sql);
  q.bind(1, static_cast<int64_t>(to_unix_ms(now)));
  q.bind(2, skip.dump());
  q.bind(3, limit);
  std::vector<OutboxRecord> out;
  while (q.executeStep())
    out.push_back(read_outbox(q));
  return out;
}

std::optional<OutboxRecord> Transaction::load_notification(std::int64_t id) {
  CachedStatement q(m_statements,
                    std::string("SELECT ") + k_outbox_columns + " FROM outbox WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  if (q.executeStep()) return read_outbox(q);
  return std::nullopt;
}

void Transaction::count_attempt(std::int64_t id) {
  CachedStatement q(m_statements, "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  q.exec();
}

void Transaction::uncount_attempt(std::int64_t id) {
  CachedStatement q(m_statements, "UPDATE outbox SET attempts = max(attempts - 1, 0) WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  q.exec();
}

void Transaction::record_attempt(const DeliveryAttempt& a, const OutboxRecord& after) {
  CachedStatement ins(m_statements,
                      "INSERT INTO delivery_attempts (outbox_id, at, http_status, error, "
                      "duration_ms, outcome) VALUES (?,?,?,?,?,?)");
  ins.bind(1, static_cast<int64_t>(a.outbox_id));
  ins.bind(2, static_cast<int64_t>(to_unix_ms(a.at)));
  if (a.http_status) {
    ins.bind(3, *a.http_status);
  } else {
    ins.bind(3);
  }
  ins.bind(4, a.error);
  ins.bind(5, static_cast<int64_t>(a.duration_ms));
  ins.bind(6, std::string(to_text(a.outcome)));
  ins.exec();

  CachedStatement upd(m_statements,
                      "UPDATE outbox SET status = ?, attempts = ?, due_at = ?, last_status = ?, "
                      "last_error = ?, sent_at = ? WHERE id = ?");
  upd.bind(1, std::string(to_text(after.status)));
  upd.bind(2, after.attempts);
  upd.bind(3, static_cast<int64_t>(to_unix_ms(after.due_at)));
  if (after.last_status) {
    upd.bind(4, *after.last_status);
  } else {
    upd.bind(4);
  }
  upd.bind(5, after.last_error);
  bind_optional_time(upd, 6, after.sent_at);
  upd.bind(7, static_cast<int64_t>(after.id));
  upd.exec();
}

std::int64_t Transaction::save_alert(const AlertRecord& a) {
  const bool insert = a.id == 0;
  CachedStatement q(
      m_statements,
      insert ? "INSERT INTO alerts (source, name, account, region, metric, namespace, labels, "
               "summary, description, rule, first_seen, last_seen, last_episode, noise_state, "
               "noise_score, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
             : "UPDATE alerts SET source=?, name=?, account=?, region=?, metric=?, "
               "namespace=?, labels=?, summary=?, description=?, rule=?, first_seen=?, "
               "last_seen=?, last_episode=?, noise_state=?, noise_score=? WHERE id=?");
  q.bind(1, std::string(to_string(a.source)));
  q.bind(2, a.name);
  q.bind(3, a.account);
  q.bind(4, a.region);
  q.bind(5, a.metric);
  q.bind(6, a.namespace_);
  q.bind(7, labels_to_json(a.labels));
  q.bind(8, a.summary);
  q.bind(9, a.description);
  q.bind(10, a.rule);
  q.bind(11, static_cast<int64_t>(to_unix_ms(a.first_seen)));
  q.bind(12, static_cast<int64_t>(to_unix_ms(a.last_seen)));
  q.bind(13, a.last_episode_number);
  q.bind(14, noise_to_text(a.noise));
  q.bind(15, a.noise_score);
  if (insert) {
    q.bind(16, a.fingerprint);
  } else {
    q.bind(16, static_cast<int64_t>(a.id));
  }
  q.exec();
  return insert ? m_db.getLastInsertRowid() : a.id;
}

void Transaction::save_episode(std::int64_t alert_id, const std::string& fingerprint,
                               const rules::Episode& e, bool is_new) {
  CachedStatement q(
      m_statements,
      is_new ? "INSERT INTO episodes (status, severity, priority, opened_at, "
               "last_activity_at, last_source_time, closed_at, event_count, escalation, "
               "level, escalation_base, acknowledged_at, acknowledged_by, flagged_stale_at, "
               "notified, ended_by, ever_acknowledged, transient, demoted_to, held_until, noise, "
               "alias, alert_id, number) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
             : "UPDATE episodes SET status=?, severity=?, priority=?, opened_at=?, "
               "last_activity_at=?, last_source_time=?, closed_at=?, event_count=?, "
               "escalation=?, level=?, escalation_base=?, acknowledged_at=?, "
               "acknowledged_by=?, flagged_stale_at=?, notified=?, ended_by=?, "
               "ever_acknowledged=?, transient=?, demoted_to=?, held_until=?, noise=? WHERE "
               "alias=? AND "
               "alert_id=? AND number=?");
  q.bind(1, std::string(to_string(e.status)));
  q.bind(2, std::string(to_string(e.severity)));
  q.bind(3, e.priority.level);
  q.bind(4, static_cast<int64_t>(to_unix_ms(e.opened_at)));
  q.bind(5, static_cast<int64_t>(to_unix_ms(e.last_activity_at)));
  bind_optional_time(q, 6, e.last_source_time);
  bind_optional_time(q, 7, e.closed_at);
  q.bind(8, e.event_count);
  q.bind(9, names_to_json(e.escalation));
  q.bind(10, e.level);
  q.bind(11, static_cast<int64_t>(to_unix_ms(e.escalation_base)));
  bind_optional_time(q, 12, e.acknowledged_at);
  q.bind(13, e.acknowledged_by);
  bind_optional_time(q, 14, e.flagged_stale_at);
  q.bind(15, names_to_json(e.notified));
  q.bind(16, std::string(rules::to_string(e.ended_by)));
  q.bind(17, e.ever_acknowledged ? 1 : 0);
  q.bind(18, e.transient ? 1 : 0);
  bind_optional(q, 19, e.demoted_to);
  bind_optional_time(q, 20, e.held_until);
  bind_optional(q, 21, e.noise);
  q.bind(22, episode_alias(fingerprint, e.number));
  q.bind(23, static_cast<int64_t>(alert_id));
  q.bind(24, e.number);
  if (q.exec() != 1) {
    throw std::logic_error("episode " + std::to_string(e.number) + " of alert " +
                           std::to_string(alert_id) + " not found for update");
  }
}

void Transaction::insert_decision(const DecisionRecord& d) {
  CachedStatement q(m_statements,
                    "INSERT INTO decisions (at, alert_id, episode, inbound_id, kind, outcome, "
                    "reason, rule, rules_hash, fingerprint, event_key) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, static_cast<int64_t>(to_unix_ms(d.at)));
  bind_optional(q, 2, d.alert_id);
  bind_optional(q, 3, d.episode);
  bind_optional(q, 4, d.inbound_id);
  q.bind(5, std::string(to_text(d.kind)));
  q.bind(6, std::string(to_text(d.outcome)));
  q.bind(7, d.reason);
  q.bind(8, d.rule);
  q.bind(9, d.rules_hash);
  q.bind(10, d.fingerprint);
  if (d.event_key.empty()) {
    q.bind(11);
  } else {
    q.bind(11, d.event_key);
  }
  q.exec();
}

void Transaction::record_probe(TimePoint at) {
  write_probe(m_db, to_unix_ms(at));
}

}  // namespace tocsin::storage
