#pragma once
// What storage/ keeps, in domain terms. SQL never leaves storage/: the rest of the engine sees
// these records and the narrow Transaction / Reader interfaces, so another backend could
// replace SQLite without touching decision code.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "core/outcome.hpp"
#include "core/time.hpp"
#include "rules/lifecycle.hpp"
#include "rules/noise.hpp"

namespace tocsin::storage {

// The closed vocabularies of the stored rows. Each is spelled once, in storage/vocabulary.hpp,
// as the text the schema's CHECK constraints allow; nothing outside storage/ compares the text.

// A decision log entry: the outcome of an inbound event (Outcome), or of the engine's own
// decision (rules::NoteKind).
enum class DecisionKind { event, decision };

// What a decision log entry says happened, as stored: the outcome of an inbound event (core's
// Outcome) or the engine's own decision (rules::NoteKind), one vocabulary for the one column.
// `resolved` is both an event's outcome and a person's decision (the kind tells them apart); both
// drops are `dropped` (the reason tells them apart for a reader, rules::NoteKind for code).
enum class DecisionOutcome {
  created,
  duplicate,
  reopened,
  resolved,
  ignored,
  out_of_order,
  redelivery,
  escalated,
  dropped,
  demoted,
  held,
  superseded,
  stale,
  expired,
  ack_timeout,
  acknowledged,
  unacknowledged,
  silenced,                // a silence withheld a page (rules::NoteKind::silenced)
  unsilenced,              // its silence ended while the episode was open: it paged
  silence_added,           // a person added a silence (no alert)
  silence_ended,           // a silence expired, or was expired by hand (no alert)
  subscription_confirmed,  // an SNS subscription was confirmed, by a person or auto_confirm
  subscription_rejected,   // a person refused an SNS subscription (nothing sent to AWS)
};

// An SNS confirmation: which one, and what became of it (docs/behaviour.md "SNS subscriptions").
// `confirming`: someone's visit of its SubscribeURL is under way; `failed`: auto_confirm's visit
// failed (a person may still confirm or reject it); `noted`: an UnsubscribeConfirmation.
enum class SubscriptionKind { subscribe, unsubscribe };
enum class SubscriptionStatus { pending, confirmed, failed, noted, confirming, rejected };

// An outbox row: waiting to be sent (or retried), delivered, given up on, or made pointless by
// a later resolve before it left (docs/behaviour.md "Delivery").
enum class OutboxStatus { pending, sent, failed, superseded };

// One delivery attempt: what it made of its row.
enum class AttemptOutcome { sent, retry, failed };

// One inbound request as received (README "Storage": raw events, for audit, export and replay).
struct InboundRecord {
  TimePoint received_at{};
  std::string hook;          // sns, eventbridge, ...
  std::string delivery_id;   // SNS MessageId or the source's event id; "" when it has none
  std::string headers_json;  // the headers worth keeping, as a JSON object
  std::string body;
  // The body as it will be stored, when prepared off the writer (storage::prepare_inbound_body):
  // its zstd frame, or "" to store the text. nullopt: insert_inbound compresses it itself.
  std::optional<std::string> body_frame;
};

// One alert: one fingerprint.
struct AlertRecord {
  std::int64_t id = 0;
  std::string fingerprint;
  Source source = Source::generic;
  std::string name, account, region, metric, namespace_;
  std::map<std::string, std::string> labels;
  std::string summary, description;
  std::string rule;  // the rule that matched its last event; "" for none
  TimePoint first_seen{}, last_seen{};
  int last_episode_number = 0;
  // Noise (docs/behaviour.md "Noise"): the incremental state and the score at its last update (for
  // ordering).
  rules::NoiseState noise;
  double noise_score = 0;
};

struct EpisodeRecord {
  std::int64_t alert_id = 0;
  std::string alias;
  rules::Episode episode;
};

// One entry of the decision log.
struct DecisionRecord {
  TimePoint at{};
  std::optional<std::int64_t> alert_id;
  std::optional<int> episode;
  std::optional<std::int64_t> inbound_id;
  DecisionKind kind = DecisionKind::event;
  DecisionOutcome outcome = DecisionOutcome::ignored;
  // The typed kind of a decision of kind "decision" the engine made in this process (the
  // journal); absent for events, and for decisions read back, whose outcome cannot tell the two
  // drops apart.
  std::optional<rules::NoteKind> note;
  std::string reason;
  std::string rule;
  std::string rules_hash;
  std::string fingerprint;
  // `hook:source event id` for events whose source names them, except an SNS message's, whose
  // request's unique (hook, delivery id) is that key already (Engine::ingest); a second decision
  // with the same key is refused by the schema, which is what makes redelivery detection
  // race-free.
  std::string event_key;
};

// An SNS (un)subscription confirmation as received: listed for a human unless confirmed
// automatically.
struct SubscriptionRecord {
  std::int64_t id = 0;  // 0 until stored
  std::string topic_arn;
  SubscriptionKind kind = SubscriptionKind::subscribe;
  std::string url;
  std::string message_id;
  TimePoint received_at{};
  SubscriptionStatus status = SubscriptionStatus::pending;
  TimePoint updated_at{};
  std::string detail;
  std::string decided_by;        // who confirmed or rejected it ("auto_confirm" for Tocsin itself)
  std::string subscription_arn;  // what SNS answered to the confirmation; "" when unknown
};

// One notification in the outbox (docs/behaviour.md "Delivery"): what to tell which channel about
// which episode.
struct OutboxRecord {
  std::int64_t id = 0;
  TimePoint created_at{};
  TimePoint due_at{};
  std::optional<std::int64_t> alert_id;
  std::optional<int> episode;
  std::string fingerprint;
  std::string alias;
  std::string channel;
  rules::NotifyAction action = rules::NotifyAction::trigger;
  int level = 0;
  Severity severity = Severity::warning;
  Priority priority{3};
  std::optional<double> noise;
  std::string why;
  OutboxStatus status = OutboxStatus::pending;
  int attempts = 0;
  std::optional<int> last_status;
  std::string last_error;
  std::optional<TimePoint> sent_at;
  std::optional<std::int64_t> about;  // a meta-alert: the row whose delivery failed
  // Action `digest`: the alerts it lists, as JSON (see delivery/digest.hpp); "" otherwise.
  std::string digest;
};

// A notification waiting for its channel's next digest (channels with `digest_every`).
struct DigestItem {
  std::int64_t id = 0;
  OutboxRecord notification;  // as it would have been queued
  std::string summary;        // the alert's summary or name, for the digest's list
};

// A channel's health as the circuit breaker keeps it
// (docs/behaviour.md "The circuit breaker and the catch-up"), one row per channel that ever failed,
// shared by every instance on the database.
struct ChannelHealth {
  std::string channel;
  std::optional<TimePoint> down_since;  // nullopt: up
  int failures = 0;                     // consecutive failed requests
  std::string last_error;               // the latest failure's text, as attempts store it
  TimePoint changed_at{};               // the latest transition
  std::optional<TimePoint> probe_at;    // down: the next probe leaves then
  int probes = 0;                       // probes failed in this outage
  std::optional<TimePoint> hold_until;  // the receiver's Retry-After: nothing leaves before
  std::optional<TimePoint> pace_at;     // catching up: the next row leaves then
  bool down() const { return down_since.has_value(); }
  bool operator==(const ChannelHealth&) const = default;
};

// What a channel's outage held back: the notifications queued for it since it went down, the
// alerts they are about, and how many of those alerts are still open.
struct OutageReport {
  std::int64_t notifications = 0, alerts = 0, open_alerts = 0;
  std::optional<TimePoint> first_due;  // the earliest due_at of the channel's pending rows
};

// A channel as GET /api/v1/channels shows it: its health row (none: never failed), and its
// pending notifications.
struct ChannelStatus {
  std::string channel;
  std::optional<ChannelHealth> health;
  std::int64_t pending = 0;
  std::optional<TimePoint> oldest_pending;  // created_at of its oldest pending row
};

// One try at delivering an outbox row.
struct DeliveryAttempt {
  std::int64_t outbox_id = 0;
  TimePoint at{};
  std::optional<int> http_status;
  std::string error;
  std::int64_t duration_ms = 0;
  AttemptOutcome outcome = AttemptOutcome::sent;
};

struct OutboxStats {
  std::int64_t pending = 0;
  std::optional<TimePoint> oldest_pending;  // created_at of the oldest pending row
};

// A timer as stored: the alert it belongs to and what it does.
struct StoredTimer {
  std::int64_t id = 0;
  std::int64_t alert_id = 0;  // 0 for a heartbeat deadline and a digest
  rules::Timer timer;
  std::string name;  // kind heartbeat: the heartbeat's name; kind digest: the channel
};

struct NotificationQuery {
  std::optional<OutboxStatus> status;
  std::optional<std::string> channel;
  std::optional<std::int64_t> alert_id;
  int limit = 50;
  std::optional<std::int64_t> before_id;  // paging: rows with a smaller id
};

// One running `tocsin serve` on the database (docs/postgres.md "Instances and claims").
struct InstanceRecord {
  std::string id;
  std::string host;
  std::string listen;
  std::string version;
  std::string rules_hash;
  TimePoint started_at{};
  TimePoint last_seen{};
};

// An episode a silence withheld a page from (docs/behaviour.md "Silences"), and what became of it
// when the silence ended.
struct SilenceHit {
  std::int64_t silence_id = 0;
  std::int64_t alert_id = 0;
  int episode = 0;
  TimePoint at{};                        // first withheld
  std::optional<TimePoint> released_at;  // the silence ended then
  bool paged = false;                    // still open at the end: it paged then
};

// A silence with what it did, for the API and the report.
struct SilenceView {
  rules::Silence silence;
  std::int64_t withheld = 0;  // episodes it withheld a page from
  std::int64_t paged = 0;     // of those, still open when it ended: they paged then
};

// What `tocsin export` re-enacts of a silence: adding it at `at` (its creation, or the start of
// the exported window when it was added before), or expiring it by hand at `at`.
struct SilenceChange {
  enum class Kind { added, expired };
  Kind kind = Kind::added;
  TimePoint at{};
  rules::Silence silence;
};

// An alert that had an event in a span, with the severity of an episode of it active then (one
// entry per such episode; none: the event opened nothing). What a silence's matchers saw.
struct SeenAlert {
  AlertRecord alert;
  std::optional<Severity> severity;
};

struct HeartbeatPing {
  std::string name;
  TimePoint first_ping_at{}, last_ping_at{};
  std::int64_t pings = 0;
};

// A decision with the request that caused it, for GET /api/v1/alerts/{id}/events.
struct DecisionView {
  std::int64_t id = 0;
  DecisionRecord decision;
  std::string hook;  // "" when no inbound request caused it
  std::string delivery_id;
  std::optional<TimePoint> received_at;
};

struct AlertQuery {
  std::optional<std::string> status;  // status of the current episode, or "none"
  std::optional<std::string> severity;
  std::optional<std::string> source;
  std::optional<std::string> text;  // substring of fingerprint, name or summary
  int limit = 50;
  int offset = 0;
};

struct AlertView {
  AlertRecord alert;
  std::optional<EpisodeRecord> current;  // the latest episode, open or not
};

struct AlertPage {
  std::vector<AlertView> alerts;
  std::int64_t total = 0;  // matching the filters, before paging
};

struct AlertDetail {
  AlertView view;
  std::vector<EpisodeRecord> episodes;  // newest first, bounded
  // Its members (rules::Member): firing first, then most recently seen; bounded. The counts
  // are over all of them.
  std::vector<rules::Member> members;
  std::int64_t members_total = 0;
  std::int64_t members_firing = 0;
};

}  // namespace tocsin::storage

// Report (tocsin report)
namespace tocsin::storage {

// An alert whose event decisions said no rule matched it (reason suffix ";no_rule_matched").
struct UnroutedAlert {
  std::int64_t alert_id = 0;
  std::string fingerprint, name;
  Source source = Source::generic;
  std::int64_t events = 0;              // such decisions in the period
  TimePoint last_at{};                  // the latest of them
  std::optional<EpisodeStatus> status;  // of the alert's latest episode, if any
};

// Episodes of one alert, opened by events the same rule matched first, that notified nobody:
// no escalation, not demoted to a low-priority channel, not dropped by `drop: true`.
struct SilentEpisodes {
  std::int64_t alert_id = 0;
  std::string fingerprint, name;
  Source source = Source::generic;
  std::string rule;  // first match of the opening event; "" for none
  std::int64_t episodes = 0;
  TimePoint last_opened_at{};
  int last_episode = 0;
};

// Permanently failed notifications of one channel.
struct FailedChannel {
  std::string channel;
  std::int64_t failed = 0;
  TimePoint last_at{};  // created_at of the latest failed row
  std::string last_error;
  std::optional<int> last_status;    // HTTP status of its last attempt; nullopt: no answer
  std::vector<std::string> aliases;  // of the latest failed rows, newest first, distinct
};

}  // namespace tocsin::storage
