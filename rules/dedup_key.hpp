#pragma once
// A rule's `dedup_key` template (docs/behaviour.md "Episodes, escalation and timers", groups)
// turned into the fingerprint of an event.

#include <string>
#include <string_view>

#include "core/event.hpp"

namespace tocsin::rules {

// Replaces {source}, {name}, {account}, {region} and {labels.X} with the event's values (a
// label the event lacks renders as ""). REQUIRES: the template passed the loader's check, so
// every brace is a known placeholder.
std::string render_dedup_key(std::string_view key_template, const NormalizedEvent& e);

}  // namespace tocsin::rules
