// ingest/generic.hpp parse_generic_event on an arbitrary request body.
// A refusal is a 400 with a code and detail; an accepted body is exactly one event whose
// identity is `generic:{key}` and whose summary is never empty (it falls back to the key).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/generic.hpp"
#include "invariants.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tocsin;
  auto events = ingest::parse_generic_event(fuzz::as_text(data, size));
  if (!events) {
    fuzz::check_error(events.error());
    TOCSIN_FUZZ_CHECK(events.error().status == 400);
    return 0;
  }
  TOCSIN_FUZZ_CHECK(events->size() == 1);
  const NormalizedEvent& e = events->front();
  fuzz::check_event(e, Source::generic);
  TOCSIN_FUZZ_CHECK(e.hook == "generic");
  TOCSIN_FUZZ_CHECK(!e.name.empty());
  TOCSIN_FUZZ_CHECK(e.fingerprint == "generic:" + e.name);
  TOCSIN_FUZZ_CHECK(!e.summary.empty());
  TOCSIN_FUZZ_CHECK(e.state == SignalState::firing || e.state == SignalState::resolved);
  TOCSIN_FUZZ_CHECK(!e.previous_state.has_value());
  return 0;
}
