// tocsin test, in process (README "Rules as code"; docs/formats.md §13.3): tests run
// through the replay and fail with a diff; bad test files are refused with line and column.

#include "cli/rules_test.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "support/temp_dir.hpp"

namespace cli_rules_test_test {

using namespace tocsin::cli;
using namespace tocsin::testing;

namespace {

const char* const k_rules = R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  critical:
    steps:
      - {after: 0m, notify: [oncall]}
      - {after: 20m, notify: [cto]}
rules:
  - name: backup
    match: {source: generic, name: "backup-*"}
    severity: critical
    escalation: critical
)";

struct Tested {
  int status = -1;
  std::string out, err;
};

Tested run_tests(const std::string& tests, const char* rules = k_rules) {
  TempDir dir;
  RulesTestOptions o{dir.file("rules.yaml"), dir.file("rules.test.yaml")};
  std::ofstream(o.rules_path) << rules;
  std::ofstream(o.tests_path) << tests;
  std::ostringstream out, err;
  Tested t;
  t.status = run_rules_tests(o, out, err);
  t.out = out.str();
  t.err = err.str();
  return t;
}

const std::string k_input = R"(    inputs:
      - {at: +0s, hook: generic, body: {key: backup-db, status: firing}}
)";

}  // namespace

TEST_CASE("test command: expected notifications pass, to the second or within a tolerance") {
  struct Case {
    const char* intent;
    std::string test;
  };
  const Case cases[] = {
      {"exact times",
       "    notifications:\n"
       "      - {at: +0s, channel: oncall, action: trigger, level: 0, severity: critical, "
       "priority: P1, fingerprint: \"generic:backup-db\"}\n"
       "      - {at: +20m, channel: cto, action: escalate, level: 1}\n"},
      {"a tolerance",
       "    tolerance: 1m\n"
       "    notifications:\n"
       "      - {at: +1m, channel: oncall, action: trigger}\n"
       "      - {at: +19m, channel: cto, action: escalate}\n"},
      {"absolute times and decisions",
       "    notifications:\n"
       "      - {at: 2026-03-01T10:00:00Z, channel: oncall, action: trigger}\n"
       "      - {at: 2026-03-01T10:20:00Z, channel: cto, action: escalate}\n"
       "    decisions:\n"
       "      - {outcome: created, reason: first}\n"
       "      - {at: +20m, decision: escalated}\n"},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      Tested t = run_tests("tests:\n  - name: pages\n    start: 2026-03-01T10:00:00Z\n" + k_input +
                           k.test);
      INFO(t.out, t.err);
      CHECK(t.status == 0);
      CHECK(t.out.find("PASS pages") != std::string::npos);
      CHECK(t.out.find("1 test(s), 1 passed, 0 failed") != std::string::npos);
    }
  }
}

TEST_CASE("test command: a failing test is named, with a diff of expected and sent") {
  Tested t = run_tests("tests:\n  - name: good\n" + k_input +
                       "    notifications:\n"
                       "      - {at: +0s, channel: oncall, action: trigger}\n"
                       "      - {at: +20m, channel: cto, action: escalate}\n"
                       "  - name: the CTO is told too late\n" +
                       k_input +
                       "    until: +1h\n"
                       "    notifications:\n"
                       "      - {at: +0s, channel: oncall, action: trigger, level: 0}\n"
                       "      - {at: +10m, channel: cto, action: escalate, level: 1}\n");
  INFO(t.out, t.err);
  CHECK(t.status == 1);
  CHECK(t.out.find("PASS good") != std::string::npos);
  CHECK(t.out.find("FAIL the CTO is told too late (") != std::string::npos);
  CHECK(t.out.find(":8, start 2026-01-01T00:00:00.000Z)") != std::string::npos);
  CHECK(t.out.find("notifications up to +1h") != std::string::npos);
  CHECK(t.out.find("      +0s trigger oncall level 0") != std::string::npos);
  CHECK(t.out.find("    - +10m escalate cto level 1  (line 14)") != std::string::npos);
  CHECK(t.out.find("    + +20m escalate cto level 1 severity critical priority P1") !=
        std::string::npos);
  CHECK(t.out.find("2 test(s), 1 passed, 1 failed") != std::string::npos);
}

TEST_CASE(
    "test command: an input the hook would refuse fails its test, even one expecting silence") {
  struct Case {
    const char* intent;
    const char* input;
    const char* said;
  };
  const Case cases[] = {
      {"an unknown mapped source", "{at: +0s, hook: mapped/nope, body: {}}", "404"},
      {"a generic body without its key", "{at: +0s, hook: generic, body: {status: firing}}", "400"},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      Tested t = run_tests(std::string("tests:\n  - name: quiet\n    inputs:\n      - ") + k.input +
                           "\n    until: +5m\n    notifications: []\n");
      INFO(t.out, t.err);
      CHECK(t.status == 1);
      CHECK(t.out.find("FAIL quiet") != std::string::npos);
      CHECK(t.out.find("an input the hook would refuse: ") != std::string::npos);
      CHECK(t.out.find(std::string("would answer ") + k.said) != std::string::npos);
    }
  }
}

TEST_CASE("test command: notifications nobody expected, and decisions missing, fail") {
  SUBCASE("an unexpected notification") {
    Tested t = run_tests("tests:\n  - name: quiet\n" + k_input +
                         "    until: +5m\n    notifications: []\n");
    CHECK(t.status == 1);
    CHECK(t.out.find("    + +0s trigger oncall") != std::string::npos);
  }
  SUBCASE("a decision that did not happen") {
    Tested t =
        run_tests("tests:\n  - name: dropped\n" + k_input +
                  "    notifications:\n"
                  "      - {at: +0s, channel: oncall, action: trigger}\n"
                  "    decisions:\n      - {outcome: created}\n      - {decision: dropped}\n");
    INFO(t.out);
    CHECK(t.status == 1);
    CHECK(t.out.find("expected decision (line 9) dropped not found") != std::string::npos);
  }
}

TEST_CASE("test command: a bad test file is refused with line and column, nothing run") {
  struct Case {
    const char* intent;
    std::string file;
    std::string message;
  };
  const Case cases[] = {
      {"not YAML", "tests: [\n", "rules.test.yaml:2:1: error: invalid YAML"},
      {"no tests key", "test: []\n", "rules.test.yaml:1:1: error: unknown key \"test\""},
      {"an unknown key in a test", "tests:\n  - name: a\n    input: []\n    notifications: []\n",
       "rules.test.yaml:3:5: error: unknown key \"input\""},
      {"a bad time",
       "tests:\n  - name: a\n    inputs:\n      - {at: yesterday, hook: generic, body: {}}\n"
       "    notifications: []\n",
       "rules.test.yaml:4:14: error: an input: expected an RFC 3339 time"},
      {"an unknown action",
       "tests:\n  - name: a\n    inputs: []\n    notifications:\n"
       "      - {at: +0s, channel: oncall, action: triger}\n",
       "rules.test.yaml:5:44: error: an expected notification: expected one of trigger, escalate, "
       "reminder, acknowledge, "
       "resolve, digest for \"action\", got \"triger\" (did you mean \"trigger\"?)"},
      {"an input that is no replay line",
       "tests:\n  - name: a\n    inputs:\n      - {at: +0s, hook: nagios, body: {}}\n"
       "    notifications: []\n",
       "rules.test.yaml:4:9: error: input of test \"a\": unknown hook \"nagios\""},
      {"inputs out of order",
       "tests:\n  - name: a\n    inputs:\n"
       "      - {at: +5m, hook: generic, body: {key: a, status: firing}}\n"
       "      - {at: +1m, hook: generic, body: {key: a, status: resolved}}\n"
       "    notifications: []\n",
       "rules.test.yaml:5:14: error: an input: \"at\" 2026-01-01T00:01:00.000Z is before the input "
       "above it"},
      {"a decision with neither outcome nor decision",
       "tests:\n  - name: a\n    inputs: []\n    notifications: []\n    decisions: [{at: +0s}]\n",
       "rules.test.yaml:5:17: error: an expected decision needs exactly one of"},
      {"a test without a name", "tests:\n  - inputs: []\n    notifications: []\n",
       "rules.test.yaml:2:5: error: missing"},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      Tested t = run_tests(k.file);
      INFO(t.err);
      CHECK(t.status == 2);
      CHECK(t.err.find(k.message) != std::string::npos);
      CHECK(t.err.find("no test was run") != std::string::npos);
      CHECK(t.out.empty());
    }
  }
  SUBCASE("an invalid rules file") {
    Tested t = run_tests("tests: []\n", "version: 1\nrules: [{name: a}]\n");
    CHECK(t.status == 2);
    CHECK(t.err.find("is not a valid rules file") != std::string::npos);
  }
}

}  // namespace cli_rules_test_test
