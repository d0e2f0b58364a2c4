#pragma once

#include <optional>
#include <string>

namespace tocsin::server {

enum class LogFormat { text, json };

std::optional<LogFormat> parse_log_format(const std::string& s);

// Logs go to stderr, as text or one JSON object per line (`{"time","level","msg"}`). One call,
// one line, whatever the message carries: the text format escapes control characters, C1,
// line separators, bidi controls and invalid UTF-8 in the message (core/redact.hpp,
// escape_control); the JSON format escapes the same characters as \uNNNN, so the "msg" value
// is the message unchanged.
// Never log secrets: tokens, keys, signed URLs' credentials.
void setup_logging(LogFormat format, const std::string& level);

}  // namespace tocsin::server
