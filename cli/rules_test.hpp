#pragma once
// `tocsin test RULES TESTS.yaml` (README "Rules as code"): unit tests for a rules file.

#include <iosfwd>
#include <string>

namespace tocsin::cli {

struct RulesTestOptions {
  std::string rules_path;
  std::string tests_path;
};

// Returns the exit status: 0 every test passed, 1 one failed (each failure named on `out` with a
// diff of the notifications expected and sent), 2 the rules or test file is invalid (every
// problem on `err` as PATH:LINE:COL: error: ...).
int run_rules_tests(const RulesTestOptions& options, std::ostream& out, std::ostream& err);

}  // namespace tocsin::cli
