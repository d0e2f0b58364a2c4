#include "core/time.hpp"

#include <doctest/doctest.h>

namespace core_time_test {

using namespace tocsin;

TEST_CASE("parse_timestamp reads the spellings sources use") {
  struct Case {
    const char* intent;
    const char* text;
    const char* expect;  // formatted back; nullptr: rejected
  };
  const Case cases[] = {
      {"SNS ISO with Z and millis", "2026-03-02T10:03:41.187Z", "2026-03-02T10:03:41.187Z"},
      {"CloudWatch offset without colon", "2026-03-02T10:03:41.118+0000",
       "2026-03-02T10:03:41.118Z"},
      {"RFC 3339 offset with colon is converted to UTC", "2026-03-02T12:03:41+02:00",
       "2026-03-02T10:03:41.000Z"},
      {"negative offset", "2026-03-02T05:03:41-05:00", "2026-03-02T10:03:41.000Z"},
      {"microseconds are truncated to millis", "2026-03-02T10:03:41.123456Z",
       "2026-03-02T10:03:41.123Z"},
      {"no offset is ambiguous", "2026-03-02T10:03:41", nullptr},
      {"February 30th does not exist", "2026-02-30T10:00:00Z", nullptr},
      {"hour 24 is out of range", "2026-03-02T24:00:00Z", nullptr},
      {"a date alone is not an instant", "2026-03-02", nullptr},
      {"trailing text is refused", "2026-03-02T10:03:41Zjunk", nullptr},
      {"a dot without digits is refused", "2026-03-02T10:03:41.Z", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto t = parse_timestamp(c.text);
    if (c.expect == nullptr) {
      CHECK_FALSE(t.has_value());
    } else {
      REQUIRE(t.has_value());
      CHECK(format_timestamp(*t) == c.expect);
    }
  }
}

TEST_CASE("format_timestamp round-trips through unix milliseconds") {
  auto t = parse_timestamp("1999-12-31T23:59:59.999Z");
  REQUIRE(t);
  CHECK(to_unix_ms(*t) == 946684799999);
  CHECK(format_timestamp(from_unix_ms(946684799999)) == "1999-12-31T23:59:59.999Z");
  CHECK(format_timestamp(from_unix_ms(0)) == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("instants outside the four-digit UTC years are refused, so every parse formats back") {
  CHECK_FALSE(parse_timestamp("0000-01-01T00:00:00+05:30"));  // UTC year -1
  CHECK_FALSE(parse_timestamp("9999-12-31T23:59:59-01:00"));  // UTC year 10000
  CHECK_FALSE(parse_timestamp("9999-12-31T23:59:60Z"));       // leap second into 10000
  auto edge = parse_timestamp("9999-12-31T23:59:59.999Z");
  REQUIRE(edge);
  CHECK(parse_timestamp(format_timestamp(*edge)) == edge);
}

}  // namespace core_time_test
