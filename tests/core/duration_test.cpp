#include "core/duration.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <limits>

namespace core_duration_test {

using namespace std::chrono_literals;
using tocsin::Duration;
using tocsin::format_duration;
using tocsin::parse_duration;

TEST_CASE("parse_duration accepts the spellings SREs write") {
  struct Case {
    const char* intent;
    const char* text;
    Duration expected;
  };
  const Case cases[] = {
      {"milliseconds", "500ms", 500ms},
      {"seconds", "30s", 30s},
      {"minutes", "5m", 5min},
      {"hours", "2h", 2h},
      {"days", "7d", 24h * 7},
      {"zero is a valid duration (escalation `after: 0m`)", "0m", 0ms},
      {"compound hours and minutes", "1h30m", 90min},
      {"every unit at once, largest first", "1d2h3m4s5ms", 24h + 2h + 3min + 4s + 5ms},
      {"leading zeros are harmless", "05m", 5min},
      {"large but representable", "100000d", 24h * 100000},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto d = parse_duration(c.text);
      REQUIRE(d.has_value());
      CHECK(*d == c.expected);
    }
  }
}

TEST_CASE("parse_duration refuses anything ambiguous or malformed") {
  struct Case {
    const char* intent;
    const char* text;
  };
  const Case cases[] = {
      {"empty", ""},
      {"bare number: seconds or minutes?", "5"},
      {"negative", "-5m"},
      {"explicit plus sign", "+5m"},
      {"unknown unit", "5w"},
      {"unit without a number", "m"},
      {"fractions", "1.5h"},
      {"whitespace inside", "1h 30m"},
      {"trailing whitespace", "5m "},
      {"upper-case unit", "5M"},
      {"units out of order", "30m1h"},
      {"unit repeated", "1h1h"},
      {"trailing number after a unit", "1h30"},
      {"overflow of the number", "99999999999999999999ms"},
      {"overflow when scaled to milliseconds", "9999999999999999d"},
      {"overflow when adding parts", "106751991167d23h59m59s999ms1ms"},
      {"words", "soon"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK_FALSE(parse_duration(c.text).has_value());
    }
  }
}

TEST_CASE("parse_duration reaches the largest representable value exactly") {
  // 2^63-1 ms = 106751991167d 7h 12m 55s 807ms
  const auto d = parse_duration("106751991167d7h12m55s807ms");
  REQUIRE(d.has_value());
  CHECK(d->count() == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("format_duration gives the exact spelling with the largest units") {
  struct Case {
    const char* intent;
    Duration d;
    const char* expected;
  };
  const Case cases[] = {
      {"zero", 0ms, "0s"},
      {"milliseconds only", 500ms, "500ms"},
      {"minutes and seconds", 90000ms, "1m30s"},
      {"whole hours", 2h, "2h"},
      {"a day and a half", 36h, "1d12h"},
      {"a week", 24h * 7, "7d"},
      {"every unit", 24h + 2h + 3min + 4s + 5ms, "1d2h3m4s5ms"},
      {"negative (for log messages)", -90s, "-1m30s"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(format_duration(c.d) == c.expected);
    }
  }
}

TEST_CASE("format_duration output parses back to the same duration") {
  const Duration samples[] = {1ms, 999ms, 1s, 61s, 59min, 25h, 24h * 30 + 1ms};
  for (const auto d : samples) {
    CAPTURE(d.count());
    CHECK(parse_duration(format_duration(d)) == d);
  }
}

TEST_CASE("format_duration handles the extremes without overflow") {
  CHECK(format_duration(Duration::max()) == "106751991167d7h12m55s807ms");
  CHECK(format_duration(Duration::min()) == "-106751991167d7h12m55s808ms");
}

}  // namespace core_duration_test
