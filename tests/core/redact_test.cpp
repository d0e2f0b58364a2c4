// Redaction and escaping of text that leaves the process.
#include "core/redact.hpp"

#include <doctest/doctest.h>

#include <vector>

namespace core_redact_test {

using namespace tocsin;

TEST_CASE("redact: every spelling of a secret is replaced, the longest first") {
  const Redactor r({"s3cr3t-key", "s3cr3t-key-long", "a/b\"c d", "abc"});
  struct Case {
    const char* intent;
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"as is", "GenieKey s3cr3t-key!", "GenieKey [redacted]!"},
      {"twice", "s3cr3t-keys3cr3t-key", "[redacted][redacted]"},
      {"a longer secret containing a shorter one is replaced whole", "x s3cr3t-key-long y",
       "x [redacted] y"},
      {"as a JSON string escapes it", R"({"k":"a/b\"c d"})", R"({"k":"[redacted]"})"},
      {"percent-encoded, as in a URL", "?t=a%2Fb%22c%20d", "?t=[redacted]"},
      {"values under k_min_secret_bytes are left alone", "abc abc", "abc abc"},
      {"nothing to replace", "HTTP 503", "HTTP 503"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(r.redact(c.in) == c.out);
  }
  CHECK(Redactor().redact("anything") == "anything");
  CHECK(Redactor({"", "ab"}).empty());
}

TEST_CASE("printable_line: one printable line, printable UTF-8 kept") {
  struct Case {
    const char* intent;
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"line breaks and tabs", "a\nb\r\tc", R"(a\nb\r\tc)"},
      {"other C0 and DEL as \\xNN", std::string("a\0b\x1b[0m\x7f", 8), R"(a\x00b\x1b[0m\x7f)"},
      {"C1 controls as \\uNNNN", "a\xc2\x85\xc2\x9b", R"(a\u0085\u009b)"},
      {"line and paragraph separators", "a\xe2\x80\xa8\xe2\x80\xa9", R"(a\u2028\u2029)"},
      {"bidi overrides that reorder what a terminal shows", "a\xe2\x80\xae\xe2\x81\xa6",
       R"(a\u202e\u2066)"},
      {"invalid UTF-8: stray, truncated, overlong, surrogate", "\xff\xe2\x80 \xc0\xaf \xed\xa0\x80",
       R"(\xff\xe2\x80 \xc0\xaf \xed\xa0\x80)"},
      {"printable UTF-8 and backslashes are kept", "caf\xc3\xa9 \xf0\x9f\x94\xa5 C:\\n",
       "caf\xc3\xa9 \xf0\x9f\x94\xa5 C:\\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(printable_line(c.in) == c.out);
  }
}

TEST_CASE("printable_excerpt: cut between characters, marked with an ellipsis") {
  CHECK(printable_excerpt("short", 10) == "short");
  CHECK(printable_excerpt("exactly10!", 10) == "exactly10!");
  CHECK(printable_excerpt("abcdefghijk", 10) == "abcdefghij\u2026");
  // Never inside a UTF-8 sequence or an escape: what does not fit whole is left out.
  CHECK(printable_excerpt("abcdefghi\xc3\xa9", 10) == "abcdefghi\u2026");
  CHECK(printable_excerpt("abcdefghi\n", 10) == "abcdefghi\u2026");
}

TEST_CASE("escape_json_controls: the same JSON value, with nothing a terminal acts on") {
  const std::string json = "{\"m\":\"a\x7f\xc2\x9b\xe2\x80\xa8\xc3\xa9\\n\"}";
  CHECK(escape_json_controls(json) == R"({"m":"a\u007f\u009b\u2028)"
                                      "\xc3\xa9"
                                      R"(\n"})");
}

}  // namespace core_redact_test
