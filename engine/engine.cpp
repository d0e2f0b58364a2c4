#include "engine/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "core/duration.hpp"
#include "core/hash.hpp"
#include "core/json.hpp"
#include "delivery/digest.hpp"
#include "engine/silence_view.hpp"
#include "rules/dedup_key.hpp"
#include "rules/lifecycle.hpp"
#include "rules/noise.hpp"
#include "storage/compression.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::engine {

Severity effective_severity(const rules::Rules& rules, const rules::Rule* rule,
                            const NormalizedEvent& e) {
  if (rule && rule->sets_severity) return rule->policy.severity;
  return e.severity.value_or(rule ? rule->policy.severity : rules.defaults.severity);
}

const rules::AlertPolicy& policy_for(const rules::Rules& rules, const std::string& rule_name) {
  const rules::Rule* rule = rules.find_rule(rule_name);
  return rule ? rule->policy : rules.defaults;
}

namespace {

// Copies what the latest event says about the alert onto its record (names, labels and
// summary may change over time; identity does not).
void describe_alert(storage::AlertRecord& a, const NormalizedEvent& e, TimePoint now) {
  if (a.id == 0) a.first_seen = now;
  a.source = e.source;
  a.name = e.name;
  a.account = e.account;
  a.region = e.region;
  a.metric = e.metric;
  a.namespace_ = e.namespace_;
  a.labels = e.labels;
  a.summary = e.summary;
  a.description = e.description;
  a.last_seen = now;
}

}  // namespace

rules::Routing routing_for(const rules::Rules& rules,
                           const std::vector<const rules::Rule*>& matched) {
  rules::Routing routing;
  for (const auto* rule : matched) {
    if (rule->drop) routing.drop = true;
    if (!rule->escalation.empty()) routing.escalation.push_back(rule->escalation);
  }
  routing.route = rules::route_for(rules, routing.escalation);
  return routing;
}

std::string alert_fingerprint(const rules::Rule* rule, const NormalizedEvent& event) {
  return rule && rule->dedup_key ? rules::render_dedup_key(*rule->dedup_key, event)
                                 : event.fingerprint;
}

namespace {

// Writes what a decision caused besides the episodes themselves: notes as decisions,
// notifications to the outbox, timers. `episodes` are the episodes the effects may name.
// REQUIRES: runs on the writer thread inside the group transaction.
struct EffectWriter {
  storage::Transaction& tx;
  const rules::Rules& rules;
  const storage::AlertRecord& alert;
  TimePoint now;
  Journal* journal;
  std::optional<double> noise;  // the alert's score at decision time, on every notification

  void decision(storage::DecisionRecord record) {
    tx.insert_decision(record);
    if (journal) journal->emplace_back(std::move(record));
  }

  void write(const rules::Effects& fx, std::initializer_list<const rules::Episode*> episodes) {
    auto episode = [&](int number) -> const rules::Episode* {
      for (const auto* e : episodes) {
        if (e && e->number == number) return e;
      }
      return nullptr;
    };
    for (const auto& note : fx.notes) {
      // The silence's end pages what it withheld (docs/behaviour.md "Silences").
      if (note.decision == rules::NoteKind::silenced && fx.silence)
        tx.record_silence_hit(*fx.silence, alert.id, note.episode, now);
      storage::DecisionRecord d;
      d.at = now;
      d.alert_id = alert.id;
      d.episode = note.episode;
      d.kind = storage::DecisionKind::decision;
      d.outcome = storage::decision_outcome(note.decision);
      d.note = note.decision;
      d.reason = note.reason;
      d.rule = alert.rule;
      d.rules_hash = rules.hash;
      d.fingerprint = alert.fingerprint;
      decision(std::move(d));
    }
    for (const auto& n : fx.notifications) {
      const rules::Episode* e = episode(n.episode);
      if (!e) throw std::logic_error("a notification names an episode the decision did not load");
      storage::OutboxRecord o;
      o.created_at = o.due_at = now;
      o.alert_id = alert.id;
      o.episode = n.episode;
      o.fingerprint = alert.fingerprint;
      o.alias = episode_alias(alert.fingerprint, n.episode);
      o.channel = n.channel;
      o.action = n.action;
      o.level = n.level;
      o.severity = e->severity;
      o.priority = e->priority;
      o.why = n.why;
      o.noise = noise;
      // A channel with digest_every hears about it in its next digest (docs/behaviour.md "Noise").
      auto channel = rules.channels.find(n.channel);
      if (channel != rules.channels.end() && channel->second.digest_every) {
        tx.insert_digest_item(
            storage::DigestItem{0, o, alert.summary.empty() ? alert.name : alert.summary});
        tx.arm_digest(n.channel, now + *channel->second.digest_every);
        continue;
      }
      o.id = tx.insert_notification(o);
      if (journal) journal->emplace_back(std::move(o));
    }
    if (fx.cancel_escalation || fx.cancel_ack_timeout) {
      for (const auto* e : episodes) {
        if (!e) continue;
        if (fx.cancel_escalation)
          tx.cancel_timers(alert.id, e->number, rules::TimerKind::escalation);
        if (fx.cancel_ack_timeout)
          tx.cancel_timers(alert.id, e->number, rules::TimerKind::ack_timeout);
      }
    }
    for (const auto& t : fx.timers)
      tx.insert_timer(alert.id, t);
  }
};

// A redelivery changes nothing and is not stored (a retry storm must not grow the decision
// log), but it is journaled so a replay shows it.
IngestResult redelivery(const storage::DecisionRecord& earlier, TimePoint now, Journal* journal) {
  if (journal) {
    storage::DecisionRecord d = earlier;
    d.at = now;
    d.outcome = storage::decision_outcome(Outcome::redelivery);
    d.reason = "seen_before";
    journal->emplace_back(std::move(d));
  }
  return IngestResult{earlier.alert_id, earlier.fingerprint, earlier.episode, Outcome::redelivery,
                      "seen_before"};
}

// REQUIRES: runs on the writer thread inside the group transaction.
const rules::Heartbeat* find_heartbeat(const rules::Rules& rules, const std::string& name) {
  for (const auto& hb : rules.heartbeats) {
    if (hb.name == name) return &hb;
  }
  return nullptr;
}

NormalizedEvent heartbeat_event(const rules::Heartbeat& hb, SignalState state, TimePoint now,
                                std::optional<TimePoint> last_ping) {
  NormalizedEvent e;
  e.source = Source::heartbeat;
  e.hook = "heartbeat";
  e.name = hb.name;
  e.fingerprint = "heartbeat:" + hb.name;
  e.state = state;
  e.source_time = now;
  if (state == SignalState::firing) {
    e.previous_state = SignalState::resolved;
    e.summary = "heartbeat " + hb.name + ": no ping for " +
                (last_ping ? format_duration(now - *last_ping) : std::string("a while")) +
                " (expected every " + format_duration(hb.every) + ", grace " +
                format_duration(hb.grace) + ")";
  } else {
    e.previous_state = SignalState::firing;
    e.summary = "heartbeat " + hb.name + ": pinged again";
  }
  return e;
}

// Noise (docs/behaviour.md "Noise"). The window slides before anything in the transaction changes
// an episode: the episodes that left it are read as they were counted.
// REQUIRES: runs on the writer thread inside the group transaction.
void slide_noise(storage::Transaction& tx, const rules::Noise& cfg, storage::AlertRecord& alert,
                 TimePoint now) {
  if (alert.id == 0) return;
  rules::slide(alert.noise, tx.episodes_leaving(alert.id, alert.noise.window_first,
                                                rules::window_cutoff(cfg, now)));
}

// What an event decision changes in the alert's noise: its observation, the episode it ended
// (classified on the episode), the episode it opened.
rules::NoiseState account_event(rules::NoiseState noise, const rules::Noise& cfg,
                                rules::Decision& d, TimePoint now) {
  if (auto firing = rules::observed_firing(to_string(d.outcome), d.reason)) {
    rules::observe(noise, cfg, rules::Observation{now, *firing});
  }
  if (d.ended) rules::count_ended(noise, cfg, *d.ended);
  if (d.opened) rules::count_opened(noise, *d.active);
  return noise;
}

// A timer or a person changed an episode of the alert (already slid to `now`): counts it if it
// ended, stores the alert when its noise changed, and returns the score at `now`.
double settle_noise(storage::Transaction& tx, const rules::Noise& cfg, storage::AlertRecord& alert,
                    const rules::NoiseState& before, rules::Episode* changed, TimePoint now) {
  if (changed && !is_active(changed->status)) rules::count_ended(alert.noise, cfg, *changed);
  const double score = rules::score(alert.noise, cfg, alert.first_seen, now).score;
  // The score drifts with the clock alone (the window slides); the alert is stored only when
  // its state changed, not on every escalation step.
  if (!(alert.noise == before)) {
    alert.noise_score = score;
    tx.save_alert(alert);
  }
  return score;
}

// The one path for "an episode changed", after a timer or a person decided: the noise window
// slides to `now` and is settled (counting `changed` if it ended), `changed` is saved (its
// pending timers cancelled when the decision `ended` it), then the decision's effects are
// written; they name `changed`, or `subject` when the decision changed no episode.
// REQUIRES: runs on the writer thread inside the group transaction.
void change_episode(storage::Transaction& tx, const rules::Rules& rules,
                    storage::AlertRecord& alert, rules::Episode* changed, bool ended,
                    const rules::Effects& effects, const rules::Episode* subject, TimePoint now,
                    Journal* journal) {
  const rules::NoiseState before = alert.noise;
  slide_noise(tx, rules.noise, alert, now);
  const double noise = settle_noise(tx, rules.noise, alert, before, changed, now);
  if (changed) {
    tx.save_episode(alert.id, alert.fingerprint, *changed, false);
    if (ended) tx.cancel_timers(alert.id, changed->number);
  }
  EffectWriter out{tx, rules, alert, now, journal, noise};
  out.write(effects, {changed ? changed : subject});
}

}  // namespace

bool noise_routing(const rules::Rules& rules, const std::vector<const rules::Rule*>& matched,
                   const rules::NoiseScore& score, rules::Routing& routing) {
  if (routing.drop || routing.route.empty()) return false;
  const rules::Rule* low = nullptr;
  const rules::Rule* hold = nullptr;
  for (const auto* rule : matched) {
    if (rule->never_suppress) return false;
    if (!low && rule->low_priority) low = rule;
    if (!hold && rule->hold_for) hold = rule;
  }
  const auto& cfg = rules.noise;
  bool changed = false;
  if (low && score.score > cfg.demote_above) {
    routing.demote_to = *low->low_priority;
    routing.demote_reason = "noise " + rules::format_score(score.score) + " above demote_above " +
                            rules::format_score(cfg.demote_above) + ": to " + *low->low_priority +
                            " (rule " + low->name + ") instead of its escalation; " +
                            rules::explain(score);
    changed = true;
  }
  if (hold && rules::historically_transient(score)) {
    routing.hold_for = hold->hold_for;
    routing.hold_reason = "historically transient: " + std::to_string(score.transient_count) +
                          " of " + std::to_string(score.ended) + " episodes in " +
                          format_duration(cfg.window) + " resolved by the source within " +
                          format_duration(cfg.transient_within) +
                          " unacknowledged; first notification held " +
                          format_duration(*hold->hold_for) + " (rule " + hold->name + ")";
    changed = true;
  }
  return changed;
}

namespace {

// The silence withholding pages of the alert `view` describes at `now`, if any
// (docs/behaviour.md "Silences"); `never_suppress()` says whether the alert is never_suppress,
// asked only when some silence is in force. Asked only when a decision would page: the query is
// then one indexed read of the few silences in force.
// REQUIRES: runs on the writer thread inside the group transaction.
std::optional<rules::SilenceRef> silence_for(storage::Transaction& tx, const NormalizedEvent& view,
                                             const std::function<bool()>& never_suppress,
                                             TimePoint now) {
  auto silences = tx.active_silences(now);
  if (silences.empty()) return std::nullopt;
  const bool never = never_suppress();
  while (const rules::Silence* s = rules::applying_silence(silences, view, never, now)) {
    // Another instance may be ending it right now: held, its end waits for this decision's hit;
    // gone, the next one that applies (if any) is asked.
    if (tx.hold_silence(s->id, now)) return rules::ref_of(*s);
    const std::int64_t gone = s->id;
    std::erase_if(silences, [&](const rules::Silence& x) { return x.id == gone; });
  }
  return std::nullopt;
}

// The silence for a stored alert's episode (engine/silence_view.hpp: as the API judges it).
// REQUIRES: runs on the writer thread inside the group transaction.
std::optional<rules::SilenceRef> silence_of_episode(storage::Transaction& tx,
                                                    const rules::Rules& rules,
                                                    const storage::AlertRecord& alert,
                                                    const rules::Episode& episode, TimePoint now) {
  const NormalizedEvent view = silence_view(alert, episode.severity);
  return silence_for(
      tx, view, [&] { return episode.never_suppress || never_suppressed(rules, alert, view); },
      now);
}

// The silence for an alert's stored episode, when `effects` would page (timers, actions).
// REQUIRES: runs on the writer thread inside the group transaction.
std::optional<rules::SilenceRef> silence_if_paging(storage::Transaction& tx,
                                                   const rules::Rules& rules,
                                                   const storage::AlertRecord& alert,
                                                   const rules::Episode& episode,
                                                   const rules::Effects& effects, TimePoint now) {
  if (!rules::would_page(effects)) return std::nullopt;
  return silence_of_episode(tx, rules, alert, episode, now);
}

IngestResult apply_event(storage::Transaction& tx, const rules::Rules& rules,
                         const NormalizedEvent& event, std::optional<std::int64_t> inbound_id,
                         TimePoint now, Journal* journal, bool once_by_request = false) {
  // A delivery the source names (an SNS MessageId, an EventBridge event id) is applied once and
  // recorded once. The same transition arriving under another id (another path, an EventBridge
  // retry, an Alertmanager re-send) is recognised by the decision core (same_transition).
  // `once_by_request`: the request's own (hook, delivery id), unique among stored requests, is
  // this event's key already (Engine::ingest), so its decision is stored without one.
  const std::string event_key = event.source_event_id.empty() || once_by_request
                                    ? std::string()
                                    : event.hook + ":" + event.source_event_id;
  if (!event_key.empty()) {
    if (auto earlier = tx.find_event_decision(event_key)) {
      return redelivery(*earlier, now, journal);
    }
  }

  // A declared heartbeat routes itself (docs/behaviour.md "Heartbeats and the watchdog");
  // everything else goes through the rules.
  const rules::Heartbeat* heartbeat =
      event.source == Source::heartbeat ? find_heartbeat(rules, event.name) : nullptr;
  auto matched = heartbeat ? std::vector<const rules::Rule*>{} : rules.matching(event);
  const rules::Rule* rule = matched.empty() ? nullptr : matched.front();
  const rules::AlertPolicy& policy = rule ? rule->policy : rules.defaults;
  // A rule may regroup alerts under its own identity
  // (docs/behaviour.md "Episodes, escalation and timers", groups).
  const std::string fingerprint = alert_fingerprint(rule, event);
  rules::Routing routing;
  Severity severity = effective_severity(rules, rule, event);
  Priority priority = policy.priority_given(severity);
  std::string rule_name = rule ? rule->name : "";
  if (heartbeat) {
    routing.escalation = {heartbeat->escalation};
    routing.route = rules::route_for(rules, routing.escalation);
    severity = heartbeat->severity;
    priority = heartbeat->priority;
    rule_name = "heartbeat:" + heartbeat->name;
  } else {
    routing = routing_for(rules, matched);
  }

  storage::AlertRecord alert;
  rules::AlertState state;
  if (auto loaded = tx.load_alert(fingerprint)) {
    alert = std::move(loaded->first);
    state = std::move(loaded->second);
    // Transitions are ordered per member: the event's own identity, before dedup_key.
    tx.load_members(alert.id, event.fingerprint, state);
  }

  slide_noise(tx, rules.noise, alert, now);
  rules::Decision d = rules::decide(policy, state, event, severity, priority, now, routing);
  rules::NoiseState noise = account_event(alert.noise, rules.noise, d, now);
  const rules::NoiseScore score =
      rules::score(noise, rules.noise, alert.id == 0 ? now : alert.first_seen, now);
  if (d.opened && noise_routing(rules, matched, score, routing)) {
    // Same event, same state: only the new episode's route differs.
    d = rules::decide(policy, state, event, severity, priority, now, routing);
    noise = account_event(alert.noise, rules.noise, d, now);
  }
  // A severity raise of an episode a silence withheld is asked about even when it pages no one
  // yet (nobody was told): the silence may not cover what it has become. See
  // docs/behaviour.md "Silences". A raise is rare: plain duplicates do not get here.
  const bool event_never_suppress = !heartbeat && rules::any_never_suppress(matched);
  std::vector<storage::SilenceHit> withheld;
  if (d.active && !d.opened && alert.id != 0 && d.reason == rules::reason::k_severity_raised)
    withheld = tx.withholding_hits(alert.id, d.active->number);
  if (rules::would_page(d.effects) || !withheld.empty()) {
    NormalizedEvent view = event;
    view.fingerprint = fingerprint;
    view.severity = d.active ? d.active->severity : severity;
    // This event's rules, or an earlier event's of the same episode (a dedup_key group).
    const auto never = [&] {
      return event_never_suppress || (d.active && d.active->never_suppress);
    };
    if (auto silence = silence_for(tx, view, never, now)) {
      // Same event, same state: the pages are withheld, everything else is as decided.
      routing.silence = std::move(silence);
      d = rules::decide(policy, state, event, severity, priority, now, routing);
      noise = account_event(alert.noise, rules.noise, d, now);
      withheld.clear();
    } else if (!withheld.empty() && d.active->status == EpisodeStatus::open) {
      // No silence in force covers it now: what they withheld pages at once, and their ends
      // have nothing left to page for it.
      rules::unsilence(rules::route_of(rules, *d.active), *d.active,
                       "severity raised to " + std::string(to_string(d.active->severity)) +
                           ": no silence in force covers it any more; paging now, as if it had "
                           "just opened",
                       now, d.effects);
    } else {
      withheld.clear();
    }
  }
  if (d.opened) d.active->noise = score.score;
  if (d.active && event_never_suppress) d.active->never_suppress = true;
  alert.noise = std::move(noise);
  alert.noise_score = score.score;

  alert.fingerprint = fingerprint;
  describe_alert(alert, event, now);
  alert.rule = rule_name;
  if (d.opened) alert.last_episode_number = d.active->number;
  alert.id = tx.save_alert(alert);

  // The ended episode is written first: the schema allows one active episode per alert.
  if (d.ended) {
    tx.save_episode(alert.id, fingerprint, *d.ended, false);
    tx.cancel_timers(alert.id, d.ended->number);
  }
  if (d.active) tx.save_episode(alert.id, fingerprint, *d.active, d.opened);
  if (d.member) tx.save_member(alert.id, *d.member);

  storage::DecisionRecord record;
  record.at = now;
  record.alert_id = alert.id;
  if (d.active) {
    record.episode = d.active->number;
  } else if (d.ended) {
    record.episode = d.ended->number;
  } else if (state.active) {
    record.episode = state.active->number;
  } else if (state.last_episode_number > 0 &&
             (d.outcome == Outcome::duplicate || d.outcome == Outcome::out_of_order)) {
    // A transition delivered again, or late, after its episode ended: it belongs to that one.
    record.episode = state.last_episode_number;
  }
  record.inbound_id = inbound_id;
  record.outcome = storage::decision_outcome(d.outcome);
  record.reason = rule_name.empty() ? d.reason + ";no_rule_matched" : d.reason;
  record.rule = rule_name;
  record.rules_hash = rules.hash;
  record.fingerprint = fingerprint;
  record.event_key = event_key;
  EffectWriter out{tx, rules, alert, now, journal, score.score};
  out.decision(record);
  out.write(d.effects, {d.ended ? &*d.ended : nullptr, d.active ? &*d.active : nullptr});
  for (const auto& hit : withheld)
    tx.settle_silence_hit(hit, now, true);

  return IngestResult{alert.id, fingerprint, record.episode, d.outcome, record.reason};
}

// A channel's digest fell due: its kept notifications become one `digest` outbox row. A channel
// removed from the rules since loses its items (logged); one that lost `digest_every` still
// gets this last digest.
// REQUIRES: runs on the writer thread inside the group transaction.
void send_digest(storage::Transaction& tx, const rules::Rules& rules, const std::string& channel,
                 TimePoint now, Journal* journal) {
  auto items = tx.take_digest_items(channel);
  if (items.empty()) return;
  if (!rules.channels.contains(channel)) {
    spdlog::warn("digest for channel {} dropped: the channel is no longer declared ({} items)",
                 channel, items.size());
    return;
  }
  storage::OutboxRecord digest =
      delivery::build_digest(channel, tx.next_digest_number(channel), items, now);
  digest.id = tx.insert_notification(digest);
  if (journal) journal->emplace_back(std::move(digest));
}

// Two-way sync: an action taken in the paging tool on an episode Tocsin created. Only the
// episode the alias names, and only while it is the alert's current one: acknowledging the
// forgotten October page must never silence December's.
// REQUIRES: runs on the writer thread inside the group transaction.
IngestResult apply_sync(storage::Transaction& tx, const rules::Rules& rules,
                        const Inbound::Sync& sync, std::int64_t inbound_id, TimePoint now,
                        Journal* journal) {
  storage::DecisionRecord record;
  record.at = now;
  record.inbound_id = inbound_id;
  record.outcome = storage::decision_outcome(Outcome::ignored);
  record.rules_hash = rules.hash;
  auto finish = [&](std::string reason) {
    record.reason = std::move(reason);
    tx.insert_decision(record);
    if (journal) journal->emplace_back(record);
    return IngestResult{record.alert_id, record.fingerprint, record.episode, Outcome::ignored,
                        record.reason};
  };
  const auto where = tx.find_episode_by_alias(sync.alias);
  if (!where) return finish("sync_unknown_alias");
  auto loaded = tx.load_alert_by_id(where->first);
  if (!loaded) return finish("sync_unknown_alias");
  storage::AlertRecord& alert = loaded->first;
  const rules::AlertState& state = loaded->second;
  record.alert_id = alert.id;
  record.fingerprint = alert.fingerprint;
  record.episode = where->second;
  record.rule = alert.rule;
  if (!state.active || state.active->number != where->second) {
    return finish("sync_episode_not_current");
  }
  const rules::Route route = rules::route_of(rules, *state.active);
  rules::ActionDecision d = rules::on_action(policy_for(rules, alert.rule), route, state,
                                             sync.action, sync.by, sync.note, now);
  if (d.refused) return finish("sync_" + d.refused->first);
  if (auto silence = silence_if_paging(tx, rules, alert, *state.active, d.effects, now)) {
    d = rules::on_action(policy_for(rules, alert.rule), route, state, sync.action, sync.by,
                         sync.note, now, silence);
  }
  // The tool the action came from already knows; telling it would only echo back.
  std::erase_if(d.effects.notifications, [&](const rules::Notification& n) {
    auto c = rules.channels.find(n.channel);
    return c != rules.channels.end() && c->second.type == sync.from;
  });
  finish(std::string("sync_") + std::string(rules::to_string(sync.action)));
  change_episode(tx, rules, alert, &*d.episode, d.ended, d.effects, nullptr, now, journal);
  return IngestResult{alert.id, alert.fingerprint, d.episode->number, Outcome::ignored,
                      record.reason};
}

// A decision about a silence itself (added, ended): in the decision log, about no alert.
// REQUIRES: runs on the writer thread inside the group transaction.
void note_silence(storage::Transaction& tx, const rules::Rules& rules,
                  storage::DecisionOutcome outcome, std::string reason, TimePoint now,
                  Journal* journal) {
  storage::DecisionRecord d;
  d.at = now;
  d.kind = storage::DecisionKind::decision;
  d.outcome = outcome;
  d.reason = std::move(reason);
  d.rules_hash = rules.hash;
  tx.insert_decision(d);
  if (journal) journal->emplace_back(std::move(d));
}

// `silence` has ended (its end, or expired by hand; `how` says which): each episode it withheld a
// page from and that is still open pages now, as if it had just opened, unless another silence
// in force covers it, which then withholds it in turn (docs/behaviour.md "Silences").
// REQUIRES: runs on the writer thread inside the group transaction.
void end_silence(storage::Transaction& tx, const rules::Rules& rules, const rules::Silence& silence,
                 TimePoint now, const std::string& how, Journal* journal) {
  const rules::SilenceRef ended = rules::ref_of(silence);
  // First: from here on it quiets nothing, and every decision that held it has committed.
  if (!tx.settle_silence(silence.id, now)) return;  // handled already
  const auto hits = tx.unsettled_silence_hits(silence.id);
  note_silence(tx, rules, storage::DecisionOutcome::silence_ended,
               "silence " + std::to_string(silence.id) + " " + how + "; it withheld " +
                   std::to_string(hits.size()) + " episode(s) still to settle",
               now, journal);
  for (const auto& hit : hits) {
    std::optional<std::pair<storage::AlertRecord, rules::AlertState>> loaded;
    try {
      loaded = tx.load_alert_by_id(hit.alert_id);
    } catch (const storage::UnknownStoredValue& e) {
      // One alert this version cannot read must not keep the silence's other episodes quiet.
      spdlog::error(
          "silences: silence {} ended but alert id {} cannot be read, so its episode {} "
          "cannot page: {}",
          silence.id, hit.alert_id, hit.episode, e.what());
      tx.settle_silence_hit(hit, now, false);
      continue;
    }
    // Read again now that the alert is locked: a decision about it in another instance (a
    // severity raise no silence covers, another silence's end) may have paged it and settled
    // this hit since the list was read. Paging it again would page twice.
    if (!tx.silence_hit_open(hit)) continue;
    const rules::AlertState* state = loaded ? &loaded->second : nullptr;
    if (!state || !state->active || state->active->number != hit.episode ||
        state->active->status != EpisodeStatus::open) {
      // Ended meanwhile, or acknowledged (its unack resumes escalation, silences permitting).
      tx.settle_silence_hit(hit, now, false);
      continue;
    }
    storage::AlertRecord& alert = loaded->first;
    const rules::Episode& episode = *state->active;
    if (auto other = silence_of_episode(tx, rules, alert, episode, now)) {
      rules::Effects fx;
      fx.notes.push_back(rules::Note{episode.number, rules::NoteKind::silenced,
                                     other->describe() + " (silence " + std::to_string(silence.id) +
                                         " is over; this one still withholds its page)"});
      fx.silence = other->id;
      change_episode(tx, rules, alert, nullptr, false, fx, &episode, now, journal);
      tx.settle_silence_hit(hit, now, false);
      continue;
    }
    rules::TimerDecision d =
        rules::on_silence_end(rules::route_of(rules, episode), episode, ended, now);
    change_episode(tx, rules, alert, d.episode ? &*d.episode : nullptr, d.ended, d.effects,
                   &episode, now, journal);
    tx.settle_silence_hit(hit, now, d.episode.has_value());
    if (!d.episode) continue;
    // It paged: the other silences that withheld it (one no longer covering it, ending later)
    // have nothing left to page for it. Left unsettled, each end would page it again.
    for (const auto& other : tx.withholding_hits(alert.id, episode.number))
      tx.settle_silence_hit(other, now, true);
  }
}

}  // namespace

Expected<std::vector<IngestResult>, storage::WriteError> Engine::ingest(Inbound inbound,
                                                                        Journal* journal) {
  // Compressed here, on the caller's thread, so the writer only binds the bytes.
  storage::prepare_inbound_body(inbound.record);
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  std::vector<IngestResult> results;
  const TimePoint now = m_clock.now();

  auto counted = [&]() -> std::optional<CommittedEvents> {
    CommittedEvents events;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      // A request without events (ignored input) is counted under its hook.
      const std::string_view event_source = i < inbound.events.size()
                                                ? to_string(inbound.events[i].source)
                                                : std::string_view(inbound.record.hook);
      events.emplace_back(event_source, to_string(r.outcome));
      spdlog::info("{} event {}: {} ({}) alert={} episode={}", inbound.record.hook,
                   inbound.record.delivery_id.empty() ? "-" : inbound.record.delivery_id,
                   to_string(r.outcome), r.reason, r.fingerprint.empty() ? "-" : r.fingerprint,
                   r.episode.value_or(0));
    }
    return events;
  };
  const auto job = [&](storage::Transaction& tx, Journal& written) {
    results.clear();
    const auto& rec = inbound.record;
    // Inserted unless this (hook, delivery id) is stored: then it is a redelivery, answered
    // with the earlier request's decisions.
    const std::optional<std::int64_t> inserted = tx.insert_new_inbound(rec);
    if (!inserted) {
      const auto earlier = tx.find_inbound(rec.hook, rec.delivery_id);
      if (!earlier) throw std::logic_error("inbound: a redelivery whose first delivery is gone");
      for (const auto& d : tx.decisions_for_inbound(*earlier)) {
        if (d.kind == storage::DecisionKind::event) results.push_back(redelivery(d, now, &written));
      }
      return;
    }
    const std::int64_t inbound_id = *inserted;
    if (inbound.subscription) tx.save_subscription(*inbound.subscription);
    if (inbound.sync) {
      results.push_back(apply_sync(tx, rules, *inbound.sync, inbound_id, now, &written));
      return;
    }
    if (inbound.events.empty()) {
      storage::DecisionRecord record;
      record.at = now;
      record.inbound_id = inbound_id;
      record.outcome = storage::decision_outcome(Outcome::ignored);
      record.reason = inbound.ignored_reason;
      record.rules_hash = rules.hash;
      tx.insert_decision(record);
      written.emplace_back(std::move(record));
      results.push_back(
          IngestResult{std::nullopt, "", std::nullopt, Outcome::ignored, inbound.ignored_reason});
      return;
    }
    // Its own unique (hook, delivery id) applies the event once (Inbound::
    // delivery_id_keys_its_event): a key of the event's own would repeat it, with an index entry.
    const bool once_by_request = inbound.delivery_id_keys_its_event && inbound.events.size() == 1 &&
                                 inbound.events.front().source_event_id == rec.delivery_id;
    for (const auto& event : inbound.events) {
      results.push_back(apply_event(tx, rules, event, inbound_id, now, &written, once_by_request));
    }
  };
  auto status = commit(job, journal, counted);
  if (status) return unexpected(std::move(*status));
  return results;
}

Expected<std::optional<TimePoint>, storage::WriteError> Engine::fire_next_timer(TimePoint not_after,
                                                                                bool at_due_time,
                                                                                Journal* journal) {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  std::optional<TimePoint> fired;
  std::optional<std::int64_t> timer_id;   // the timer being handled
  std::optional<std::string> unreadable;  // why it could not be: a row this version cannot read
  const auto handle = [&](storage::Transaction& tx, Journal& written) {
    auto stored = tx.next_due_timer(not_after);
    if (!stored) return;
    const rules::Timer& timer = stored->timer;
    fired = timer.due;
    tx.delete_timer(stored->id);
    const TimePoint now = at_due_time ? timer.due : m_clock.now();

    if (timer.kind == rules::TimerKind::digest) {
      send_digest(tx, rules, stored->name, now, &written);
      return;
    }
    if (timer.kind == rules::TimerKind::silence) {
      std::int64_t id = 0;
      const auto& name = stored->name;
      if (std::from_chars(name.data(), name.data() + name.size(), id).ec != std::errc{}) return;
      if (auto silence = tx.load_silence(id))
        end_silence(tx, rules, *silence, now, "reached its end", &written);
      return;
    }
    if (timer.kind == rules::TimerKind::heartbeat) {
      const rules::Heartbeat* hb = find_heartbeat(rules, stored->name);
      if (!hb) return;  // no longer declared
      const auto ping = tx.heartbeat_ping(hb->name);
      const std::optional<TimePoint> last =
          ping ? std::optional<TimePoint>(ping->last_ping_at) : std::nullopt;
      if (last && *last + hb->every + hb->grace > now) {
        tx.set_heartbeat_deadline(hb->name, *last + hb->every + hb->grace);
        return;
      }
      apply_event(tx, rules, heartbeat_event(*hb, SignalState::firing, now, last), std::nullopt,
                  now, &written);
      return;
    }
    auto loaded = tx.load_alert_by_id(stored->alert_id);
    if (!loaded) return;
    storage::AlertRecord& alert = loaded->first;
    auto episode = tx.load_episode(alert.id, timer.episode);
    if (!episode) return;

    const rules::AlertPolicy& policy = policy_for(rules, alert.rule);
    const rules::Route route = rules::route_of(rules, *episode);
    rules::TimerDecision d =
        rules::on_timer(policy, route, *episode, episode->notified, timer, now);
    if (auto silence = silence_if_paging(tx, rules, alert, *episode, d.effects, now))
      d = rules::on_timer(policy, route, *episode, episode->notified, timer, now, silence);
    change_episode(tx, rules, alert, d.episode ? &*d.episode : nullptr, d.ended, d.effects,
                   &*episode, now, &written);
  };
  const auto job = [&](storage::Transaction& tx, Journal& written) {
    fired.reset();
    unreadable.reset();
    timer_id = tx.next_due_timer_id(not_after);
    if (!timer_id) return;
    try {
      handle(tx, written);
    } catch (const storage::UnknownStoredValue& e) {
      unreadable = e.what();
      throw;
    }
  };
  auto status = commit(job, journal);
  if (status && unreadable && timer_id) return set_aside(*timer_id, not_after, *unreadable);
  if (status) return unexpected(std::move(*status));
  if (fired && timer_id) {
    MutexLock lock(m_mutex);
    if (m_unreadable_timers.erase(*timer_id) > 0)
      spdlog::info("timers: timer {} could be read again and fired", *timer_id);
  }
  return fired;
}

// The timer's kind, or a row it needs (its alert, its episode), holds a value this version
// cannot read. Left first, it would stop every timer behind it; deleted, its episode would lose
// its escalation for good. So it is moved back by a growing delay (1 minute, doubling, at most
// an hour) and retried until the row is readable (fixed, or the newer version is back), and
// logged at error once per timer.
Expected<std::optional<TimePoint>, storage::WriteError> Engine::set_aside(std::int64_t timer_id,
                                                                          TimePoint not_after,
                                                                          const std::string& why) {
  int tries = 0;
  {
    MutexLock lock(m_mutex);
    tries = m_unreadable_timers[timer_id]++;
  }
  const Duration delay =
      std::min<Duration>(std::chrono::minutes(1 << std::min(tries, 6)), std::chrono::hours(1));
  const TimePoint now = m_clock.now();
  const TimePoint due = std::max(now, not_after) + delay;
  std::optional<std::int64_t> alert_id;
  auto status = m_writer
                    .submit([&](storage::Transaction& tx) {
                      alert_id = tx.timer_alert_id(timer_id);
                      tx.defer_timer(timer_id, due);
                    })
                    .get();
  if (status) return unexpected(std::move(*status));
  if (tries == 0) {
    spdlog::error(
        "timers: timer {} (alert id {}) cannot be handled: {}; retrying it every while (at most "
        "hourly) until the row is readable, the other timers fire meanwhile",
        timer_id, alert_id ? std::to_string(*alert_id) : std::string("-"), why);
  }
  return std::optional<TimePoint>(now);
}

Expected<int, storage::WriteError> Engine::fire_due_timers() {
  int fired = 0;
  const TimePoint now = m_clock.now();
  for (;;) {
    auto next = fire_next_timer(now, false);
    if (!next) return unexpected(std::move(next.error()));
    if (!*next) return fired;
    ++fired;
  }
}

Expected<std::optional<TimePoint>, storage::WriteError> Engine::next_timer_due() {
  std::optional<TimePoint> due;
  auto status = m_writer.submit([&](storage::Transaction& tx) { due = tx.next_timer_due(); });
  if (auto error = status.get()) return unexpected(std::move(*error));
  return due;
}

Expected<ActionResult, ActionError> Engine::act(const AlertRef& ref, rules::HumanAction action,
                                                const std::string& by, const std::string& note,
                                                Journal* journal) {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = m_clock.now();
  std::optional<ActionError> refused;
  ActionResult result;
  // A refused action changed nothing: neither logged nor counted.
  auto counted = [&]() -> std::optional<CommittedEvents> {
    if (refused) return std::nullopt;
    return CommittedEvents{{"api", rules::to_string(action)}};
  };
  const auto job = [&](storage::Transaction& tx, Journal& written) {
    refused.reset();
    auto loaded = ref.id ? tx.load_alert_by_id(*ref.id) : tx.load_alert(ref.fingerprint);
    if (!loaded) {
      refused = ActionError{404, "alert_not_found",
                            ref.id ? "no alert with id " + std::to_string(*ref.id)
                                   : "no alert with fingerprint " + ref.fingerprint};
      return;
    }
    storage::AlertRecord& alert = loaded->first;
    const rules::AlertState& state = loaded->second;
    const rules::Route route =
        state.active ? rules::route_of(rules, *state.active) : rules::Route{};
    const rules::AlertPolicy& policy = policy_for(rules, alert.rule);
    rules::ActionDecision d = rules::on_action(policy, route, state, action, by, note, now);
    if (d.refused) {
      refused = ActionError{409, d.refused->first, d.refused->second};
      return;
    }
    if (auto silence = silence_if_paging(tx, rules, alert, *state.active, d.effects, now))
      d = rules::on_action(policy, route, state, action, by, note, now, silence);
    change_episode(tx, rules, alert, &*d.episode, d.ended, d.effects, nullptr, now, &written);
    result = ActionResult{alert.id, alert.fingerprint, d.episode->number, d.episode->status};
  };
  auto status = commit(job, journal, counted);
  if (status) {
    return unexpected(ActionError{status->transient ? 503 : 500, "storage",
                                  "the action could not be stored: " + status->message});
  }
  if (refused) return unexpected(std::move(*refused));
  return result;
}

Expected<int, storage::WriteError> Engine::arm_missing_sweeps() {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = m_clock.now();
  int armed = 0;
  for (;;) {
    int batch = 0;
    auto status = m_writer.submit([&](storage::Transaction& tx) {
      batch = 0;
      for (auto& [alert_id, episode] : tx.active_episodes_without_sweep(500)) {
        auto loaded = tx.load_alert_by_id(alert_id);
        const auto& policy = policy_for(rules, loaded ? loaded->first.rule : std::string());
        tx.insert_timer(alert_id,
                        rules::Timer{rules::TimerKind::max_open_age,
                                     std::max(now, episode.last_activity_at + policy.max_open_age),
                                     episode.number, 0});
        ++batch;
      }
    });
    if (auto error = status.get()) return unexpected(std::move(*error));
    armed += batch;
    if (batch == 0) break;
  }
  // Heartbeats pinged before their deadline was a timer (an upgrade) get one now.
  int deadlines = 0;
  auto status = m_writer.submit([&](storage::Transaction& tx) {
    deadlines = 0;  // a job may run more than once (storage/writer.hpp)
    for (const auto& hb : rules.heartbeats) {
      if (tx.has_heartbeat_deadline(hb.name)) continue;
      if (auto ping = tx.heartbeat_ping(hb.name)) {
        tx.set_heartbeat_deadline(hb.name, ping->last_ping_at + hb.every + hb.grace);
        ++deadlines;
      }
    }
  });
  if (auto error = status.get()) return unexpected(std::move(*error));
  return armed + deadlines;
}

storage::WriteStatus Engine::commit(
    const std::function<void(storage::Transaction&, Journal&)>& job, Journal* journal,
    const std::function<std::optional<CommittedEvents>()>& counted) {
  Journal written;
  auto status = m_writer.run([&](storage::Transaction& tx) {
    // A job that throws, or runs again, is rolled back: forget what it journaled.
    written.clear();
    job(tx, written);
  });
  if (status) return status;
  std::optional<CommittedEvents> events = counted ? counted() : CommittedEvents{};
  if (!events) return status;
  record(written, std::move(*events));
  if (journal) journal->insert(journal->end(), written.begin(), written.end());
  return status;
}

// Decisions beyond an event's outcome, and every notification: the operator's log; then the
// counters, through m_on_commit.
void Engine::record(const Journal& journal, CommittedEvents events) {
  for (const auto& entry : journal) {
    if (const auto* d = std::get_if<storage::DecisionRecord>(&entry)) {
      if (d->kind == storage::DecisionKind::event) continue;  // logged with the request
      spdlog::info("alert {} episode {}: {} ({})", d->fingerprint, d->episode.value_or(0),
                   storage::to_text(d->outcome), d->reason);
    } else if (const auto* n = std::get_if<storage::OutboxRecord>(&entry)) {
      spdlog::info("alert {} episode {}: queued {} to {} (level {}, {})", n->fingerprint,
                   n->episode.value_or(0), storage::to_text(n->action), n->channel, n->level,
                   n->alias);
    }
  }
  if (m_on_commit) m_on_commit(Committed{std::move(events), journal});
}

storage::WriteStatus Engine::record_ping(const std::string& name, Journal* journal) {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = m_clock.now();
  const auto job = [&](storage::Transaction& tx, Journal& written) {
    // Kept as an inbound request like any other hook's, so `tocsin export` can hand the ping to
    // a replay.
    storage::InboundRecord request;
    request.received_at = now;
    request.hook = "heartbeat";
    request.headers_json = "{}";
    request.body = Json{{"name", name}}.dump(-1, ' ', false, Json::error_handler_t::replace);
    const std::int64_t inbound_id = tx.insert_inbound(request);
    tx.record_heartbeat_ping(name, now);
    const rules::Heartbeat* hb = find_heartbeat(rules, name);
    if (!hb) return;
    tx.set_heartbeat_deadline(name, now + hb->every + hb->grace);
    // The next ping resolves the episode a silence opened.
    if (auto loaded = tx.load_alert("heartbeat:" + name); loaded && loaded->second.active) {
      apply_event(tx, rules, heartbeat_event(*hb, SignalState::resolved, now, now), inbound_id, now,
                  &written);
    }
  };
  return commit(job, journal);
}

Expected<rules::Silence, ActionError> Engine::add_silence(const Json& request, Journal* journal) {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = m_clock.now();
  rules::SilenceLimits limits;
  limits.max_duration = rules.silences.max_duration;
  auto parsed = rules::parse_silence_request(request, now, limits);
  if (!parsed) {
    return unexpected(
        ActionError{400, "invalid_silence", parsed.error().field + " " + parsed.error().message});
  }
  rules::Silence silence = std::move(*parsed);
  std::optional<ActionError> refused;
  const auto job = [&](storage::Transaction& tx, Journal& written) {
    refused.reset();
    if (const auto n = tx.count_unended_silences(now); n >= rules::k_max_silences) {
      refused = ActionError{409, "too_many_silences",
                            std::to_string(n) + " silences are in force or pending, the most " +
                                "there may be (" + std::to_string(rules::k_max_silences) +
                                "); expire some, or quiet more with one silence"};
      return;
    }
    silence.id = tx.insert_silence(silence);
    note_silence(tx, rules, storage::DecisionOutcome::silence_added,
                 rules::ref_of(silence).describe() + "; from " +
                     format_timestamp(silence.starts_at) + ", matchers " +
                     silence.spelled.dump(-1, ' ', false, Json::error_handler_t::replace),
                 now, &written);
  };
  auto status = commit(job, journal, [&]() -> std::optional<CommittedEvents> {
    if (refused) return std::nullopt;
    return CommittedEvents{};
  });
  if (status) {
    return unexpected(ActionError{status->transient ? 503 : 500, "storage",
                                  "the silence could not be stored: " + status->message});
  }
  if (refused) return unexpected(std::move(*refused));
  return silence;
}

Expected<rules::Silence, ActionError> Engine::expire_silence(std::int64_t id, const std::string& by,
                                                             Journal* journal) {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = m_clock.now();
  std::optional<ActionError> refused;
  rules::Silence result;
  const auto job = [&](storage::Transaction& tx, Journal& written) {
    refused.reset();
    auto silence = tx.load_silence(id);
    if (!silence) {
      refused = ActionError{404, "silence_not_found", "no silence with id " + std::to_string(id)};
      return;
    }
    if (silence->status(now) == rules::SilenceStatus::expired) {
      refused = ActionError{409, "silence_ended",
                            "silence " + std::to_string(id) + " already ended at " +
                                format_timestamp(silence->end())};
      return;
    }
    const std::string who = by.empty() ? "someone" : by;
    tx.expire_silence(id, now, who);
    silence->expired_at = now;
    silence->expired_by = who;
    end_silence(tx, rules, *silence, now, "expired by " + who, &written);
    result = std::move(*silence);
  };
  auto status = commit(job, journal, [&]() -> std::optional<CommittedEvents> {
    if (refused) return std::nullopt;
    return CommittedEvents{};
  });
  if (status) {
    return unexpected(ActionError{status->transient ? 503 : 500, "storage",
                                  "the silence could not be expired: " + status->message});
  }
  if (refused) return unexpected(std::move(*refused));
  return result;
}

namespace {

// A decision about an SNS subscription (confirmed, rejected): in the decision log, about no alert.
// REQUIRES: runs on the writer thread inside the group transaction.
void note_subscription(storage::Transaction& tx, const rules::Rules& rules,
                       storage::DecisionOutcome outcome, std::string reason, TimePoint now,
                       Journal& journal) {
  storage::DecisionRecord d;
  d.at = now;
  d.kind = storage::DecisionKind::decision;
  d.outcome = outcome;
  d.reason = std::move(reason);
  d.rules_hash = rules.hash;
  tx.insert_decision(d);
  journal.emplace_back(std::move(d));
}

std::string subscription_name(const storage::SubscriptionRecord& s) {
  return "subscription " + std::to_string(s.id) + " to " + s.topic_arn;
}

// Why `s` cannot be confirmed or rejected now; nullopt when it can.
std::optional<ActionError> not_decidable(const storage::SubscriptionRecord& s, TimePoint now) {
  const std::string name = "subscription " + std::to_string(s.id);
  if (s.kind != storage::SubscriptionKind::subscribe) {
    return ActionError{409, "subscription_not_pending",
                       name + " is an UnsubscribeConfirmation: there is nothing to confirm or " +
                           "reject (to undo it, subscribe again from AWS)"};
  }
  const auto by = [&s] { return s.decided_by.empty() ? std::string() : " by " + s.decided_by; };
  switch (s.status) {
    case storage::SubscriptionStatus::pending:
    case storage::SubscriptionStatus::failed:
      return std::nullopt;
    case storage::SubscriptionStatus::confirming:
      if (now - s.updated_at >= k_confirm_claim_timeout) return std::nullopt;
      return ActionError{409, "subscription_not_pending",
                         name + " is being confirmed since " + format_timestamp(s.updated_at) +
                             "; see GET /api/v1/subscriptions"};
    case storage::SubscriptionStatus::confirmed:
      return ActionError{
          409, "subscription_not_pending",
          name + " was already confirmed" + by() + " at " + format_timestamp(s.updated_at)};
    case storage::SubscriptionStatus::rejected:
      return ActionError{
          409, "subscription_not_pending",
          name + " was already rejected" + by() + " at " + format_timestamp(s.updated_at)};
    case storage::SubscriptionStatus::noted:
      break;
  }
  return ActionError{409, "subscription_not_pending", name + " is not pending"};
}

std::optional<CommittedEvents> counted_unless(const std::optional<ActionError>& refused) {
  if (refused) return std::nullopt;
  return CommittedEvents{};
}

}  // namespace

Expected<SubscriptionClaim, ActionError> Engine::claim_subscription(const SubscriptionRef& ref,
                                                                    const std::string& by,
                                                                    Journal* journal) {
  const TimePoint now = m_clock.now();
  std::optional<ActionError> refused;
  SubscriptionClaim claim;
  const auto job = [&](storage::Transaction& tx, Journal&) {
    refused.reset();
    const auto id = ref.id ? ref.id : tx.find_subscription(ref.message_id);
    auto s = id ? tx.load_subscription(*id) : std::nullopt;
    if (!s) {
      refused = ActionError{404, "not_found",
                            ref.id ? "no subscription " + std::to_string(*ref.id)
                                   : "no subscription with MessageId " + ref.message_id};
      return;
    }
    if ((refused = not_decidable(*s, now))) return;
    claim.before = *s;
    claim.claimed_at = now;
    s->status = storage::SubscriptionStatus::confirming;
    s->updated_at = now;
    s->detail = "being confirmed by " + by;
    tx.update_subscription(*s);
  };
  auto status = commit(job, journal, [&] { return counted_unless(refused); });
  if (status) {
    return unexpected(ActionError{status->transient ? 503 : 500, "storage",
                                  "the subscription could not be claimed: " + status->message});
  }
  if (refused) return unexpected(std::move(*refused));
  return claim;
}

Expected<storage::SubscriptionRecord, ActionError> Engine::settle_subscription(
    const SubscriptionClaim& claim, const SubscriptionVisit& visit, Journal* journal) {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = m_clock.now();
  std::optional<ActionError> refused;
  storage::SubscriptionRecord result;
  const auto job = [&](storage::Transaction& tx, Journal& written) {
    refused.reset();
    auto s = tx.load_subscription(claim.before.id);
    if (!s || s->status != storage::SubscriptionStatus::confirming ||
        s->updated_at != claim.claimed_at) {
      refused = ActionError{409, "subscription_not_pending",
                            "subscription " + std::to_string(claim.before.id) +
                                " was claimed again while this visit was under way"};
      return;
    }
    s->updated_at = now;
    const std::string said = visit.comment.empty() ? "" : ": " + visit.comment;
    if (visit.failure) {
      // Confirmable again: a person retries, or rejects it.
      s->status =
          visit.by == k_auto_confirm ? storage::SubscriptionStatus::failed : claim.before.status;
      if (s->status == storage::SubscriptionStatus::confirming)
        s->status = storage::SubscriptionStatus::pending;  // a claim taken over from a crash
      s->detail = "confirmation by " + visit.by + " at " + format_timestamp(now) +
                  " failed: " + *visit.failure;
    } else {
      s->status = storage::SubscriptionStatus::confirmed;
      s->decided_by = visit.by;
      s->subscription_arn = visit.subscription_arn;
      s->detail = visit.comment;
      note_subscription(tx, rules, storage::DecisionOutcome::subscription_confirmed,
                        subscription_name(*s) + " confirmed by " + visit.by + said +
                            (visit.subscription_arn.empty()
                                 ? ""
                                 : " (SubscriptionArn " + visit.subscription_arn + ")"),
                        now, written);
    }
    tx.update_subscription(*s);
    result = std::move(*s);
  };
  auto status = commit(job, journal, [&] { return counted_unless(refused); });
  if (status) {
    return unexpected(
        ActionError{status->transient ? 503 : 500, "storage",
                    "the confirmation's outcome could not be recorded: " + status->message});
  }
  if (refused) return unexpected(std::move(*refused));
  return result;
}

Expected<storage::SubscriptionRecord, ActionError> Engine::reject_subscription(
    std::int64_t id, const std::string& by, const std::string& comment, Journal* journal) {
  auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = m_clock.now();
  std::optional<ActionError> refused;
  storage::SubscriptionRecord result;
  const auto job = [&](storage::Transaction& tx, Journal& written) {
    refused.reset();
    auto s = tx.load_subscription(id);
    if (!s) {
      refused = ActionError{404, "not_found", "no subscription " + std::to_string(id)};
      return;
    }
    if ((refused = not_decidable(*s, now))) return;
    s->status = storage::SubscriptionStatus::rejected;
    s->updated_at = now;
    s->decided_by = by;
    s->detail = comment;
    tx.update_subscription(*s);
    note_subscription(
        tx, rules, storage::DecisionOutcome::subscription_rejected,
        subscription_name(*s) + " rejected by " + by + (comment.empty() ? "" : ": " + comment), now,
        written);
    result = std::move(*s);
  };
  auto status = commit(job, journal, [&] { return counted_unless(refused); });
  if (status) {
    return unexpected(ActionError{status->transient ? 503 : 500, "storage",
                                  "the subscription could not be rejected: " + status->message});
  }
  if (refused) return unexpected(std::move(*refused));
  return result;
}

storage::WriteStatus Engine::write(std::function<void(storage::Transaction&)> work) {
  return m_writer.run(std::move(work));
}

}  // namespace tocsin::engine
