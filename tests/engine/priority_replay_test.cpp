// Priority follows severity unless the rules set one (docs/behaviour.md "The rules file"), through
// `tocsin replay`: the quick start's critical alert on the shipped rules pages as P1, and a
// severity raised during an episode raises a derived priority with it.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/replay_run.hpp"

namespace engine_priority_replay_test {

using namespace tocsin;
using namespace tocsin::cli;
using namespace tocsin::testing;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-10-01T00:00:00Z");

Json generic(TimePoint at, const std::string& key, const std::string& severity) {
  return Json{{"at", format_timestamp(at)},
              {"hook", "generic"},
              {"body",
               {{"key", key},
                {"status", "firing"},
                {"severity", severity},
                {"summary", "oldest message 21 min"}}}};
}

std::string shipped_rules() {
  std::ifstream in(TOCSIN_SOURCE_DIR "/rules.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "action priority" of each notification to `channel`, in order.
std::vector<std::string> priorities(const ReplayRun& r, const std::string& channel) {
  std::vector<std::string> out;
  for (const auto& n : r.where("notify", "channel", channel))
    out.push_back(n["action"].get<std::string>() + " " + n["priority"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("priority: the quick start's critical alert pages as P1 on the shipped rules") {
  ReplayRun r =
      run_replay_lines(shipped_rules(), {generic(k_t0, "hooks-worker-backlog", "critical")});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(priorities(r, "alerts") == std::vector<std::string>{"trigger P1"});
}

TEST_CASE("priority: derived from the effective severity unless the rules set it") {
  const std::string head = R"(version: 1
channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
)";
  struct Case {
    const char* intent;
    std::string rules;
    std::vector<std::string> expected;  // warning at t0, critical at t0+1m (severity_raised)
  };
  const Case cases[] = {
      {"nothing set: warning is P3, and the raise to critical makes it P1",
       head + "rules:\n  - {name: all, match: {}, notify: [alerts]}\n",
       {"trigger P3", "trigger P1"}},
      {"the rule sets priority: it wins over severity, before and after the raise",
       head + "rules:\n  - {name: all, match: {}, notify: [alerts], priority: P4}\n",
       {"trigger P4", "trigger P4"}},
      {"defaults set priority: every rule inherits it",
       head + "defaults: {priority: P2}\nrules:\n  - {name: all, match: {}, notify: [alerts]}\n",
       {"trigger P2", "trigger P2"}},
      {"the rule sets severity high: P2 whatever the source says",
       head + "rules:\n  - {name: all, match: {}, notify: [alerts], severity: high}\n",
       {"trigger P2"}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      ReplayRun r = run_replay_lines(c.rules, {generic(k_t0, "disk-full", "warning"),
                                               generic(k_t0 + 1min, "disk-full", "critical")});
      INFO(r.err);
      REQUIRE(r.status == 0);
      CHECK(priorities(r, "alerts") == c.expected);
    }
  }
}

TEST_CASE("priority: info is P5") {
  ReplayRun r = run_replay_lines(R"(version: 1
channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
rules:
  - {name: all, match: {}, notify: [alerts]}
)",
                                 {generic(k_t0, "nightly-report", "info")});
  REQUIRE(r.status == 0);
  CHECK(priorities(r, "alerts") == std::vector<std::string>{"trigger P5"});
}

}  // namespace engine_priority_replay_test
