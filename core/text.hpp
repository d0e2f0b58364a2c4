#pragma once
// Small text helpers the folders share, so each is written once: ASCII case, joining,
// UTF-8 length and UTF-8-safe cutting, control-character escaping, byte sizes as the rules file
// spells them, priority names. Pure; no locale but the "C" one Tocsin never changes.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/severity.hpp"

namespace tocsin {

// `s` with A-Z lowered; every other byte (UTF-8 included) unchanged.
std::string to_lower(std::string_view s);

// Equal ignoring ASCII case (HTTP header names and auth schemes, RFC 9110 §5.1, §11.1).
bool iequals(std::string_view a, std::string_view b);

// The items with `separator` between them. An empty item adds nothing, and no separator
// follows nothing: {"", "a"} joins as "a".
template <typename Range>
std::string join(const Range& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += std::string_view(item);
  }
  return out;
}

// The number of UTF-8 code points in `text`: every byte but continuation bytes (10xxxxxx)
// counts one, so invalid UTF-8 counts each stray lead byte once. What a terminal column holds,
// for text without wide or combining characters.
std::size_t utf8_length(std::string_view text);

// The length of the longest prefix of `text` of at most `max_bytes` bytes that does not end
// inside a UTF-8 sequence (the cut moves back to the start of the sequence it would split).
std::size_t utf8_prefix_length(std::string_view text, std::size_t max_bytes);

// At most `max_bytes` bytes of `text`, ending with an ellipsis (U+2026, 3 bytes) when cut. The
// cut never splits a UTF-8 sequence (a receiver would reject the whole request as invalid JSON
// or UTF-8).
std::string truncate_utf8(std::string_view text, std::size_t max_bytes);

// How escape_control writes a newline and a tab.
enum class ControlEscape {
  named,  // `\n` and `\t`; every other control character as `\xNN`
  hex,    // every control character as `\xNN`
};

// `text` with every ASCII control character (below 0x20, and DEL) escaped as lower-case hex
// (`\x1b`), so text from outside (a parser's message quoting a byte) stays on one line and
// cannot drive a terminal. Every other byte, UTF-8 included, is unchanged.
std::string escape_control(std::string_view text, ControlEscape style = ControlEscape::named);

// A size in bytes as the rules file writes it: `1048576`, `1024B`, `512KiB`, `1MiB`, `1 GiB`
// (one space allowed before the unit; binary units only). nullopt: not such a size, or more
// than a size_t holds.
std::optional<std::size_t> parse_byte_size(std::string_view text);

// `n` in the largest unit that divides it exactly: 1MiB, 512KiB, 1000B, 0B.
std::string format_byte_size(std::size_t n);

// "P1" .. "P5", the inverse of parse_priority: how the API, replay, digests and channels show
// a priority.
std::string priority_name(Priority p);

}  // namespace tocsin
