// `tocsin receive` (README "Quick start"): the one line printed for each body it receives.
#include "cli/receive.hpp"

#include <doctest/doctest.h>

using namespace tocsin;
using namespace tocsin::cli;

TEST_CASE("tocsin receive describes each notification in one line") {
  struct Case {
    const char* intent;
    const char* body;
    const char* line;
  };
  const Case cases[] = {
      {"a trigger names the channel, action, level, alert, episode, severity and summary",
       R"({"schema": "tocsin.notification/v1", "channel": "demo", "action": "trigger",
           "level": 0, "fingerprint": "generic:db-down", "episode": 1, "severity": "critical",
           "priority": "P1", "alert": {"name": "db-down", "summary": "primary is down"}})",
       "demo: trigger level 0: generic:db-down episode 1 (critical, P1): primary is down"},
      {"without a summary, the alert's name",
       R"({"schema": "tocsin.notification/v1", "channel": "demo", "action": "escalate",
           "level": 1, "fingerprint": "generic:db-down", "episode": 2, "severity": "high",
           "priority": "P2", "alert": {"name": "db-down", "summary": ""}})",
       "demo: escalate level 1: generic:db-down episode 2 (high, P2): db-down"},
      {"a digest says what it sums up",
       R"({"schema": "tocsin.notification/v1", "channel": "hourly", "action": "digest",
           "why": "digest of 3 notifications about 2 alerts"})",
       "hourly: digest: digest of 3 notifications about 2 alerts"},
      {"anything else is named for what it is", R"({"hello": "world"})",
       "received 18 bytes that are not a Tocsin notification (no \"schema\": "
       "\"tocsin.notification/v1\")"},
      {"a body that is not JSON at all", "not json",
       "received 8 bytes that are not a Tocsin notification (no \"schema\": "
       "\"tocsin.notification/v1\")"},
  };
  for (const auto& c : cases) {
    INFO(c.intent);
    CHECK(describe_notification(c.body) == c.line);
  }
}
