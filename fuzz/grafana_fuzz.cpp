// ingest/grafana.hpp parse_grafana_webhook on an arbitrary request body.
// A refusal is a 400 with a code and detail. Each accepted alert is identified by its labels
// exactly as an Alertmanager alert is (`grafana:` + the label set), and the payload can never
// be both Grafana's and Alertmanager's: a body one hook accepts, the other refuses.

#include <cstddef>
#include <cstdint>
#include <string>

#include "ingest/alertmanager.hpp"
#include "ingest/grafana.hpp"
#include "invariants.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tocsin;
  const auto body = fuzz::as_text(data, size);
  auto events = ingest::parse_grafana_webhook(body);
  if (!events) {
    fuzz::check_error(events.error());
    TOCSIN_FUZZ_CHECK(events.error().status == 400);
    return 0;
  }
  // One payload, one hook: what Grafana's hook takes, Alertmanager's refuses.
  TOCSIN_FUZZ_CHECK(!ingest::parse_alertmanager_webhook(body).has_value());
  for (const NormalizedEvent& e : *events) {
    fuzz::check_event(e, Source::grafana);
    TOCSIN_FUZZ_CHECK(e.hook == "grafana");
    TOCSIN_FUZZ_CHECK(!e.labels.empty());
    TOCSIN_FUZZ_CHECK(e.fingerprint == "grafana:" + ingest::alertmanager_label_set(e.labels));
    TOCSIN_FUZZ_CHECK(e.state == SignalState::firing || e.state == SignalState::resolved);
    TOCSIN_FUZZ_CHECK(e.source_time.has_value());
    TOCSIN_FUZZ_CHECK(e.source_event_id.empty());
    TOCSIN_FUZZ_CHECK(!e.summary.empty());
  }
  return 0;
}
