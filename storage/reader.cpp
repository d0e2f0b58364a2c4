#include "storage/reader.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>

#include "storage/codec.hpp"
#include "storage/database.hpp"
#include "storage/detail/body.hpp"
#include "storage/detail/dialect.hpp"
#include "storage/detail/rows.hpp"
#include "storage/migrations.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/redact.hpp"
#include "storage/postgres/schema.hpp"
#include "storage/postgres/sql_connection.hpp"
#include "storage/sql.hpp"
#include "storage/sqlite/connection.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/vocabulary.hpp"
#include "storage/writer.hpp"

namespace tocsin::storage {

// A pooled connection: the backend's own and the statement layer's over it.
class ReaderConnection {
 public:
  virtual ~ReaderConnection() = default;
  virtual sql::Connection& db() = 0;
  // False once it cannot serve another query (PostgreSQL's connection was lost).
  virtual bool reusable() const = 0;
};

namespace {

class SqliteReaderConnection final : public ReaderConnection {
 public:
  explicit SqliteReaderConnection(const std::string& path)
      : m_db(open_for_reading(path)), m_sql(*m_db) {}
  sql::Connection& db() override { return m_sql; }
  bool reusable() const override { return true; }

 private:
  std::unique_ptr<Connection> m_db;
  sqlite::Connection m_sql;
};

class PostgresReaderConnection final : public ReaderConnection {
 public:
  // Refuses a database never migrated, as SQLite's Reader refuses a missing file: a Reader
  // never creates a schema.
  explicit PostgresReaderConnection(const std::string& uri) : m_db(open(uri)), m_sql(m_db) {
    if (postgres::schema_version(m_sql) == 0) {
      throw DatabaseError("PostgreSQL database " + m_db.display() +
                          " holds no Tocsin schema (run `tocsin serve` on it once)");
    }
  }
  sql::Connection& db() override { return m_sql; }
  bool reusable() const override { return !m_db.broken(); }

 private:
  static postgres::Connection open(const std::string& uri) {
    try {
      return postgres::Connection::open(uri);
    } catch (const postgres::Error& e) {
      throw postgres::to_error(e);  // a sql::Error: every query's failure is one
    }
  }
  postgres::Connection m_db;
  postgres::SqlConnection m_sql;
};

}  // namespace

// Returns the connection to the pool when the query is done, even if it threw.
class Reader::Lease {
 public:
  explicit Lease(Reader& r) : m_reader(r), m_db(r.acquire()) {}
  ~Lease() { m_reader.release(std::move(m_db)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  sql::Connection& db() { return m_db->db(); }

 private:
  Reader& m_reader;
  std::unique_ptr<ReaderConnection> m_db;
};

Reader::Reader(std::string location) : m_path(std::move(location)) {}

Reader::~Reader() = default;

std::unique_ptr<ReaderConnection> Reader::acquire() {
  {
    MutexLock lock(m_mutex);
    if (!m_idle.empty()) {
      auto db = std::move(m_idle.back());
      m_idle.pop_back();
      return db;
    }
  }
  if (is_postgres_location(m_path)) return std::make_unique<PostgresReaderConnection>(m_path);
  return std::make_unique<SqliteReaderConnection>(m_path);
}

void Reader::release(std::unique_ptr<ReaderConnection> db) {
  constexpr std::size_t k_max_idle = 16;
  if (!db->reusable()) return;
  MutexLock lock(m_mutex);
  if (m_idle.size() < k_max_idle) m_idle.push_back(std::move(db));
}

namespace {

// Every public query is a function-try-block ending in this: the statement layer's error leaves
// as a ReadError (storage/database.hpp), so no caller catches storage's types.
[[noreturn]] void throw_read_error(const sql::Error& e) {
  throw ReadError(e.backend(), e.error_class(), e.native_code(), e.what());
}

// The first column of a query's one row (a PRAGMA's value).
std::int64_t query_int64(sql::Connection& db, const std::string& sql) {
  const auto q = db.prepare(sql);
  q->step();
  return q->get_int64(0);
}

// The latest episode of each alert joins as `e`; alerts without one keep NULLs.
const std::string k_from =
    " FROM alerts a LEFT JOIN episodes e ON e.alert_id = a.id AND e.number = a.last_episode";

struct Where {
  std::string sql;
  std::vector<std::string> args;
};

Where where_clause(const AlertQuery& query, sql::Backend b) {
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
    // instr() rather than LIKE: the user's text needs no escaping of % and _, and the match is
    // case-sensitive in both backends (LIKE is not in SQLite).
    const std::string& t = *query.text;
    w.sql += w.sql.empty() ? " WHERE " : " AND ";
    w.sql += "(" + dialect::position(b, "a.fingerprint", "?") + " > 0 OR " +
             dialect::position(b, "a.name", "?") + " > 0 OR " +
             dialect::position(b, "a.summary", "?") + " > 0)";
    w.args.insert(w.args.end(), {t, t, t});
  }
  return w;
}

AlertView read_view(sql::Statement& q, sql::Backend backend) {
  AlertView v;
  v.alert = read_alert(q, 0, backend);
  if (!q.is_null(k_alert_column_count)) v.current = read_episode(q, k_alert_column_count);
  return v;
}

}  // namespace

AlertPage Reader::list_alerts(const AlertQuery& query) try {
  Lease lease(*this);
  Where w = where_clause(query, lease.db().backend());
  AlertPage page;

  const auto count = lease.db().prepare("SELECT count(*)" + k_from + w.sql);
  for (std::size_t i = 0; i < w.args.size(); ++i)
    count->bind(static_cast<int>(i + 1), w.args[i]);
  if (count->step()) page.total = count->get_int64(0);

  // Most recently active first: what an SRE looking at the list cares about.
  const auto q =
      lease.db().prepare(std::string("SELECT ") + k_alert_columns + ", " + k_episode_columns +
                         k_from + w.sql + " ORDER BY a.last_seen DESC, a.id DESC LIMIT ? OFFSET ?");
  int i = 1;
  for (const auto& arg : w.args)
    q->bind(i++, arg);
  q->bind(i++, query.limit);
  q->bind(i, query.offset);
  std::size_t bytes = 0;
  while (bytes < k_max_alert_page_bytes && q->step()) {
    page.alerts.push_back(read_view(*q, lease.db().backend()));
    const AlertRecord& a = page.alerts.back().alert;
    bytes += a.summary.size() + a.description.size();
    for (const auto& [name, value] : a.labels)
      bytes += name.size() + value.size();
  }
  return page;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::optional<AlertDetail> Reader::get_alert(std::int64_t id) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(std::string("SELECT ") + k_alert_columns + ", " +
                                    k_episode_columns + k_from + " WHERE a.id = ?");
  q->bind(1, static_cast<int64_t>(id));
  if (!q->step()) return std::nullopt;
  AlertDetail detail;
  detail.view = read_view(*q, lease.db().backend());

  constexpr int k_max_episodes = 50;
  constexpr int k_max_members = 100;
  const auto e = lease.db().prepare(std::string("SELECT ") + k_episode_columns +
                                    " FROM episodes e WHERE e.alert_id = ? "
                                    "ORDER BY e.number DESC LIMIT ?");
  e->bind(1, static_cast<int64_t>(id));
  e->bind(2, k_max_episodes);
  while (e->step())
    detail.episodes.push_back(read_episode(*e, 0));

  const auto counts = lease.db().prepare(
      "SELECT count(*), count(*) FILTER (WHERE state = 'firing') "
      "FROM alert_members WHERE alert_id = ?");
  counts->bind(1, static_cast<int64_t>(id));
  if (counts->step()) {
    detail.members_total = counts->get_int64(0);
    detail.members_firing = counts->get_int64(1);
  }
  const auto m = lease.db().prepare(std::string("SELECT ") + k_member_columns +
                                    " FROM alert_members m WHERE m.alert_id = ? "
                                    "ORDER BY m.state = 'firing' DESC, m.last_seen_at DESC, (" +
                                    k_member_fingerprint + ")" +
                                    dialect::bytewise(lease.db().backend()) + " LIMIT ?");
  m->bind(1, static_cast<int64_t>(id));
  m->bind(2, k_max_members);
  while (m->step())
    detail.members.push_back(read_member(*m, 0));
  return detail;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::optional<DeliveryAlert> Reader::delivery_alert(std::int64_t alert_id,
                                                    std::optional<int> episode) try {
  Lease lease(*this);
  sql::CachedStatement q(lease.db(),
                         std::string("SELECT ") + k_alert_columns +
                             ", (SELECT e.opened_at FROM episodes e WHERE e.alert_id = a.id "
                             "AND e.number = ?) FROM alerts a WHERE a.id = ?");
  q->bind(1, static_cast<int64_t>(episode.value_or(0)));  // numbers start at 1
  q->bind(2, static_cast<int64_t>(alert_id));
  if (!q->step()) return std::nullopt;
  DeliveryAlert d;
  d.alert = read_alert(*q, 0, lease.db().backend());
  if (!q->is_null(k_alert_column_count))
    d.episode_opened_at = from_unix_ms(q->get_int64(k_alert_column_count));
  return d;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

bool Reader::alert_exists(std::int64_t id) try {
  Lease lease(*this);
  const auto q = lease.db().prepare("SELECT 1 FROM alerts WHERE id = ?");
  q->bind(1, static_cast<int64_t>(id));
  return q->step();
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<DecisionView> Reader::list_decisions(std::int64_t alert_id, int limit,
                                                 std::optional<std::int64_t> before_id) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(
      "SELECT d.id, d.at, d.episode, d.kind, d.outcome, d.reason, d.rule, "
      "COALESCE((SELECT r.hash FROM rules_versions r WHERE r.id = d.rules_id), d.rules_hash), "
      "CASE WHEN d.fingerprint = '' THEN COALESCE((SELECT a.fingerprint FROM alerts a "
      "WHERE a.id = d.alert_id), '') ELSE d.fingerprint END, d.inbound_id, i.hook, i.delivery_id, "
      "i.received_at FROM decisions d LEFT JOIN inbound i ON i.id = d.inbound_id "
      "WHERE d.alert_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?");
  q->bind(1, static_cast<int64_t>(alert_id));
  q->bind(2, static_cast<int64_t>(before_id.value_or(INT64_MAX)));
  q->bind(3, limit);
  std::vector<DecisionView> out;
  while (q->step()) {
    DecisionView v;
    v.id = q->get_int64(0);
    auto& d = v.decision;
    d.alert_id = alert_id;
    d.at = from_unix_ms(q->get_int64(1));
    if (!q->is_null(2)) d.episode = q->get_int(2);
    d.kind = parse_stored<DecisionKind>(q->get_text(3));
    d.outcome = parse_stored<DecisionOutcome>(q->get_text(4));
    d.reason = q->get_text(5);
    d.rule = q->get_text(6);
    d.rules_hash = q->get_text(7);
    d.fingerprint = q->get_text(8);
    if (!q->is_null(9)) d.inbound_id = q->get_int64(9);
    v.hook = q->get_text(10);
    v.delivery_id = q->get_text(11);
    if (!q->is_null(12)) v.received_at = from_unix_ms(q->get_int64(12));
    out.push_back(std::move(v));
  }
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<SubscriptionRecord> Reader::list_subscriptions(int limit) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(std::string("SELECT ") + k_subscription_columns +
                                    " FROM subscriptions ORDER BY id DESC LIMIT ?");
  q->bind(1, limit);
  std::vector<SubscriptionRecord> out;
  while (q->step())
    out.push_back(read_subscription(*q, 0));
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<HeartbeatPing> Reader::list_heartbeat_pings() try {
  Lease lease(*this);
  const auto q = lease.db().prepare(
      "SELECT name, first_ping_at, last_ping_at, pings FROM heartbeat_pings "
      "ORDER BY name" +
      dialect::bytewise(lease.db().backend()));
  std::vector<HeartbeatPing> out;
  while (q->step()) {
    HeartbeatPing p;
    p.name = q->get_text(0);
    p.first_ping_at = from_unix_ms(q->get_int64(1));
    p.last_ping_at = from_unix_ms(q->get_int64(2));
    p.pings = q->get_int64(3);
    out.push_back(std::move(p));
  }
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<OutboxRecord> Reader::list_notifications(const NotificationQuery& query) try {
  Lease lease(*this);
  std::string sql = std::string("SELECT ") + outbox_columns() + " FROM outbox WHERE 1=1";
  // Positional parameters, numbered as the filters are added (every backend has them).
  if (query.status) sql += " AND status = ?";
  if (query.channel) sql += " AND channel = ?";
  if (query.alert_id) sql += " AND alert_id = ?";
  if (query.before_id) sql += " AND id < ?";
  sql += " ORDER BY id DESC LIMIT ?";
  const auto q = lease.db().prepare(sql);
  int i = 1;
  if (query.status) q->bind(i++, std::string(to_text(*query.status)));
  if (query.channel) q->bind(i++, *query.channel);
  if (query.alert_id) q->bind(i++, static_cast<int64_t>(*query.alert_id));
  if (query.before_id) q->bind(i++, static_cast<int64_t>(*query.before_id));
  q->bind(i, query.limit);
  std::vector<OutboxRecord> out;
  while (q->step())
    out.push_back(read_outbox(*q));
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<DeliveryAttempt> Reader::list_attempts(std::int64_t outbox_id, int limit) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(
      "SELECT at, http_status, error, duration_ms, outcome FROM delivery_attempts "
      "WHERE outbox_id = ? ORDER BY id DESC LIMIT ?");
  q->bind(1, static_cast<int64_t>(outbox_id));
  q->bind(2, limit);
  std::vector<DeliveryAttempt> out;
  while (q->step()) {
    DeliveryAttempt a;
    a.outbox_id = outbox_id;
    a.at = from_unix_ms(q->get_int64(0));
    if (!q->is_null(1)) a.http_status = q->get_int(1);
    a.error = q->get_text(2);
    a.duration_ms = q->get_int64(3);
    a.outcome = parse_stored<AttemptOutcome>(q->get_text(4));
    out.push_back(std::move(a));
  }
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

OutboxStats Reader::outbox_stats() try {
  Lease lease(*this);
  const auto q =
      lease.db().prepare("SELECT count(*), min(created_at) FROM outbox WHERE status = 'pending'");
  OutboxStats s;
  if (q->step()) {
    s.pending = q->get_int64(0);
    if (!q->is_null(1)) s.oldest_pending = from_unix_ms(q->get_int64(1));
  }
  return s;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<ChannelStatus> Reader::channel_status() try {
  Lease lease(*this);
  std::map<std::string, ChannelStatus> by_name;
  {
    const auto q = lease.db().prepare(k_channel_health_select);
    while (q->step()) {
      ChannelHealth h = read_channel_health(*q);
      auto& s = by_name[h.channel];
      s.channel = h.channel;
      s.health = std::move(h);
    }
  }
  const auto q = lease.db().prepare(
      "SELECT channel, count(*), min(created_at) FROM outbox WHERE status = 'pending' "
      "GROUP BY channel");
  while (q->step()) {
    auto& s = by_name[q->get_text(0)];
    s.channel = q->get_text(0);
    s.pending = q->get_int64(1);
    if (!q->is_null(2)) s.oldest_pending = from_unix_ms(q->get_int64(2));
  }
  std::vector<ChannelStatus> out;
  for (auto& [name, s] : by_name)
    out.push_back(std::move(s));
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

StorageStats Reader::storage_stats() try {
  StorageStats s;
  {
    Lease lease(*this);
    if (dialect::is_postgres(lease.db().backend())) {
      s.database_bytes =
          query_int64(lease.db(),
                      "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                      "JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "WHERE n.nspname = current_schema() AND c.relkind = 'r'");
      const auto q = lease.db().prepare("SELECT min(received_at) FROM inbound");
      if (q->step() && !q->is_null(0)) s.oldest_event = from_unix_ms(q->get_int64(0));
      return s;  // its WAL is the server's, shared by every database
    }
    s.database_bytes =
        query_int64(lease.db(), "PRAGMA page_count") * query_int64(lease.db(), "PRAGMA page_size");
    const auto q = lease.db().prepare("SELECT min(received_at) FROM inbound");
    if (q->step() && !q->is_null(0)) {
      s.oldest_event = from_unix_ms(q->get_int64(0));
    }
  }
  std::error_code ec;
  const auto wal = std::filesystem::file_size(m_path + "-wal", ec);
  if (!ec) s.wal_bytes = static_cast<std::int64_t>(wal);
  return s;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<StoredTimer> Reader::list_timers(std::int64_t alert_id) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(
      "SELECT id, due_at, kind, episode, step FROM timers WHERE alert_id = ? "
      "ORDER BY due_at, id LIMIT 100");
  q->bind(1, static_cast<int64_t>(alert_id));
  std::vector<StoredTimer> out;
  while (q->step()) {
    StoredTimer t;
    t.id = q->get_int64(0);
    t.alert_id = alert_id;
    t.timer = rules::Timer{parse_stored<rules::TimerKind>(q->get_text(2)),
                           from_unix_ms(q->get_int64(1)), q->get_int(3), q->get_int(4)};
    out.push_back(t);
  }
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

namespace {

// `leaving` is k_leaving_sql prepared on the lease's connection; reused across alerts.
rules::NoiseState slid(sql::Statement& leaving, const AlertRecord& alert, TimePoint cutoff) {
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
  const auto leaving = lease.db().prepare(k_leaving_sql);
  return slid(*leaving, alert, cutoff);
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<AlertView> Reader::noise_candidates(TimePoint cutoff, int limit) try {
  Lease lease(*this);
  std::vector<AlertView> out;
  const auto q = lease.db().prepare(std::string("SELECT ") + k_alert_columns + ", " +
                                    k_episode_columns + k_from +
                                    " WHERE a.last_seen >= ? ORDER BY a.last_seen DESC, "
                                    "a.id DESC LIMIT ?");
  q->bind(1, static_cast<int64_t>(to_unix_ms(cutoff)));
  q->bind(2, limit);
  while (q->step())
    out.push_back(read_view(*q, lease.db().backend()));
  // One prepared statement for every alert's slide, on the lease's connection.
  const auto leaving = lease.db().prepare(k_leaving_sql);
  for (auto& v : out)
    v.alert.noise = slid(*leaving, v.alert, cutoff);
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::pair<std::vector<rules::Observation>, std::vector<rules::EpisodeFacts>> Reader::noise_history(
    std::int64_t alert_id) try {
  Lease lease(*this);
  std::vector<rules::Observation> observations;
  const auto d = lease.db().prepare(
      "SELECT at, outcome, reason FROM decisions WHERE alert_id = ? AND "
      "kind = 'event' ORDER BY id");
  d->bind(1, static_cast<int64_t>(alert_id));
  while (d->step()) {
    if (auto firing = rules::observed_firing(d->get_text(1), d->get_text(2))) {
      observations.push_back(rules::Observation{from_unix_ms(d->get_int64(0)), *firing});
    }
  }
  std::vector<rules::EpisodeFacts> episodes;
  const auto e = lease.db().prepare(k_leaving_sql);
  e->bind(1, static_cast<int64_t>(alert_id));
  e->bind(2, 1);
  // Every episode: none is opened after the end of time.
  episodes = read_leaving(*e, TimePoint::max());
  return {std::move(observations), std::move(episodes)};
} catch (const sql::Error& e) {
  throw_read_error(e);
}

// Export (tocsin export)

namespace {

// Export reads databases written by any earlier build: inbound and decisions are unchanged
// since schema version 1, except that a body may be stored compressed from version 5 on.
int version_of(sql::Connection& db) {
  return dialect::is_postgres(db.backend())
             ? postgres::schema_version(db)
             : static_cast<int>(query_int64(db, "PRAGMA user_version"));
}

int known_version(sql::Backend b) {
  return dialect::is_postgres(b) ? postgres::current_schema_version() : current_schema_version();
}

void check_exportable(sql::Connection& db, const std::string& path) {
  const int version = version_of(db);
  if (version == 0) {
    throw DatabaseError(path + " is not a Tocsin database (schema version 0)");
  }
  if (version > known_version(db.backend())) {
    throw DatabaseError("database " + path + " has schema version " + std::to_string(version) +
                        ", newer than this build of tocsin knows (" +
                        std::to_string(known_version(db.backend())) + "); run the newer tocsin");
  }
}

// A read transaction: its queries see one snapshot. Rolled back unless committed, so the
// connection goes back to the pool with no transaction open.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(sql::Connection& db) : m_db(db) { m_db.begin_read(); }
  ~ReadSnapshot() {
    if (m_open) {
      try {
        m_db.rollback();
      } catch (const std::exception&) {
        // Nothing to keep: it only read.
      }
    }
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  void commit() {
    m_db.commit();
    m_open = false;
  }

 private:
  sql::Connection& m_db;
  bool m_open = true;
};

InboundRecord read_exported_request(sql::Statement& q, sql::Backend backend) {
  InboundRecord r;
  r.received_at = from_unix_ms(q.get_int64(1));
  r.hook = q.get_text(2);
  r.delivery_id = q.get_text(3);
  r.headers_json = q.get_text(4);
  r.body = received_body(read_stored_body(q, 5, backend));
  return r;
}

// The silence changes export_since reports, in time order (then by silence id, an add before
// its expiry).
std::vector<SilenceChange> silence_changes(sql::Connection& db, TimePoint since) {
  const auto q = db.prepare(std::string(k_silence_select) +
                            " WHERE created_at >= ?1 OR COALESCE(expired_at, ends_at) > ?1"
                            " ORDER BY id");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(since)));
  std::vector<SilenceChange> out;
  while (q->step()) {
    rules::Silence s = read_silence(*q);
    if (s.expired_at && *s.expired_at >= since) {
      out.push_back(SilenceChange{SilenceChange::Kind::expired, *s.expired_at, s});
    }
    const TimePoint added = std::max(s.created_at, since);
    out.push_back(SilenceChange{SilenceChange::Kind::added, added, std::move(s)});
  }
  std::stable_sort(out.begin(), out.end(), [](const SilenceChange& a, const SilenceChange& b) {
    if (a.at != b.at) return a.at < b.at;
    if (a.silence.id != b.silence.id) return a.silence.id < b.silence.id;
    return a.kind == SilenceChange::Kind::added && b.kind != SilenceChange::Kind::added;
  });
  return out;
}

}  // namespace

void Reader::export_since(TimePoint since, const std::function<void(const InboundRecord&)>& request,
                          const std::function<void(const DecisionRecord&)>& action,
                          const std::function<void(const SilenceChange&)>& silence) try {
  Lease lease(*this);
  sql::Connection& db = lease.db();
  check_exportable(db, is_postgres_location(m_path) ? postgres::redacted(m_path) : m_path);
  // Every query reads the same snapshot.
  ReadSnapshot snapshot(db);
  const std::vector<SilenceChange> silences =
      silence ? silence_changes(db, since) : std::vector<SilenceChange>{};
  std::size_t next_silence = 0;
  // The silence changes up to and including millisecond `until_ms`.
  const auto silences_until = [&](std::int64_t until_ms) {
    while (next_silence < silences.size() &&
           static_cast<std::int64_t>(to_unix_ms(silences[next_silence].at)) <= until_ms) {
      silence(silences[next_silence++]);
    }
  };

  const auto requests = db.prepare(
      "SELECT id, received_at, hook, delivery_id, headers, body "
      "FROM inbound WHERE received_at >= ? ORDER BY received_at, id");
  requests->bind(1, static_cast<int64_t>(to_unix_ms(since)));
  // Two-way sync (engine/engine.cpp apply_sync) records the request's `sync_*` decision and
  // then, in the same transaction and so with the next id, the action itself, without the
  // request's id: that is how a sync action is told from a person's API call.
  // Column 12 places the action among the requests of its millisecond: the last request whose
  // decisions were committed before it (ids grow in commit order in both tables).
  const auto actions = db.prepare(
      std::string("SELECT d.id, ") + k_decision_columns +
      ", (SELECT p.inbound_id FROM decisions p WHERE p.id < d.id AND p.inbound_id IS NOT NULL "
      "ORDER BY p.id DESC LIMIT 1) FROM decisions d "
      "WHERE d.at >= ? AND d.kind = 'decision' AND d.inbound_id IS NULL "
      "AND d.outcome IN ('acknowledged', 'unacknowledged', 'resolved') "
      "AND substr(d.reason, 1, 3) = 'by ' "
      "AND NOT EXISTS (SELECT 1 FROM decisions s WHERE s.id = d.id - 1 AND s.kind = 'event' "
      "AND s.alert_id IS NOT DISTINCT FROM d.alert_id AND s.reason IN ('sync_ack', 'sync_unack', "
      "'sync_resolve')) "
      "ORDER BY d.at, d.id");
  actions->bind(1, static_cast<int64_t>(to_unix_ms(since)));

  bool have_request = requests->step();
  bool have_action = actions->step();
  while (have_request || have_action) {
    bool request_first = have_request;
    if (have_request && have_action) {
      const std::int64_t request_at = requests->get_int64(1);
      const std::int64_t action_at = actions->get_int64(1);
      const std::int64_t after_request = actions->is_null(12) ? 0 : actions->get_int64(12);
      request_first = request_at < action_at ||
                      (request_at == action_at && requests->get_int64(0) <= after_request);
    }
    if (request_first) {
      silences_until(requests->get_int64(1));
      request(read_exported_request(*requests, db.backend()));
      have_request = requests->step();
    } else {
      silences_until(actions->get_int64(1));
      action(read_decision(*actions, 1));
      have_action = actions->step();
    }
  }
  silences_until(std::numeric_limits<std::int64_t>::max());
  snapshot.commit();
} catch (const sql::Error& e) {
  throw_read_error(e);
}

// Silences

namespace {

// A silence's columns (read_silence), then what it withheld and how many of those paged at its
// end, from silence_hits (its primary key leads with silence_id): one statement for the list,
// however many silences it holds.
const std::string k_silence_view_select =
    std::string("SELECT ") + k_silence_columns +
    ", (SELECT count(*) FROM silence_hits h WHERE h.silence_id = silences.id), "
    "(SELECT COALESCE(sum(h.paged), 0) FROM silence_hits h WHERE h.silence_id = silences.id) "
    "FROM silences";

std::vector<SilenceView> read_silences(sql::Statement& q) {
  std::vector<SilenceView> out;
  while (q.step()) {
    SilenceView v{read_silence(q), 0, 0};
    v.withheld = q.get_int64(9);
    v.paged = q.get_int64(10);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

std::vector<SilenceView> Reader::list_silences(std::optional<rules::SilenceStatus> status,
                                               TimePoint now, int limit) try {
  Lease lease(*this);
  // A silence's end is COALESCE(expired_at, ends_at) (expired_at is set only before ends_at).
  std::string where;
  if (status == rules::SilenceStatus::active) {
    where = " WHERE starts_at <= ?1 AND COALESCE(expired_at, ends_at) > ?1";
  } else if (status == rules::SilenceStatus::pending) {
    where = " WHERE starts_at > ?1 AND COALESCE(expired_at, ends_at) > ?1";
  } else if (status == rules::SilenceStatus::expired) {
    where = " WHERE COALESCE(expired_at, ends_at) <= ?1";
  } else {
    where = " WHERE ?1 = ?1";
  }
  const auto q = lease.db().prepare(k_silence_view_select + where + " ORDER BY id DESC LIMIT ?2");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(now)));
  q->bind(2, limit);
  return read_silences(*q);
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::optional<SilenceView> Reader::get_silence(std::int64_t id) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(k_silence_view_select + " WHERE id = ?");
  q->bind(1, id);
  auto found = read_silences(*q);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::int64_t Reader::count_active_silences(TimePoint now) try {
  Lease lease(*this);
  // Every scrape of /metrics asks: cached, and by the index on ends_at.
  sql::CachedStatement q(lease.db(),
                         "SELECT count(*) FROM silences WHERE ends_at > ?1 AND starts_at <= ?1 AND "
                         "COALESCE(expired_at, ends_at) > ?1");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(now)));
  return q->step() ? q->get_int64(0) : 0;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<SilenceView> Reader::silences_between(TimePoint from, TimePoint to, int limit) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(k_silence_view_select +
                                    " WHERE starts_at < ?2 AND COALESCE(expired_at, ends_at) > ?1"
                                    " ORDER BY starts_at, id LIMIT ?3");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(from)));
  q->bind(2, static_cast<std::int64_t>(to_unix_ms(to)));
  q->bind(3, limit);
  return read_silences(*q);
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<SeenAlert> Reader::alerts_seen_between(TimePoint from, TimePoint to, int limit) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(
      std::string("SELECT ") + k_alert_columns +
      ", e.severity FROM alerts a LEFT JOIN episodes e ON e.alert_id = a.id AND e.opened_at < ?2 "
      "AND (e.closed_at IS NULL OR e.closed_at >= ?1) WHERE a.id IN (SELECT d.alert_id FROM "
      "decisions d WHERE d.kind = 'event' AND d.at >= ?1 AND d.at < ?2 AND d.alert_id IS NOT "
      "NULL) ORDER BY a.id, e.number LIMIT ?3");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(from)));
  q->bind(2, static_cast<std::int64_t>(to_unix_ms(to)));
  q->bind(3, limit);
  std::vector<SeenAlert> out;
  const int severity = 17;  // after the alert's columns
  while (q->step()) {
    SeenAlert seen{read_alert(*q, 0, lease.db().backend()), std::nullopt};
    if (!q->is_null(severity)) seen.severity = parse_stored<Severity>(q->get_text(severity));
    out.push_back(std::move(seen));
  }
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

// Report (tocsin report)

int Reader::schema_version() try {
  Lease lease(*this);
  return version_of(lease.db());
} catch (const sql::Error& e) {
  throw_read_error(e);
}

int Reader::known_schema_version() const {
  return known_version(is_postgres_location(m_path) ? sql::Backend::postgres
                                                    : sql::Backend::sqlite);
}

std::vector<AlertView> Reader::active_episodes(int limit) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(std::string("SELECT ") + k_alert_columns + ", " +
                                    k_episode_columns + k_from +
                                    " WHERE e.status IN ('open','acknowledged') "
                                    "ORDER BY e.opened_at, a.id LIMIT ?");
  q->bind(1, limit);
  std::vector<AlertView> out;
  while (q->step())
    out.push_back(read_view(*q, lease.db().backend()));
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::map<std::string, std::int64_t> Reader::first_match_counts(TimePoint since) try {
  Lease lease(*this);
  // Two-way sync decisions are kind 'event' too but carry the alert's rule, not a match.
  const auto q = lease.db().prepare(
      "SELECT rule, count(*) FROM decisions WHERE kind = 'event' AND at >= ? AND "
      "rule <> '' AND reason NOT LIKE 'sync\\_%' ESCAPE '\\' GROUP BY rule");
  q->bind(1, static_cast<int64_t>(to_unix_ms(since)));
  std::map<std::string, std::int64_t> out;
  while (q->step())
    out.emplace(q->get_text(0), q->get_int64(1));
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<UnroutedAlert> Reader::unrouted_alerts(TimePoint since, int limit) try {
  Lease lease(*this);
  const auto q = lease.db().prepare(
      "SELECT a.id, a.fingerprint, a.name, a.source, count(*), max(d.at), e.status "
      "FROM decisions d JOIN alerts a ON a.id = d.alert_id "
      "LEFT JOIN episodes e ON e.alert_id = a.id AND e.number = a.last_episode "
      "WHERE d.kind = 'event' AND d.at >= ? AND d.reason LIKE '%;no\\_rule\\_matched' ESCAPE '\\' "
      "GROUP BY a.id, e.status ORDER BY count(*) DESC, a.fingerprint" +
      dialect::bytewise(lease.db().backend()) + " LIMIT ?");
  q->bind(1, static_cast<int64_t>(to_unix_ms(since)));
  q->bind(2, limit);
  std::vector<UnroutedAlert> out;
  while (q->step()) {
    UnroutedAlert u;
    u.alert_id = q->get_int64(0);
    u.fingerprint = q->get_text(1);
    u.name = q->get_text(2);
    u.source = parse_stored<Source>(q->get_text(3));
    u.events = q->get_int64(4);
    u.last_at = from_unix_ms(q->get_int64(5));
    if (!q->is_null(6)) u.status = parse_stored<EpisodeStatus>(q->get_text(6));
    out.push_back(std::move(u));
  }
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<SilentEpisodes> Reader::silent_episodes(TimePoint since, int limit) try {
  Lease lease(*this);
  // An episode with no escalation that was neither demoted nor dropped (`drop: true` records a
  // `dropped` decision; a held episode that is dropped had an escalation) notified nobody.
  // Its rule is the first match of the event that opened it.
  const auto q = lease.db().prepare(
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
      "GROUP BY a.id, o.rule ORDER BY count(*) DESC, a.fingerprint" +
      dialect::bytewise(lease.db().backend()) + ", o.rule" +
      dialect::bytewise(lease.db().backend()) + " LIMIT ?");
  q->bind(1, static_cast<int64_t>(to_unix_ms(since)));
  q->bind(2, limit);
  std::vector<SilentEpisodes> out;
  while (q->step()) {
    SilentEpisodes s;
    s.alert_id = q->get_int64(0);
    s.fingerprint = q->get_text(1);
    s.name = q->get_text(2);
    s.source = parse_stored<Source>(q->get_text(3));
    s.rule = q->get_text(4);
    s.episodes = q->get_int64(5);
    s.last_opened_at = from_unix_ms(q->get_int64(6));
    s.last_episode = q->get_int(7);
    out.push_back(std::move(s));
  }
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

std::vector<FailedChannel> Reader::failed_deliveries(TimePoint since, int aliases_per_channel) try {
  Lease lease(*this);
  const auto cutoff = static_cast<int64_t>(to_unix_ms(since));
  std::vector<FailedChannel> out;
  const auto q = lease.db().prepare(
      "SELECT channel, count(*), max(created_at) FROM outbox WHERE status = "
      "'failed' AND created_at >= ? GROUP BY channel ORDER BY count(*) DESC, "
      "channel" +
      dialect::bytewise(lease.db().backend()));
  q->bind(1, cutoff);
  while (q->step()) {
    FailedChannel f;
    f.channel = q->get_text(0);
    f.failed = q->get_int64(1);
    f.last_at = from_unix_ms(q->get_int64(2));
    out.push_back(std::move(f));
  }
  // The latest rows say what is wrong now; a few more than needed, for distinct aliases.
  const auto latest = lease.db().prepare(
      "SELECT alias, last_error, last_status FROM outbox WHERE status = "
      "'failed' AND created_at >= ? AND channel = ? ORDER BY id DESC "
      "LIMIT ?");
  for (auto& f : out) {
    latest->reset();
    latest->bind(1, cutoff);
    latest->bind(2, f.channel);
    latest->bind(3, aliases_per_channel * 4);
    bool first = true;
    while (latest->step()) {
      if (first) {
        f.last_error = latest->get_text(1);
        if (!latest->is_null(2)) f.last_status = latest->get_int(2);
        first = false;
      }
      std::string alias = latest->get_text(0);
      bool seen = false;
      for (const auto& a : f.aliases)
        seen = seen || a == alias;
      if (!seen && static_cast<int>(f.aliases.size()) < aliases_per_channel)
        f.aliases.push_back(std::move(alias));
    }
  }
  return out;
} catch (const sql::Error& e) {
  throw_read_error(e);
}

}  // namespace tocsin::storage
