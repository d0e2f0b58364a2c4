#include "core/log_limit.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace core_log_limit_test {

using namespace tocsin;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const TimePoint t0 = from_unix_ms(1'700'000'000'000);

TimePoint at(Duration d) {
  return t0 + d;
}

}  // namespace

TEST_CASE("log limit: per kind, the first line of a window is written and the rest counted") {
  struct Line {
    const char* key;
    Duration at;
    bool written;
    std::uint64_t suppressed;  // told with it
    std::string suffix;
  };
  struct Case {
    const char* intent;
    std::vector<Line> lines;
  };
  const Case cases[] = {
      {"the first line of a kind is written as it is",
       {{"http: cut connection", seconds(0), true, 0, ""}}},
      {"later lines in the window are counted, not written",
       {{"http: cut connection", seconds(0), true, 0, ""},
        {"http: cut connection", seconds(1), false, 0, ""},
        {"http: cut connection", seconds(59), false, 0, ""}}},
      {"the first line after the window tells how many were suppressed",
       {{"http: cut connection", seconds(0), true, 0, ""},
        {"http: cut connection", seconds(1), false, 0, ""},
        {"http: cut connection", seconds(2), false, 0, ""},
        {"http: cut connection", seconds(61), true, 2,
         " (and 2 more like this in the last 1m1s)"}}},
      {"and then a new window starts from it",
       {{"http: cut connection", seconds(0), true, 0, ""},
        {"http: cut connection", seconds(60), true, 0, ""},
        {"http: cut connection", seconds(119), false, 0, ""},
        {"http: cut connection", seconds(120), true, 1, " (and 1 more like this in the last 1m)"}}},
      {"kinds are counted apart: a flood of one does not hide another",
       {{"http: cut connection", seconds(0), true, 0, ""},
        {"http: cut connection", seconds(1), false, 0, ""},
        {"hooks: refused", seconds(2), true, 0, ""},
        {"hooks: refused", seconds(3), false, 0, ""}}},
      {"a clock that went back ends the window rather than silencing the kind",
       {{"http: cut connection", seconds(100), true, 0, ""},
        {"http: cut connection", seconds(101), false, 0, ""},
        {"http: cut connection", seconds(10), true, 1, " (and 1 more like this in the last 0s)"}}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      LogLimiter limiter;
      for (const auto& line : c.lines) {
        CAPTURE(line.at.count());
        const auto permit = limiter.admit(line.key, at(line.at));
        CHECK(static_cast<bool>(permit) == line.written);
        CHECK(permit.suppressed == line.suppressed);
        CHECK(permit.suffix() == line.suffix);
      }
    }
  }
}

TEST_CASE("log limit: a count is told with thousands separated") {
  LogLimiter limiter;
  REQUIRE(limiter.admit("hooks: refused", t0));
  for (int i = 0; i < 1234; ++i)
    CHECK_FALSE(limiter.admit("hooks: refused", at(milliseconds(i))));
  CHECK(limiter.admit("hooks: refused", at(seconds(60))).suffix() ==
        " (and 1,234 more like this in the last 1m)");
}

TEST_CASE("log limit: flush tells the counts of windows that ended, once") {
  struct Case {
    const char* intent;
    Duration flush_at;
    std::vector<std::string> summaries;
  };
  const Case cases[] = {
      {"nothing while the window lasts", seconds(59), {}},
      {"one line per kind with lines suppressed once it ended",
       seconds(65),
       {"http: 3 more 'cut connection' lines suppressed in the last 1m5s"}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      LogLimiter limiter;
      REQUIRE(limiter.admit("http: cut connection", t0));
      for (int i = 1; i <= 3; ++i)
        REQUIRE_FALSE(limiter.admit("http: cut connection", at(seconds(i))));
      REQUIRE(limiter.admit("hooks: refused", t0));  // none suppressed: nothing to tell

      std::vector<std::string> summaries;
      for (const auto& s : limiter.flush(at(c.flush_at)))
        summaries.push_back(s.summary());
      CHECK(summaries == c.summaries);
    }
  }
  SUBCASE("a count told is not told again, and the next line is written in full") {
    LogLimiter limiter;
    REQUIRE(limiter.admit("http: cut connection", t0));
    REQUIRE_FALSE(limiter.admit("http: cut connection", at(seconds(1))));
    CHECK(limiter.flush(at(seconds(60))).size() == 1);
    CHECK(limiter.flush(at(seconds(70))).empty());
    const auto next = limiter.admit("http: cut connection", at(seconds(71)));
    CHECK(next);
    CHECK(next.suppressed == 0);
  }
  SUBCASE("kinds whose window ended are forgotten") {
    LogLimiter limiter;
    REQUIRE(limiter.admit("http: cut connection", t0));
    REQUIRE(limiter.admit("hooks: refused", at(seconds(30))));
    (void)limiter.flush(at(seconds(61)));
    CHECK(limiter.kinds() == 1);
  }
}

TEST_CASE("log limit: flush_all tells every count, window ended or not (the process stops)") {
  LogLimiter limiter;
  REQUIRE(limiter.admit("hooks: refused", t0));
  for (int i = 0; i < 499; ++i)
    REQUIRE_FALSE(limiter.admit("hooks: refused", at(milliseconds(i))));
  REQUIRE(limiter.admit("http: refused a request", t0));
  const auto told = limiter.flush_all(at(seconds(2)));
  REQUIRE(told.size() == 1);
  CHECK(told[0].summary() == "hooks: 499 more 'refused' lines suppressed in the last 2s");
  CHECK(limiter.kinds() == 0);
}

TEST_CASE("log limit: a summary names one line, and a key without a lead as it is") {
  CHECK(SuppressedLines{"hooks: refused", 1, seconds(60)}.summary() ==
        "hooks: 1 more 'refused' line suppressed in the last 1m");
  CHECK(SuppressedLines{"slow", 2, seconds(60)}.summary() ==
        "2 more 'slow' lines suppressed in the last 1m");
}

TEST_CASE("log limit: past the cap on kinds, new kinds share one, so memory stays bounded") {
  LogLimiter limiter(LogLimiter::k_window, 3);
  for (const char* key : {"a: 1", "a: 2", "a: 3"})
    REQUIRE(limiter.admit(key, t0));
  CHECK(limiter.admit("a: 4", t0));        // the first past the cap opens the shared kind
  CHECK_FALSE(limiter.admit("a: 5", t0));  // and the next ones are counted under it
  CHECK_FALSE(limiter.admit("a: 6", t0));
  CHECK_FALSE(limiter.admit("a: 1", t0));  // known kinds keep their own
  CHECK(limiter.kinds() == 4);
  const auto told = limiter.flush(at(seconds(60)));
  REQUIRE(told.size() == 2);
  CHECK(told[0].key == "a: 1");
  CHECK(told[1].key == LogLimiter::k_other_key);
  CHECK(told[1].count == 2);
}

}  // namespace core_log_limit_test
