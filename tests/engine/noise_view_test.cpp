// Noise advice (docs/behaviour.md "Noise"): no advice to change or delete an alert until its
// history is long enough to judge it.
#include "engine/noise_view.hpp"

#include <doctest/doctest.h>

#include "rules/loader.hpp"

namespace engine_noise_view_test {

using namespace tocsin;
using namespace tocsin::engine;
using namespace std::chrono_literals;

namespace {

const TimePoint k_now = *parse_timestamp("2026-03-02T10:00:00Z");

const char* const k_rules = R"(version: 1
channels:
  team: {type: webhook, url: "http://127.0.0.1:9/team"}
  lowprio: {type: webhook, url: "http://127.0.0.1:9/low"}
rules:
  - {name: batch, match: {}, notify: [team], low_priority: lowprio}
)";

// An alert known for `known`, with `episodes` episodes in the window, every one of them ended
// by the source within seconds and never acknowledged (the noisiest history there is).
NoisyAlert alert_with(const rules::Rules& rules, int episodes, Duration known) {
  NoisyAlert a;
  a.view.alert.fingerprint = "generic:batch";
  a.view.alert.rule = "batch";
  a.view.alert.first_seen = k_now - known;
  rules::NoiseState& s = a.view.alert.noise;
  s.episodes = s.ended = s.transient = s.ignored = episodes;
  for (int i = 0; i < episodes; ++i) {
    const TimePoint opened = k_now - known + (known / episodes) * i;
    rules::observe(s, rules.noise, {opened, true});
    rules::observe(s, rules.noise, {opened + std::min<Duration>(5s, known / episodes), false});
  }
  a.score = rules::score(s, rules.noise, a.view.alert.first_seen, k_now);
  return a;
}

bool advises(const std::vector<std::string>& advice, const std::string& words) {
  for (const auto& line : advice) {
    if (line.find(words) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("noise advice waits for at least 5 episodes over at least a day of history") {
  const auto loaded = rules::load_rules_text(k_rules, "rules.yaml");
  REQUIRE(loaded.ok());
  const rules::Rules& rules = *loaded.rules;

  struct Case {
    const char* intent;
    int episodes;
    Duration known;
    const char* expected;  // the one line of advice; nullptr: real advice
  };
  const Case cases[] = {
      {"one five-second episode is no evidence", 1, 5s,
       "not enough history (1 episode over 5s): advice needs at least 5 episodes over 1d"},
      {"twenty flaps within five minutes are still one burst", 20, 5min,
       "not enough history (20 episodes over 5m): advice needs at least 5 episodes over 1d"},
      {"four episodes over three days are too few", 4, 72h,
       "not enough history (4 episodes over 3d): advice needs at least 5 episodes over 1d"},
      {"five episodes over exactly a day are enough", 5, 24h, nullptr},
      {"thirty episodes over three days are enough", 30, 72h, nullptr},
  };
  for (const auto& c : cases) {
    INFO(c.intent);
    const NoisyAlert a = alert_with(rules, c.episodes, c.known);
    const auto advice = noise_advice(a, rules);
    if (c.expected != nullptr) {
      CHECK(advice == std::vector<std::string>{c.expected});
    } else {
      CHECK(advises(advice, "nobody acts on this alert"));
      CHECK_FALSE(advises(advice, "not enough history"));
    }
  }
}

}  // namespace engine_noise_view_test
