// How an alert's noise state is stored: a compact text read on every alert load.
#include "storage/codec.hpp"

#include <doctest/doctest.h>

namespace storage_codec_test {

using namespace tocsin;
using namespace tocsin::storage;

TEST_CASE("noise state: stored and read back unchanged, empty or unreadable is a fresh state") {
  rules::NoiseState s;
  s.flapping = true;
  s.window_first = 12;
  s.episodes = 30;
  s.ended = 29;
  s.transient = 20;
  s.ignored = 25;
  s.history = {{from_unix_ms(1'700'000'000'000), true}, {from_unix_ms(1'700'000'180'000), false}};
  const std::string text = noise_to_text(s);
  CHECK(text == "1 1 12 30 29 20 25 1700000000000 1 1700000180000 0");
  CHECK(noise_from_text(text) == s);
  CHECK(noise_from_text(noise_to_text(rules::NoiseState{})) == rules::NoiseState{});

  CHECK(noise_from_text("") == rules::NoiseState{});
  CHECK(noise_from_text("{\"w\": 3}") == rules::NoiseState{});
  CHECK(noise_from_text("2 0 1 0 0 0 0") == rules::NoiseState{});     // a future format
  CHECK(noise_from_text("1 0 1 0 0 0 0 17") == rules::NoiseState{});  // half an observation
  CHECK(noise_from_text("1 0 4 0 0 0 0").window_first == 4);          // what migration 4 writes
}

}  // namespace storage_codec_test
