#pragma once

#include <optional>
#include <string>

#include "core/log_limit.hpp"
#include "core/time.hpp"

namespace tocsin::server {

enum class LogFormat { text, json };

std::optional<LogFormat> parse_log_format(const std::string& s);

// Logs go to stderr, as text or one JSON object per line (`{"time","level","msg"}`). One call,
// one line, whatever the message carries: the text format escapes control characters, C1,
// line separators, bidi controls and invalid UTF-8 in the message (core/redact.hpp,
// printable_line); the JSON format escapes the same characters as \uNNNN, so the "msg" value
// is the message unchanged.
// Never log secrets: tokens, keys, signed URLs' credentials.
void setup_logging(LogFormat format, const std::string& level);

// Writes one warning for each kind of line that `limiter` counted and did not write, whose
// window ended by `now` (or every kind, `all`: when the server stops), so that no count is lost
// when a flood stops (docs/behaviour.md "Logs").
void log_suppressed(LogLimiter& limiter, TimePoint now, bool all = false);
// How often `serve` calls log_suppressed: a count is told within a minute and this of its
// first line.
inline constexpr Duration k_log_suppressed_every = std::chrono::seconds(10);

}  // namespace tocsin::server
