#pragma once
// One event, one straight path: the hooks hand the engine normalized events; for each it
// loads the alert, lets the pure decision core (rules/lifecycle) decide, and writes the
// inbound request, the alert, its episodes, the decision, the notifications (outbox) and the
// timers in the same group transaction. The caller answers only after that commit.
//
// Timers and people's actions (ack, unack, resolve) take the same path: load, decide purely,
// write everything at once. `tocsin replay` drives this very class on a virtual clock.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/json.hpp"
#include "core/outcome.hpp"
#include "core/thread_annotations.hpp"
#include "engine/rules_holder.hpp"
#include "rules/lifecycle.hpp"
#include "rules/noise.hpp"
#include "storage/writer.hpp"

namespace tocsin::engine {

struct IngestResult {
  std::optional<std::int64_t> alert_id;  // absent when no alert was involved (ignored input)
  std::string fingerprint;
  std::optional<int> episode;
  Outcome outcome = Outcome::ignored;
  std::string reason;
};

struct Inbound {
  storage::InboundRecord record;
  std::vector<NormalizedEvent> events;
  // Why an accepted request yields no events (e.g. an SNS message that is not an alarm);
  // recorded as an `ignored` decision. Used only when `events` is empty.
  std::string ignored_reason;
  // The request holds one event, whose source event id is the request's delivery id (an SNS
  // message: its MessageId). The request, stored once under its unique (hook, delivery id),
  // then applies the event once by itself, and the decision needs no event key of its own
  // (README "Storage"). Never for a request that may hold several events: a generic batch is
  // named by its first event's id, and a later batch may hold that event again.
  bool delivery_id_keys_its_event = false;
  // An SNS (un)subscription confirmation to list for a human, stored with the request.
  std::optional<storage::SubscriptionRecord> subscription;
  // Two-way sync (docs/behaviour.md "Delivery"): someone acted in the paging tool on an alert
  // Tocsin created; the episode named by `alias` follows, if it is still the alert's current one.
  struct Sync {
    std::string alias;
    rules::HumanAction action = rules::HumanAction::ack;
    std::string by, note;
    rules::ChannelType from = rules::ChannelType::opsgenie;  // not told about its own action
  };
  std::optional<Sync> sync;
};

// What one call wrote, in order: decisions and notifications as committed (replay prints it).
using JournalEntry = std::variant<storage::DecisionRecord, storage::OutboxRecord>;
using Journal = std::vector<JournalEntry>;

// The events one committed call handled, as (source, outcome).
using CommittedEvents = std::vector<std::pair<std::string_view, std::string_view>>;

// What one committed call of the engine did, for the operator's counters. The engine knows no
// metrics: whoever runs it counts these (the server wires them to its Prometheus counters).
struct Committed {
  // The events the call handled, as (source, outcome): each event of an inbound request (the
  // request's hook when it had none), or ("api", action) for a person's action. Empty for
  // timers and heartbeat pings.
  CommittedEvents events;
  const Journal& journal;  // the decisions and notifications, as committed
};

// Called on the caller's thread after each transaction the engine committed (like
// storage::Writer's on_group, which is called after each group).
using OnCommit = std::function<void(const Committed&)>;

// Which alert a person acts on.
struct AlertRef {
  std::optional<std::int64_t> id;
  std::string fingerprint;  // used when id is absent
};

struct ActionResult {
  std::int64_t alert_id = 0;
  std::string fingerprint;
  int episode = 0;
  EpisodeStatus status = EpisodeStatus::open;
};

// Why an action was not applied: 404 (no such alert), 409 (does not apply now), or 503
// (storage; retry).
struct ActionError {
  int status = 409;
  std::string code;
  std::string detail;
};

// Which SNS subscription: by id (the API), or by the MessageId it was stored with (auto_confirm).
struct SubscriptionRef {
  std::optional<std::int64_t> id;
  std::string message_id;  // used when id is absent
};

// A subscription claimed for confirming: as it was before the claim, and the claim's time (its
// `updated_at` while confirming, which settling checks is still this claim's).
struct SubscriptionClaim {
  storage::SubscriptionRecord before;
  TimePoint claimed_at{};
};

// What visiting a claimed subscription's SubscribeURL found.
struct SubscriptionVisit {
  std::string by;                      // who asked for it ("auto_confirm" for Tocsin itself)
  std::string comment;                 // theirs, for the decision log; may be empty
  std::optional<std::string> failure;  // what failed, without the URL; nullopt: confirmed
  std::string subscription_arn;        // from SNS's answer, when it had one
};

// How long a claimed confirmation may stay `confirming` before another confirm may claim it again
// (a visit takes at most a few seconds; longer means the process that made it is gone).
inline constexpr Duration k_confirm_claim_timeout = std::chrono::minutes(1);
// The `by` of auto_confirm's visits (sources.sns.auto_confirm: true).
inline constexpr std::string_view k_auto_confirm = "auto_confirm";

class Engine {
 public:
  Engine(storage::Writer& writer, const Clock& clock, const RulesHolder& rules,
         OnCommit on_commit = {})
      : m_writer(writer), m_clock(clock), m_rules(rules), m_on_commit(std::move(on_commit)) {}

  // Decides and durably records the request. Blocks until committed. A redelivered request
  // (same hook and delivery id) changes nothing and reports outcome `redelivery`.
  Expected<std::vector<IngestResult>, storage::WriteError> ingest(Inbound inbound,
                                                                  Journal* journal = nullptr);

  // Handles the earliest stored timer due at or before `not_after`, in its own transaction.
  // The decision happens at the clock's now, or at the timer's due time with `at_due_time`
  // (a virtual clock that jumps forward still sees each timer at its time). Returns the due
  // time of the timer handled, or nullopt when none was due.
  Expected<std::optional<TimePoint>, storage::WriteError> fire_next_timer(
      TimePoint not_after, bool at_due_time, Journal* journal = nullptr);

  // Handles every timer due by now (timers due while the engine was down fire once, late).
  // Returns how many fired, or the storage error that stopped it.
  Expected<int, storage::WriteError> fire_due_timers();

  // The earliest pending timer, if any.
  Expected<std::optional<TimePoint>, storage::WriteError> next_timer_due();

  // Acknowledge, unacknowledge or resolve the alert's current episode.
  Expected<ActionResult, ActionError> act(const AlertRef& alert, rules::HumanAction action,
                                          const std::string& by, const std::string& note,
                                          Journal* journal = nullptr);

  // Silences (docs/behaviour.md "Silences"). Adds one from a request (POST /api/v1/silences, a
  // replay `silence` line: rules::parse_silence_request at the clock's now, bounded by the rules'
  // silences.max_duration); refused with 400 `invalid_silence` naming the field.
  Expected<rules::Silence, ActionError> add_silence(const Json& request,
                                                    Journal* journal = nullptr);
  // Ends a silence now (404 unknown, 409 already ended). The episodes it withheld that are still
  // open page at once, unless another silence covers them.
  Expected<rules::Silence, ActionError> expire_silence(std::int64_t id, const std::string& by,
                                                       Journal* journal = nullptr);

  // SNS subscriptions (docs/behaviour.md "SNS subscriptions"). A confirmation is claimed, then
  // its SubscribeURL visited with no transaction open, then the visit's outcome settled: two
  // confirms at once never both visit. A subscription is claimable when pending or failed, or
  // confirming for longer than k_confirm_claim_timeout (a visit that crashed). 404 unknown id,
  // 409 anything else (confirmed, rejected, being confirmed, an unsubscribe confirmation).
  Expected<SubscriptionClaim, ActionError> claim_subscription(const SubscriptionRef& ref,
                                                              const std::string& by,
                                                              Journal* journal = nullptr);
  // Records what the claimed visit found: confirmed by `visit.by` (with the SubscriptionArn
  // SNS answered, and a decision `subscription_confirmed`), or not: back to the status it was
  // claimed from (`failed` for auto_confirm), `detail` naming the failure, confirmable again.
  // 409 when the claim was taken over meanwhile (the visit outlived the claim timeout).
  Expected<storage::SubscriptionRecord, ActionError> settle_subscription(
      const SubscriptionClaim& claim, const SubscriptionVisit& visit, Journal* journal = nullptr);
  // Refuses a subscription: status rejected by `by` (a decision `subscription_rejected`); nothing
  // is sent to AWS. The same 404 and 409 as claim_subscription.
  Expected<storage::SubscriptionRecord, ActionError> reject_subscription(
      std::int64_t id, const std::string& by, const std::string& comment,
      Journal* journal = nullptr);

  // Gives episodes opened before timers existed (an upgraded database) their max_open_age
  // sweep, and pinged heartbeats without a deadline theirs. Returns how many were armed.
  Expected<int, storage::WriteError> arm_missing_sweeps();

  // Records a heartbeat ping: moves its deadline to every + grace from now, and resolves the
  // episode a silence opened (docs/behaviour.md "Heartbeats and the watchdog"). A missed deadline
  // is a timer: it opens an episode of fingerprint `heartbeat:{name}`, routed by the heartbeat's
  // escalation. The ping is stored as an inbound request of hook `heartbeat` (body `{"name":
  // ...}`), for `tocsin export`.
  storage::WriteStatus record_ping(const std::string& name, Journal* journal = nullptr);

  // Runs `work` in the writer, after a commit. For small state updates outside the event path.
  storage::WriteStatus write(std::function<void(storage::Transaction&)> work);

 private:
  // The one job wrapper of every call that decides: runs `job` in one writer transaction with a
  // journal of its own (emptied when a throwing job is rolled back); after the commit, logs and
  // counts what it journaled with the events `counted` returns (none when absent; nothing is
  // logged or counted when it returns nullopt), and appends it to `journal`.
  storage::WriteStatus commit(const std::function<void(storage::Transaction&, Journal&)>& job,
                              Journal* journal,
                              const std::function<std::optional<CommittedEvents>()>& counted = {});

  // Logs what was committed, then hands it to m_on_commit.
  void record(const Journal& journal, CommittedEvents events = {});

  // Moves back a timer that could not be handled because a row it needs cannot be read (see
  // engine.cpp), so that the timers behind it fire. Returns the clock's now.
  Expected<std::optional<TimePoint>, storage::WriteError> set_aside(std::int64_t timer_id,
                                                                    TimePoint not_after,
                                                                    const std::string& why);

  storage::Writer& m_writer;
  const Clock& m_clock;
  const RulesHolder& m_rules;
  const OnCommit m_on_commit;
  Mutex m_mutex;
  // Timers set aside as unreadable (by id), and how many times: for the growing delay and to
  // log each once.
  std::map<std::int64_t, int> m_unreadable_timers GUARDED_BY(m_mutex);
};

// The severity an event's episode gets: the one the matched rule names, else the one the
// source states, else the defaults'.
Severity effective_severity(const rules::Rules& rules, const rules::Rule* rule,
                            const NormalizedEvent& e);

// How a new episode of an event is routed: every rule that matched it (Rules::matching), merged
// (a `drop: true` among them drops it; their escalation policies run together).
rules::Routing routing_for(const rules::Rules& rules,
                           const std::vector<const rules::Rule*>& matched);

// How noise changes the routing of a new episode (docs/behaviour.md "Noise"): demoted to the first
// matching rule's low_priority channel above demote_above, held for the first hold_for when
// historically transient; never for never_suppress. Returns false when it changes nothing.
// Also what `tocsin route --noise` shows (README "Rules as code").
bool noise_routing(const rules::Rules& rules, const std::vector<const rules::Rule*>& matched,
                   const rules::NoiseScore& score, rules::Routing& routing);

// The identity an event's alert is stored under: the first matching rule's dedup_key rendered,
// else the source's own fingerprint (docs/behaviour.md "Episodes, escalation and timers", groups).
std::string alert_fingerprint(const rules::Rule* rule, const NormalizedEvent& event);

// The policy that applies to an alert whose last event matched `rule_name` ("" for none):
// that rule's, or the defaults when it no longer exists.
const rules::AlertPolicy& policy_for(const rules::Rules& rules, const std::string& rule_name);

}  // namespace tocsin::engine
