#pragma once
// Durations as SREs write them in rules.yaml: `30s`, `5m`, `2h`, `7d`, `500ms`, or compound
// `1h30m`. A bare number is refused: `5` could mean seconds or minutes, and guessing wrong
// silences a page.

#include <optional>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace tocsin {

std::optional<Duration> parse_duration(std::string_view text);

// The shortest exact spelling: 90000ms -> "1m30s", 0 -> "0s".
std::string format_duration(Duration d);

}  // namespace tocsin
