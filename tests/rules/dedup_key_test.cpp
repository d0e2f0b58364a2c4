#include "rules/dedup_key.hpp"

#include <doctest/doctest.h>

namespace rules_dedup_key_test {

using namespace tocsin;

TEST_CASE("render_dedup_key fills every placeholder from the event") {
  NormalizedEvent e;
  e.source = Source::cloudwatch;
  e.name = "api-5xx-rate";
  e.account = "123456789012";
  e.region = "us-east-1";
  e.labels = {{"service", "checkout"}, {"env", "prod"}};
  struct Case {
    const char* intent;
    const char* key_template;
    const char* expected;
  };
  const Case cases[] = {
      {"plain text is kept", "static-key", "static-key"},
      {"source and name", "{source}:{name}", "cloudwatch:api-5xx-rate"},
      {"account and region", "{account}/{region}", "123456789012/us-east-1"},
      {"a label by name", "svc:{labels.service}:{labels.env}", "svc:checkout:prod"},
      {"a label the event lacks renders empty", "{labels.team}-x", "-x"},
      {"adjacent placeholders", "{name}{region}", "api-5xx-rateus-east-1"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(rules::render_dedup_key(c.key_template, e) == c.expected);
  }
}

}  // namespace rules_dedup_key_test
