#include "engine/engine.hpp"

#include <doctest/doctest.h>

#include "rules/loader.hpp"
#include "support/rules.hpp"

namespace engine_engine_test {

using namespace tocsin;
using namespace tocsin::engine;

TEST_CASE("effective_severity: a rule's own severity, else the source's, else the defaults'") {
  const auto loaded = testing::rules_or_fail(R"(version: 1
defaults: {severity: warning}
rules:
  - {name: pinned, match: {name: pinned}, severity: critical}
  - {name: plain, match: {name: plain}}
)");
  const rules::Rules& r = *loaded;
  const rules::Rule* pinned = &r.rules[0];
  const rules::Rule* plain = &r.rules[1];

  NormalizedEvent says_info;
  says_info.severity = Severity::info;
  NormalizedEvent says_nothing;

  struct Case {
    const char* intent;
    const rules::Rule* rule;
    const NormalizedEvent& event;
    Severity expected;
  };
  const Case cases[] = {
      {"a rule that names a severity overrides the source", pinned, says_info, Severity::critical},
      {"a rule without one lets the source's severity through", plain, says_info, Severity::info},
      {"neither: the rule's inherited default", plain, says_nothing, Severity::warning},
      {"no rule matched: the source's severity", nullptr, says_info, Severity::info},
      {"no rule and no severity: the defaults", nullptr, says_nothing, Severity::warning},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(effective_severity(r, c.rule, c.event) == c.expected);
  }
}

}  // namespace engine_engine_test
