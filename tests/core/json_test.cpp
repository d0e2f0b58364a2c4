#include "core/json.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace core_json_test {

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

namespace {

// What a parse gives, in a form two parses can be compared by: the document with its number
// types (1 and 1.0 print differently), or the error's code and words.
std::string outcome(const tocsin::Expected<tocsin::Json, tocsin::JsonError>& r) {
  return r ? "value " + r->dump() : "error " + r.error().code + ": " + r.error().detail;
}

// Every file under the fixture tree, and the string values that hold JSON themselves (the
// Message of an SNS envelope).
std::vector<std::string> json_corpus() {
  std::vector<std::string> corpus;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(TOCSIN_FIXTURES_DIR)) {
    if (!entry.is_regular_file() || entry.file_size() > 1 << 20) continue;
    corpus.push_back(tocsin::testing::read_file(entry.path().string()));
    if (auto doc = tocsin::detail::parse_json_reference(corpus.back()); doc && doc->is_object()) {
      for (const auto& [key, value] : doc->items()) {
        if (value.is_string() && !value.get<std::string>().empty() &&
            (value.get<std::string>()[0] == '{' || value.get<std::string>()[0] == '[')) {
          corpus.push_back(value.get<std::string>());
        }
      }
    }
  }
  return corpus;
}

}  // namespace

TEST_CASE("the fast parser agrees with the reference parser on everything it accepts") {
  // parse_json_strict tries a fast parser first and hands anything it does not take to
  // nlohmann's: a document the fast one accepts must come out exactly as the reference gives
  // it, and every refusal must stay the reference's.
  std::vector<std::string> inputs = json_corpus();
  REQUIRE(inputs.size() > 50);
  const std::vector<std::string> edges = {
      "0", "-0", "1.0", "-1.5e3", "1E+2", "18446744073709551615", "18446744073709551616",
      "-9223372036854775808", "-9223372036854775809", "1e400", "-1e400", "1e-400", "5e-324",
      "0.1", "123456789012345678901234567890", "01", "1.", ".5", "-", "+1", "1e", "1e+",
      "\"\\u00e9\\u4e2d\\ud83d\\ude00\"", "\"\\udc00\"", "\"\\ud800x\"", "\"\\ud800\\u0041\"",
      "\"a\\qb\"", "\"tab\there\"", "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"", "\"\\u00\"", "[1,]", "[,1]",
      "{\"a\":1,}", "{,}", "{\"a\" 1}", "{\"a\":}", "[1 2]", "true", "tru", "nul", "falsey",
      "[true,false,null]", " \t\r\n[ ] ", "{}", "[]", "{\"\":\"\"}", "\"\\u0000\"",
      "{\"k\":{\"k\":{\"k\":[]}}}", "[\"\xC3\xA9\"]"};
  inputs.insert(inputs.end(), edges.begin(), edges.end());
  // Damaged copies: each corpus document cut short and with one byte changed, at places a
  // fixed seed picks, so malformed input of every shape goes through both parsers.
  std::uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1664525u + 1013904223u; };
  const std::size_t originals = inputs.size();
  for (std::size_t i = 0; i < originals; ++i) {
    const std::string text = inputs[i];  // a copy: pushing below moves the vector
    if (text.size() < 2) continue;
    for (int k = 0; k < 8; ++k) {
      std::string cut = text.substr(0, next() % text.size());
      std::string changed = text;
      changed[next() % changed.size()] = "{}[]\",:0-e.\\ta"[next() % 15];
      inputs.push_back(std::move(cut));
      inputs.push_back(std::move(changed));
    }
  }
  std::size_t fast_taken = 0, reference_accepted = 0;
  for (const auto& text : inputs) {
    const auto reference = tocsin::detail::parse_json_reference(text);
    const auto fast = tocsin::detail::parse_json_fast(text);
    reference_accepted += reference.has_value();
    if (fast) {
      ++fast_taken;
      CAPTURE(text);
      REQUIRE(reference.has_value());
      CHECK(fast->dump() == reference->dump());
    }
    CHECK(outcome(parse_json_strict(text)) == outcome(reference));
  }
  // The fast path is the common path: it takes nearly every valid document.
  MESSAGE(fast_taken << " of " << reference_accepted << " valid documents taken by the fast path, "
                     << inputs.size() << " inputs");
  CHECK(fast_taken * 100 >= reference_accepted * 95);
}

TEST_CASE("a string's special byte is found at every offset of an eight-byte word") {
  // The fast parser and is_valid_utf8 step over eight plain bytes at a time: a quote, escape,
  // control character or non-ASCII byte must be seen whichever byte of a word it is.
  const std::vector<std::string> specials = {"\\\"", "\\\\", "\\n", "\\u00e9", "\x01", "\x1f",
                                             "\x7f", "\xC3\xA9", "\xE2\x82\xAC", "\xC3", "\xFF",
                                             "\"", "\xF0\x9F\x98\x80"};
  for (std::size_t before = 0; before < 18; ++before) {
    for (std::size_t after = 0; after < 10; ++after) {
      for (const auto& special : specials) {
        const std::string text = "\"" + std::string(before, 'a') + special +
                                 std::string(after, 'b') + "\"";
        CAPTURE(text);
        const auto reference = tocsin::detail::parse_json_reference(text);
        const auto fast = tocsin::detail::parse_json_fast(text);
        if (fast) {
          REQUIRE(reference.has_value());
          CHECK(fast->dump() == reference->dump());
        }
        CHECK(outcome(parse_json_strict(text)) == outcome(reference));
        const std::string raw = std::string(before, 'a') + special + std::string(after, 'b');
        std::size_t bad = 0;
        const bool valid = tocsin::is_valid_utf8(raw, &bad);
        CHECK(valid == (special != "\xC3" && special != "\xFF"));
        if (!valid) CHECK(bad == before);
      }
    }
  }
}

TEST_CASE("the fast parser hands over past the depth limit, so the refusal is the reference's") {
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  CHECK_FALSE(tocsin::detail::parse_json_fast(deep).has_value());
  CHECK(tocsin::detail::parse_json_fast(std::string(64, '[') + std::string(64, ']')).has_value());
}

TEST_CASE("raw_member gives a member's value as written, or nothing") {
  using tocsin::raw_member;
  const std::string line =
      " {\"at\" : \"2026-01-01T00:00:00Z\", \"x\": [1, {\"body\": 2}, \"}\\\"]\"],"
      "\"n\":-1.5e3,\"t\":true, \"body\" :\t{\"b\": \"a \\\"}\\\\\", \"c\": [[], {}]} \n}";
  REQUIRE(parse_json_strict(line));
  CHECK(raw_member(line, "body") == std::optional<std::string_view>(
                                        "{\"b\": \"a \\\"}\\\\\", \"c\": [[], {}]}"));
  CHECK(raw_member(line, "at") == std::optional<std::string_view>("\"2026-01-01T00:00:00Z\""));
  CHECK(raw_member(line, "n") == std::optional<std::string_view>("-1.5e3"));
  CHECK(raw_member(line, "t") == std::optional<std::string_view>("true"));
  CHECK(raw_member(line, "x") ==
        std::optional<std::string_view>("[1, {\"body\": 2}, \"}\\\"]\"]"));
  // The value's text parses to what the whole document holds there.
  const auto whole = parse_json_strict(line);
  CHECK(*parse_json_strict(*raw_member(line, "body")) == (*whole)["body"]);
  // Absent, nested only, or spelled with an escape: not found.
  CHECK_FALSE(raw_member(line, "b"));
  CHECK_FALSE(raw_member("{\"b\\u006fdy\": {}}", "body"));
  CHECK_FALSE(raw_member("{}", "body"));
  CHECK_FALSE(raw_member("[{\"body\": 1}]", "body"));
  CHECK_FALSE(raw_member("", "body"));
  // Truncated text (not what it is for) ends the scan, never reads past the end.
  CHECK_FALSE(raw_member("{\"a\": \"unterminated", "body"));
  CHECK(raw_member("{\"body\": {\"a\": [1", "body") ==
        std::optional<std::string_view>("{\"a\": [1"));
}

}  // namespace core_json_test
