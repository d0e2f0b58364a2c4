// ingest/opsgenie.hpp parse_opsgenie_webhook on an arbitrary request body.
// A refusal is a 400 with a code and detail. An accepted webhook is consistent with itself:
// its kind is its action's, its fingerprint and delivery id are built from alias/alertId as
// documented, a Tocsin alias reads back to the alias it came from, and an event to ingest
// exists exactly for state-changing actions on alerts Tocsin did not create.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/opsgenie.hpp"
#include "invariants.hpp"

namespace {

using namespace tocsin;
using ingest::OpsgenieAction;

// 1970-01-01 .. 9999-12-31T23:59:59.999Z: what epoch_time promises.
bool in_supported_range(const std::optional<TimePoint>& t) {
  return !t || (to_unix_ms(*t) > 0 && to_unix_ms(*t) <= 253'402'300'799'999);
}

void check_webhook(const ingest::OpsgenieWebhook& w) {
  TOCSIN_FUZZ_CHECK(!w.action.empty());
  TOCSIN_FUZZ_CHECK(w.kind == ingest::parse_opsgenie_action(w.action));
  TOCSIN_FUZZ_CHECK(!w.alert_id.empty());
  TOCSIN_FUZZ_CHECK(w.fingerprint == "opsgenie:" + (w.alias.empty() ? w.alert_id : w.alias));
  TOCSIN_FUZZ_CHECK(fuzz::starts_with(w.delivery_id, w.alert_id + "|" + w.action + "|"));
  TOCSIN_FUZZ_CHECK(!w.priority || (w.priority->level >= 1 && w.priority->level <= 5));
  TOCSIN_FUZZ_CHECK(in_supported_range(w.created_at));
  TOCSIN_FUZZ_CHECK(in_supported_range(w.updated_at));

  TOCSIN_FUZZ_CHECK(w.tocsin_alias == ingest::parse_tocsin_alias(w.alias));
  if (w.tocsin_alias) {
    const auto& [hash, episode] = *w.tocsin_alias;
    TOCSIN_FUZZ_CHECK(hash.size() == 12);
    TOCSIN_FUZZ_CHECK(episode > 0);
    TOCSIN_FUZZ_CHECK(w.alias == "tocsin-" + hash + "-" + std::to_string(episode));
  }
  // An echo is only ever of an alert Tocsin created.
  TOCSIN_FUZZ_CHECK(!ingest::is_own_echo(w, w.user) || w.tocsin_alias.has_value());

  const bool changes_state = w.kind == OpsgenieAction::create || w.kind == OpsgenieAction::close ||
                             w.kind == OpsgenieAction::delete_alert;
  TOCSIN_FUZZ_CHECK(w.event.has_value() == (changes_state && !w.tocsin_alias));
  if (!w.event) return;
  const NormalizedEvent& e = *w.event;
  fuzz::check_event(e, Source::opsgenie);
  TOCSIN_FUZZ_CHECK(e.hook == "opsgenie");
  TOCSIN_FUZZ_CHECK(e.fingerprint == w.fingerprint);
  TOCSIN_FUZZ_CHECK(e.source_event_id == w.delivery_id);
  TOCSIN_FUZZ_CHECK(!e.name.empty());
  TOCSIN_FUZZ_CHECK(!e.summary.empty());
  TOCSIN_FUZZ_CHECK((e.state == SignalState::firing) == (w.kind == OpsgenieAction::create));
  TOCSIN_FUZZ_CHECK(e.severity.has_value() == w.priority.has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto webhook = ingest::parse_opsgenie_webhook(fuzz::as_text(data, size));
  if (!webhook) {
    fuzz::check_error(webhook.error());
    TOCSIN_FUZZ_CHECK(webhook.error().status == 400);
    return 0;
  }
  check_webhook(*webhook);
  return 0;
}
