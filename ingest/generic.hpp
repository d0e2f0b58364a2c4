#pragma once
// Tocsin's own simple inbound format (docs/behaviour.md "Inbound endpoints" `/hooks/generic`), for
// anything that can POST JSON. One event per request:
//
//   {"key": "nightly-backup",          required, non-empty: the alert's identity
//    "status": "firing",               required: firing | resolved
//    "severity": "critical",           optional: critical | high | warning | info
//    "summary": "backup failed",       optional: one line for humans (default: key)
//    "labels": {"team": "db"},         optional: string -> string, matched by rules
//    "annotations": {"description": "..."},  optional: string -> string
//    "timestamp": "2026-03-02T10:03:41Z",    optional: RFC 3339, when the state changed
//    "id": "run-8812"}                 optional: unique per event; a resend repeats it
//
// A field set to null counts as absent; unknown keys are ignored, so senders may add their own.

#include <string_view>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/json.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

// The body of /hooks/generic, parsed strictly, as one event: source `generic`, hook `generic`,
// fingerprint `generic:{key}`, name = key, description = annotations.description, summary =
// summary or annotations.summary or key, source_event_id = id (empty without one).
// Every documented field is checked for its type and value, since this format is ours and a
// 400 naming the field is the only way to tell an integrator that, say, a severity we cannot
// read would otherwise page at the rule's default: 400 `invalid_generic_event`, the detail
// naming the field. JSON errors carry the JsonError code; a non-object is `not_an_object`.
Expected<std::vector<NormalizedEvent>, IngestError> parse_generic_event(std::string_view body);

}  // namespace tocsin::ingest
