#pragma once
// From a request to /hooks/<hook> (headers and body, already authenticated by its token where
// the hook has one) to what the engine records: the inbound record and its normalized events,
// or the precise reason it is refused. Shared by the HTTP hooks and `tocsin replay`, so a
// replayed event takes exactly the path a live one took.

#include <optional>
#include <string>
#include <string_view>

#include "core/expected.hpp"
#include "engine/engine.hpp"
#include "engine/rules_holder.hpp"
#include "ingest/ingest_error.hpp"
#include "ingest/sns.hpp"

namespace tocsin::engine {

struct IntakeOptions {
  // Verify SNS signatures as sources.sns says; replay turns this off unless --verify.
  bool verify_sns_signatures = true;
};

// The hooks intake knows: sns, sns-raw, eventbridge, alertmanager, generic, opsgenie, and
// mapped/<name> (whether the rules declare <name> is intake's to say: 404).
bool is_event_hook(const std::string& hook);

// <name> of a hook `mapped/<name>`, or nullopt for any other hook.
std::optional<std::string_view> mapped_source_name(std::string_view hook);

// `headers` have lower-case names. An error of status 200 never comes back: an authentic
// payload with nothing to act on becomes an Inbound without events and an ignored_reason.
Expected<Inbound, ingest::IngestError> intake(const std::string& hook,
                                              const ingest::HeaderMap& headers,
                                              const std::string& body, const ActiveRules& active,
                                              TimePoint now, const IntakeOptions& options = {});

}  // namespace tocsin::engine
