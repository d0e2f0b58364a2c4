#pragma once
// Normalized events built by hand, for tests that drive the engine directly.

#include <string>

#include "engine/engine.hpp"

namespace tocsin::testing {

// A request to /hooks/generic carrying one event for key `name` in `state`, received at `at`.
inline engine::Inbound generic_inbound(const std::string& name, SignalState state, TimePoint at) {
  NormalizedEvent e;
  e.source = Source::generic;
  e.hook = "generic";
  e.name = name;
  e.fingerprint = "generic:" + name;
  e.state = state;
  engine::Inbound in;
  in.record.received_at = at;
  in.record.hook = "generic";
  in.record.body = "{}";
  in.events.push_back(e);
  return in;
}

}  // namespace tocsin::testing
