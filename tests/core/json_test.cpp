#include "core/json.hpp"

#include <doctest/doctest.h>

#include "support/fixtures.hpp"

using tocsin::parse_json_strict;
using tocsin::testing::fixture;

TEST_CASE("parse_json_strict refuses what a lenient parser would let through") {
  struct Case {
    const char* intent;
    std::string text;
    const char* code;  // nullptr: accepted
  };
  const Case cases[] = {
      {"a plain object is accepted", R"({"a": 1, "b": [true, null]})", nullptr},
      {"an empty body is named as such", "", "empty_body"},
      {"whitespace only is an empty body", " \n\t", "empty_body"},
      {"truncated JSON is invalid", R"({"a": "b)", "invalid_json"},
      {"trailing garbage after the value is invalid", R"({"a": 1} x)", "invalid_json"},
      {"two values back to back are invalid", R"({} {})", "invalid_json"},
      {"a duplicate key is refused, not silently overwritten", R"({"a": 1, "a": 2})",
       "duplicate_key"},
      {"a duplicate key in a nested object is refused", R"({"x": {"a": 1, "a": 2}})",
       "duplicate_key"},
      {"the same key in sibling objects is fine", R"([{"a": 1}, {"a": 2}])", nullptr},
      {"invalid UTF-8 is refused before parsing", "{\"a\": \"\xC3\x28\"}", "invalid_utf8"},
      {"an overlong encoding is invalid UTF-8", "{\"a\": \"\xC0\xAF\"}", "invalid_utf8"},
      {"a CESU-8 surrogate is invalid UTF-8", "{\"a\": \"\xED\xA0\x80\"}", "invalid_utf8"},
      {"bytes after a NUL are not silently dropped", std::string("{\"a\":1}\0{\"b\":2}", 15),
       "invalid_json"},
      {"a byte order mark is refused", "\xEF\xBB\xBF{}", "invalid_json"},
      {"a lone surrogate escape is invalid JSON", R"({"a": "\ud800"})", "invalid_json"},
      {"a paired surrogate escape is fine", R"({"a": "\ud83d\udcb3"})", nullptr},
      {"an escaped NUL in a key is refused like a NUL byte", R"({"a\u0000b": 1})", "invalid_json"},
      {"an escaped NUL in a nested key is refused", R"({"labels": {"\u0000": "x"}})",
       "invalid_json"},
      {"an escaped NUL in a string value is kept (an OpsGenie note may carry one)",
       R"({"note": "line1\u0000line2"})", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto r = parse_json_strict(c.text);
    if (c.code == nullptr) {
      CHECK(r.has_value());
    } else {
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code == c.code);
      CHECK_FALSE(r.error().detail.empty());
    }
  }
}

TEST_CASE("nesting is bounded so a hostile document cannot exhaust the stack") {
  SUBCASE("exactly the limit is accepted") {
    std::string text = std::string(64, '[') + std::string(64, ']');
    CHECK(parse_json_strict(text).has_value());
  }
  SUBCASE("one more level is refused") {
    std::string text = std::string(65, '[') + std::string(65, ']');
    auto r = parse_json_strict(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "json_too_deep");
  }
  SUBCASE("the 10,000-level fixtures are refused") {
    for (const char* f :
         {"bad/deeply_nested_arrays_10000.json", "bad/deeply_nested_objects_10000.json"}) {
      CAPTURE(f);
      auto r = parse_json_strict(fixture(f));
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code == "json_too_deep");
    }
  }
}

TEST_CASE("is_valid_utf8 reports where the first bad byte is") {
  std::size_t at = 99;
  CHECK(tocsin::is_valid_utf8("h\xC3\xA9llo \xF0\x9F\x92\xB3"));
  CHECK_FALSE(tocsin::is_valid_utf8("ab\xFF", &at));
  CHECK(at == 2);
  CHECK_FALSE(tocsin::is_valid_utf8("\xF4\x90\x80\x80", &at));  // above U+10FFFF
  CHECK_FALSE(tocsin::is_valid_utf8("\xE2\x82", &at));          // truncated at the end
}
