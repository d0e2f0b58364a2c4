#include "core/time.hpp"

#include <cstdio>

namespace tocsin {

TimePoint SystemClock::now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

namespace {

// Reads exactly `n` digits at `pos`, advancing it.
std::optional<int> read_digits(std::string_view s, std::size_t& pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool expect_char(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<TimePoint> parse_timestamp(std::string_view s) {
  using namespace std::chrono;
  std::size_t pos = 0;
  auto year = read_digits(s, pos, 4);
  if (!year || !expect_char(s, pos, '-')) return std::nullopt;
  auto month = read_digits(s, pos, 2);
  if (!month || !expect_char(s, pos, '-')) return std::nullopt;
  auto day = read_digits(s, pos, 2);
  if (!day) return std::nullopt;
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) return std::nullopt;
  ++pos;
  auto hour = read_digits(s, pos, 2);
  if (!hour || !expect_char(s, pos, ':')) return std::nullopt;
  auto minute = read_digits(s, pos, 2);
  if (!minute || !expect_char(s, pos, ':')) return std::nullopt;
  auto second = read_digits(s, pos, 2);
  if (!second) return std::nullopt;

  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) millis += (s[pos] - '0') * scale;  // finer than ms is truncated
      scale /= 10;
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
  }

  int offset_minutes = 0;
  if (pos >= s.size()) return std::nullopt;  // an instant without an offset is ambiguous
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    auto oh = read_digits(s, pos, 2);
    if (!oh) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') ++pos;  // CloudWatch writes +0000, RFC 3339 +00:00
    auto om = read_digits(s, pos, 2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset_minutes = sign * (*oh * 60 + *om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  year_month_day ymd{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                     std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  auto t =
      time_point_cast<Duration>(sys_days{ymd} + hours{*hour} + minutes{*minute} + seconds{*second} +
                                milliseconds{millis} - minutes{offset_minutes});
  // Only instants whose UTC year has four digits: format_timestamp must be able to write
  // every instant this accepts, and read it back.
  const year_month_day utc{floor<days>(t)};
  if (utc.year() < std::chrono::year{0} || utc.year() > std::chrono::year{9999})
    return std::nullopt;
  return t;
}

std::string format_timestamp(TimePoint t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss<Duration> tod{t - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<int>(tod.subseconds().count()));
  return buf;
}

}  // namespace tocsin
