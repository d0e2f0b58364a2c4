#pragma once
// Read-only queries for the API, on their own connections (WAL lets them run while the writer
// commits). Safe to call from any thread: each call borrows a connection from a small pool.
// The location is an SQLite file or a PostgreSQL URI (is_postgres_location); either way the
// database must already exist and be migrated: a Reader never creates nor migrates one.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/thread_annotations.hpp"
#include "storage/records.hpp"

namespace tocsin::storage {

class ReaderConnection;  // one pooled connection of either backend (storage/reader.cpp)

// The database's footprint (GET /metrics).
struct StorageStats {
  // SQLite: page_count * page_size of the main file. PostgreSQL: its tables with their indexes
  // and TOAST (pg_total_relation_size), in the schema the connection uses.
  std::int64_t database_bytes = 0;
  std::int64_t wal_bytes =
      0;  // SQLite's write-ahead log beside it; 0 for PostgreSQL (the server's)
  std::optional<TimePoint> oldest_event;  // the oldest stored inbound request
};

// A page of GET /api/v1/alerts stops once its alerts hold this many bytes of labels, summary
// and description (always at least one alert): a hook may store up to max_body_bytes per alert,
// and 500 such alerts built into one JSON answer took gigabytes. Clients follow next_offset.
inline constexpr std::size_t k_max_alert_page_bytes = std::size_t{4} << 20;

struct DeliveryAlert {
  AlertRecord alert;
  std::optional<TimePoint> episode_opened_at;
};

class Reader {
 public:
  explicit Reader(std::string location);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  AlertPage list_alerts(const AlertQuery& query);
  std::optional<AlertDetail> get_alert(std::int64_t id);
  bool alert_exists(std::int64_t id);
  // What a notification's message shows of its alert: the alert as stored and when episode
  // `episode` opened (nullopt when the alert has no such episode). One cached statement: the
  // delivery worker reads it for every notification it sends.
  std::optional<DeliveryAlert> delivery_alert(std::int64_t alert_id, std::optional<int> episode);
  // The alert's decisions, newest first: at most `limit`, older than decision `before_id` when
  // given (cursor paging: stable while new decisions arrive).
  std::vector<DecisionView> list_decisions(std::int64_t alert_id, int limit,
                                           std::optional<std::int64_t> before_id);
  // Newest first, bounded.
  std::vector<SubscriptionRecord> list_subscriptions(int limit = 200);
  std::vector<HeartbeatPing> list_heartbeat_pings();
  // The outbox, newest first (GET /api/v1/notifications).
  std::vector<OutboxRecord> list_notifications(const NotificationQuery& query);
  // Delivery attempts of one outbox row, newest first.
  std::vector<DeliveryAttempt> list_attempts(std::int64_t outbox_id, int limit = 20);
  // Outbox depth and the age of its oldest pending row (metrics).
  OutboxStats outbox_stats();
  // Every channel with a health row or a pending notification, by name (storage/records.hpp
  // ChannelStatus).
  std::vector<ChannelStatus> channel_status();
  StorageStats storage_stats();
  // Silences (docs/behaviour.md "Silences"), newest first, with what each withheld: all, or
  // those of `status` at `now`; at most `limit`.
  std::vector<SilenceView> list_silences(std::optional<rules::SilenceStatus> status, TimePoint now,
                                         int limit = 500);
  std::optional<SilenceView> get_silence(std::int64_t id);
  // Silences in force at `now` (the metric).
  std::int64_t count_active_silences(TimePoint now);
  // Silences in force at some time in [from, to), oldest first (the report).
  std::vector<SilenceView> silences_between(TimePoint from, TimePoint to, int limit = 1000);
  // Alerts with an event decision in [from, to), by id, each with the severities of its episodes
  // active in that span (the report's silences that matched nothing); at most `limit` rows.
  std::vector<SeenAlert> alerts_seen_between(TimePoint from, TimePoint to, int limit = 10'000);
  // The alert's pending timers, soonest first.
  std::vector<StoredTimer> list_timers(std::int64_t alert_id);

  // Noise (docs/behaviour.md "Noise"). The alert's stored noise state slid to `cutoff` (the
  // episodes opened before it leave the window), as the engine would slide it.
  rules::NoiseState noise_at(const AlertRecord& alert, TimePoint cutoff);
  // The alerts that can have a noise score: seen at or after `cutoff`, with their noise slid
  // to it and their latest episode. Bounded by `limit`, most recently seen first.
  std::vector<AlertView> noise_candidates(TimePoint cutoff, int limit);
  // The alert's whole history as the noise score sees it, for a from-scratch recompute:
  // every observation its events asserted (from the decision log) and every episode.
  std::pair<std::vector<rules::Observation>, std::vector<rules::EpisodeFacts>> noise_history(
      std::int64_t alert_id);

  // Report (tocsin report). Every list is ordered and bounded, so a report is deterministic.
  // The schema the database was last migrated to (0: not a Tocsin database): SQLite's PRAGMA
  // user_version, PostgreSQL's tocsin_schema table (storage/postgres/schema.hpp). Each backend
  // counts its own versions: compare with known_schema_version(), not another backend's.
  int schema_version();
  // The version this build migrates the Reader's backend to.
  int known_schema_version() const;
  // Alerts whose latest episode is open or acknowledged, with it: oldest opened first.
  std::vector<AlertView> active_episodes(int limit);
  // Per rule name, how many event decisions at or after `since` had it as their first match
  // (decisions.rule). A rule reached only through an earlier rule's `continue: true` is not
  // recorded, so it never appears here.
  std::map<std::string, std::int64_t> first_match_counts(TimePoint since);
  // Alerts with event decisions at or after `since` that matched no rule: most events first.
  std::vector<UnroutedAlert> unrouted_alerts(TimePoint since, int limit);
  // Episodes opened at or after `since` that notified nobody (see SilentEpisodes), per alert
  // and first-matching rule: most episodes first.
  std::vector<SilentEpisodes> silent_episodes(TimePoint since, int limit);
  // Outbox rows created at or after `since` that failed for good, per channel: most first.
  std::vector<FailedChannel> failed_deliveries(TimePoint since, int aliases_per_channel);

 private:
  class Lease;
  std::unique_ptr<ReaderConnection> acquire();
  void release(std::unique_ptr<ReaderConnection> db);

  std::string m_path;  // the location
  Mutex m_mutex;
  std::vector<std::unique_ptr<ReaderConnection>> m_idle GUARDED_BY(m_mutex);

  // Export (tocsin export)
 public:
  // What a replay needs to re-enact the traffic received at or after `since`, from one
  // snapshot of the database, one row in memory at a time, in the order it happened: by time
  // (requests by received_at, then id), and within one millisecond in commit order (a request
  // that left no decision, such as a plain heartbeat ping, goes after the actions of its
  // millisecond):
  // - `request` for every inbound request (hooks, heartbeat pings);
  // - `action` for every acknowledge, unacknowledge or resolve a person did through the API:
  //   decisions of kind "decision" with one of those outcomes, a reason `by WHO[: NOTE]`
  //   (rules::on_action) and no inbound request. Two-way sync actions are left out: their
  //   inbound request replays them.
  // - `silence` (when given) for every silence added at or after `since` (at its created_at),
  //   every silence added before and still in force or pending at `since` (at `since`), and
  //   every silence expired by hand at or after `since` (at its expired_at); before the
  //   requests and actions of the same millisecond.
  // Throws DatabaseError when the file is missing, not a Tocsin database, or newer than this
  // build; ReadError when reading fails midway. Never creates or changes the file.
  void export_since(TimePoint since, const std::function<void(const InboundRecord&)>& request,
                    const std::function<void(const DecisionRecord&)>& action,
                    const std::function<void(const SilenceChange&)>& silence = {});
};

}  // namespace tocsin::storage
