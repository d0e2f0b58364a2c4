// Silences (docs/behaviour.md "Silences"): Transaction's statements for the silences and the
// episodes each one withheld. Which silence applies to an alert is decided in rules/silence.cpp,
// what it withholds in rules/lifecycle.cpp, both driven by engine/engine.cpp.

#include <spdlog/spdlog.h>

#include <set>

#include "core/thread_annotations.hpp"
#include "storage/detail/dialect.hpp"
#include "storage/detail/rows.hpp"
#include "storage/sql.hpp"
#include "storage/transaction.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::storage {

namespace {

std::optional<TimePoint> optional_time(sql::Statement& q, int column) {
  if (q.is_null(column)) return std::nullopt;
  return from_unix_ms(q.get_int64(column));
}

std::int64_t ms(TimePoint t) {
  return static_cast<std::int64_t>(to_unix_ms(t));
}

}  // namespace

#define TOCSIN_SILENCE_COLUMNS \
  "id, created_at, starts_at, ends_at, created_by, comment, matchers, expired_at, expired_by"
const char* const k_silence_columns = TOCSIN_SILENCE_COLUMNS;
const char* const k_silence_select = "SELECT " TOCSIN_SILENCE_COLUMNS " FROM silences";
// (settled_at is the engine's bookkeeping: not part of a silence as shown.)

rules::Silence read_silence(sql::Statement& q) {
  rules::Silence s;
  s.id = q.get_int64(0);
  s.created_at = from_unix_ms(q.get_int64(1));
  s.starts_at = from_unix_ms(q.get_int64(2));
  s.ends_at = from_unix_ms(q.get_int64(3));
  s.created_by = q.get_text(4);
  s.comment = q.get_text(5);
  const std::string spelled = q.get_text(6);
  s.expired_at = optional_time(q, 7);
  if (!q.is_null(8)) s.expired_by = q.get_text(8);
  Json matchers = Json::parse(spelled, nullptr, false);
  auto parsed = rules::parse_silence_matchers(matchers);
  if (matchers.is_discarded() || !parsed) {
    throw UnknownStoredValue(
        "silences.matchers of silence " + std::to_string(s.id) + " holds " + spelled +
        ", which this version of Tocsin cannot read" +
        (parsed ? std::string()
                : " (" + parsed.error().field + " " + parsed.error().message + ")"));
  }
  s.spelled = std::move(matchers);
  s.matchers = std::move(*parsed);
  return s;
}

std::int64_t Transaction::insert_silence(const rules::Silence& s) {
  // A silence is rare: RETURNING on both backends, for one spelling.
  sql::CachedStatement q(m_db,
                         "INSERT INTO silences (created_at, starts_at, ends_at, created_by, "
                         "comment, matchers) VALUES (?, ?, ?, ?, ?, ?) RETURNING id");
  q->bind(1, ms(s.created_at));
  q->bind(2, ms(s.starts_at));
  q->bind(3, ms(s.ends_at));
  q->bind(4, s.created_by);
  q->bind(5, s.comment);
  q->bind(6, s.spelled.dump(-1, ' ', false, Json::error_handler_t::replace));
  if (!q->step()) throw std::logic_error("INSERT INTO silences ... RETURNING id returned no row");
  const std::int64_t id = q->get_int64(0);
  q->reset();
  sql::CachedStatement timer(m_db,
                             "INSERT INTO timers (due_at, kind, name) VALUES (?, 'silence', ?)");
  timer->bind(1, ms(s.ends_at));
  timer->bind(2, std::to_string(id));
  timer->exec();
  return id;
}

std::optional<rules::Silence> Transaction::load_silence(std::int64_t id) {
  static const std::string one = std::string(k_silence_select) + " WHERE id = ?";
  sql::CachedStatement q(m_db, one);
  q->bind(1, static_cast<int64_t>(id));
  if (!q->step()) return std::nullopt;
  return read_silence(*q);
}

void Transaction::expire_silence(std::int64_t id, TimePoint at, const std::string& by) {
  sql::CachedStatement q(m_db,
                         "UPDATE silences SET expired_at = ?, expired_by = ? "
                         "WHERE id = ? AND expired_at IS NULL AND ends_at > ?");
  q->bind(1, ms(at));
  q->bind(2, by);
  q->bind(3, static_cast<int64_t>(id));
  q->bind(4, ms(at));
  q->exec();
  sql::CachedStatement timer(m_db, "DELETE FROM timers WHERE kind = 'silence' AND name = ?");
  timer->bind(1, std::to_string(id));
  timer->exec();
}

// In force at ?1, and its end not handled yet.
#define TOCSIN_SILENCE_IN_FORCE                                                        \
  " starts_at <= ?1 AND ends_at > ?1 AND (expired_at IS NULL OR expired_at > ?1) AND " \
  "settled_at IS NULL"

namespace {

// Logs once per silence that a row cannot be read (a newer version's matcher): it quiets
// nothing, and every paging decision would otherwise say so.
void log_unreadable_once(std::int64_t id, const std::string& why) {
  static Mutex mutex;
  static std::set<std::int64_t> logged GUARDED_BY(mutex);
  MutexLock lock(mutex);
  if (!logged.insert(id).second) return;
  spdlog::error("silences: silence {} cannot be read, so it quiets nothing: {}", id, why);
}

}  // namespace

std::int64_t Transaction::count_unended_silences(TimePoint now) {
  sql::CachedStatement q(m_db,
                         "SELECT count(*) FROM silences WHERE ends_at > ?1 AND settled_at IS NULL "
                         "AND (expired_at IS NULL OR expired_at > ?1)");
  q->bind(1, ms(now));
  return q->step() ? q->get_int64(0) : 0;
}

std::vector<rules::Silence> Transaction::active_silences(TimePoint now) {
  static const std::string active =
      std::string(k_silence_select) + " WHERE" TOCSIN_SILENCE_IN_FORCE " ORDER BY id";
  sql::CachedStatement q(m_db, active);
  q->bind(1, ms(now));
  std::vector<rules::Silence> out;
  while (q->step()) {
    // An unreadable silence fails open: the page it might have withheld goes out.
    try {
      out.push_back(read_silence(*q));
    } catch (const UnknownStoredValue& e) {
      log_unreadable_once(q->get_int64(0), e.what());
    }
  }
  return out;
}

bool Transaction::hold_silence(std::int64_t id, TimePoint now) {
  static const std::string sql = "SELECT 1 FROM silences WHERE id = ?2 AND" TOCSIN_SILENCE_IN_FORCE;
  static const std::string sqlite = sql + dialect::for_share(sql::Backend::sqlite);
  static const std::string postgres = sql + dialect::for_share(sql::Backend::postgres);
  sql::CachedStatement q(m_db, dialect::is_postgres(m_db.backend()) ? postgres : sqlite);
  q->bind(1, ms(now));
  q->bind(2, static_cast<int64_t>(id));
  return q->step();
}

bool Transaction::settle_silence(std::int64_t id, TimePoint at) {
  sql::CachedStatement q(m_db,
                         "UPDATE silences SET settled_at = ? WHERE id = ? AND settled_at IS NULL");
  q->bind(1, ms(at));
  q->bind(2, static_cast<int64_t>(id));
  return q->exec() > 0;
}

void Transaction::record_silence_hit(std::int64_t silence_id, std::int64_t alert_id, int episode,
                                     TimePoint at) {
  sql::CachedStatement q(m_db,
                         "INSERT INTO silence_hits (silence_id, alert_id, episode, at) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
  q->bind(1, static_cast<int64_t>(silence_id));
  q->bind(2, static_cast<int64_t>(alert_id));
  q->bind(3, episode);
  q->bind(4, ms(at));
  q->exec();
}

std::vector<SilenceHit> Transaction::unsettled_silence_hits(std::int64_t silence_id) {
  sql::CachedStatement q(m_db,
                         "SELECT alert_id, episode, at FROM silence_hits "
                         "WHERE silence_id = ? AND released_at IS NULL ORDER BY at, alert_id");
  q->bind(1, static_cast<int64_t>(silence_id));
  std::vector<SilenceHit> out;
  while (q->step()) {
    SilenceHit h;
    h.silence_id = silence_id;
    h.alert_id = q->get_int64(0);
    h.episode = q->get_int(1);
    h.at = from_unix_ms(q->get_int64(2));
    out.push_back(h);
  }
  return out;
}

bool Transaction::silence_hit_open(const SilenceHit& hit) {
  sql::CachedStatement q(m_db,
                         "SELECT 1 FROM silence_hits WHERE silence_id = ? AND alert_id = ? AND "
                         "episode = ? AND released_at IS NULL");
  q->bind(1, static_cast<int64_t>(hit.silence_id));
  q->bind(2, static_cast<int64_t>(hit.alert_id));
  q->bind(3, hit.episode);
  const bool open = q->step();
  q->reset();
  return open;
}

std::vector<SilenceHit> Transaction::withholding_hits(std::int64_t alert_id, int episode) {
  // Through the silences whose end is not handled yet (few): each is then one primary-key seek.
  sql::CachedStatement q(
      m_db,
      "SELECT h.silence_id, h.at FROM silences s JOIN silence_hits h "
      "ON h.silence_id = s.id AND h.alert_id = ? AND h.episode = ? "
      "WHERE s.settled_at IS NULL AND h.released_at IS NULL ORDER BY h.silence_id");
  q->bind(1, static_cast<int64_t>(alert_id));
  q->bind(2, episode);
  std::vector<SilenceHit> out;
  while (q->step()) {
    SilenceHit h;
    h.silence_id = q->get_int64(0);
    h.alert_id = alert_id;
    h.episode = episode;
    h.at = from_unix_ms(q->get_int64(1));
    out.push_back(h);
  }
  return out;
}

void Transaction::settle_silence_hit(const SilenceHit& hit, TimePoint at, bool paged) {
  sql::CachedStatement q(m_db,
                         "UPDATE silence_hits SET released_at = ?, paged = ? "
                         "WHERE silence_id = ? AND alert_id = ? AND episode = ?");
  q->bind(1, ms(at));
  q->bind(2, paged ? 1 : 0);
  q->bind(3, static_cast<int64_t>(hit.silence_id));
  q->bind(4, static_cast<int64_t>(hit.alert_id));
  q->bind(5, hit.episode);
  q->exec();
}

}  // namespace tocsin::storage
