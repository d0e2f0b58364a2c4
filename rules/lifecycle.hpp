#pragma once
// The episode state machine (docs/behaviour.md "Episodes, escalation and timers") as a pure
// function: given the policy that applies, what is known about the alert, an event and the time,
// decide the outcome, why, and what the episodes look like afterwards. No I/O and no clock reads:
// the caller loads the state, passes `now`, and persists the result in one transaction.

#include <optional>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "core/outcome.hpp"
#include "rules/rules.hpp"
#include "rules/silence.hpp"

namespace tocsin::rules {

// How an episode ended (for the noise score: docs/behaviour.md "Noise" `transient` and `ignored`).
enum class EndedBy { none, source, person, expired, superseded };
std::string_view to_string(EndedBy b);
std::optional<EndedBy> parse_ended_by(std::string_view s);

struct Episode {
  int number = 1;
  EpisodeStatus status = EpisodeStatus::open;
  Severity severity = Severity::warning;
  Priority priority{3};
  TimePoint opened_at{};
  TimePoint last_activity_at{};  // last event that touched it (for `stale_after`)
  // The source's time of the last state change applied (orders transitions); nullopt when the
  // source gives none.
  std::optional<TimePoint> last_source_time;
  std::optional<TimePoint> closed_at;
  int event_count = 1;
  // Escalation (docs/behaviour.md "Delivery"): the policies routing this episode (names in
  // Rules::escalations, fixed when it opens; empty: it notifies nobody), the highest step notified
  // so far (-1: none), and the instant step delays count from (the opening, shifted when escalation
  // resumes after an acknowledgement so the remaining steps keep their spacing).
  std::vector<std::string> escalation;
  int level = -1;
  TimePoint escalation_base{};
  std::optional<TimePoint> acknowledged_at;
  std::string acknowledged_by;
  // When the max_open_age sweep last flagged it stale; it is announced once per stretch of
  // inactivity, not on every sweep.
  std::optional<TimePoint> flagged_stale_at;
  // Channels told about it (trigger, escalate, reminder), in the order first told: they get its
  // acknowledge and resolve. Kept on the episode so loading it costs one row, however many
  // reminders it has had.
  std::vector<std::string> notified;
  // Noise (docs/behaviour.md "Noise"). How it ended; whether anyone ever acknowledged it (an unack
  // does not undo the attention); whether it counted as transient when it ended.
  EndedBy ended_by = EndedBy::none;
  bool ever_acknowledged = false;
  bool transient = false;
  // Routed to this low-priority channel instead of its escalation, because its alert was
  // noisy when it opened; its first notification held until this instant; the alert's noise
  // score when it opened.
  std::optional<std::string> demoted_to;
  std::optional<TimePoint> held_until;
  std::optional<double> noise;
  // A rule matching one of its events said never_suppress (kept once set): only a silence naming
  // the alert exactly quiets it, whichever member of a dedup_key group fired last
  // (docs/behaviour.md "Silences").
  bool never_suppress = false;
};

// What a notification asks a channel to do (replay output, docs/formats.md §13.2). Spelled, for
// the outbox and for every channel's payload alike, by storage::to_text (storage/vocabulary.hpp).
enum class NotifyAction { trigger, resolve, acknowledge, escalate, reminder, digest };

// Whether the action tells a channel about the episode as something to act on (trigger, escalate,
// reminder): the channel then owns the episode, and a silence withholds it.
constexpr bool pages(NotifyAction a) {
  return a == NotifyAction::trigger || a == NotifyAction::escalate || a == NotifyAction::reminder;
}

// One message for one channel, about one episode. The engine writes it to the outbox in the
// same transaction as the state change; the Delivery worker sends it.
struct Notification {
  int episode = 0;
  std::string channel;
  NotifyAction action = NotifyAction::trigger;
  int level = 0;
  std::string why;  // for people: "escalation level 1 (after 20m)", "open 62d, no activity 3d"
};

// Clock-driven work stored in the database (it survives restarts).
enum class TimerKind {
  escalation,    // notify step `step` of the episode's route (step == steps: repeat the last)
  max_open_age,  // flag the episode stale if it saw no activity for max_open_age
  auto_resolve,  // expire it after auto_resolve_after without activity
  ack_timeout,   // return an acknowledged episode to open
  heartbeat,     // a heartbeat's ping is overdue (engine-level: not about an existing episode)
  digest,        // a channel's digest is due (engine-level: about no single alert)
  silence,       // a silence ends: its withheld episodes page (engine-level)
};
std::string_view to_string(TimerKind k);
std::optional<TimerKind> parse_timer_kind(std::string_view s);

struct Timer {
  TimerKind kind = TimerKind::escalation;
  TimePoint due{};
  int episode = 0;
  int step = 0;
};

// The kinds of decision about an episode that are not the outcome of an inbound event (replay
// output `decision`, docs/formats.md §13.2). Typed here; spelled only by storage
// (storage/vocabulary.hpp), which spells both drops "dropped".
enum class NoteKind {
  escalated,           // an escalation step (or a repeat) notified its channels
  dropped_by_rule,     // a rule says `drop: true`: recorded, never notified
  demoted,             // noise: routed to the rule's low-priority channel only
  held,                // noise: the first notification held for `hold_for`
  dropped_while_held,  // noise: the episode ended while held, nobody was told
  superseded,          // a reopen replaced the previous episode's page
  stale,               // max_open_age passed without activity
  expired,             // auto_resolve_after passed without activity: ended
  ack_timeout,         // acknowledged too long while still firing: open again
  acknowledged,
  unacknowledged,
  resolved,    // by a person
  silenced,    // a silence withheld a page or an escalation step (docs/behaviour.md "Silences")
  unsilenced,  // the silence ended while the episode was still open: it pages now
};

// Whether a decision of this kind is noise routing (the metric tocsin_noise_routing_total):
// a hold's drop is, a rule's is not.
constexpr bool is_noise_routing(NoteKind k) {
  return k == NoteKind::demoted || k == NoteKind::held || k == NoteKind::dropped_while_held;
}

struct Note {
  int episode = 0;
  NoteKind decision = NoteKind::escalated;
  std::string reason;
};

// An escalation policy as it runs: the steps of every policy routing an episode, merged by
// their `after` (channels of steps with the same delay are notified together, once each).
struct Route {
  std::vector<EscalationStep> steps;  // sorted by `after`
  std::optional<Duration> repeat_every;
  bool empty() const { return steps.empty(); }
};

// The route of `escalation` names under `rules`; names no longer declared (after a reload)
// are skipped.
Route route_for(const Rules& rules, const std::vector<std::string>& escalation);

// The route an episode runs: its low-priority channel alone when demoted, else its policies.
Route route_of(const Rules& rules, const Episode& episode);

// How a newly opened episode is routed: from the rules that matched the event, and the
// alert's noise (docs/behaviour.md "Noise"), which the engine turns into a demotion or a hold.
struct Routing {
  std::vector<std::string> escalation;  // policy names, in rule order
  Route route;
  bool drop = false;            // a matching rule says `drop: true`: record only, never notify
  std::optional<double> noise;  // the alert's score, recorded on the episode
  std::optional<std::string> demote_to;  // send to this channel only, no escalation
  std::string demote_reason;             // the numbers behind it
  std::optional<Duration> hold_for;      // delay the first notification
  std::string hold_reason;
  // A silence applies: the episode opens and is recorded, but nothing is paged (no hold then:
  // it pages when the silence ends, if still open).
  std::optional<SilenceRef> silence;
};

// Everything a decision changes besides the outcome: shared by events, timers and actions.
struct Effects {
  std::vector<Notification> notifications;
  std::vector<Timer> timers;  // to schedule
  std::vector<Note> notes;
  bool cancel_escalation = false;   // delete the episode's pending escalation timers
  bool cancel_ack_timeout = false;  // delete its pending ack_timeout timer
  // The silence that withheld this decision's pages (its `silenced` notes): the engine keeps
  // which episodes each silence withheld, to page them when it ends.
  std::optional<std::int64_t> silence;
};

// Source times more than this far past `now` are clamped to `now + k_future_tolerance` for
// ordering: a sender with a skewed clock must not pin the order of an alert's transitions.
inline constexpr Duration k_future_tolerance = std::chrono::minutes(5);

// One member of an alert (docs/behaviour.md "Episodes, escalation and timers", groups): the source
// identity of its events (NormalizedEvent::fingerprint, before a rule's dedup_key replaces it). An
// alert without dedup_key has one member, itself; a dedup_key group has one per thing it folds in.
// A transition is (member, source time, new state): whichever path delivers it, it is applied once.
struct Member {
  std::string fingerprint;
  SignalState state = SignalState::firing;  // firing or resolved, as last applied
  // The last transition applied: the source's time as sent (its identity), and as ordered
  // (clamped to now + k_future_tolerance). nullopt when the source gave none.
  std::optional<TimePoint> source_time;
  std::optional<TimePoint> transition_at;
  TimePoint changed_at{};    // when Tocsin applied that transition
  TimePoint last_seen_at{};  // the last event of this member, whatever its outcome
};

// What the engine knows of an alert before the event.
struct AlertState {
  int last_episode_number = 0;    // 0: no episode yet
  std::optional<Episode> active;  // the open or acknowledged episode, if any
  // Channels already told about the active episode (its Episode::notified as stored).
  std::vector<std::string> notified;
  // The event's member as last applied; nullopt when this member was never seen.
  std::optional<Member> member = std::nullopt;
  // How many of the alert's other members are firing: a member's resolve ends the episode
  // only when none is.
  int other_firing = 0;
  // False for an alert with no member stored (new, or stored before members were tracked): the
  // alert stands for its only member, firing while an episode is active, ordered by the active
  // episode's last_source_time, exactly as before members existed.
  bool tracks_members = false;
};

// Reasons recorded in the decision log. Stable strings: tests, replay output and the API
// use them.
namespace reason {
inline constexpr const char* k_first_occurrence = "first_occurrence";
inline constexpr const char* k_new_occurrence = "new_occurrence";  // previous episode ended
inline constexpr const char* k_continues_episode = "continues_episode";
inline constexpr const char* k_severity_raised = "severity_raised";
inline constexpr const char* k_missed_resolve = "missed_resolve";
inline constexpr const char* k_stale = "stale";
inline constexpr const char* k_source_resolved = "source_resolved";
inline constexpr const char* k_nothing_open = "nothing_open";
inline constexpr const char* k_insufficient_data = "insufficient_data";
// A firing event whose source suppressed its own actions, under `actions_suppressed: ignore`.
inline constexpr const char* k_actions_suppressed = "actions_suppressed";
inline constexpr const char* k_older_than_last_change = "older_than_last_change";
// The member's last transition applied, delivered again (another path, a retry, a re-send).
inline constexpr const char* k_same_transition = "same_transition";
// A member of a dedup_key group resolved while others still fire; recorded as
// `member_resolved;still_firing=N`.
inline constexpr const char* k_member_resolved = "member_resolved";
}  // namespace reason

struct Decision {
  Outcome outcome = Outcome::ignored;
  std::string reason;
  // The previously active episode as it ends (resolved or superseded); nullopt if none ended.
  std::optional<Episode> ended;
  // The active episode after the event: newly opened (`opened` true) or updated in place.
  std::optional<Episode> active;
  bool opened = false;
  // Whether this event should notify the route (a new episode, a raised severity, a resolve).
  bool notify = false;
  // Notifications, timers and notes. The timers of an ended episode are all cancelled by the
  // caller (it ended), so `effects` never lists them.
  Effects effects;
  // The event's member after the event, for the caller to store; nullopt: unchanged.
  std::optional<Member> member;
};

// `severity`/`priority` are what the matched rule (or the defaults) assign to this event (the
// priority derived from the severity unless the rules set one): a new episode takes both, and
// a raised severity takes the priority too when it is more urgent (severity_raised);
// `routing` how a new episode would be routed. `state.notified` lists the channels that were
// told about the active episode (they get its resolve).
Decision decide(const AlertPolicy& policy, const AlertState& state, const NormalizedEvent& event,
                Severity severity, Priority priority, TimePoint now, const Routing& routing = {});

// A stored timer fell due at `now` (at or after `timer.due`). `episode` is the episode it
// belongs to, as stored now (possibly ended: then nothing happens). `policy` and `route` are
// what the current rules say for the alert and for the episode's escalation names.
struct TimerDecision {
  std::optional<Episode> episode;  // the episode after the change; nullopt: unchanged
  bool ended = false;              // it ended (expired): cancel all its timers
  Effects effects;
};
// With `silence`, a step, a stale reminder or an escalation resumed after ack_timeout is withheld
// (a `silenced` note) and no escalation timer is armed: the silence's end restarts it.
TimerDecision on_timer(const AlertPolicy& policy, const Route& route, const Episode& episode,
                       const std::vector<std::string>& notified, const Timer& timer, TimePoint now,
                       const std::optional<SilenceRef>& silence = std::nullopt);

// The silence `ended` that withheld `episode` is over (it expired, or was expired by hand) and
// no other silence applies. An episode still open pages at once as if it had just opened: its
// route starts again from step 0, counted from now. An acknowledged or ended one changes nothing.
TimerDecision on_silence_end(const Route& route, const Episode& episode, const SilenceRef& ended,
                             TimePoint now);

// A withheld open episode that no silence covers any more pages at once as if it had just opened
// (a `unsilenced` note saying `why`): its route starts again from step 0, counted from now.
void unsilence(const Route& route, Episode& e, const std::string& why, TimePoint now, Effects& out);

// Whether a decision's effects would page someone: a trigger, an escalate or a reminder, or an
// escalation step armed. Only then does the engine look for a silence.
bool would_page(const Effects& effects);

// A person acts on an alert through the API or a replay line.
enum class HumanAction { ack, unack, resolve };
std::string_view to_string(HumanAction a);

struct ActionDecision {
  // Set when the action does not apply (e.g. acknowledging an episode already acknowledged):
  // a stable code and a sentence; nothing changes.
  std::optional<std::pair<std::string, std::string>> refused;
  std::optional<Episode> episode;  // the episode after the action
  bool ended = false;
  Effects effects;
};
// With `silence`, an unack returns the episode to open without resuming its escalation.
ActionDecision on_action(const AlertPolicy& policy, const Route& route, const AlertState& state,
                         HumanAction action, const std::string& by, const std::string& note,
                         TimePoint now, const std::optional<SilenceRef>& silence = std::nullopt);

}  // namespace tocsin::rules
