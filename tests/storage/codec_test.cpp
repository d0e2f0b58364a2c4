// How an alert's noise state, labels and an episode's names are stored: read on every load.
#include "storage/codec.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "core/json.hpp"

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

TEST_CASE("names and labels: plain text takes the fast path, anything else nlohmann's, alike") {
  // Exactly what nlohmann writes and reads, whichever path: text written before the fast
  // paths existed reads the same, and any text they would misread goes through nlohmann.
  const std::vector<std::vector<std::string>> names = {
      {}, {"oncall"}, {"oncall", "alerts", "cto"}, {""}, {"a b", "x/y-z_1.2"},
      {"quo\"te"}, {"back\\slash"}, {"tab\there"}, {"caf\xC3\xA9"}, {"del\x7f"}};
  for (const auto& n : names) {
    CAPTURE(Json(n).dump());
    CHECK(names_to_json(n) == Json(n).dump());
    CHECK(names_from_json(names_to_json(n)) == n);
  }
  const std::vector<std::map<std::string, std::string>> labels = {
      {}, {{"env", "prod"}}, {{"a", ""}, {"", "b"}, {"team", "payments"}},
      {{"q", "say \"hi\""}}, {{"path", "C:\\x"}}, {{"nl", "a\nb"}}, {{"k", "\xE2\x82\xAC"}}};
  for (const auto& l : labels) {
    CAPTURE(Json(l).dump());
    CHECK(labels_to_json(l) == Json(l).dump());
    CHECK(labels_from_json(labels_to_json(l)) == l);
  }
  // Text another writer may have left: spacing, escapes, other types, a repeated key (the last
  // wins, as in nlohmann), damage (nothing, as before).
  CHECK(names_from_json("[ \"a\" , \"b\" ]") == std::vector<std::string>{"a", "b"});
  CHECK(names_from_json("[\"a\\u0062\"]") == std::vector<std::string>{"ab"});
  CHECK(names_from_json("[\"a\",1,\"b\"]") == std::vector<std::string>{"a", "b"});
  CHECK(names_from_json("[\"a\",").empty());
  CHECK(names_from_json("[\"a\"\"b\"]").empty());
  CHECK(names_from_json("").empty());
  CHECK(names_from_json("{}").empty());
  CHECK(labels_from_json("{\"a\":\"1\",\"a\":\"2\"}") == std::map<std::string, std::string>{{"a", "2"}});
  CHECK(labels_from_json("{\"a\":\"1\",\"n\":2}") == std::map<std::string, std::string>{{"a", "1"}});
  CHECK(labels_from_json("{\"a\":\"1\"").empty());
  CHECK(labels_from_json("{\"a\"\"1\"}").empty());
  CHECK(labels_from_json("{\"a\":}").empty());
  CHECK(labels_from_json("[]").empty());
}

}  // namespace storage_codec_test
