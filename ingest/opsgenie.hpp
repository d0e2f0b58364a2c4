#pragma once
// OpsGenie / Jira Service Management outgoing webhooks (docs/formats.md §4): an `action` performed
// on an `alert`. Two kinds of alert arrive here:
//   - alerts Tocsin created (alias `tocsin-<12 hex>-<episode>`): Acknowledge, UnAcknowledge and
//     Close update that episode (docs/behaviour.md "Two-way sync with OpsGenie"), and nothing
//     is ingested as a new alert, since re-ingesting Tocsin's own alert would page again for it
//     (a loop);
//   - any other alert: Create opens an alert of source `opsgenie`, Close resolves it.
// The adapter only says which is which; the engine applies it.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/json.hpp"
#include "core/severity.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

// The documented `action` values (case-sensitive, as OpsGenie spells them). `other` is every
// other string: custom action names (free text) and actions OpsGenie adds later; accepted and
// ignored, never refused (a 4xx only makes OpsGenie log failures).
enum class OpsgenieAction {
  create,
  acknowledge,
  unacknowledge,  // "UnAcknowledge"
  close,
  delete_alert,  // "Delete"
  add_note,
  add_recipient,
  add_team,
  assign_ownership,
  take_ownership,
  add_tags,
  remove_tags,
  escalate,
  other,
};

OpsgenieAction parse_opsgenie_action(std::string_view action);

struct OpsgenieWebhook {
  std::string action;  // verbatim, so a custom action's name can be logged
  OpsgenieAction kind = OpsgenieAction::other;

  std::string alert_id;  // alert.alertId: always present, opaque
  std::string alias;     // alert.alias; empty when absent (Escalate carries only alertId)
  // `opsgenie:{alias}`, or `opsgenie:{alertId}` without an alias: the alert's identity as
  // Tocsin ingests it (docs/behaviour.md "Episodes, escalation and timers"), also for acknowledging
  // one it ingested.
  std::string fingerprint;
  // The alias parsed as one Tocsin created: {fingerprint hash, episode number}.
  std::optional<std::pair<std::string, int>> tocsin_alias;

  std::string message;  // alert.message: the one-line title
  std::string tiny_id;  // alert.tinyId
  std::string user;     // alert.username: who performed the action (email or display name)
  std::string note;     // alert.note (AddNote, and a note given with Close/Acknowledge)
  std::string owner;    // alert.owner (AssignOwnership)
  std::optional<Priority> priority;     // alert.priority, `P1`..`P5` or a legacy integer
  std::optional<TimePoint> created_at;  // alert.createdAt (epoch ms)
  // alert.updatedAt (epoch ns; ms accepted): when the action happened. Informational: a value
  // that is not a representable integer time is nullopt, never an error.
  std::optional<TimePoint> updated_at;

  // Who or what performed the action and through which integration, kept for recognising
  // Tocsin's own API calls echoed back (docs/formats.md §4.4) and for the record.
  std::string alert_source;        // alert.source: what created the alert
  std::string action_source_type;  // source.type: web, API, mobile, ...
  std::string action_source_name;  // source.name, often empty
  std::string integration_id;
  std::string integration_name;
  std::string integration_type;

  // Identity of this delivery (OpsGenie sends none): `{alertId}|{action}|{updatedAt}`, with
  // updatedAt as sent. A retried delivery repeats the body, hence the id; two actions on one
  // alert differ in action or in the nanosecond updatedAt. The event's source_event_id.
  std::string delivery_id;

  // The event to ingest: Create -> firing; Close and Delete -> resolved (a deleted alert will
  // never be closed, and must not stay open in Tocsin). Only for aliases Tocsin did not create.
  // Fields: source `opsgenie`, hook `opsgenie`, name = alias (or alertId), summary = message,
  // description, labels = alert.details (string values), severity from priority (P1 critical,
  // P2 high, P3 warning, P4/P5 info), source_time = createdAt for Create, updatedAt otherwise.
  std::optional<NormalizedEvent> event;
};

// The body of /hooks/opsgenie, parsed strictly. 400 `invalid_opsgenie_payload` when `action`
// is missing, not a string or empty, `alert` is not an object, `alert.alertId` is not a
// non-empty string, or `alert.alias` is present but not a string; JSON errors carry the
// JsonError code; a non-object is `not_an_object`. Every other field is read leniently.
Expected<OpsgenieWebhook, IngestError> parse_opsgenie_webhook(std::string_view body);

// `tocsin-<12 lower-case hex>-<episode>` (core/hash.hpp `episode_alias`) -> {hex, episode}; the
// episode is a positive decimal without leading zeros that fits an int. Anything else: nullopt.
std::optional<std::pair<std::string, int>> parse_tocsin_alias(std::string_view alias);

// Tocsin's own action echoed back: an alert Tocsin created, acted on through the API
// (source.type `API`) as `tocsin_user` (the `user` Tocsin's OpsGenie channel sends). The engine
// records it and does not act on it again.
bool is_own_echo(const OpsgenieWebhook& webhook, std::string_view tocsin_user);

}  // namespace tocsin::ingest
