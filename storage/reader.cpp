#include "storage/reader.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <cstdint>
#include <filesystem>

#include "storage/codec.hpp"
#include "storage/compression.hpp"
#include "storage/database.hpp"
#include "storage/detail/rows.hpp"
#include "storage/detail/sqlite.hpp"
#include "storage/migrations.hpp"
#include "storage/vocabulary.hpp"
#include "storage/writer.hpp"

namespace tocsin::storage {

// Returns the connection to the pool when the query is done, even if it threw.
class Reader::Lease {
 public:
  explicit Lease(Reader& r) : m_reader(r), m_db(r.acquire()) {}
  ~Lease() { m_reader.release(std::move(m_db)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  SQLite::Database& db() { return *m_db; }

 private:
  Reader& m_reader;
  std::unique_ptr<Connection> m_db;
};

Reader::Reader(std::string path) : m_path(std::move(path)) {}

Reader::~Reader() = default;

std::unique_ptr<Connection> Reader::acquire() {
  {
    MutexLock lock(m_mutex);
    if (!m_idle.empty()) {
      auto db = std::move(m_idle.back());
      m_idle.pop_back();
      return db;
    }
  }
  return open_for_reading(m_path);
}

void Reader::release(std::unique_ptr<Connection> db) {
  constexpr std::size_t k_max_idle = 16;
  MutexLock lock(m_mutex);
  if (m_idle.size() < k_max_idle) m_idle.push_back(std::move(db));
}

namespace {

// Every public query is a function-try-block ending in this: SQLite's exception leaves as a
// ReadError (storage/database.hpp), so no caller catches SQLite's types.
[[noreturn]] void throw_read_error(const SQLite::Exception& e) {
  throw ReadError(e.getErrorCode(), e.what());
}

// The latest episode of each alert joins as `e`; alerts without one keep NULLs.
const std::string k_from =
    " FROM alerts a LEFT JOIN episodes e ON e.alert_id = a.id AND e.number = a.last_episode";

struct Where {
  std::string sql;
  std::vector<std::string> args;
};

Where where_clause(const AlertQuery& query) {
  Where w;
  auto add = [&](const std::string& cond, std::string arg) {
    w.sql += w.sql.empty() ? " WHERE " : " AND ";
    w.sql += cond;
    w.args.push_back(std::move(arg));
  };
  if (query.status) {
    if (*query.status == "none") {
      w.sql += w.sql.empty() ? " WHERE " : " AND ";
      w.sql += "e.status IS NULL";
    } else {
      add("e.status = ?", *query.status);
    }
  }
  if (query.severity) add("e.severity = ?", *query.severity);
  if (query.source) add("a.source = ?", *query.source);
  if (query.text) {
    // instr() rather than LIKE: the user's text needs no escaping of % and _.
    const std::string& t = *query.text;
    w.sql += w.sql.empty() ? " WHERE " : " AND ";
    w.sql += "(instr(a.fingerprint, ?) > 0 OR instr(a.name, ?) > 0 OR instr(a.summary, ?) > 0)";
    w.args.insert(w.args.end(), {t, t, t});
  }
  return w;
}

AlertView read_view(SQLite::Statement& q) {
  AlertView v;
  v.alert = read_alert(q, 0);
  if (!q.getColumn(k_alert_column_count).isNull())
    v.current = read_episode(q, k_alert_column_count);
  return v;
}

}  // namespace

AlertPage Reader::list_alerts(const AlertQuery& query) try {
  Lease lease(*this);
  Where w = where_clause(query);
  AlertPage page;

  SQLite::Statement count(lease.db(), "SELECT count(*)" + k_from + w.sql);
  for (std::size_t i = 0; i < w.args.size(); ++i)
    count.bind(static_cast<int>(i + 1), w.args[i]);
  if (count.executeStep()) page.total = count.getColumn(0).getInt64();

  // Most recently active first: what an SRE looking at the list cares about.
  SQLite::Statement q(lease.db(), std::string("SELECT ") + k_alert_columns + ", " +
                                      k_episode_columns + k_from + w.sql +
                                      " ORDER BY a.last_seen DESC, a.id DESC LIMIT ? OFFSET ?");
  int i = 1;
  for (const auto& arg : w.args)
    q.bind(i++, arg);
  q.bind(i++, query.limit);
  q.bind(i, query.offset);
  std::size_t bytes = 0;
  while (bytes < k_max_alert_page_bytes && q.executeStep()) {
    page.alerts.push_back(read_view(q));
    const AlertRecord& a = page.alerts.back().alert;
    bytes += a.summary.size() + a.description.size();
    for (const auto& [name, value] : a.labels)
      bytes += name.size() + value.size();
  }
  return page;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::optional<AlertDetail> Reader::get_alert(std::int64_t id) try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(), std::string("SELECT ") + k_alert_columns + ", " +
                                      k_episode_columns + k_from + " WHERE a.id = ?");
  q.bind(1, static_cast<int64_t>(id));
  if (!q.executeStep()) return std::nullopt;
  AlertDetail detail;
  detail.view = read_view(q);

  constexpr int k_max_episodes = 50;
  constexpr int k_max_members = 100;
  SQLite::Statement e(lease.db(), std::string("SELECT ") + k_episode_columns +
                                      " FROM episodes e WHERE e.alert_id = ? "
                                      "ORDER BY e.number DESC LIMIT ?");
  e.bind(1, static_cast<int64_t>(id));
  e.bind(2, k_max_episodes);
  while (e.executeStep())
    detail.episodes.push_back(read_episode(e, 0));

  SQLite::Statement counts(lease.db(),
                           "SELECT count(*), count(*) FILTER (WHERE state = 'firing') "
                           "FROM alert_members WHERE alert_id = ?");
  counts.bind(1, static_cast<int64_t>(id));
  if (counts.executeStep()) {
    detail.members_total = counts.getColumn(0).getInt64();
    detail.members_firing = counts.getColumn(1).getInt64();
  }
  SQLite::Statement m(lease.db(), std::string("SELECT ") + k_member_columns +
                                      " FROM alert_members m WHERE m.alert_id = ? "
                                      "ORDER BY m.state = 'firing' DESC, m.last_seen_at DESC, "
                                      "m.member LIMIT ?");
  m.bind(1, static_cast<int64_t>(id));
  m.bind(2, k_max_members);
  while (m.executeStep())
    detail.members.push_back(read_member(m, 0));
  return detail;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

bool Reader::alert_exists(std::int64_t id) try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(), "SELECT 1 FROM alerts WHERE id = ?");
  q.bind(1, static_cast<int64_t>(id));
  return q.executeStep();
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<DecisionView> Reader::list_decisions(std::int64_t alert_id, int limit,
                                                 std::optional<std::int64_t> before_id) try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(),
                      "SELECT d.id, d.at, d.episode, d.kind, d.outcome, d.reason, d.rule, "
                      "d.rules_hash, d.fingerprint, d.inbound_id, i.hook, i.delivery_id, "
                      "i.received_at FROM decisions d LEFT JOIN inbound i ON i.id = d.inbound_id "
                      "WHERE d.alert_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?");
  q.bind(1, static_cast<int64_t>(alert_id));
  q.bind(2, static_cast<int64_t>(before_id.value_or(INT64_MAX)));
  q.bind(3, limit);
  std::vector<DecisionView> out;
  while (q.executeStep()) {
    DecisionView v;
    v.id = q.getColumn(0).getInt64();
    auto& d = v.decision;
    d.alert_id = alert_id;
    d.at = from_unix_ms(q.getColumn(1).getInt64());
    if (!q.getColumn(2).isNull()) d.episode = q.getColumn(2).getInt();
    d.kind = parse_stored<DecisionKind>(q.getColumn(3).getString());
    d.outcome = parse_stored<DecisionOutcome>(q.getColumn(4).getString());
    d.reason = q.getColumn(5).getString();
    d.rule = q.getColumn(6).getString();
    d.rules_hash = q.getColumn(7).getString();
    d.fingerprint = q.getColumn(8).getString();
    if (!q.getColumn(9).isNull()) d.inbound_id = q.getColumn(9).getInt64();
    v.hook = q.getColumn(10).getString();
    v.delivery_id = q.getColumn(11).getString();
    if (!q.getColumn(12).isNull()) v.received_at = from_unix_ms(q.getColumn(12).getInt64());
    out.push_back(std::move(v));
  }
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<SubscriptionRecord> Reader::list_subscriptions(int limit) try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(),
                      "SELECT topic_arn, kind, url, message_id, received_at, status, updated_at, "
                      "detail FROM subscriptions ORDER BY id DESC LIMIT ?");
  q.bind(1, limit);
  std::vector<SubscriptionRecord> out;
  while (q.executeStep()) {
    SubscriptionRecord s;
    s.topic_arn = q.getColumn(0).getString();
    s.kind = parse_stored<SubscriptionKind>(q.getColumn(1).getString());
    s.url = q.getColumn(2).getString();
    s.message_id = q.getColumn(3).getString();
    s.received_at = from_unix_ms(q.getColumn(4).getInt64());
    s.status = parse_stored<SubscriptionStatus>(q.getColumn(5).getString());
    s.updated_at = from_unix_ms(q.getColumn(6).getInt64());
    s.detail = q.getColumn(7).getString();
    out.push_back(std::move(s));
  }
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<HeartbeatPing> Reader::list_heartbeat_pings() try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(),
                      "SELECT name, first_ping_at, last_ping_at, pings FROM heartbeat_pings "
                      "ORDER BY name");
  std::vector<HeartbeatPing> out;
  while (q.executeStep()) {
    HeartbeatPing p;
    p.name = q.getColumn(0).getString();
    p.first_ping_at = from_unix_ms(q.getColumn(1).getInt64());
    p.last_ping_at = from_unix_ms(q.getColumn(2).getInt64());
    p.pings = q.getColumn(3).getInt64();
    out.push_back(std::move(p));
  }
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<OutboxRecord> Reader::list_notifications(const NotificationQuery& query) try {
  Lease lease(*this);
  std::string sql = std::string("SELECT ") + outbox_columns() + " FROM outbox WHERE 1=1";
  if (query.status) sql += " AND status = :status";
  if (query.channel) sql += " AND channel = :channel";
  if (query.alert_id) sql += " AND alert_id = :alert";
  if (query.before_id) sql += " AND id < :before";
  sql += " ORDER BY id DESC LIMIT :limit";
  SQLite::Statement q(lease.db(), sql);
  if (query.status) q.bind(":status", std::string(to_text(*query.status)));
  if (query.channel) q.bind(":channel", *query.channel);
  if (query.alert_id) q.bind(":alert", static_cast<int64_t>(*query.alert_id));
  if (query.before_id) q.bind(":before", static_cast<int64_t>(*query.before_id));
  q.bind(":limit", query.limit);
  std::vector<OutboxRecord> out;
  while (q.executeStep())
    out.push_back(read_outbox(q));
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<DeliveryAttempt> Reader::list_attempts(std::int64_t outbox_id, int limit) try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(),
                      "SELECT at, http_status, error, duration_ms, outcome FROM delivery_attempts "
                      "WHERE outbox_id = ? ORDER BY id DESC LIMIT ?");
  q.bind(1, static_cast<int64_t>(outbox_id));
  q.bind(2, limit);
  std::vector<DeliveryAttempt> out;
  while (q.executeStep()) {
    DeliveryAttempt a;
    a.outbox_id = outbox_id;
    a.at = from_unix_ms(q.getColumn(0).getInt64());
    if (!q.getColumn(1).isNull()) a.http_status = q.getColumn(1).getInt();
    a.error = q.getColumn(2).getString();
    a.duration_ms = q.getColumn(3).getInt64();
    a.outcome = parse_stored<AttemptOutcome>(q.getColumn(4).getString());
    out.push_back(std::move(a));
  }
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

OutboxStats Reader::outbox_stats() try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(),
                      "SELECT count(*), min(created_at) FROM outbox WHERE status = 'pending'");
  OutboxStats s;
  if (q.executeStep()) {
    s.pending = q.getColumn(0).getInt64();
    if (!q.getColumn(1).isNull()) s.oldest_pending = from_unix_ms(q.getColumn(1).getInt64());
  }
  return s;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

StorageStats Reader::storage_stats() try {
  StorageStats s;
  {
    Lease lease(*this);
    s.database_bytes = lease.db().execAndGet("PRAGMA page_count").getInt64() *
                       lease.db().execAndGet("PRAGMA page_size").getInt64();
    SQLite::Statement q(lease.db(), "SELECT min(received_at) FROM inbound");
    if (q.executeStep() && !q.getColumn(0).isNull()) {
      s.oldest_event = from_unix_ms(q.getColumn(0).getInt64());
    }
  }
  std::error_code ec;
  const auto wal = std::filesystem::file_size(m_path + "-wal", ec);
  if (!ec) s.wal_bytes = static_cast<std::int64_t>(wal);
  return s;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<StoredTimer> Reader::list_timers(std::int64_t alert_id) try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(),
                      "SELECT id, due_at, kind, episode, step FROM timers WHERE alert_id = ? "
                      "ORDER BY due_at, id LIMIT 100");
  q.bind(1, static_cast<int64_t>(alert_id));
  std::vector<StoredTimer> out;
  while (q.executeStep()) {
    StoredTimer t;
    t.id = q.getColumn(0).getInt64();
    t.alert_id = alert_id;
    t.timer = rules::Timer{parse_stored<rules::TimerKind>(q.getColumn(2).getString()),
                           from_unix_ms(q.getColumn(1).getInt64()), q.getColumn(3).getInt(),
                           q.getColumn(4).getInt()};
    out.push_back(t);
  }
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

namespace {

// `leaving` is k_leaving_sql prepared on the lease's connection; reused across alerts.
rules::NoiseState slid(SQLite::Statement& leaving, const AlertRecord& alert, TimePoint cutoff) {
  rules::NoiseState state = alert.noise;
  leaving.reset();
  leaving.bind(1, static_cast<int64_t>(alert.id));
  leaving.bind(2, state.window_first);
  rules::slide(state, read_leaving(leaving, cutoff));
  return state;
}

}  // namespace

rules::NoiseState Reader::noise_at(const AlertRecord& alert, TimePoint cutoff) try {
  Lease lease(*this);
  SQLite::Statement leaving(lease.db(), k_leaving_sql);
  return slid(leaving, alert, cutoff);
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<AlertView> Reader::noise_candidates(TimePoint cutoff, int limit) try {
  Lease lease(*this);
  std::vector<AlertView> out;
  SQLite::Statement q(lease.db(), std::string("SELECT ") + k_alert_columns + ", " +
                                      k_episode_columns + k_from +
                                      " WHERE a.last_seen >= ? ORDER BY a.last_seen DESC, "
                                      "a.id DESC LIMIT ?");
  q.bind(1, static_cast<int64_t>(to_unix_ms(cutoff)));
  q.bind(2, limit);
  while (q.executeStep())
    out.push_back(read_view(q));
  // One prepared statement for every alert's slide, on the lease's connection.
  SQLite::Statement leaving(lease.db(), k_leaving_sql);
  for (auto& v : out)
    v.alert.noise = slid(leaving, v.alert, cutoff);
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::pair<std::vector<rules::Observation>, std::vector<rules::EpisodeFacts>> Reader::noise_history(
    std::int64_t alert_id) try {
  Lease lease(*this);
  std::vector<rules::Observation> observations;
  SQLite::Statement d(lease.db(),
                      "SELECT at, outcome, reason FROM decisions WHERE alert_id = ? AND "
                      "kind = 'event' ORDER BY id");
  d.bind(1, static_cast<int64_t>(alert_id));
  while (d.executeStep()) {
    if (auto firing =
            rules::observed_firing(d.getColumn(1).getString(), d.getColumn(2).getString())) {
      observations.push_back(rules::Observation{from_unix_ms(d.getColumn(0).getInt64()), *firing});
    }
  }
  std::vector<rules::EpisodeFacts> episodes;
  SQLite::Statement e(lease.db(), k_leaving_sql);
  e.bind(1, static_cast<int64_t>(alert_id));
  e.bind(2, 1);
  // Every episode: none is opened after the end of time.
  episodes = read_leaving(e, TimePoint::max());
  return {std::move(observations), std::move(episodes)};
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

// Export (tocsin export)

namespace {

// Export reads databases written by any earlier build: inbound and decisions are unchanged
// since schema version 1, except that a body may be stored compressed from version 5 on.
void check_exportable(SQLite::Database& db, const std::string& path) {
  const int version = db.execAndGet("PRAGMA user_version").getInt();
  if (version == 0) {
    throw DatabaseError(path + " is not a Tocsin database (schema version 0)");
  }
  if (version > current_schema_version()) {
    throw DatabaseError("database " + path + " has schema version " + std::to_string(version) +
                        ", newer than this build of tocsin knows (" +
                        std::to_string(current_schema_version()) + "); run the newer tocsin");
  }
}

InboundRecord read_exported_request(SQLite::Statement& q) {
  InboundRecord r;
  r.received_at = from_unix_ms(q.getColumn(1).getInt64());
  r.hook = q.getColumn(2).getString();
  r.delivery_id = q.getColumn(3).getString();
  r.headers_json = q.getColumn(4).getString();
  const SQLite::Column body = q.getColumn(5);
  r.body = body.isBlob() ? decompress_body(std::string(static_cast<const char*>(body.getBlob()),
                                                       static_cast<std::size_t>(body.getBytes())))
                         : body.getString();
  return r;
}

}  // namespace

void Reader::export_since(TimePoint since, const std::function<void(const InboundRecord&)>& request,
                          const std::function<void(const DecisionRecord&)>& action) try {
  Lease lease(*this);
  SQLite::Database& db = lease.db();
  check_exportable(db, m_path);
  // Both queries read the same snapshot.
  SQLite::Transaction snapshot(db);

  SQLite::Statement requests(db,
                             "SELECT id, received_at, hook, delivery_id, headers, body "
                             "FROM inbound WHERE received_at >= ? ORDER BY received_at, id");
  requests.bind(1, static_cast<int64_t>(to_unix_ms(since)));
  // Two-way sync (engine/engine.cpp apply_sync) records the request's `sync_*` decision and
  // then, in the same transaction and so with the next id, the action itself, without the
  // request's id: that is how a sync action is told from a person's API call.
  // Column 12 places the action among the requests of its millisecond: the last request whose
  // decisions were committed before it (ids grow in commit order in both tables).
  SQLite::Statement actions(
      db,
      std::string("SELECT d.id, ") + k_decision_columns +
          ", (SELECT p.inbound_id FROM decisions p WHERE p.id < d.id AND p.inbound_id IS NOT NULL "
          "ORDER BY p.id DESC LIMIT 1) FROM decisions d "
          "WHERE d.at >= ? AND d.kind = 'decision' AND d.inbound_id IS NULL "
          "AND d.outcome IN ('acknowledged', 'unacknowledged', 'resolved') "
          "AND substr(d.reason, 1, 3) = 'by ' "
          "AND NOT EXISTS (SELECT 1 FROM decisions s WHERE s.id = d.id - 1 AND s.kind = 'event' "
          "AND s.alert_id IS d.alert_id AND s.reason IN ('sync_ack', 'sync_unack', "
          "'sync_resolve')) "
          "ORDER BY d.at, d.id");
  actions.bind(1, static_cast<int64_t>(to_unix_ms(since)));

  bool have_request = requests.executeStep();
  bool have_action = actions.executeStep();
  while (have_request || have_action) {
    bool request_first = have_request;
    if (have_request && have_action) {
      const std::int64_t request_at = requests.getColumn(1).getInt64();
      const std::int64_t action_at = actions.getColumn(1).getInt64();
      const std::int64_t after_request =
          actions.getColumn(12).isNull() ? 0 : actions.getColumn(12).getInt64();
      request_first = request_at < action_at || (request_at == action_at &&
                                                 requests.getColumn(0).getInt64() <= after_request);
    }
    if (request_first) {
      request(read_exported_request(requests));
      have_request = requests.executeStep();
    } else {
      action(read_decision(actions, 1));
      have_action = actions.executeStep();
    }
  }
  snapshot.commit();
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

// Report (tocsin report)

int Reader::schema_version() try {
  Lease lease(*this);
  return lease.db().execAndGet("PRAGMA user_version").getInt();
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<AlertView> Reader::active_episodes(int limit) try {
  Lease lease(*this);
  SQLite::Statement q(lease.db(), std::string("SELECT ") + k_alert_columns + ", " +
                                      k_episode_columns + k_from +
                                      " WHERE e.status IN ('open','acknowledged') "
                                      "ORDER BY e.opened_at, a.id LIMIT ?");
  q.bind(1, limit);
  std::vector<AlertView> out;
  while (q.executeStep())
    out.push_back(read_view(q));
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::map<std::string, std::int64_t> Reader::first_match_counts(TimePoint since) try {
  Lease lease(*this);
  // Two-way sync decisions are kind 'event' too but carry the alert's rule, not a match.
  SQLite::Statement q(lease.db(),
                      "SELECT rule, count(*) FROM decisions WHERE kind = 'event' AND at >= ? AND "
                      "rule <> '' AND reason NOT LIKE 'sync\\_%' ESCAPE '\\' GROUP BY rule");
  q.bind(1, static_cast<int64_t>(to_unix_ms(since)));
  std::map<std::string, std::int64_t> out;
  while (q.executeStep())
    out.emplace(q.getColumn(0).getString(), q.getColumn(1).getInt64());
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<UnroutedAlert> Reader::unrouted_alerts(TimePoint since, int limit) try {
  Lease lease(*this);
  SQLite::Statement q(
      lease.db(),
      "SELECT a.id, a.fingerprint, a.name, a.source, count(*), max(d.at), e.status "
      "FROM decisions d JOIN alerts a ON a.id = d.alert_id "
      "LEFT JOIN episodes e ON e.alert_id = a.id AND e.number = a.last_episode "
      "WHERE d.kind = 'event' AND d.at >= ? AND d.reason LIKE '%;no\\_rule\\_matched' ESCAPE '\\' "
      "GROUP BY a.id ORDER BY count(*) DESC, a.fingerprint LIMIT ?");
  q.bind(1, static_cast<int64_t>(to_unix_ms(since)));
  q.bind(2, limit);
  std::vector<UnroutedAlert> out;
  while (q.executeStep()) {
    UnroutedAlert u;
    u.alert_id = q.getColumn(0).getInt64();
    u.fingerprint = q.getColumn(1).getString();
    u.name = q.getColumn(2).getString();
    u.source = parse_stored<Source>(q.getColumn(3).getString());
    u.events = q.getColumn(4).getInt64();
    u.last_at = from_unix_ms(q.getColumn(5).getInt64());
    if (!q.getColumn(6).isNull())
      u.status = parse_stored<EpisodeStatus>(q.getColumn(6).getString());
    out.push_back(std::move(u));
  }
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<SilentEpisodes> Reader::silent_episodes(TimePoint since, int limit) try {
  Lease lease(*this);
  // An episode with no escalation that was neither demoted nor dropped (`drop: true` records a
  // `dropped` decision; a held episode that is dropped had an escalation) notified nobody.
  // Its rule is the first match of the event that opened it.
  SQLite::Statement q(
      lease.db(),
      "SELECT a.id, a.fingerprint, a.name, a.source, o.rule, count(*), max(o.opened_at), "
      "max(o.number) FROM ("
      "  SELECT e.alert_id, e.number, e.opened_at, COALESCE((SELECT d.rule FROM decisions d "
      "    WHERE d.alert_id = e.alert_id AND d.episode = e.number AND d.kind = 'event' AND "
      "    d.outcome IN ('created','reopened') ORDER BY d.id LIMIT 1), '') AS rule "
      "  FROM episodes e WHERE e.opened_at >= ? AND e.escalation = '[]' AND "
      "  e.demoted_to IS NULL AND NOT EXISTS (SELECT 1 FROM decisions d WHERE "
      "    d.alert_id = e.alert_id AND d.episode = e.number AND d.kind = 'decision' AND "
      "    d.outcome = 'dropped')"
      ") o JOIN alerts a ON a.id = o.alert_id "
      "GROUP BY a.id, o.rule ORDER BY count(*) DESC, a.fingerprint, o.rule LIMIT ?");
  q.bind(1, static_cast<int64_t>(to_unix_ms(since)));
  q.bind(2, limit);
  std::vector<SilentEpisodes> out;
  while (q.executeStep()) {
    SilentEpisodes s;
    s.alert_id = q.getColumn(0).getInt64();
    s.fingerprint = q.getColumn(1).getString();
    s.name = q.getColumn(2).getString();
    s.source = parse_stored<Source>(q.getColumn(3).getString());
    s.rule = q.getColumn(4).getString();
    s.episodes = q.getColumn(5).getInt64();
    s.last_opened_at = from_unix_ms(q.getColumn(6).getInt64());
    s.last_episode = q.getColumn(7).getInt();
    out.push_back(std::move(s));
  }
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

std::vector<FailedChannel> Reader::failed_deliveries(TimePoint since, int aliases_per_channel) try {
  Lease lease(*this);
  const auto cutoff = static_cast<int64_t>(to_unix_ms(since));
  std::vector<FailedChannel> out;
  SQLite::Statement q(lease.db(),
                      "SELECT channel, count(*), max(created_at) FROM outbox WHERE status = "
                      "'failed' AND created_at >= ? GROUP BY channel ORDER BY count(*) DESC, "
                      "channel");
  q.bind(1, cutoff);
  while (q.executeStep()) {
    FailedChannel f;
    f.channel = q.getColumn(0).getString();
    f.failed = q.getColumn(1).getInt64();
    f.last_at = from_unix_ms(q.getColumn(2).getInt64());
    out.push_back(std::move(f));
  }
  // The latest rows say what is wrong now; a few more than needed, for distinct aliases.
  SQLite::Statement latest(lease.db(),
                           "SELECT alias, last_error, last_status FROM outbox WHERE status = "
                           "'failed' AND created_at >= ? AND channel = ? ORDER BY id DESC "
                           "LIMIT ?");
  for (auto& f : out) {
    latest.reset();
    latest.bind(1, cutoff);
    latest.bind(2, f.channel);
    latest.bind(3, aliases_per_channel * 4);
    bool first = true;
    while (latest.executeStep()) {
      if (first) {
        f.last_error = latest.getColumn(1).getString();
        if (!latest.getColumn(2).isNull()) f.last_status = latest.getColumn(2).getInt();
        first = false;
      }
      std::string alias = latest.getColumn(0).getString();
      bool seen = false;
      for (const auto& a : f.aliases)
        seen = seen || a == alias;
      if (!seen && static_cast<int>(f.aliases.size()) < aliases_per_channel)
        f.aliases.push_back(std::move(alias));
    }
  }
  return out;
} catch (const SQLite::Exception& e) {
  throw_read_error(e);
}

}  // namespace tocsin::storage
