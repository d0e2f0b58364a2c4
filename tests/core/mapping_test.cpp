#include "core/mapping.hpp"

#include <doctest/doctest.h>

#include "core/json.hpp"

namespace core_mapping_test {

using namespace tocsin;
using namespace tocsin::mapping;

namespace {

JsonPointer pointer(std::string_view spelled) {
  auto p = JsonPointer::parse(spelled);
  REQUIRE_MESSAGE(p.has_value(), std::string(spelled));
  return *p;
}

// The RFC 6901 section 5 example document.
const Json k_rfc = Json::parse(R"({
  "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5,
  "k\"l": 6, " ": 7, "m~n": 8})");

}  // namespace

TEST_CASE("JSON Pointer resolves every example of RFC 6901 section 5") {
  struct Case {
    const char* pointer;
    Json expected;
  };
  const Case cases[] = {
      {"", k_rfc},       {"/foo", Json::array({"bar", "baz"})},
      {"/foo/0", "bar"}, {"/", 0},
      {"/a~1b", 1},      {"/c%d", 2},
      {"/e^f", 3},       {"/g|h", 4},
      {"/i\\j", 5},      {"/k\"l", 6},
      {"/ ", 7},         {"/m~0n", 8},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pointer);
    const Json* v = pointer(c.pointer).resolve(k_rfc);
    REQUIRE(v != nullptr);
    CHECK(*v == c.expected);
  }
}

TEST_CASE("JSON Pointer names nothing where a token does not fit the value") {
  const Json doc = Json::parse(R"({"a": [10, 20, {"b": null}], "s": "text", "01": "key"})");
  const char* absent[] = {"/x",    "/a/3", "/a/-", "/a/01",  "/a/+1",  "/a/1e0",
                          "/a/ 1", "/s/0", "/s/x", "/a/0/b", "/a/2/c", "/a/99999999999999999999"};
  for (const char* p : absent) {
    CAPTURE(p);
    CHECK(pointer(p).resolve(doc) == nullptr);
  }
  // A leading zero is an array index only for arrays: on an object it is a key.
  REQUIRE(pointer("/01").resolve(doc) != nullptr);
  CHECK(*pointer("/01").resolve(doc) == "key");
  REQUIRE(pointer("/a/2/b").resolve(doc) != nullptr);
  CHECK(pointer("/a/2/b").resolve(doc)->is_null());
  CHECK(*pointer("/a/1").resolve(doc) == 20);
}

TEST_CASE("JSON Pointer escapes are exact: ~01 is ~1 unescaped once") {
  const Json doc = Json::parse(R"({"~1": "tilde-one", "/": "slash", "~": "tilde"})");
  CHECK(*pointer("/~01").resolve(doc) == "tilde-one");
  CHECK(*pointer("/~1").resolve(doc) == "slash");
  CHECK(*pointer("/~0").resolve(doc) == "tilde");
}

TEST_CASE("a malformed JSON Pointer is refused with the offset of the fault") {
  struct Case {
    std::string spelled;
    std::string message;
    std::size_t offset;
  };
  const Case cases[] = {
      {"a/b", "starts with \"/\"", 0},
      {"/a~", "~0", 2},
      {"/a~2", "~0", 2},
      {"/ok/~x", "~0", 4},
  };
  for (const auto& c : cases) {
    CAPTURE(c.spelled);
    auto p = JsonPointer::parse(c.spelled);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().message.find(c.message) != std::string::npos);
    CHECK(p.error().offset == c.offset);
  }
  std::string deep;
  for (std::size_t i = 0; i <= k_max_pointer_tokens; ++i)
    deep += "/x";
  auto p = JsonPointer::parse(deep);
  REQUIRE_FALSE(p.has_value());
  CHECK(p.error().message.find("at most 32 tokens") != std::string::npos);
}

TEST_CASE("a template splits into literals and placeholders with {{ and }} as braces") {
  struct Case {
    std::string spelled;
    std::vector<std::pair<std::string, std::string>> parts;  // literal, pointer ("-": none)
  };
  const Case cases[] = {
      {"", {{"", "-"}}},
      {"plain", {{"plain", "-"}}},
      {"{/a}", {{"", "/a"}, {"", "-"}}},
      {"{/a/b} on {/host}", {{"", "/a/b"}, {" on ", "/host"}, {"", "-"}}},
      {"{{literal}} {/x}!", {{"{literal} ", "/x"}, {"!", "-"}}},
      {"{/a~1b}{/c}", {{"", "/a~1b"}, {"", "/c"}, {"", "-"}}},
      {"}}{{", {{"}{", "-"}}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.spelled);
    auto t = Template::parse(c.spelled);
    REQUIRE(t.has_value());
    REQUIRE(t->parts().size() == c.parts.size());
    for (std::size_t i = 0; i < c.parts.size(); ++i) {
      CHECK(t->parts()[i].literal == c.parts[i].first);
      CHECK((t->parts()[i].pointer ? t->parts()[i].pointer->spelled() : "-") == c.parts[i].second);
    }
  }
}

TEST_CASE("a malformed template is refused with the offset of the fault") {
  struct Case {
    std::string spelled;
    std::string message;
    std::size_t offset;
  };
  const Case cases[] = {
      {"a } b", "a literal \"}\" is written \"}}\"", 2},
      {"x {/a", "not closed", 2},
      {"x {/a {/b}", "not closed", 2},
      {"{}", "holds a JSON Pointer", 0},
      {"ab{a/b}", "holds a JSON Pointer", 2},
      {"ab{/a~2}", "~0", 5},
  };
  for (const auto& c : cases) {
    CAPTURE(c.spelled);
    auto t = Template::parse(c.spelled);
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().message.find(c.message) != std::string::npos);
    CHECK(t.error().offset == c.offset);
  }
  std::string many;
  for (std::size_t i = 0; i <= k_max_template_placeholders; ++i)
    many += "{/x}";
  CHECK_FALSE(Template::parse(many).has_value());
  CHECK_FALSE(Template::parse(std::string(k_max_template_bytes + 1, 'a')).has_value());
  CHECK(Template::parse(std::string(k_max_template_bytes, 'a')).has_value());
}

TEST_CASE("scalar_text writes strings as they are and numbers as JSON does") {
  CHECK(scalar_text(Json("x")) == "x");
  CHECK(scalar_text(Json(42)) == "42");
  CHECK(scalar_text(Json(-7)) == "-7");
  CHECK(scalar_text(Json(1.5)) == "1.5");
  CHECK(scalar_text(Json(true)) == "true");
  CHECK(scalar_text(Json(false)) == "false");
  CHECK_FALSE(scalar_text(Json(nullptr)).has_value());
  CHECK_FALSE(scalar_text(Json::object()).has_value());
  CHECK_FALSE(scalar_text(Json::array()).has_value());
}

}  // namespace core_mapping_test
