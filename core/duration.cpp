#include "core/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace tocsin {
namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t ms;
};

// Largest first: a compound spelling must use each unit at most once, in this order
// (`1h30m`, not `30m1h` or `1h1h`), so every duration has one reading.
constexpr std::array<Unit, 5> k_units{{
    {"d", 24LL * 60 * 60 * 1000},
    {"h", 60LL * 60 * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The unit spelled at the start of `text`, longest match first (`ms` before `m`).
std::optional<std::size_t> unit_at(std::string_view text) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < k_units.size(); ++i) {
    const auto suffix = k_units[i].suffix;
    if (text.substr(0, suffix.size()) != suffix) continue;
    if (!best || suffix.size() > k_units[*best].suffix.size()) best = i;
  }
  return best;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
  if (text.empty()) return std::nullopt;

  std::int64_t total = 0;
  std::size_t next_unit = 0;  // index into k_units of the smallest unit still allowed
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!is_digit(text[pos])) return std::nullopt;
    std::int64_t amount = 0;
    while (pos < text.size() && is_digit(text[pos])) {
      const auto digit = static_cast<std::int64_t>(text[pos] - '0');
      if (amount > (k_max - digit) / 10) return std::nullopt;
      amount = amount * 10 + digit;
      ++pos;
    }
    const auto unit = unit_at(text.substr(pos));
    if (!unit || *unit < next_unit) return std::nullopt;  // bare number, or unit out of order
    const auto unit_ms = k_units[*unit].ms;
    if (amount > k_max / unit_ms) return std::nullopt;
    const auto part = amount * unit_ms;
    if (total > k_max - part) return std::nullopt;
    total += part;
    pos += k_units[*unit].suffix.size();
    next_unit = *unit + 1;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  auto ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  // Negative durations do not appear in rules files; they are spelled for log messages.
  // Work on the magnitude as unsigned so the most negative value does not overflow.
  auto magnitude = static_cast<std::uint64_t>(ms);
  if (ms < 0) {
    out += '-';
    magnitude = ~magnitude + 1;
  }
  for (const auto& unit : k_units) {
    const auto unit_ms = static_cast<std::uint64_t>(unit.ms);
    const auto amount = magnitude / unit_ms;
    if (amount == 0) continue;
    out += std::to_string(amount);
    out += unit.suffix;
    magnitude -= amount * unit_ms;
  }
  return out;
}

}  // namespace tocsin
