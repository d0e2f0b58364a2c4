// What delivery treats as secret, and the error text formed from a receiver's answer.
#include "delivery/redact.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "rules/loader.hpp"
#include "support/rules.hpp"

namespace delivery_redact_test {

using namespace tocsin;
using namespace tocsin::delivery;

namespace {

bool contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

}  // namespace

TEST_CASE("secret_values: every variable the rules name, and the secret parts of URLs") {
  const std::map<std::string, std::string> env = {
      {"RAW", "raw-token"},
      {"OG_IN", "og-hook-token"},
      {"EB", "eventbridge-token"},
      {"AM", "am-token"},
      {"GEN", "generic-token"},
      {"HB", "heartbeat-token"},
      {"OG_KEY", "genie-key"},
      {"PD_KEY", "routing-key"},
      {"HMAC", "hmac-secret"},
      {"HOOK_URL", "https://h.invalid/in/abcdefgh123?sig=query-sig"},
      {"PING", "https://ping.invalid/p/ping-uuid-0001"},
      {"API", "api-token"},
  };
  const rules::EnvLookup lookup = [&](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  const auto loaded = testing::rules_or_fail(R"(version: 1
sources:
  sns: {raw_token_env: RAW}
  opsgenie: {token_env: OG_IN}
  eventbridge: {token_env: EB}
  alertmanager: {token_env: AM}
  generic: {token_env: GEN}
  heartbeat: {token_env: HB}
channels:
  genie: {type: opsgenie, url: "https://api.opsgenie.invalid", api_key_env: OG_KEY}
  pd: {type: pagerduty, url: "https://events.invalid/v2/enqueue", routing_key_env: PD_KEY}
  hook: {type: webhook, url_env: HOOK_URL, secret_env: HMAC}
  room: {type: slack, url: "https://hooks.slack.invalid/services/T1/B2/slacktoken99"}
  basic: {type: webhook, url: "https://user:pa55word@w.invalid/x?token=inline-token"}
  slash: {type: webhook, url: "https://u2:pa/ss#w?rd@w.invalid/y"}
watchdog: {url_env: PING}
api:
  tokens: [{name: ops, token_env: API, scope: read}]
)",
                                             lookup);
  const auto values = secret_values(*loaded, lookup);
  for (const auto& [name, value] : env) {
    CAPTURE(name);
    CHECK(contains(values, value));
  }
  for (const std::string part :
       {"/in/abcdefgh123?sig=query-sig", "/in/abcdefgh123", "abcdefgh123", "query-sig",
        "/services/T1/B2/slacktoken99", "slacktoken99", "/p/ping-uuid-0001", "user:pa55word",
        "pa55word", "inline-token",
        // A password pasted with an unencoded '/', '#' or '?' ends the authority early for a
        // parser: still the user info, as the operator meant it.
        "u2:pa/ss#w?rd", "pa/ss#w?rd"}) {
    CAPTURE(part);
    CHECK(contains(values, part));
  }
  // Public endpoints are not secrets.
  CHECK_FALSE(contains(values, "/v2/enqueue"));
  CHECK_FALSE(contains(values, "https://api.opsgenie.invalid"));
}

TEST_CASE("attempt_error_text: redacted, then cut to one printable line") {
  const Redactor redactor({"the-secret-key"});
  AttemptResult r;
  r.http_status = 400;
  r.error = "HTTP 400";

  SUBCASE("no answer body: the error alone") {
    CHECK(attempt_error_text(r, redactor) == "HTTP 400");
  }
  SUBCASE("an echo: the secret replaced, line breaks escaped") {
    r.body = "POST /x\nAuthorization: GenieKey the-secret-key\n";
    CHECK(attempt_error_text(r, redactor) ==
          R"(HTTP 400: POST /x\nAuthorization: GenieKey [redacted]\n)");
  }
  SUBCASE("a secret across the cut is redacted before cutting, so no part of it shows") {
    r.body = std::string(k_error_text_bytes - 15, 'x') + "the-secret-key and more";
    const auto text = attempt_error_text(r, redactor);
    CHECK(text.find("the-") == std::string::npos);
    CHECK(text.size() <= k_error_text_bytes + 3);  // "…"
  }
  SUBCASE("a long answer is an excerpt") {
    r.body = std::string(100000, 'y');
    CHECK(attempt_error_text(r, redactor).size() == k_error_text_bytes + 3);
  }
  SUBCASE("errors without an answer are redacted too") {
    r.http_status.reset();
    r.error = "not sent: the-secret-key";
    CHECK(attempt_error_text(r, redactor) == "not sent: [redacted]");
  }
}

TEST_CASE("shown_url: where an attempt went, without the parts that may be secret") {
  struct Case {
    const char* intent;
    const char* url;
    bool whole;
    const char* shown;
  };
  const Case cases[] = {
      {"a plain URL shows whole", "http://127.0.0.1:9000/fallback", false,
       "http://127.0.0.1:9000/fallback"},
      {"query values are hidden, names kept",
       "https://api.opsgenie.com/v2/alerts/tocsin-a-1/close?identifierType=alias&token=s3cret",
       false, "https://api.opsgenie.com/v2/alerts/tocsin-a-1/close?identifierType=…&token=…"},
      {"user info and fragment are dropped", "https://bob:pw@example.com/hook#frag", false,
       "https://example.com/hook"},
      {"a secret URL keeps only its origin", "https://hooks.slack.com/services/T0/B0/XyZ", true,
       "https://hooks.slack.com/…"},
      {"a secret URL's query goes too", "https://hc-ping.com?uuid=abc", true,
       "https://hc-ping.com/…"},
      {"a secret URL that is only an origin shows whole", "http://127.0.0.1:8080/", true,
       "http://127.0.0.1:8080/"},
      {"an origin without a path", "http://[::1]:8080", false, "http://[::1]:8080"},
      {"not a URL", "hooks.slack.com/services/T0", false, "(the channel's URL)"},
      {"a password with an unencoded '/' is never shown", "http://user:pa/ss@127.0.0.1:9/x",
       false, "(the channel's URL)"},
      {"a password with an unencoded '#' is never shown", "http://user:pa#ss@127.0.0.1:9/x",
       false, "(the channel's URL)"},
      {"a password with an unencoded '?' is never shown", "http://user:pa?ss@127.0.0.1:9/x",
       false, "(the channel's URL)"},
      {"nor one of a secret URL", "http://user:pa/ss@127.0.0.1:9/x", true, "(the channel's URL)"},
      {"no host", "https:///path", false, "(the channel's URL)"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(shown_url(c.url, c.whole) == c.shown);
    }
  }
}

}  // namespace delivery_redact_test
