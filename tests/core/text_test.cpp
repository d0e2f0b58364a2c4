#include "core/text.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/severity.hpp"

namespace core_text_test {

using tocsin::ControlEscape;
using tocsin::escape_control;
using tocsin::format_byte_size;
using tocsin::iequals;
using tocsin::join;
using tocsin::parse_byte_size;
using tocsin::to_lower;
using tocsin::truncate_utf8;
using tocsin::utf8_length;
using tocsin::utf8_prefix_length;

TEST_CASE("to_lower and iequals fold ASCII letters only") {
  struct Case {
    const char* intent;
    std::string text;
    std::string lowered;
  };
  const Case cases[] = {
      {"letters fold", "X-Amz-SNS-Message-Type", "x-amz-sns-message-type"},
      {"digits and punctuation stay", "P1_A-9.z", "p1_a-9.z"},
      {"UTF-8 bytes stay as they are", "\xC3\x89T\xC3\xA9", "\xC3\x89t\xC3\xA9"},
      {"empty stays empty", "", ""},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(to_lower(c.text) == c.lowered);
      CHECK(iequals(c.text, c.lowered));
    }
  }
  SUBCASE("different lengths or letters are not equal") {
    CHECK_FALSE(iequals("Bearer", "bearer "));
    CHECK_FALSE(iequals("Bearer", "basic!"));
  }
}

TEST_CASE("join puts the separator between non-empty parts") {
  struct Case {
    const char* intent;
    std::vector<std::string> items;
    std::string joined;
  };
  const Case cases[] = {
      {"none", {}, ""},
      {"one has no separator", {"a"}, "a"},
      {"several", {"a", "b", "c"}, "a, b, c"},
      {"a leading empty item adds no separator", {"", "a"}, "a"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(join(c.items) == c.joined);
    }
  }
  SUBCASE("any separator, any range of string-like items") {
    const char* const names[] = {"x", "y"};
    CHECK(join(names, " | ") == "x | y");
  }
}

TEST_CASE("utf8_length counts code points, not bytes") {
  struct Case {
    const char* intent;
    std::string text;
    std::size_t length;
  };
  const Case cases[] = {
      {"empty", "", 0},
      {"ASCII is one per byte", "disk-full", 9},
      {"a 2-byte letter is one", "caf\xC3\xA9", 4},
      {"a 3-byte sign is one", "\xE2\x80\xA6", 1},
      {"a 4-byte emoji is one", "a\xF0\x9F\x94\xA5" "b", 3},
      {"a stray continuation byte counts nothing", "a\x80", 1},
      {"a lead byte cut from its sequence still counts one", "a\xE2\x80", 2},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(utf8_length(c.text) == c.length);
    }
  }
}

TEST_CASE("escape_control keeps text on one line and out of the terminal's control") {
  struct Case {
    const char* intent;
    std::string text;
    ControlEscape style;
    std::string escaped;
  };
  const Case cases[] = {
      {"printable text and UTF-8 are unchanged", "a \"b\" \\ caf\xC3\xA9", ControlEscape::named,
       "a \"b\" \\ caf\xC3\xA9"},
      {"newline and tab by name", "a\nb\tc", ControlEscape::named, "a\\nb\\tc"},
      {"other controls and DEL in lower-case hex", std::string("\x1b[2J\r\x7f\0", 7),
       ControlEscape::named, "\\x1b[2J\\x0d\\x7f\\x00"},
      {"hex only: newline and tab too", "a\nb\tc", ControlEscape::hex, "a\\x0ab\\x09c"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(escape_control(c.text, c.style) == c.escaped);
    }
  }
}

TEST_CASE("truncate_utf8 cuts to a byte limit without splitting a character") {
  const std::string e_acute = "\xC3\xA9";  // 2 bytes
  const std::string ellipsis = "\xE2\x80\xA6";
  struct Case {
    const char* intent;
    std::string text;
    std::size_t max_bytes;
    std::string expected;
  };
  const Case cases[] = {
      {"short text is kept whole", "abc", 3, "abc"},
      {"cut text ends in an ellipsis within the limit", "abcdef", 5, "ab" + ellipsis},
      {"the cut moves back to the start of a split character", "a" + e_acute + "bcd", 5,
       "a" + ellipsis},
      {"no room but for the ellipsis", "abcdef", 3, ellipsis},
      {"a limit below the ellipsis still shows one", "abcdef", 1, ellipsis},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(truncate_utf8(c.text, c.max_bytes) == c.expected);
    }
  }
  SUBCASE("utf8_prefix_length never ends inside a sequence") {
    CHECK(utf8_prefix_length("ab", 5) == 2);
    CHECK(utf8_prefix_length("a" + e_acute, 2) == 1);
    CHECK(utf8_prefix_length("a" + e_acute, 3) == 3);
  }
}

TEST_CASE("byte sizes as the rules file writes them") {
  struct Case {
    const char* intent;
    const char* text;
    std::optional<std::size_t> bytes;
  };
  const Case cases[] = {
      {"plain bytes", "1048576", 1048576},
      {"B unit", "1024B", 1024},
      {"binary units", "512KiB", 512 * 1024},
      {"one space before the unit", "1 GiB", std::size_t{1} << 30},
      {"decimal units are refused, not guessed", "1MB", std::nullopt},
      {"two spaces are refused", "1  MiB", std::nullopt},
      {"a unit alone is refused", "MiB", std::nullopt},
      {"overflow is refused", "18446744073709551615GiB", std::nullopt},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(parse_byte_size(c.text) == c.bytes);
    }
  }
  SUBCASE("formatting picks the largest unit that divides exactly") {
    CHECK(format_byte_size(std::size_t{1} << 20) == "1MiB");
    CHECK(format_byte_size(512 * 1024) == "512KiB");
    CHECK(format_byte_size(1000) == "1000B");
    CHECK(format_byte_size(0) == "0B");
  }
}

TEST_CASE("priority_name is the inverse of parse_priority") {
  for (int level = 1; level <= 5; ++level) {
    const std::string name = tocsin::priority_name(tocsin::Priority{level});
    CHECK(name == "P" + std::to_string(level));
    CHECK(tocsin::parse_priority(name) == tocsin::Priority{level});
  }
}

}  // namespace core_text_test
