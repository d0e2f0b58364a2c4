#pragma once
// Rules for a test, from YAML written in the test: the test stops, showing the loader's
// diagnostics, when they do not load.

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "rules/loader.hpp"

namespace tocsin::testing {

// Every variable unset: a test's `*_env` settings read as unset (a warning, not an error)
// unless the test passes its own lookup. Never the process's environment.
inline std::optional<std::string> unset_env(const std::string&) {
  return std::nullopt;
}

// `yaml` loaded as rules.yaml, REQUIRE'd to load.
inline rules::RulesSnapshot rules_or_fail(const std::string& yaml,
                                          const rules::EnvLookup& env = unset_env) {
  auto loaded = rules::load_rules_text(yaml, "rules.yaml", env);
  std::string diagnostics;
  for (const auto& d : loaded.diagnostics)
    diagnostics += d.format() + "\n";
  INFO(diagnostics);
  REQUIRE(loaded.ok());
  return loaded.rules;
}

}  // namespace tocsin::testing
