#pragma once
// How the listener writes the warnings a peer can set off again and again (a connection cut,
// a request or a connection refused): through its owner's limiter (core/log_limit.hpp), on the
// owner's clock, so a flood writes one line of each kind a minute with a count, and the owner,
// which flushes the limiter, tells the counts when the flood stops.

#include <string_view>

#include "core/log_limit.hpp"
#include "core/time.hpp"

namespace tocsin::http {

struct ListenerLog {
  LogLimiter& limiter;
  const Clock& clock;

  // Whether to write a line of the kind `key` ("http: cut connection"), and its suffix.
  LogPermit admit(std::string_view key) const { return limiter.admit(key, clock.now()); }
};

}  // namespace tocsin::http
