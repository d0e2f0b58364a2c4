#pragma once
// The interpreter of mapped sources (docs/formats.md §14): a request body and
// the compiled mapping of `sources.mapped.<name>` in, the events it holds out, or the one
// reason the body does not fit the mapping. Pure: no I/O, no clock, no rules/; what it costs
// is bounded by the body's size and the mapping's limits (core/mapping.hpp).

#include <string>
#include <string_view>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/json.hpp"
#include "core/mapping.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

struct MappedBody {
  // Source `generic`; fingerprint `mapped:<name>:<identity>`; name from the mapping's `name`
  // (default the identity); source_event_id from `delivery_id` (empty without one).
  std::vector<NormalizedEvent> events;
  // Why the events the mapping said to ignore were ignored (`mapped_ignored_<value>`), in
  // order; a body whose every event is ignored has no events and at least one reason (an
  // empty `events` array: `mapped_no_events`).
  std::vector<std::string> ignored;
  // The request's delivery id: the event's own when the body is one event (a redelivery is
  // then answered with the first delivery's decisions), empty for an array (each event is
  // recognised by its own id).
  std::string delivery_id;
};

// 400 `mapped_payload_invalid` naming the field and the pointer ("status: /state is
// missing"), prefixed with `event N: ` inside an array; JSON errors carry the JsonError code;
// without `events` a body that is not an object is `not_an_object`.
Expected<MappedBody, IngestError> parse_mapped(const mapping::Mapping& mapping,
                                               std::string_view source_name, std::string_view body);

// The same, for a body already parsed (the fuzz target and the benchmark skip the JSON parse).
Expected<MappedBody, IngestError> apply_mapping(const mapping::Mapping& mapping,
                                                std::string_view source_name, const Json& body);

}  // namespace tocsin::ingest
