#pragma once
// Contracts the fuzz targets check beyond "does not crash". A violated one stops the run the
// way a crash does (__builtin_trap), so libFuzzer saves the input that broke it; the message
// on stderr names the condition.

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "core/event.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::fuzz {

[[noreturn]] inline void violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant violated at %s:%d: %s\n", file, line, condition);
  std::fflush(stderr);
  __builtin_trap();
}

// A macro so the message can quote the condition as written.
#define TOCSIN_FUZZ_CHECK(condition) \
  ((condition) ? void(0) : ::tocsin::fuzz::violated(#condition, __FILE__, __LINE__))

inline std::string_view as_text(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Every status an IngestError may carry (docs/behaviour.md "Inbound endpoints"); each target
// narrows it further.
inline bool is_known_status(int status) {
  constexpr int k_statuses[] = {200, 400, 401, 403, 413, 503};
  return std::find(std::begin(k_statuses), std::end(k_statuses), status) != std::end(k_statuses);
}

// What the server relies on to answer a refusal: a known status, a code to count, a detail
// to log.
inline void check_error(const ingest::IngestError& e) {
  TOCSIN_FUZZ_CHECK(is_known_status(e.status));
  TOCSIN_FUZZ_CHECK(!e.code.empty());
  TOCSIN_FUZZ_CHECK(!e.detail.empty());
}

// True when every byte is printable ASCII: details built only from excerpt()ed attacker text
// cannot forge log lines.
inline bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

// What every adapter promises of a normalized event, whatever its source.
inline void check_event(const NormalizedEvent& e, Source source) {
  TOCSIN_FUZZ_CHECK(e.source == source);
  TOCSIN_FUZZ_CHECK(!e.fingerprint.empty());
  TOCSIN_FUZZ_CHECK(starts_with(e.fingerprint, to_string(source)));
  TOCSIN_FUZZ_CHECK(e.fingerprint.size() > to_string(source).size() &&
                    e.fingerprint[to_string(source).size()] == ':');
}

}  // namespace tocsin::fuzz
