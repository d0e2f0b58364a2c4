#include "delivery/format.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "core/json.hpp"
#include "delivery/digest.hpp"
#include "ingest/opsgenie.hpp"
#include "storage/vocabulary.hpp"
#include "support/fixtures.hpp"

namespace delivery_format_test {

using namespace tocsin;
using namespace tocsin::delivery;
using rules::Channel;
using rules::ChannelType;
using rules::EnvLookup;
using tocsin::testing::fixture;

namespace {

constexpr const char* k_api_key = "og-key-5f2a9c1e-secret";
constexpr const char* k_routing_key = "R0123456789ABCDEF0123456789SECRET";
constexpr const char* k_slack_url = "https://hooks.slack.com/services/T000/B000/slack-url-secret";
constexpr const char* k_hmac_secret = "webhook-test-secret";

constexpr const char* k_alias = "tocsin-0123456789ab-3";
constexpr const char* k_fingerprint =
    "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age";

const char* const k_secrets[] = {k_api_key, k_routing_key, k_slack_url, k_hmac_secret};

// Also used for constants initialised before doctest runs: no REQUIRE here.
TimePoint at(const char* text) {
  return parse_timestamp(text).value();
}

const std::map<std::string, std::string> k_all_vars = {
    {"OPSGENIE_API_KEY", k_api_key},
    {"PD_CTO_KEY", k_routing_key},
    {"SLACK_ALERTS_URL", k_slack_url},
    {"HOOK_SECRET", k_hmac_secret},
};

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Channel opsgenie_channel(std::string url = "https://api.opsgenie.com") {
  Channel c;
  c.name = "oncall";
  c.type = ChannelType::opsgenie;
  c.url = std::move(url);
  c.api_key_env = "OPSGENIE_API_KEY";
  return c;
}

Channel pagerduty_channel() {
  Channel c;
  c.name = "cto";
  c.type = ChannelType::pagerduty;
  c.url = "https://events.pagerduty.com/v2/enqueue";
  c.routing_key_env = "PD_CTO_KEY";
  return c;
}

Channel slack_channel() {
  Channel c;
  c.name = "alerts";
  c.type = ChannelType::slack;
  c.url_env = "SLACK_ALERTS_URL";
  return c;
}

Channel webhook_channel(bool signed_with_secret) {
  Channel c;
  c.name = "hooks";
  c.type = ChannelType::webhook;
  c.url = "http://127.0.0.1:9000/hook";
  if (signed_with_secret) c.secret_env = "HOOK_SECRET";
  return c;
}

const TimePoint k_created = at("2026-03-02T10:03:41.118Z");
const TimePoint k_now = at("2026-03-02T12:09:11.500Z");  // 2h5m30.382s after k_created

// The §1 queue alarm, episode 3, told to `channel` with `action`.
Message message(const std::string& action, const std::string& channel = "oncall") {
  Message m;
  auto& n = m.notification;
  n.id = 42;
  n.created_at = k_created;
  n.due_at = k_created;
  n.alert_id = 7;
  n.episode = 3;
  n.fingerprint = k_fingerprint;
  n.alias = k_alias;
  n.channel = channel;
  n.action = storage::parse_stored<rules::NotifyAction>(action);
  n.level = action == "escalate" ? 1 : 0;
  n.severity = Severity::critical;
  n.priority = Priority{1};
  n.noise = 12.5;
  n.why = "first occurrence";
  auto& a = m.alert;
  a.id = 7;
  a.fingerprint = k_fingerprint;
  a.source = Source::cloudwatch;
  a.name = "hooks-worker-oldest-message-age";
  a.account = "123456789012";
  a.region = "us-east-1";
  a.metric = "ApproximateAgeOfOldestMessage";
  a.namespace_ = "AWS/SQS";
  a.labels = {{"QueueName", "hooks-worker"}};
  a.summary = "oldest message 21 min";
  a.description = "Threshold Crossed: 3 datapoints were greater than the threshold (900.0).";
  m.episode_opened_at = k_created;
  m.public_url = "http://tocsin.internal:8080/";
  return m;
}

HttpRequest request(const Channel& c, const Message& m, const EnvLookup& env = env_of(k_all_vars),
                    TimePoint now = k_now) {
  auto r = format_request(c, m, env, now);
  if (!r) FAIL_CHECK(r.error());
  REQUIRE(r.has_value());
  return std::move(*r);
}

std::string error_of(const Channel& c, const Message& m, const EnvLookup& env) {
  auto r = format_request(c, m, env, k_now);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

std::optional<std::string> header(const HttpRequest& r, std::string_view name) {
  std::optional<std::string> found;
  for (const auto& [key, value] : r.headers) {
    if (key == name) {
      CHECK_MESSAGE(!found, "header " << name << " appears twice");
      found = value;
    }
  }
  return found;
}

std::vector<std::string> header_names(const HttpRequest& r) {
  std::vector<std::string> names;
  for (const auto& h : r.headers)
    names.push_back(h.first);
  return names;
}

Json body_of(const HttpRequest& r) {
  auto parsed = parse_json_strict(r.body);
  REQUIRE_MESSAGE(parsed.has_value(), r.body);
  return *parsed;
}

std::set<std::string> keys_of(const Json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items())
    keys.insert(item.key());
  return keys;
}

// The fixture's request body, for comparing shapes (its values come from another tool).
Json fixture_body(const char* file) {
  return Json::parse(fixture(std::string("outgoing/") + file)).at("body");
}

std::string repeat(std::string_view s, int times) {
  std::string out;
  for (int i = 0; i < times; ++i)
    out += s;
  return out;
}

bool contains(const Json& array, const std::string& value) {
  for (const auto& v : array) {
    if (v == value) return true;
  }
  return false;
}

// Everything in a request but the one place a secret belongs, concatenated.
std::string request_text_except(const HttpRequest& r, std::string_view header_name,
                                const char* body_key) {
  std::string text = r.method + "\n" + r.url + "\n";
  for (const auto& [key, value] : r.headers) {
    if (key != header_name) text += key + ": " + value + "\n";
  }
  auto body = body_of(r);
  if (body_key != nullptr) body.erase(body_key);
  return text + body.dump();
}

}  // namespace

// ---- OpsGenie ---------------------------------------------------------------------------

TEST_CASE("OpsGenie format: announcing actions create the alert under the episode alias") {
  for (const char* action : {"trigger", "escalate", "reminder", "digest"}) {
    CAPTURE(action);
    auto r = request(opsgenie_channel(), message(action));
    CHECK(r.method == "POST");
    CHECK(r.url == "https://api.opsgenie.com/v2/alerts");
    CHECK(header(r, "Authorization") == "GenieKey " + std::string(k_api_key));
    CHECK(header(r, "Content-Type") == "application/json");
    CHECK(r.headers.size() == 2);

    auto body = body_of(r);
    // Same keys as the fixture's create, less what Tocsin has no source for.
    auto fixture_keys = keys_of(fixture_body("opsgenie_create_alert.request.json"));
    for (const char* unused : {"responders", "visibleTo", "actions", "entity"}) {
      fixture_keys.erase(unused);
    }
    CHECK(keys_of(body) == fixture_keys);
    CHECK(body["alias"] == k_alias);  // the episode's, never the fingerprint
    CHECK(body["priority"] == "P1");
    CHECK(body["source"] == "tocsin");
    CHECK(body["user"] == std::string(k_opsgenie_user));
    CHECK(body["note"] == "first occurrence");
    CHECK(body["message"] == "hooks-worker-oldest-message-age: oldest message 21 min");

    const auto& tags = body["tags"];
    for (const char* tag : {"tocsin", "cloudwatch", "severity:critical", "account:123456789012",
                            "region:us-east-1"}) {
      CHECK_MESSAGE(contains(tags, tag), tag);
    }

    const auto& details = body["details"];
    for (const auto& [key, value] : details.items()) {
      CHECK_MESSAGE(value.is_string(), "OpsGenie details are strings: " << key);
    }
    CHECK(details["fingerprint"] == k_fingerprint);
    CHECK(details["episode"] == "3");
    CHECK(details["level"] == (std::string(action) == "escalate" ? "1" : "0"));
    CHECK(details["action"] == action);
    CHECK(details["why"] == "first occurrence");
    CHECK(details["noise"] == "12.5");
    CHECK(details["QueueName"] == "hooks-worker");
    CHECK(details["tocsin_url"] == "http://tocsin.internal:8080/api/v1/alerts/7");

    if (std::string(action) == "digest") {
      CHECK(body["description"] == "first occurrence");
    } else {
      CHECK(body["description"] ==
            "oldest message 21 min\n\nThreshold Crossed: 3 datapoints were greater than the "
            "threshold (900.0).");
    }
  }
}

TEST_CASE("OpsGenie format: acknowledge and resolve act on the alert by its alias") {
  struct Case {
    const char* action;
    const char* path;
  };
  for (const Case& c : {Case{"acknowledge", "acknowledge"}, Case{"resolve", "close"}}) {
    CAPTURE(c.action);
    auto r = request(opsgenie_channel(), message(c.action));
    CHECK(r.method == "POST");
    CHECK(r.url == "https://api.opsgenie.com/v2/alerts/" + std::string(k_alias) + "/" + c.path +
                       "?identifierType=alias");
    CHECK(header(r, "Authorization") == "GenieKey " + std::string(k_api_key));
    CHECK(header(r, "Content-Type") == "application/json");
    auto body = body_of(r);
    CHECK(keys_of(body) == keys_of(fixture_body("opsgenie_close_alert.request.json")));
    CHECK(body == Json{{"user", "Tocsin"}, {"source", "tocsin"}, {"note", "first occurrence"}});
  }
}

TEST_CASE("OpsGenie format: OpsGenie's echo of Tocsin's own close is recognised as such") {
  // OpsGenie reports Tocsin's close back through its webhook with the `user` Tocsin sent as
  // `username`; two-way sync must see it as its own echo and not act on it again.
  auto close = body_of(request(opsgenie_channel(), message("resolve")));
  auto echo_by = [&](const Json& user) {
    auto body = Json::parse(fixture("edge/opsgenie_close_by_api.json"));
    body["alert"]["alias"] = k_alias;
    body["alert"]["username"] = user;
    auto w = ingest::parse_opsgenie_webhook(body.dump());
    REQUIRE(w.has_value());
    return ingest::is_own_echo(*w, k_opsgenie_user);
  };
  CHECK(echo_by(close["user"]));
  CHECK_FALSE(echo_by("alice@example.com"));
}

TEST_CASE("OpsGenie format: the alias is one percent-encoded path segment") {
  SUBCASE("the fixture's special alias gives the fixture's URL") {
    auto m = message("resolve");
    m.notification.alias = R"(cw:123456789012:us-east-1:payments API / p99 latency "eu" 50% #1)";
    auto r = request(opsgenie_channel(), m);
    const auto expected =
        Json::parse(fixture("outgoing/opsgenie_close_alert_special_alias.request.json"));
    CHECK(r.url == expected["url"].get<std::string>());
  }
  SUBCASE("each reserved or non-ASCII byte") {
    struct Case {
      const char* intent;
      const char* alias;
      const char* segment;
    };
    const Case cases[] = {
        {"unreserved characters stay", "tocsin-0a_b.c~9", "tocsin-0a_b.c~9"},
        {"a space", "a b", "a%20b"},
        {"a slash must not start a new segment", "a/b", "a%2Fb"},
        {"a double quote", "a\"b", "a%22b"},
        {"a percent sign is not taken as an escape", "50%", "50%25"},
        {"a hash must not start a fragment", "a#1", "a%231"},
        {"a question mark must not start the query", "a?b", "a%3Fb"},
        {"a colon, as the fixture encodes it", "cw:1", "cw%3A1"},
        {"a plus, which some servers read as a space", "a+b", "a%2Bb"},
        {"UTF-8 bytes, upper-case hex", "caf\xC3\xA9-\xE2\x9C\x93", "caf%C3%A9-%E2%9C%93"},
        {"a lone dot is not a dot-segment", ".", "%2E"},
        {"two dots are not a dot-segment", "..", "%2E%2E"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.intent);
      auto m = message("acknowledge");
      m.notification.alias = c.alias;
      auto r = request(opsgenie_channel(), m);
      CHECK(r.url == "https://api.opsgenie.com/v2/alerts/" + std::string(c.segment) +
                         "/acknowledge?identifierType=alias");
    }
  }
}

TEST_CASE("OpsGenie format: the base URL is configurable (JSM, EU) and may end with a slash") {
  auto r = request(opsgenie_channel("https://api.eu.opsgenie.com/"), message("trigger"));
  CHECK(r.url == "https://api.eu.opsgenie.com/v2/alerts");
  r = request(opsgenie_channel("http://127.0.0.1:4010/jsm//"), message("resolve"));
  CHECK(r.url == "http://127.0.0.1:4010/jsm/v2/alerts/" + std::string(k_alias) +
                     "/close?identifierType=alias");
}

TEST_CASE("OpsGenie format: the message is cut to 130 bytes on a UTF-8 boundary") {
  const std::string ellipsis = "\xE2\x80\xA6";
  struct Case {
    const char* intent;
    std::string name;      // the alert's name; its summary is empty
    std::string expected;  // the whole message
  };
  const std::string a127(127, 'a');
  const Case cases[] = {
      {"130 bytes fit as they are", std::string(130, 'a'), std::string(130, 'a')},
      {"131 bytes: 127 and an ellipsis", std::string(131, 'a'), a127 + ellipsis},
      {"a 2-byte character across byte 127 is left out whole",
       std::string(126, 'a') + "\xC3\xA9" + std::string(10, 'b'), std::string(126, 'a') + ellipsis},
      {"a 3-byte character ending at byte 127 is kept",
       std::string(124, 'a') + "\xE2\x9C\x93" + std::string(10, 'b'),
       std::string(124, 'a') + "\xE2\x9C\x93" + ellipsis},
      {"a 4-byte character across byte 127 is left out whole",
       std::string(125, 'a') + "\xF0\x9F\x94\xA5" + std::string(10, 'b'),
       std::string(125, 'a') + ellipsis},
      {"two-byte characters only: the cut backs off to a whole one", repeat("\xC3\xA9", 70),
       repeat("\xC3\xA9", 63) + ellipsis},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto m = message("trigger");
    m.alert.name = c.name;
    m.alert.summary.clear();
    auto body = body_of(request(opsgenie_channel(), m));
    const auto text = body["message"].get<std::string>();
    CHECK(text.size() <= 130);
    CHECK(is_valid_utf8(text));
    CHECK(text == c.expected);
  }
  SUBCASE("a long description is cut to 15000 bytes") {
    auto m = message("trigger");
    m.alert.summary.clear();
    m.alert.description = std::string(20000, 'x');
    auto body = body_of(request(opsgenie_channel(), m));
    const auto text = body["description"].get<std::string>();
    CHECK(text == std::string(14997, 'x') + ellipsis);
  }
}

TEST_CASE("OpsGenie format: a label named like a Tocsin detail keeps its value") {
  auto m = message("trigger");
  m.alert.labels = {{"fingerprint", "theirs"}, {"team", "sre"}};
  auto details = body_of(request(opsgenie_channel(), m))["details"];
  CHECK(details["fingerprint"] == k_fingerprint);
  CHECK(details["label:fingerprint"] == "theirs");
  CHECK(details["team"] == "sre");
}

TEST_CASE("OpsGenie format: without a public URL or noise score those details are left out") {
  auto m = message("trigger");
  m.public_url.clear();
  m.notification.noise.reset();
  auto details = body_of(request(opsgenie_channel(), m))["details"];
  CHECK_FALSE(details.contains("tocsin_url"));
  CHECK_FALSE(details.contains("noise"));
}

// ---- PagerDuty --------------------------------------------------------------------------

TEST_CASE("PagerDuty format: every action maps to an Events API v2 event on the episode key") {
  struct Case {
    const char* action;
    const char* event_action;
  };
  const Case cases[] = {
      {"trigger", "trigger"}, {"escalate", "trigger"},        {"reminder", "trigger"},
      {"digest", "trigger"},  {"acknowledge", "acknowledge"}, {"resolve", "resolve"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.action);
    auto r = request(pagerduty_channel(), message(c.action, "cto"));
    CHECK(r.method == "POST");
    CHECK(r.url == "https://events.pagerduty.com/v2/enqueue");
    CHECK(header_names(r) == std::vector<std::string>{"Content-Type"});
    CHECK(header(r, "Content-Type") == "application/json");
    auto body = body_of(r);
    CHECK(body["routing_key"] == k_routing_key);
    CHECK(body["event_action"] == c.event_action);
    CHECK(body["dedup_key"] == k_alias);
    if (std::string(c.event_action) != "trigger") {
      // Only what the fixture's resolve carries: no payload for ack/resolve.
      CHECK(keys_of(body) == keys_of(fixture_body("pagerduty_resolve.request.json")));
      continue;
    }
    CHECK(body["client"] == "Tocsin");
    CHECK(body["client_url"] == "http://tocsin.internal:8080/api/v1/alerts/7");
    const auto& payload = body["payload"];
    // Every payload field is one the fixture (the Events API) knows.
    const auto fixture_payload = keys_of(fixture_body("pagerduty_trigger.request.json")["payload"]);
    for (const auto& key : keys_of(payload))
      CHECK_MESSAGE(fixture_payload.count(key), key);
    CHECK(payload["summary"] == "hooks-worker-oldest-message-age: oldest message 21 min");
    CHECK(payload["source"] == "cloudwatch:123456789012:us-east-1");
    CHECK(payload["severity"] == "critical");
    CHECK(payload["timestamp"] == "2026-03-02T10:03:41.118Z");
    CHECK(payload["group"] == "AWS/SQS");
    CHECK(payload["class"] == "ApproximateAgeOfOldestMessage");
    const auto& details = payload["custom_details"];
    CHECK(details["fingerprint"] == k_fingerprint);
    CHECK(details["episode"] == 3);
    CHECK(details["action"] == c.action);
    CHECK(details["why"] == "first occurrence");
    CHECK(details["noise"] == 12.5);
    CHECK(details["labels"] == Json{{"QueueName", "hooks-worker"}});
    CHECK(details["tocsin_url"] == "http://tocsin.internal:8080/api/v1/alerts/7");
  }
}

TEST_CASE("PagerDuty format: severities map onto PagerDuty's four") {
  struct Case {
    Severity severity;
    const char* expected;
  };
  const Case cases[] = {{Severity::critical, "critical"},
                        {Severity::high, "error"},
                        {Severity::warning, "warning"},
                        {Severity::info, "info"}};
  for (const auto& c : cases) {
    CAPTURE(c.expected);
    auto m = message("trigger", "cto");
    m.notification.severity = c.severity;
    CHECK(body_of(request(pagerduty_channel(), m))["payload"]["severity"] == c.expected);
  }
}

TEST_CASE("PagerDuty format: the summary is cut to 1024 bytes") {
  auto m = message("trigger", "cto");
  m.alert.summary = std::string(2000, 's');
  const auto summary =
      body_of(request(pagerduty_channel(), m))["payload"]["summary"].get<std::string>();
  CHECK(summary.size() == 1024);
  CHECK(summary.substr(summary.size() - 3) == "\xE2\x80\xA6");
}

// ---- Slack ------------------------------------------------------------------------------

namespace {

std::string all_block_text(const Json& body) {
  std::string text;
  for (const auto& block : body["blocks"])
    text += block.dump() + "\n";
  return text;
}

}  // namespace

TEST_CASE("Slack format: every action says what happened, first") {
  struct Case {
    const char* action;
    const char* status;
  };
  const Case cases[] = {
      {"trigger", "FIRING"},           {"escalate", "ESCALATED"}, {"reminder", "REMINDER"},
      {"acknowledge", "ACKNOWLEDGED"}, {"resolve", "RESOLVED"},   {"digest", "DIGEST"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.action);
    auto r = request(slack_channel(), message(c.action, "alerts"));
    CHECK(r.method == "POST");
    CHECK(r.url == k_slack_url);
    CHECK(header_names(r) == std::vector<std::string>{"Content-Type"});
    auto body = body_of(r);
    CHECK(keys_of(body) == std::set<std::string>{"text", "blocks"});
    const auto text = body["text"].get<std::string>();
    CHECK(text.find(std::string(" ") + c.status + ": hooks-worker-oldest-message-age") !=
          std::string::npos);
    CHECK(text.find("(critical, P1)") != std::string::npos);

    const auto& blocks = body["blocks"];
    REQUIRE(blocks.size() == 4);
    CHECK(blocks[0]["type"] == "header");
    CHECK(blocks[0]["text"]["type"] == "plain_text");
    CHECK(blocks[0]["text"]["text"] == std::string(c.status) + ": hooks-worker-oldest-message-age");
    CHECK(blocks[1]["type"] == "section");
    CHECK(blocks[2]["type"] == "section");
    CHECK(blocks[3]["type"] == "context");

    std::vector<std::string> fields;
    for (const auto& f : blocks[2]["fields"])
      fields.push_back(f["text"].get<std::string>());
    CHECK(fields ==
          std::vector<std::string>{
              "*Severity*\ncritical", "*Priority*\nP1", "*Episode*\n3",
              std::string("*Level*\n") + (c.action == std::string("escalate") ? "1" : "0"),
              "*Age*\n2h5m", "*Noise*\n12.5", "*Account*\n123456789012", "*Region*\nus-east-1"});
    const auto section = blocks[1]["text"]["text"].get<std::string>();
    if (c.action == std::string("digest")) {
      CHECK(section == "first occurrence");
    } else {
      CHECK(section.find("oldest message 21 min") == 0);
      CHECK(section.find("*Why:* first occurrence") != std::string::npos);
    }
    CHECK(blocks[3]["elements"][0]["text"] ==
          "Tocsin | alias `tocsin-0123456789ab-3` | "
          "<http://tocsin.internal:8080/api/v1/alerts/7|alert 7>");
  }
}

TEST_CASE("Slack format: the age is read at sending time, rounded for people") {
  struct Case {
    Duration open_for;
    const char* age;
  };
  using namespace std::chrono;
  const Case cases[] = {
      {milliseconds(1500), "1s"},
      {minutes(59) + seconds(59) + milliseconds(999), "59m59s"},
      {hours(2) + minutes(5) + seconds(30), "2h5m"},
      {hours(24 * 62) + minutes(1), "62d1m"},
      {-minutes(1), "0s"},  // a clock behind the opening is not a negative age
  };
  for (const auto& c : cases) {
    CAPTURE(c.age);
    auto m = message("reminder", "alerts");
    m.episode_opened_at = k_now - c.open_for;
    auto fields = body_of(request(slack_channel(), m))["blocks"][2]["fields"];
    CHECK(fields[4]["text"] == std::string("*Age*\n") + c.age);
  }
  SUBCASE("no opening time, no age field") {
    auto m = message("trigger", "alerts");
    m.episode_opened_at.reset();
    CHECK(all_block_text(body_of(request(slack_channel(), m))).find("*Age*") == std::string::npos);
  }
}

TEST_CASE("Slack format: text from alerts cannot make links or mentions") {
  auto m = message("trigger", "alerts");
  m.alert.name = "db <prod> & co";
  m.alert.summary = "<!channel> look at <https://evil.example|this>";
  m.alert.description.clear();
  m.notification.why = "a > b";
  auto r = request(slack_channel(), m);
  auto body = body_of(r);
  const auto text = body["text"].get<std::string>();
  CHECK(text.find("db &lt;prod&gt; &amp; co: &lt;!channel&gt; look at "
                  "&lt;https://evil.example|this&gt;") != std::string::npos);
  const auto section = body["blocks"][1]["text"]["text"].get<std::string>();
  CHECK(section == "&lt;!channel&gt; look at &lt;https://evil.example|this&gt;\n*Why:* a &gt; b");
  // The header is plain_text, where Slack shows characters as they are.
  CHECK(body["blocks"][0]["text"]["text"] == "FIRING: db <prod> & co");
  CHECK(r.body.find("<!channel>") == std::string::npos);
}

TEST_CASE("Slack format: long texts fit Slack's block limits without a cut escape") {
  auto m = message("trigger", "alerts");
  m.alert.name = std::string(200, 'n');
  m.alert.summary.clear();
  m.alert.description = std::string(2996, 'd') + "&&&&";
  m.notification.why.clear();
  auto blocks = body_of(request(slack_channel(), m))["blocks"];
  const auto header_text = blocks[0]["text"]["text"].get<std::string>();
  CHECK(header_text.size() == 150);
  const auto section = blocks[1]["text"]["text"].get<std::string>();
  CHECK(section.size() <= 3000);
  // 2996 d's leave room for no whole "&amp;" before the ellipsis.
  CHECK(section == std::string(2996, 'd') + "\xE2\x80\xA6");
}

// ---- webhook ----------------------------------------------------------------------------

TEST_CASE("webhook format: the body is Tocsin's notification schema") {
  for (const char* action :
       {"trigger", "escalate", "reminder", "acknowledge", "resolve", "digest"}) {
    CAPTURE(action);
    auto r = request(webhook_channel(false), message(action, "hooks"));
    CHECK(r.method == "POST");
    CHECK(r.url == "http://127.0.0.1:9000/hook");
    CHECK(header_names(r) == std::vector<std::string>{"Content-Type", "X-Tocsin-Event-Id"});
    CHECK(header(r, "Content-Type") == "application/json");
    CHECK(header(r, "X-Tocsin-Event-Id") == "42");
    Json expected = {
        {"schema", "tocsin.notification/v1"},
        {"id", 42},
        {"action", action},
        {"channel", "hooks"},
        {"alias", k_alias},
        {"fingerprint", k_fingerprint},
        {"episode", 3},
        {"level", std::string(action) == "escalate" ? 1 : 0},
        {"severity", "critical"},
        {"priority", "P1"},
        {"noise", 12.5},
        {"why", "first occurrence"},
        {"at", "2026-03-02T10:03:41.118Z"},
        {"alert",
         {{"id", 7},
          {"source", "cloudwatch"},
          {"name", "hooks-worker-oldest-message-age"},
          {"account", "123456789012"},
          {"region", "us-east-1"},
          {"metric", "ApproximateAgeOfOldestMessage"},
          {"namespace", "AWS/SQS"},
          {"labels", {{"QueueName", "hooks-worker"}}},
          {"summary", "oldest message 21 min"},
          {"description",
           "Threshold Crossed: 3 datapoints were greater than the threshold "
           "(900.0)."},
          {"url", "http://tocsin.internal:8080/api/v1/alerts/7"}}},
    };
    // A digest always carries its list, null when the row has none to read.
    if (std::string(action) == "digest") expected["digest"] = nullptr;
    CHECK(body_of(r) == expected);
  }
}

TEST_CASE("webhook format: the signature is HMAC-SHA256 over timestamp.body") {
  Message m;
  auto& n = m.notification;
  n.id = 42;
  n.created_at = k_created;
  n.alert_id = 7;
  n.episode = 3;
  n.fingerprint = "generic:queue";
  n.alias = "tocsin-abc-3";
  n.channel = "hooks";
  n.action = rules::NotifyAction::trigger;
  n.severity = Severity::critical;
  n.priority = Priority{1};
  n.why = "first occurrence";
  m.alert.id = 7;
  m.alert.fingerprint = "generic:queue";
  m.alert.source = Source::generic;
  m.alert.name = "queue";
  m.alert.summary = "backlog";
  m.alert.labels = {{"queue", "hooks-worker"}};

  // Written by hand, and signed outside Tocsin with
  //   printf '%s' "1772445825.$BODY" | openssl dgst -sha256 -hmac webhook-test-secret
  const std::string expected_body =
      R"({"action":"trigger","alert":{"account":"","description":"","id":7,)"
      R"("labels":{"queue":"hooks-worker"},"metric":"","name":"queue","namespace":"",)"
      R"("region":"","source":"generic","summary":"backlog","url":null},)"
      R"("alias":"tocsin-abc-3","at":"2026-03-02T10:03:41.118Z","channel":"hooks",)"
      R"("episode":3,"fingerprint":"generic:queue","id":42,"level":0,"noise":null,)"
      R"("priority":"P1","schema":"tocsin.notification/v1","severity":"critical",)"
      R"("why":"first occurrence"})";
  const TimePoint now = at("2026-03-02T10:03:45.999Z");  // Unix 1772445825 and a fraction

  auto r = request(webhook_channel(true), m, env_of(k_all_vars), now);
  CHECK(r.body == expected_body);
  CHECK(header_names(r) == std::vector<std::string>{"Content-Type", "X-Tocsin-Event-Id",
                                                    "X-Tocsin-Timestamp", "X-Tocsin-Signature"});
  CHECK(header(r, "X-Tocsin-Timestamp") == "1772445825");
  CHECK(header(r, "X-Tocsin-Signature") ==
        "sha256=195030ac46e5a25641a82c3b0a64017b1afbef9d620a1d9c02a6098eb118018d");

  SUBCASE("another secret, another signature") {
    auto other = request(webhook_channel(true), m,
                         env_of({{"HOOK_SECRET", std::string(k_hmac_secret) + "x"}}), now);
    CHECK(other.body == expected_body);
    CHECK(header(other, "X-Tocsin-Signature") != header(r, "X-Tocsin-Signature"));
  }
  SUBCASE("a retry a second later is signed afresh over the same body") {
    auto retry =
        request(webhook_channel(true), m, env_of(k_all_vars), now + std::chrono::seconds(1));
    CHECK(retry.body == expected_body);
    CHECK(header(retry, "X-Tocsin-Timestamp") == "1772445826");
    CHECK(header(retry, "X-Tocsin-Signature") != header(r, "X-Tocsin-Signature"));
  }
}

TEST_CASE("webhook format: a digest without an alert still has a valid body") {
  Message m;
  m.notification.id = 9;
  m.notification.created_at = k_created;
  m.notification.channel = "hooks";
  m.notification.action = rules::NotifyAction::digest;
  m.notification.why = "3 alerts in the last hour";
  m.public_url = "http://tocsin.internal:8080";
  auto body = body_of(request(webhook_channel(false), m));
  CHECK(body["action"] == "digest");
  CHECK(body["episode"].is_null());
  CHECK(body["alert"]["id"].is_null());
  CHECK(body["alert"]["source"].is_null());
  CHECK(body["alert"]["url"].is_null());
  CHECK(body["why"] == "3 alerts in the last hour");

  SUBCASE("and so does every other channel") {
    auto og = body_of(request(opsgenie_channel(), m));
    CHECK(og["message"] == "Tocsin digest for hooks");
    CHECK(og["description"] == "3 alerts in the last hour");
    CHECK_FALSE(og.contains("alias"));
    auto pd = body_of(request(pagerduty_channel(), m));
    CHECK(pd["payload"]["source"] == "tocsin");
    CHECK_FALSE(pd.contains("dedup_key"));
    auto slack = body_of(request(slack_channel(), m));
    CHECK(slack["blocks"][0]["text"]["text"] == "DIGEST: Tocsin digest for hooks");
  }
}

// ---- digests ----------------------------------------------------------------------------

namespace {

const TimePoint k_digest_now = at("2026-03-02T14:00:00Z");

storage::DigestItem kept(std::int64_t id, const std::string& fingerprint, const char* action,
                         Severity severity, int priority, std::optional<double> noise,
                         const char* created_at, const std::string& summary) {
  storage::DigestItem d;
  d.id = id;
  d.summary = summary;
  auto& n = d.notification;
  n.created_at = n.due_at = at(created_at);
  n.alert_id = id;
  n.episode = 3;
  n.fingerprint = fingerprint;
  n.alias = "tocsin-" + std::to_string(id) + "-3";
  n.action = storage::parse_stored<rules::NotifyAction>(action);
  n.severity = severity;
  n.priority = Priority{priority};
  n.noise = noise;
  return d;
}

// What the engine queues when `channel`'s digest falls due: the queue alarm (triggered, then
// escalated) and a replica alert whose summary needs escaping for Slack.
Message digest_message(const std::string& channel, std::vector<storage::DigestItem> items = {}) {
  if (items.empty()) {
    items = {
        kept(101, k_fingerprint, "trigger", Severity::critical, 1, 12.5, "2026-03-02T13:02:00Z",
             "oldest message 21 min"),
        kept(102, "generic:db-replica", "trigger", Severity::warning, 3, 72.5,
             "2026-03-02T13:10:00Z", "replica lag <5m> & rising"),
        kept(103, k_fingerprint, "escalate", Severity::critical, 1, 15.0, "2026-03-02T13:40:00Z",
             "oldest message 21 min"),
    };
  }
  for (auto& item : items)
    item.notification.channel = channel;
  Message m;
  m.notification = build_digest(channel, 101, items, k_digest_now);
  m.notification.id = 77;
  m.public_url = "http://tocsin.internal:8080/";
  return m;
}

// `count` alerts of one notification each, listed by fingerprint (all of one severity).
Message many_alert_digest(const std::string& channel, int count, std::size_t summary_bytes = 10) {
  std::vector<storage::DigestItem> items;
  for (int i = 0; i < count; ++i) {
    char fingerprint[32];
    std::snprintf(fingerprint, sizeof fingerprint, "generic:a%04d", i);
    items.push_back(kept(1000 + i, fingerprint, "trigger", Severity::warning, 3, std::nullopt,
                         "2026-03-02T13:30:00Z", std::string(summary_bytes, 's')));
  }
  return digest_message(channel, std::move(items));
}

Json stored_digest(const Message& m) {
  auto parsed = parse_json_strict(m.notification.digest);
  REQUIRE(parsed.has_value());
  return *parsed;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return lines;
    start = end + 1;
  }
}

const std::string k_headline =
    "Tocsin digest: 3 notifications about 2 alerts, 13:02\xE2\x80\x93"
    "14:00 UTC";
const std::string k_queue_line =
    "oldest message 21 min \xE2\x80\x94 2 notifications (1 trigger, 1 escalate), noise 15, "
    "last escalate";
const std::string k_replica_line =
    "\xE2\x80\x94 1 notification (1 trigger), noise 72.5, last trigger";

}  // namespace

TEST_CASE("Slack digest format: a headline, then one line per alert, most severe first") {
  auto body = body_of(request(slack_channel(), digest_message("alerts")));
  CHECK(keys_of(body) == std::set<std::string>{"text", "blocks"});
  CHECK(lines_of(body["text"].get<std::string>()) ==
        std::vector<std::string>{
            ":newspaper: " + k_headline,
            "\xE2\x80\xA2 *critical* " + k_queue_line,
            "\xE2\x80\xA2 *warning* replica lag &lt;5m&gt; &amp; rising " + k_replica_line,
        });
  CHECK(body["blocks"] ==
        Json::array({
            {{"type", "header"},
             {"text", {{"type", "plain_text"}, {"text", k_headline}, {"emoji", true}}}},
            {{"type", "section"},
             {"text",
              {{"type", "mrkdwn"},
               {"text", "\xE2\x80\xA2 *critical* " + k_queue_line +
                            "\n\xE2\x80\xA2 *warning* replica lag &lt;5m&gt; &amp; rising " +
                            k_replica_line}}}},
            {{"type", "context"},
             {"elements",
              Json::array({{{"type", "mrkdwn"}, {"text", "Tocsin | alias `digest:alerts:101`"}}})}},
        }));
}

TEST_CASE("Slack digest format: at most 20 alerts are listed, then how many more") {
  auto body = body_of(request(slack_channel(), many_alert_digest("alerts", 23)));
  const auto lines = lines_of(body["text"].get<std::string>());
  REQUIRE(lines.size() == 22);
  CHECK(lines[0] ==
        ":newspaper: Tocsin digest: 23 notifications about 23 alerts, 13:30\xE2\x80\x93"
        "14:00 UTC");
  CHECK(lines[1] ==
        "\xE2\x80\xA2 *warning* ssssssssss \xE2\x80\x94 1 notification (1 trigger), last trigger");
  CHECK(lines[21] == "\xE2\x80\xA6 and 3 more");
  const auto& blocks = body["blocks"];
  REQUIRE(blocks.size() == 4);
  CHECK(lines_of(blocks[1]["text"]["text"].get<std::string>()).size() == 20);
  CHECK(
      blocks[2] ==
      Json{{"type", "context"},
           {"elements", Json::array({{{"type", "mrkdwn"}, {"text", "\xE2\x80\xA6 and 3 more"}}})}});

  SUBCASE("long summaries are cut, and the lines spread over sections within Slack's limit") {
    body = body_of(request(slack_channel(), many_alert_digest("alerts", 20, 5000)));
    std::size_t listed = 0;
    for (const auto& block : body["blocks"]) {
      if (block["type"] != "section") continue;
      const auto text = block["text"]["text"].get<std::string>();
      CHECK(text.size() <= 3000);
      for (const auto& line : lines_of(text)) {
        CHECK(line.find(std::string(197, 's') + "\xE2\x80\xA6 \xE2\x80\x94 1 notification") !=
              std::string::npos);
        ++listed;
      }
    }
    CHECK(listed == 20);
    CHECK(body["blocks"].size() == 2 + 2);  // header, two sections, context
    CHECK(body["text"].get<std::string>().find("more") == std::string::npos);
  }
}

TEST_CASE("webhook digest format: the stored list rides along as an object, signed") {
  const auto m = digest_message("hooks");
  const TimePoint now = at("2026-03-02T14:00:01.250Z");
  auto r = request(webhook_channel(true), m, env_of(k_all_vars), now);
  auto body = body_of(r);
  CHECK(body["schema"] == "tocsin.notification/v1");
  CHECK(body["action"] == "digest");
  CHECK(body["id"] == 77);
  CHECK(body["alias"] == "digest:hooks:101");
  CHECK(body["episode"].is_null());
  CHECK(body["alert"]["id"].is_null());
  CHECK(body["severity"] == "critical");
  CHECK(body["priority"] == "P1");
  CHECK(body["noise"] == 72.5);
  CHECK(body["why"] == "digest of 3 notifications about 2 alerts since 2026-03-02T13:02:00.000Z");
  REQUIRE(body["digest"].is_object());
  CHECK(body["digest"] == stored_digest(m));
  CHECK(body["digest"]["alerts"][1]["summary"] == "replica lag <5m> & rising");

  // A receiver's check, with OpenSSL rather than Tocsin's own code.
  const auto timestamp = header(r, "X-Tocsin-Timestamp");
  REQUIRE(timestamp);
  CHECK(*timestamp == "1772460001");
  const std::string signed_text = *timestamp + "." + r.body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(HMAC(EVP_sha256(), k_hmac_secret, static_cast<int>(std::strlen(k_hmac_secret)),
               reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac,
               &length) != nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", mac[i]);
    hex += byte;
  }
  CHECK(header(r, "X-Tocsin-Signature") == "sha256=" + hex);
}

TEST_CASE("OpsGenie digest format: one alert under the digest's alias, listing the alerts") {
  auto r = request(opsgenie_channel(), digest_message("oncall"));
  CHECK(r.url == "https://api.opsgenie.com/v2/alerts");
  auto body = body_of(r);
  CHECK(body["alias"] == "digest:oncall:101");
  CHECK(body["message"] == k_headline);
  CHECK(body["priority"] == "P1");
  CHECK(body["description"] ==
        "[critical] " + k_queue_line + "\n[warning] replica lag <5m> & rising " + k_replica_line);
  CHECK(body["tags"] == Json::array({"tocsin", "severity:critical", "digest"}));
  CHECK(body["details"] ==
        Json{{"action", "digest"},
             {"channel", "oncall"},
             {"since", "2026-03-02T13:02:00.000Z"},
             {"until", "2026-03-02T14:00:00.000Z"},
             {"notifications", "3"},
             {"alerts", "2"},
             {"actions", "2 trigger, 1 escalate"},
             {"noise", "72.5"},
             {"why", "digest of 3 notifications about 2 alerts since 2026-03-02T13:02:00.000Z"}});
  CHECK(body["source"] == "tocsin");
  CHECK(body["user"] == std::string(k_opsgenie_user));

  SUBCASE("a long list stops at whole lines within OpsGenie's 15000 characters") {
    body = body_of(request(opsgenie_channel(), many_alert_digest("oncall", 200, 300)));
    const auto description = body["description"].get<std::string>();
    CHECK(description.size() <= 15000);
    const auto lines = lines_of(description);
    REQUIRE(lines.size() > 1);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i)
      CHECK(lines[i].rfind("[warning] ", 0) == 0);
    CHECK(lines.back() == "\xE2\x80\xA6 and " + std::to_string(200 - (lines.size() - 1)) + " more");
    const auto message = body["message"].get<std::string>();
    CHECK(message.size() <= 130);
    CHECK(message.rfind("Tocsin digest: 200 notifications about 200 alerts", 0) == 0);
  }
}

TEST_CASE("PagerDuty digest format: a trigger on the digest's alias with the alerts as details") {
  const auto m = digest_message("cto");
  auto body = body_of(request(pagerduty_channel(), m));
  CHECK(body["event_action"] == "trigger");
  CHECK(body["dedup_key"] == "digest:cto:101");
  CHECK(body["routing_key"] == k_routing_key);
  const auto& payload = body["payload"];
  CHECK(payload["summary"] == k_headline);
  CHECK(payload["source"] == "tocsin");
  CHECK(payload["severity"] == "critical");
  CHECK(payload["timestamp"] == "2026-03-02T14:00:00.000Z");
  const auto& details = payload["custom_details"];
  CHECK(details["alerts"] == stored_digest(m)["alerts"]);
  CHECK(details["notifications"] == 3);
  CHECK(details["since"] == "2026-03-02T13:02:00.000Z");
  CHECK(details["until"] == "2026-03-02T14:00:00.000Z");
  CHECK(details["action"] == "digest");
  CHECK(details["priority"] == "P1");
  CHECK_FALSE(details.contains("alerts_not_listed"));

  SUBCASE("a huge digest lists what keeps the event under PagerDuty's 512 KB") {
    auto r = request(pagerduty_channel(), many_alert_digest("cto", 2000, 300));
    CHECK(r.body.size() < 512000);
    const auto huge = body_of(r)["payload"]["custom_details"];
    CHECK(huge["alerts"].size() > 100);
    CHECK(huge["alerts"].size() + huge["alerts_not_listed"].get<std::size_t>() == 2000);
  }
}

TEST_CASE("digest format: a list that cannot be read still goes out, from the why") {
  const char* const unreadable[] = {
      "",
      "not json",
      R"({"alerts": [{"fingerprint": "x")",  // cut short
      "[]",
      "{}",
      R"({"alerts": []})",
      R"({"alerts": "many"})",
      R"({"alerts": [1, 2]})",
  };
  for (const char* text : unreadable) {
    CAPTURE(text);
    auto m = digest_message("hooks");
    m.notification.digest = text;
    const auto& why = m.notification.why;

    auto hook = body_of(request(webhook_channel(true), m));
    CHECK(hook["action"] == "digest");
    CHECK(hook["digest"].is_null());
    CHECK(hook["why"] == why);
    auto og = body_of(request(opsgenie_channel(), m));
    CHECK(og["message"] == "Tocsin digest for hooks");
    CHECK(og["alias"] == "digest:hooks:101");
    CHECK(og["description"] == why);
    auto pd = body_of(request(pagerduty_channel(), m));
    CHECK(pd["payload"]["summary"] == "Tocsin digest for hooks");
    CHECK(pd["payload"]["custom_details"]["why"] == why);
    auto slack = body_of(request(slack_channel(), m));
    CHECK(slack["blocks"][0]["text"]["text"] == "DIGEST: Tocsin digest for hooks");
    CHECK(slack["blocks"][1]["text"]["text"] == why);
  }

  SUBCASE("odd fields read as absent, and the alert is still listed") {
    auto m = digest_message("alerts");
    m.notification.digest =
        R"({"alerts": [{"summary": 5, "fingerprint": "generic:odd", "noise": "high",)"
        R"( "notifications": "two", "actions": {"trigger": 2, "resolve": "x"}}]})";
    auto slack = body_of(request(slack_channel(), m));
    CHECK(lines_of(slack["text"].get<std::string>()) ==
          std::vector<std::string>{
              ":newspaper: Tocsin digest: 2 notifications about 1 alert",
              "\xE2\x80\xA2 generic:odd \xE2\x80\x94 2 notifications (2 trigger)",
          });
  }
}

// ---- configuration errors and secrets ---------------------------------------------------

TEST_CASE("format: a missing secret or URL is a permanent error naming variable and channel") {
  auto without = [](const char* name) {
    auto vars = k_all_vars;
    vars.erase(name);
    return env_of(vars);
  };
  auto emptied = [](const char* name) {
    auto vars = k_all_vars;
    vars[name] = "";
    return env_of(vars);
  };
  struct Case {
    const char* intent;
    Channel channel;
    EnvLookup env;
    const char* error;
  };
  Channel no_routing_key = pagerduty_channel();
  no_routing_key.routing_key_env.reset();
  Channel no_url = webhook_channel(false);
  no_url.url.reset();
  const Case cases[] = {
      {"OpsGenie without its API key", opsgenie_channel(), without("OPSGENIE_API_KEY"),
       R"(channel "oncall": environment variable OPSGENIE_API_KEY is not set)"},
      {"an empty API key is no key", opsgenie_channel(), emptied("OPSGENIE_API_KEY"),
       R"(channel "oncall": environment variable OPSGENIE_API_KEY is empty)"},
      {"PagerDuty without its routing key", pagerduty_channel(), without("PD_CTO_KEY"),
       R"(channel "cto": environment variable PD_CTO_KEY is not set)"},
      {"PagerDuty with no routing_key_env at all", no_routing_key, env_of(k_all_vars),
       R"(channel "cto": no "routing_key_env" configured)"},
      {"Slack whose URL variable is unset", slack_channel(), without("SLACK_ALERTS_URL"),
       R"(channel "alerts": environment variable SLACK_ALERTS_URL is not set)"},
      {"a signing webhook never sends unsigned", webhook_channel(true), without("HOOK_SECRET"),
       R"(channel "hooks": environment variable HOOK_SECRET is not set)"},
      {"a channel with no URL", no_url, env_of(k_all_vars),
       R"(channel "hooks": no "url" or "url_env" configured)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    for (const char* action : {"trigger", "resolve"}) {
      CAPTURE(action);
      const auto error = error_of(c.channel, message(action, c.channel.name), c.env);
      CHECK(error == c.error);
      for (const char* s : k_secrets)
        CHECK(error.find(s) == std::string::npos);
    }
  }
}

TEST_CASE("format: notifications that cannot be expressed are errors, not guesses") {
  auto m = message("resolve");
  m.notification.alias.clear();
  CHECK(error_of(opsgenie_channel(), m, env_of(k_all_vars)) ==
        R"(channel "oncall": notification 42 has no alias to resolve)");
  CHECK(error_of(pagerduty_channel(), m, env_of(k_all_vars)) ==
        R"(channel "cto": notification 42 has no alias to resolve)");
}

TEST_CASE("format: a secret appears only where its API wants it") {
  for (const char* action : {"trigger", "acknowledge", "resolve"}) {
    CAPTURE(action);
    auto og = request(opsgenie_channel(), message(action));
    auto pd = request(pagerduty_channel(), message(action, "cto"));
    auto slack = request(slack_channel(), message(action, "alerts"));
    auto hook = request(webhook_channel(true), message(action, "hooks"));
    const std::pair<std::string, const char*> outside[] = {
        {request_text_except(og, "Authorization", nullptr), k_api_key},
        {request_text_except(pd, "", "routing_key"), k_routing_key},
        {request_text_except(slack, "", nullptr).substr(slack.method.size() + 1 + slack.url.size()),
         k_slack_url},
        {request_text_except(hook, "", nullptr), k_hmac_secret},
    };
    for (const auto& [text, secret] : outside) {
      CAPTURE(secret);
      CHECK(text.find(secret) == std::string::npos);
    }
    // ... and is there, where it belongs.
    CHECK(header(og, "Authorization") == "GenieKey " + std::string(k_api_key));
    CHECK(body_of(pd)["routing_key"] == k_routing_key);
    CHECK(slack.url == k_slack_url);
  }
}

TEST_CASE(
    "format: only the channel's own variables are read, and the same input gives the same "
    "request") {
  std::vector<std::string> asked;
  EnvLookup recording = [&](const std::string& name) -> std::optional<std::string> {
    asked.push_back(name);
    return env_of(k_all_vars)(name);
  };
  struct Case {
    Channel channel;
    std::vector<std::string> reads;
  };
  const Case cases[] = {
      {opsgenie_channel(), {"OPSGENIE_API_KEY"}},
      {pagerduty_channel(), {"PD_CTO_KEY"}},
      {slack_channel(), {"SLACK_ALERTS_URL"}},
      {webhook_channel(true), {"HOOK_SECRET"}},
      {webhook_channel(false), {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.channel.name);
    asked.clear();
    const auto m = message("trigger", c.channel.name);
    auto first = request(c.channel, m, recording);
    CHECK(asked == c.reads);
    auto second = request(c.channel, m, recording);
    CHECK(first.url == second.url);
    CHECK(first.headers == second.headers);
    CHECK(first.body == second.body);
  }
}

TEST_CASE("shown_url: every request says where it goes without its secret parts") {
  Channel webhook_from_env = webhook_channel(false);
  webhook_from_env.url.reset();
  webhook_from_env.url_env = "HOOK_URL";
  auto env = k_all_vars;
  env["HOOK_URL"] = "https://hooks.example.com/in/hook-path-secret?sig=query-secret";
  struct Case {
    const char* intent;
    Channel channel;
    const char* action;
    const char* shown;
  };
  const Case cases[] = {
      {"an OpsGenie create shows its URL", opsgenie_channel(), "trigger",
       "https://api.opsgenie.com/v2/alerts"},
      {"an OpsGenie close hides its query values", opsgenie_channel(), "resolve",
       "https://api.opsgenie.com/v2/alerts/tocsin-0123456789ab-3/close?identifierType=…"},
      {"PagerDuty's URL holds no secret (the routing key is in the body)", pagerduty_channel(),
       "trigger", "https://events.pagerduty.com/v2/enqueue"},
      {"a Slack webhook URL is the credential: its origin only", slack_channel(), "trigger",
       "https://hooks.slack.com/…"},
      {"a URL from url_env is a secret as a whole", webhook_from_env, "trigger",
       "https://hooks.example.com/…"},
      {"a URL written in the rules file shows whole", webhook_channel(false), "trigger",
       "http://127.0.0.1:9000/hook"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(request(c.channel, message(c.action, c.channel.name), env_of(env)).shown_url ==
            c.shown);
    }
  }
}

}  // namespace delivery_format_test
