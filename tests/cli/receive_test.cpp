// `tocsin receive` (README "Quick start (Debian 12)"): the one line printed for each body it
// receives.
#include "cli/receive.hpp"

#include <doctest/doctest.h>

namespace cli_receive_test {

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

// An alert's summary is whatever a hook's sender wrote: it must not drive the terminal that
// runs `tocsin receive` (set its title, move the cursor, reorder text).
TEST_CASE("tocsin receive prints control characters escaped") {
  // JSON escapes: ESC ] 0;pwned BEL (set the title), U+202E (right-to-left override).
  const std::string summary = R"(db \u001b]0;pwned\u0007 \u202e down)";
  const std::string body = R"({"schema": "tocsin.notification/v1", "channel": "demo",
      "action": "trigger", "level": 0, "fingerprint": "generic:x", "episode": 1,
      "severity": "critical", "priority": "P1", "alert": {"summary": ")" +
                           summary + "\"}}";
  const std::string printed = received_text(body);
  CHECK(printed.find('\x1b') == std::string::npos);
  CHECK(printed.find('\x07') == std::string::npos);
  CHECK(printed.find("\xE2\x80\xAE") == std::string::npos);
  CHECK(printed.starts_with("demo: trigger level 0: generic:x episode 1 (critical, P1): db "));

  const std::string raw = received_text("not json \x1b[2J\nsecond line\r\n");
  CHECK(raw.find('\x1b') == std::string::npos);
  CHECK(raw.find('\r') == std::string::npos);
  // Lines stay lines.
  CHECK(raw.ends_with("\nnot json \\x1b[2J\nsecond line\\r\n\n"));
}

}  // namespace cli_receive_test
