#pragma once
// Prometheus Alertmanager webhook payloads, version "4" (docs/formats.md §6): one notification
// carries a group of alerts, each normalized to its own event of source `alertmanager`.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/json.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

// The body of /hooks/alertmanager, parsed strictly: one event per entry of `alerts`, in
// order, with hook `alertmanager`; an empty `alerts` gives no events.
// Strict (400 `invalid_alertmanager_payload`, the detail naming the field, e.g.
// `alerts[1].status`): `version` "4", `alerts` an array of objects, each with `status`
// firing|resolved, non-empty `labels` of strings, and the timestamp that orders it (`startsAt`
// when firing, `endsAt` when resolved). One bad alert refuses the whole notification:
// Alertmanager never sends one, so it means a broken sender, which a 400 makes visible.
// Grafana Alerting's webhook (is_grafana_webhook) is refused as 400 `wrong_hook`, naming
// /hooks/grafana.
// Lenient: annotations (non-string values skipped), the severity label's value, every other
// field.
// Per alert:
//   fingerprint      `alertmanager:` + alertmanager_label_set(labels)
//   name             labels.alertname (empty if absent)
//   severity         severity_from_label(labels.severity)
//   source_time      startsAt when firing, endsAt when resolved
//   summary          annotations summary, else message, else the first line of description,
//                    else alertname
//   description      annotations description (or message), plus `Runbook: <runbook_url>`
//   source_event_id  empty: Alertmanager names no delivery. Every re-send of one state of one
//                    alert (retries, repeat_interval, group changes, both members of an HA
//                    pair) repeats its transition (fingerprint, source_time, state), which the
//                    engine applies once (docs/behaviour.md "Episodes, escalation and timers").
Expected<std::vector<NormalizedEvent>, IngestError> parse_alertmanager_webhook(
    std::string_view body);

// A label set in Prometheus notation, sorted by name: `{alertname="X",pod="p-1"}`, with `\`,
// `"` and newlines escaped as Prometheus escapes them. Readable, and reproducible from the
// labels alone; unlike Alertmanager's own 64-bit `fingerprint` field it needs nothing the
// sender may omit.
std::string alertmanager_label_set(const std::map<std::string, std::string>& labels);

// The `severity` label's value as a Tocsin severity, case-insensitively, with the synonyms in
// common Prometheus rule sets: critical (crit, page, emergency, fatal), high (error, err,
// major), warning (warn, minor, medium), info (informational, notice, low, none). Anything
// else is nullopt, so the rule's default applies: a label is free text, not a contract.
std::optional<Severity> severity_from_label(std::string_view value);

// The sources that send Alertmanager's alert shape: Alertmanager itself, and Grafana Alerting
// (ingest/grafana.hpp), whose webhook wraps the same alerts in its own envelope. Each names
// its events after itself: source, hook, fingerprint prefix (`hook:`) and the error code of a
// refusal.
struct AlertShape {
  Source source = Source::alertmanager;
  std::string_view hook = "alertmanager";
  std::string_view error_code = "invalid_alertmanager_payload";
};

// One entry of `alerts` (at `path`, e.g. `alerts[1]`, for errors) read as described above for
// parse_alertmanager_webhook, named after `shape`.
Expected<NormalizedEvent, IngestError> alert_to_event(const Json& alert, const std::string& path,
                                                      const AlertShape& shape);

// The `alerts` array of a notification: present, an array, every entry an alert
// (alert_to_event); nothing else of the payload is read.
Expected<std::vector<NormalizedEvent>, IngestError> alerts_to_events(const Json& payload,
                                                                     const AlertShape& shape);

// True when a payload is Grafana Alerting's webhook (`version` "1", or an `orgId`) rather
// than Alertmanager's: /hooks/alertmanager refuses it naming /hooks/grafana.
bool is_grafana_webhook(const Json& payload);

// A payload's "version" string as an error shows it: at most 64 bytes, control characters
// escaped (it is the sender's text, echoed in the answer).
std::string shown_version(const Json& version);

}  // namespace tocsin::ingest
