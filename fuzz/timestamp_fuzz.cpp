// core/time.hpp parse_timestamp and core/duration.hpp parse_duration on arbitrary text.
// A parsed instant, formatted, parses back to the same instant (format_timestamp is what
// Tocsin writes into ids, logs and the database, and reads again). A parsed duration is not
// negative and survives format_duration -> parse_duration unchanged.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/duration.hpp"
#include "core/time.hpp"
#include "invariants.hpp"

namespace {

using namespace std::chrono;

void check_timestamp(std::string_view text) {
  const auto t = tocsin::parse_timestamp(text);
  if (!t) return;
  // Every accepted instant lies in 0000-01-01..9999-12-31 UTC (this target once found
  // `0000-01-01T00:00:00+05:30`, year -1, which format_timestamp could not write back).
  constexpr sys_days k_first_day = year{0} / January / 1;
  constexpr sys_days k_after_last_day = year{10000} / January / 1;
  TOCSIN_FUZZ_CHECK(*t >= k_first_day && *t < k_after_last_day);
  const std::string formatted = tocsin::format_timestamp(*t);
  const auto back = tocsin::parse_timestamp(formatted);
  TOCSIN_FUZZ_CHECK(back.has_value());
  TOCSIN_FUZZ_CHECK(*back == *t);
  TOCSIN_FUZZ_CHECK(formatted.size() == 24);  // YYYY-MM-DDTHH:MM:SS.mmmZ
}

void check_duration(std::string_view text) {
  const auto d = tocsin::parse_duration(text);
  if (!d) return;
  TOCSIN_FUZZ_CHECK(d->count() >= 0);
  const std::string formatted = tocsin::format_duration(*d);
  const auto back = tocsin::parse_duration(formatted);
  TOCSIN_FUZZ_CHECK(back.has_value());
  TOCSIN_FUZZ_CHECK(*back == *d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = tocsin::fuzz::as_text(data, size);
  check_timestamp(text);
  check_duration(text);
  return 0;
}
