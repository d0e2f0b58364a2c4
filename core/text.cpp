#include "core/text.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <system_error>
#include <utility>

namespace tocsin {
namespace {

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

constexpr std::string_view k_ellipsis = "\xE2\x80\xA6";  // U+2026

constexpr std::pair<std::string_view, std::size_t> k_size_units[] = {{"GiB", std::size_t{1} << 30},
                                                                     {"MiB", std::size_t{1} << 20},
                                                                     {"KiB", std::size_t{1} << 10},
                                                                     {"B", 1}};

}  // namespace

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::size_t utf8_length(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string escape_control(std::string_view text, ControlEscape style) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (style == ControlEscape::named && c == '\n') {
      out += "\\n";
    } else if (style == ControlEscape::named && c == '\t') {
      out += "\\t";
    } else if (b < 0x20 || b == 0x7f) {
      out += "\\x";
      out += k_hex[b >> 4];
      out += k_hex[b & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::size_t utf8_prefix_length(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text.size();
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  return cut;
}

std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  const std::size_t room = max_bytes >= k_ellipsis.size() ? max_bytes - k_ellipsis.size() : 0;
  std::string out(text.substr(0, utf8_prefix_length(text, room)));
  out += k_ellipsis;
  return out;
}

std::optional<std::size_t> parse_byte_size(std::string_view text) {
  std::size_t n = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  if (unit.starts_with(' ')) unit.remove_prefix(1);
  if (unit.empty()) return n;
  for (const auto& [name, factor] : k_size_units) {
    if (unit != name) continue;
    if (n > std::numeric_limits<std::size_t>::max() / factor) return std::nullopt;
    return n * factor;
  }
  return std::nullopt;
}

std::string format_byte_size(std::size_t n) {
  for (const auto& [name, factor] : k_size_units) {
    if (n != 0 && n % factor == 0) return std::to_string(n / factor) + std::string(name);
  }
  return std::to_string(n) + "B";
}

std::string priority_name(Priority p) {
  return "P" + std::to_string(p.level);
}

}  // namespace tocsin
