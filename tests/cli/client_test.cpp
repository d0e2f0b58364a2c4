// The command-line client's pure parts (cli/client.hpp, cli/api_client.hpp): what each API
// answer is shown as, what each refusal says and exits with, and how silence flags become
// matchers. tests/e2e/client_cli_test.cpp runs the commands against a real server.
#include "cli/client.hpp"

#include <doctest/doctest.h>

#include <sstream>

#include "cli/api_client.hpp"
#include "core/text.hpp"

namespace cli_client_test {

using namespace tocsin;
using namespace tocsin::cli;

namespace {

TimePoint at(const char* text) {
  auto t = parse_timestamp(text);
  REQUIRE(t);
  return *t;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

const Json k_page = Json::parse(R"({
  "alerts": [
    {"alert_id": 7, "fingerprint": "generic:db-cpu", "name": "db-cpu", "status": "acknowledged",
     "severity": "critical",
     "episode": {"level": 1, "opened_at": "2026-11-30T10:00:00.000Z", "acknowledged_by": "alice"}},
    {"alert_id": 12, "fingerprint": "generic:x", "name": "", "status": "none", "severity": null,
     "episode": null}
  ],
  "total": 60, "limit": 2, "offset": 0, "next_offset": 2})");

}  // namespace

TEST_CASE("client view: the alert list as a table with ages, then how to page") {
  const auto lines = lines_of(alerts_view(k_page, at("2026-11-30T12:30:00Z")));
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "ID  STATUS        SEVERITY  LVL  NAME       AGE    ACK BY");
  CHECK(lines[1] == "7   acknowledged  critical  1    db-cpu     2h30m  alice");
  // No name: its fingerprint; no episode: dashes.
  CHECK(lines[2] == "12  none          -         -    generic:x  -      -");
  CHECK(lines[3] == "alerts 1-2 of 60; next page: --offset 2");
  CHECK(alerts_view(Json::parse(R"({"alerts": [], "total": 0})"), at("2026-11-30T12:30:00Z")) ==
        "no alerts match\n");
}

TEST_CASE("client view: a long name is cut so a line fits 100 columns") {
  Json page = k_page;
  page["alerts"][0]["name"] = std::string(300, 'n');
  for (const auto& line : lines_of(alerts_view(page, at("2026-11-30T12:30:00Z"))))
    CHECK(utf8_length(line) <= k_client_width);
  CHECK(alerts_view(page, at("2026-11-30T12:30:00Z")).find("nnn\u2026") != std::string::npos);
}

TEST_CASE("client view: text from outside cannot drive the terminal") {
  Json page = k_page;
  page["alerts"][0]["name"] = "evil\x1b[2Jname\nsecond line";
  const std::string text = alerts_view(page, at("2026-11-30T12:30:00Z"));
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("evil\\x1b[2Jname\\nsecond line") != std::string::npos);
}

TEST_CASE("client view: C1 controls and bidi overrides from outside are escaped too") {
  // U+009B is CSI and U+009D OSC to terminals that read UTF-8 C1 controls (xterm, VTE).
  Json page = k_page;
  page["alerts"][0]["name"] =
      "evil\xc2\x9b"
      "2Jname\xc2\x9d"
      "0;title\xe2\x80\xae";
  const std::string text = alerts_view(page, at("2026-11-30T12:30:00Z"));
  CHECK(text.find("\xc2\x9b") == std::string::npos);
  CHECK(text.find("\xc2\x9d") == std::string::npos);
  CHECK(text.find("\xe2\x80\xae") == std::string::npos);
  CHECK(text.find(R"(evil\u009b2Jname\u009d0;title\u202e)") != std::string::npos);
}

TEST_CASE("client view: a page whose counts are of another type is shown, not thrown") {
  Json page = k_page;
  page["offset"] = "a";
  page["total"] = Json::array();
  std::string text;
  CHECK_NOTHROW(text = alerts_view(page, at("2026-11-30T12:30:00Z")));
  CHECK(text.find("of 0") != std::string::npos);
}

TEST_CASE("client view: an action's answer is shown escaped, whatever its fields hold") {
  struct Case {
    const char* intent;
    const char* answer;
    std::string line;
  };
  const Case cases[] = {
      {"the API's answer",
       R"({"alert_id": 7, "fingerprint": "generic:db", "episode": 2, "status": "acknowledged"})",
       "alert 7 (generic:db) episode 2: acknowledged by ann; now acknowledged\n"},
      {"a status that would retitle the terminal",
       R"({"alert_id": 7, "fingerprint": "f", "episode": 2, "status": "x\u001b]0;pwned\u0007"})",
       "alert 7 (f) episode 2: acknowledged by ann; now x\\x1b]0;pwned\\x07\n"},
      {"fields of the wrong type or missing", R"({"alert_id": "7", "fingerprint": 5})",
       "alert - (5) episode -: acknowledged by ann; now -\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(action_view(Json::parse(c.answer), "acknowledged", "ann") == c.line);
  }
}

TEST_CASE("client view: one alert, its timeline oldest first with reasons, its notifications") {
  const Json alert = Json::parse(R"({
    "alert_id": 7, "fingerprint": "generic:db-cpu", "name": "db-cpu", "source": "generic",
    "rule": "databases", "summary": "CPU above 90%", "status": "acknowledged",
    "severity": "critical",
    "episode": {"number": 2, "status": "acknowledged", "severity": "critical", "level": 1,
                "escalation": ["page"], "alias": "a1b2", "opened_at": "2026-11-30T12:00:00.000Z",
                "acknowledged_by": "alice", "acknowledged_at": "2026-11-30T12:20:00.000Z",
                "event_count": 3, "closed_at": null, "demoted_to": null, "held_until": null},
    "episodes": [{"number": 2, "status": "acknowledged", "severity": "critical",
                  "opened_at": "2026-11-30T12:00:00.000Z", "closed_at": null,
                  "event_count": 3, "level": 1, "acknowledged_by": "alice"}],
    "timers": [{"kind": "stale", "episode": 2, "step": 0, "due_at": "2026-12-01T12:00:00.000Z"}],
    "silences": [], "noise": {"score": 12.5}})");
  const Json events = Json::parse(R"({"events": [
    {"at": "2026-11-30T12:20:00.000Z", "episode": 2, "type": "decision", "outcome": "acknowledged",
     "reason": "by alice: looking"},
    {"at": "2026-11-30T12:00:00.000Z", "episode": 2, "type": "event", "outcome": "created",
     "reason": "first_occurrence"}], "next_before": null})");
  const Json notifications = Json::parse(R"({"notifications": [
    {"id": 4, "alert_id": 7, "channel": "oncall", "action": "trigger", "level": 0,
     "status": "failed", "attempts": 3, "last_status": 503, "last_error": "unavailable",
     "created_at": "2026-11-30T12:00:00.000Z"}], "next_before": null})");
  const std::string text = alert_view(alert, events, notifications, at("2026-11-30T12:30:00Z"));
  CAPTURE(text);
  CHECK(text.find("now: acknowledged, critical, level 1 of escalation page, episode 2 (a1b2), "
                  "opened 30m ago, acknowledged by alice 10m ago") != std::string::npos);
  CHECK(text.find("summary: CPU above 90%") != std::string::npos);
  CHECK(text.find("stale  2        0     2026-12-01T12:00:00.000Z  in 23h30m") !=
        std::string::npos);
  const auto created = text.find("created       first_occurrence");
  const auto acked = text.find("acknowledged  by alice: looking");
  REQUIRE(created != std::string::npos);
  REQUIRE(acked != std::string::npos);
  CHECK(created < acked);
  CHECK(text.find("4   7      oncall   trigger  0    failed  3      30m  HTTP 503: unavailable") !=
        std::string::npos);
}

TEST_CASE("client: each refused answer has its message and exit status") {
  struct Case {
    const char* intent;
    int status;
    const char* body;
    bool write;
    ClientExit exit;
    const char* message;
  };
  const char* url = "http://tocsin:8080/api/v1/alerts/9/ack";
  const Case cases[] = {
      {"a 400 shows the API's detail as is", 400,
       R"({"error":"invalid_silence","detail":"matchers.labels.env: empty"})", true,
       ClientExit::invalid,
       "tocsin: the server refused the request (400 invalid_silence): matchers.labels.env: "
       "empty"},
      {"a 401 says which scope the command needs", 401,
       R"({"error":"unauthorized","detail":"invalid bearer token"})", false,
       ClientExit::unauthorized,
       "tocsin: the server refused the token (401 unauthorized): invalid bearer token\nthis "
       "command needs a token with read scope (an api.tokens entry of the server's rules file) "
       "in TOCSIN_TOKEN or --token-file"},
      {"a 403 (a read token for a write) too", 403,
       R"({"error":"forbidden","detail":"this token has read scope; write needed"})", true,
       ClientExit::unauthorized,
       "tocsin: the server refused the token (403 forbidden): this token has read scope; write "
       "needed\nthis command needs a token with write scope (an api.tokens entry of the "
       "server's rules file) in TOCSIN_TOKEN or --token-file"},
      {"a 404 of the API names what is missing", 404,
       R"({"error":"not_found","detail":"no alert 9"})", true, ClientExit::not_found,
       "tocsin: no alert 9"},
      {"whatever the API's code, its detail says it", 404,
       R"({"error":"alert_not_found","detail":"no alert with id 9"})", true, ClientExit::not_found,
       "tocsin: no alert with id 9"},
      {"a 404 from something else names the thing looked for", 404, "<html>nope</html>", true,
       ClientExit::not_found, "tocsin: alert 9: not found (404): <html>nope</html>"},
      {"a 409 is a refusal with the API's words", 409,
       R"({"error":"already_acknowledged","detail":"episode 2 is already acknowledged"})", true,
       ClientExit::failed,
       "tocsin: refused (409 already_acknowledged): episode 2 is already acknowledged"},
      {"a 503 says the server failed, and where", 503,
       R"({"error":"database_disk_full","detail":"disk full"})", true, ClientExit::failed,
       "tocsin: the server at http://tocsin:8080/api/v1/alerts/9/ack failed (503 "
       "database_disk_full): disk full"},
      {"a body's control characters are escaped", 500, "boom\x1b[31m", false, ClientExit::failed,
       "tocsin: the server at http://tocsin:8080/api/v1/alerts/9/ack failed (500): "
       "boom\\x1b[31m"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const auto f = answer_failure(c.status, c.body, url, c.write, "alert 9");
    CHECK(f.exit == c.exit);
    CHECK(f.message == c.message);
  }
}

TEST_CASE("client: silence flags become the API's matchers, or a usage error") {
  struct Case {
    const char* intent;
    SilenceMatchers flags;
    const char* matchers;  // JSON, or the error
  };
  const Case cases[] = {
      {"match keys, labels and a fingerprint together",
       {{"name=forms-*", "severity=warning"}, {"stack=forms"}, "generic:x"},
       R"({"fingerprint":"generic:x","labels":{"stack":"forms"},"name":"forms-*","severity":"warning"})"},
      {"a value may hold '='", {{"name=/a=b/"}, {}, ""}, R"({"name":"/a=b/"})"},
      {"a flag without '=' is refused",
       {{"name"}, {}, ""},
       "--match takes KEY=VALUE, got \"name\""},
      {"a key given twice is refused",
       {{"name=a", "name=b"}, {}, ""},
       "--match name is given twice"},
      {"nothing to match is refused",
       {{}, {}, ""},
       "a silence needs at least one --match, --label or --fingerprint"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto m = silence_matchers(c.flags);
    CHECK((m ? m->dump() : m.error()) == c.matchers);
  }
}

TEST_CASE("client: query values are percent-encoded") {
  CHECK(query_escape("db cpu&x=1/é") == "db%20cpu%26x%3D1%2F%C3%A9");
  CHECK(query_escape("a-b_c.d~") == "a-b_c.d~");
}

}  // namespace cli_client_test
