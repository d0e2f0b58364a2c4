#pragma once
// The SQL of one writer transaction: every statement that changes Tocsin's state. Jobs get a
// Transaction from storage::Writer (storage/writer.hpp), which runs them on its thread and
// commits them in groups.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/time.hpp"
#include "storage/records.hpp"
#include "storage/retention.hpp"

namespace tocsin::storage {

namespace sql {
class Connection;  // storage/sql.hpp
}

// The only way to change state: valid inside one job, on the writer thread, inside the
// group's transaction. Each job runs in its own savepoint, so a job that throws rolls back
// alone and the rest of its group still commits.
// The delivery claim's query (Transaction::due_notifications), for tests of its query plan: it
// runs on the writer thread for every batch claimed, so its cost must not grow with the
// pending backlog. Parameters: now (unix ms), skipped channels (JSON array), limit.
extern const char* const k_due_notifications_sql;

class Transaction {
 public:
  explicit Transaction(sql::Connection& db) : m_db(db) {}

  // The id of an earlier inbound request with the same (hook, delivery id), if any.
  std::optional<std::int64_t> find_inbound(const std::string& hook, const std::string& delivery_id);
  std::int64_t insert_inbound(const InboundRecord& r);
  // Inserts the request unless one with the same (hook, delivery id) is stored: its id, or
  // nullopt for a redelivery (find_inbound then names the earlier one). One statement where
  // find_inbound then insert_inbound were two, for every new request.
  std::optional<std::int64_t> insert_new_inbound(const InboundRecord& r);
  // The decisions recorded for an inbound request, in order (to answer a redelivery).
  std::vector<DecisionRecord> decisions_for_inbound(std::int64_t inbound_id);

  // The alert with this fingerprint and its active episode, if it exists.
  std::optional<std::pair<AlertRecord, rules::AlertState>> load_alert(
      const std::string& fingerprint);
  // Fills what `state` says of the alert's members for an event of `member` (rules::AlertState
  // member, other_firing, tracks_members). other_firing counts only the members seen since the
  // active episode opened (or the episode it superseded): never a member left firing in an
  // episode a person resolved or that expired, and not seen since.
  void load_members(std::int64_t alert_id, const std::string& member, rules::AlertState& state);
  // Inserts or replaces the member's row.
  void save_member(std::int64_t alert_id, const rules::Member& m);
  // Inserts (id == 0) or updates the alert; returns its id.
  std::int64_t save_alert(const AlertRecord& a);
  // Inserts a new episode or updates an existing one (matched by alert and number).
  void save_episode(std::int64_t alert_id, const std::string& fingerprint, const rules::Episode& e,
                    bool is_new);
  void insert_decision(const DecisionRecord& d);
  // The decision already recorded for this event key (see DecisionRecord::event_key).
  std::optional<DecisionRecord> find_event_decision(const std::string& event_key);

  // Stores a confirmation request once per MessageId; returns false if it was already stored.
  bool save_subscription(const SubscriptionRecord& s);
  // The subscription stored with this MessageId, if any: its id.
  std::optional<std::int64_t> find_subscription(const std::string& message_id);
  // The subscription, locked to the commit (docs/behaviour.md "SNS subscriptions": two confirms
  // at once, on one instance or two, are decided one after the other).
  std::optional<SubscriptionRecord> load_subscription(std::int64_t id);
  // Writes its status, updated_at, detail, decided_by and subscription_arn (by id).
  void update_subscription(const SubscriptionRecord& s);

  void record_heartbeat_ping(const std::string& name, TimePoint at);
  std::optional<HeartbeatPing> heartbeat_ping(const std::string& name);
  // Replaces the heartbeat's deadline timer (docs/behaviour.md "Heartbeats and the watchdog": every
  // + grace after the last ping).
  void set_heartbeat_deadline(const std::string& name, TimePoint due);
  bool has_heartbeat_deadline(const std::string& name);

  // The alert with this id and its active episode (see load_alert).
  std::optional<std::pair<AlertRecord, rules::AlertState>> load_alert_by_id(std::int64_t id);
  // The alert id and episode number an alias names
  // (docs/behaviour.md "Episodes, escalation and timers" per-episode alias).
  std::optional<std::pair<std::int64_t, int>> find_episode_by_alias(const std::string& alias);
  // An episode by number, whatever its status.
  std::optional<rules::Episode> load_episode(std::int64_t alert_id, int number);

  // Timers (docs/behaviour.md "Delivery"): stored, so they survive restarts.
  void insert_timer(std::int64_t alert_id, const rules::Timer& t);
  // The earliest timer due at or before `not_after` (ties by insertion order).
  std::optional<StoredTimer> next_due_timer(TimePoint not_after);
  // The id of that timer, read without its kind (which may be unreadable).
  std::optional<std::int64_t> next_due_timer_id(TimePoint not_after);
  // The alert a timer belongs to (none for a heartbeat deadline or a digest).
  std::optional<std::int64_t> timer_alert_id(std::int64_t id);
  // Moves a timer to `due` (one that could not be handled now: see engine::Engine).
  void defer_timer(std::int64_t id, TimePoint due);
  std::optional<TimePoint> next_timer_due();
  void delete_timer(std::int64_t id);
  // Deletes the episode's timers of `kind`, or all of them.
  void cancel_timers(std::int64_t alert_id, int episode,
                     std::optional<rules::TimerKind> kind = std::nullopt);
  // Active episodes that have no max_open_age timer (from before timers existed): alert id,
  // episode. Bounded per call.
  std::vector<std::pair<std::int64_t, rules::Episode>> active_episodes_without_sweep(int limit);

  // Noise (docs/behaviour.md "Noise"): the alert's episodes from number `from` on that opened
  // before `cutoff` (they leave the noise window), in number order.
  std::vector<rules::EpisodeFacts> episodes_leaving(std::int64_t alert_id, int from,
                                                    TimePoint cutoff);

  // Digests (channels with `digest_every`): a notification kept for the channel's next
  // digest; the channel's kept items, removed, oldest first; and the channel's digest timer,
  // armed at `due` unless one is (returns whether it armed one).
  void insert_digest_item(const DigestItem& item);
  std::vector<DigestItem> take_digest_items(const std::string& channel);
  bool arm_digest(const std::string& channel, TimePoint due);
  // The number of the channel's next digest: 1, 2, 3, ... over the database's life, never
  // reused (restarts and retention do not reset it), for its alias.
  std::int64_t next_digest_number(const std::string& channel);

  // Queues a notification. A resolve first supersedes the still-unsent trigger, escalate and
  // reminder rows of its episode and channel, and is itself stored superseded when nothing
  // about the episode ever left for that channel.
  std::int64_t insert_notification(const OutboxRecord& n);

  // Delivery (docs/behaviour.md "Delivery"): the pending rows due by `now` that head their
  // (episode, channel) queue, most urgent priority first, then oldest due; none of the channels in
  // `skip_channels`. A row this version cannot read (UnknownStoredValue) is settled failed, its
  // last_error naming the column and value, and logged; it does not stop the others.
  // A row another instance claimed (count_attempt) is left out until its claim runs out, or
  // at once when that instance has not beaten since `live_since` (presumed dead: its work is
  // taken over; docs/postgres.md "Instances and claims"). Nothing is locked: a row is taken
  // by count_attempt, which another instance may have done meanwhile.
  std::vector<OutboxRecord> due_notifications(TimePoint now, int limit,
                                              const std::vector<std::string>& skip_channels = {},
                                              std::optional<TimePoint> live_since = std::nullopt);
  std::optional<OutboxRecord> load_notification(std::int64_t id);
  // Claims the row for instance `claimed_by` until `claimed_until` and counts an attempt
  // before it is made (the row is being sent; see server::DeliveryWorker), if the row is still
  // pending and free to claim at `now` (as due_notifications says, with `live_since`) and, on
  // PostgreSQL, no other transaction holds it. False when it was not claimed: leave it. The
  // defaults claim a pending row whatever claims it.
  bool count_attempt(std::int64_t id, const std::string& claimed_by, TimePoint claimed_until,
                     TimePoint now = TimePoint::max(),
                     std::optional<TimePoint> live_since = std::nullopt);
  // Takes back an attempt counted for a row that was claimed but, in the end, not sent, and
  // its claim. Only while `claimed_by` still holds the claim on a pending row: false (and a
  // warning naming who holds it now) when another instance took the row over meanwhile
  // (docs/postgres.md "Instances and claims").
  bool uncount_attempt(std::int64_t id, const std::string& claimed_by);
  // Stores an attempt (always: it happened) and the row's state after it (status, attempts,
  // next due, last error); the claim ends. The row changes only while `claimed_by` still holds
  // the claim on a pending row: a claimer presumed dead and taken over must not overwrite what
  // the instance that took over settled. False, with a warning, when the row was left alone.
  bool record_attempt(const DeliveryAttempt& a, const OutboxRecord& after,
                      const std::string& claimed_by);

  // Silences (storage/silences.cpp; docs/behaviour.md "Silences"). Inserting one also arms its
  // end (a timer of kind `silence` named by its id); expiring one moves its end to `at` and
  // drops that timer.
  std::int64_t insert_silence(const rules::Silence& s);
  std::optional<rules::Silence> load_silence(std::int64_t id);
  void expire_silence(std::int64_t id, TimePoint at, const std::string& by);
  // Silences not ended at `now` (in force or pending): bounded by k_max_silences.
  std::int64_t count_unended_silences(TimePoint now);
  // The silences in force at `now` (started, not ended, their end not settled). A row this
  // version cannot read is left out (logged once): it quiets nothing.
  std::vector<rules::Silence> active_silences(TimePoint now);
  // Before a decision withholds a page on silence `id`: true when it is still in force, and
  // then (PostgreSQL) its row is held shared to the commit, so that settle_silence in another
  // instance waits for this decision's hit and sees it. False: it ended meanwhile.
  bool hold_silence(std::int64_t id, TimePoint now);
  // The silence's end is being handled now: it quiets nothing from here on. Called first, so
  // that (PostgreSQL) it waits for every decision holding the silence, whose hits it then reads.
  // False when its end was handled already (by another instance).
  bool settle_silence(std::int64_t id, TimePoint at);
  // The silence withheld a page of the episode (once per silence and episode).
  void record_silence_hit(std::int64_t silence_id, std::int64_t alert_id, int episode,
                          TimePoint at);
  // The episodes the silence withheld that its end has not settled yet.
  std::vector<SilenceHit> unsettled_silence_hits(std::int64_t silence_id);
  void settle_silence_hit(const SilenceHit& hit, TimePoint at, bool paged);
  // Whether the hit is still to settle (read afresh: another instance may have settled it).
  bool silence_hit_open(const SilenceHit& hit);
  // The silences not ended yet that withheld a page of the episode (its hits not settled).
  std::vector<SilenceHit> withholding_hits(std::int64_t alert_id, int episode);

  // Channel health (storage/channel_health.cpp;
  // docs/behaviour.md "The circuit breaker and the catch-up"):
  // every channel's row, by name; one channel's row, if it has one: read as it is (`none`),
  // locked to the commit on PostgreSQL before it is written whole from what was read, so that
  // two instances' results add up rather than one overwriting the other (`wait`), or only if
  // no other transaction holds it (`skip_locked`: none when one does); a row written whole; a
  // row removed; the next probe of a channel still down, and the pace of one that is up
  // (nullopt: caught up), each changed alone; a channel's pending notifications; what its
  // outage since `since` held.
  enum class RowLock { none, wait, skip_locked };
  std::map<std::string, ChannelHealth> channel_health();
  std::optional<ChannelHealth> channel_health_of(const std::string& channel, RowLock lock);
  void save_channel_health(const ChannelHealth& h);
  void delete_channel_health(const std::string& channel);
  void set_channel_probe(const std::string& channel, TimePoint probe_at);
  void set_channel_pace(const std::string& channel, std::optional<TimePoint> pace_at);
  std::int64_t pending_notifications(const std::string& channel);
  OutageReport outage_report(const std::string& channel, TimePoint since);

  // The registry of instances (storage/instances.cpp): this instance's row, inserted or
  // rewritten at each beat; every row, by id; an instance's row removed (a clean stop); the
  // rows not seen since `before` removed, how many.
  void save_instance(const InstanceRecord& r);
  std::vector<InstanceRecord> list_instances();
  void delete_instance(const std::string& id);
  // Removes the rows of other instances at the same host and listen address: earlier runs of
  // this one (the address is ours now, so they are gone), how many.
  int replace_instances_at(const std::string& host, const std::string& listen,
                           const std::string& id);
  int forget_instances(TimePoint before);

  // The readiness probe's write (storage::write_probe).
  void record_probe(TimePoint at);

  // Retention (storage/retention.cpp): examines up to policy.batch_rows rows of `table` after
  // `from`, oldest first, and deletes those the policy lets go.
  PruneBatch prune_batch(PruneTable table, const RetentionPolicy& policy, PruneCursor from);

 private:
  sql::Connection& m_db;  // its cached statements hold the SQL below, prepared once
};

}  // namespace tocsin::storage
