#pragma once
// Grafana Alerting's webhook contact point (docs/formats.md "6.1 Grafana Alerting webhook"):
// Alertmanager's notification with `version` "1", `orgId`, `title`, `state`, `message`, and
// per alert the links and values Grafana adds. Each alert normalizes to its own event of
// source `grafana`, read by the Alertmanager adapter's alert_to_event.

#include <string_view>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

// The body of /hooks/grafana, parsed strictly: one event per entry of `alerts`, in order, with
// hook `grafana`; an empty `alerts` gives no events.
// Strict (400 `invalid_grafana_payload`, the detail naming the field): `version` "1", and every
// alert as Alertmanager's are (ingest/alertmanager.hpp). Grafana's legacy alerting webhook
// (`ruleId`, `evalMatches`, no `version`) is refused naming it; Alertmanager's own webhook
// (`version` "4") is 400 `wrong_hook` naming /hooks/alertmanager.
// Per alert, as for Alertmanager with:
//   fingerprint   `grafana:` + alertmanager_label_set(labels)
//   description   as Alertmanager's (description or message, `Runbook:`), then one line each
//                 for what Grafana adds and is not empty: `Values: B=44.2, C=1` (`values`, or
//                 `valueString` without them), `Source:` generatorURL, `Silence:` silenceURL,
//                 `Dashboard:` dashboardURL, `Panel:` panelURL, `Image:` imageURL.
// Lenient: the envelope's other fields (`title`, `state`, `message` describe the group, not an
// alert), and the links' and values' types (a wrong type is skipped).
Expected<std::vector<NormalizedEvent>, IngestError> parse_grafana_webhook(std::string_view body);

}  // namespace tocsin::ingest
