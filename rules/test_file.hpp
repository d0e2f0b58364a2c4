#pragma once
// A rules test file (docs/formats.md §13.3), read strictly like the rules file: every
// problem with its line and column. What the tests mean (running their inputs through a replay and
// comparing notifications) is `tocsin test`'s business (cli/rules_test.cpp).

#include <optional>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "rules/loader.hpp"

namespace tocsin::rules {

// One input: a replay input line (docs/formats.md §13.1) whose `at` is resolved to an
// absolute time, as JSON text; checked as a replay line by the caller.
struct TestInput {
  int line = 0, column = 0;
  TimePoint at{};
  std::string json;
};

struct ExpectedNotification {
  int line = 0;
  TimePoint at{};
  std::string channel;
  std::string action;
  std::optional<int> level;
  std::optional<std::string> fingerprint, severity, priority;
};

// A decision or event outcome expected among the replay's event and decision lines, in order.
struct ExpectedDecision {
  int line = 0;
  std::optional<TimePoint> at;
  std::string what;  // an outcome (opened, deduplicated, ...) or a decision (escalated, ...)
  std::optional<std::string> reason;  // the recorded reason starts with this
  std::optional<std::string> fingerprint;
};

struct RulesTest {
  std::string name;
  int line = 0;
  TimePoint start{};
  TimePoint until{};      // the replay's clock runs to here; later notifications are not looked at
  Duration tolerance{0};  // how far an expected `at` may be from the actual one
  std::vector<TestInput> inputs;
  std::vector<ExpectedNotification> notifications;
  std::optional<std::vector<ExpectedDecision>> decisions;
};

struct RulesTestFile {
  std::vector<RulesTest> tests;
  std::vector<Diagnostic> diagnostics;  // in file order
  bool unreadable = false;
  bool ok() const;
};

// Where relative times count from when a test gives no `start`.
inline constexpr const char* k_default_test_start = "2026-01-01T00:00:00Z";

RulesTestFile load_rules_tests_text(const std::string& text, const std::string& path);
RulesTestFile load_rules_tests_file(const std::string& path);

}  // namespace tocsin::rules
