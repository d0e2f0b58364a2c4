#pragma once

#include <optional>
#include <string>

namespace tocsin {

enum class LogFormat { text, json };

std::optional<LogFormat> parse_log_format(const std::string& s);

// Logs go to stderr, as text or one JSON object per line (`{"time","level","msg"}`).
// Never log secrets: tokens, keys, signed URLs' credentials.
void setup_logging(LogFormat format, const std::string& level);

}  // namespace tocsin
