// End-to-end: what a receiver answers and what an alert is called never puts a secret or a
// forged line anywhere Tocsin stores or shows text (database, REST API, log, fallback channel).

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/json.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_secrets_test {

using namespace tocsin::testing;
using tocsin::Json;
using namespace std::chrono_literals;

namespace {

// The secret values the server is started with, and the secret parts of its URLs.
const std::string k_genie_key = "genie-key-secret-7f3a";
const std::string k_routing_key = "routing-key-secret-91c2";
const std::string k_slack_path = "/services/T0001/B0002/slack-path-secret-55d1";
const std::string k_hook_token = "hook-query-secret-0b9e";
const std::string k_hmac = "hmac-secret-c4e8";

std::vector<std::string> secrets() {
  return {k_genie_key, k_routing_key, "slack-path-secret-55d1", k_hook_token, k_hmac};
}

// Every secret absent from `text` (`where` names it in a failure).
void check_no_secret(const std::string& where, const std::string& text) {
  for (const auto& s : secrets())
    CHECK_MESSAGE(text.find(s) == std::string::npos, where, " shows ", s, ": ", text);
}

// Channels on an echoing receiver, which refuses every request with the request itself, and a
// fallback on a second receiver, which accepts.
struct EchoEnv {
  RecordingReceiver echo;
  RecordingReceiver fallback;
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::string db = dir.file("t.db");
  std::unique_ptr<ServerProcess> server;

  explicit EchoEnv(const std::string& log_format = "text") {
    echo.answer_all({400, "", "", 0ms, true});
    std::ofstream(rules) << "version: 1\n"
                         << sources_section() << R"(channels:
  genie: {type: opsgenie, url: ")"
                         << echo.url() << R"(", api_key_env: TEST_GENIE_KEY}
  pd: {type: pagerduty, url: ")"
                         << echo.url() << R"(/pd", routing_key_env: TEST_ROUTING_KEY}
  room: {type: slack, url_env: TEST_SLACK_URL}
  hook: {type: webhook, url_env: TEST_HOOK_URL, secret_env: TEST_HOOK_SECRET}
  fallback: {type: webhook, url: ")"
                         << fallback.url() << R"(/fallback"}
delivery: {fallback: fallback, timeout: 2s, max_attempts: 1}
rules:
  - {name: everything, match: {name: "*"}, notify: [genie, pd, room, hook]}
)";
    server = std::make_unique<ServerProcess>(
        dir.file("server.log"),
        std::vector<std::string>{"--rules", rules, "--db", db, "--log-format", log_format},
        std::vector<std::string>{"TEST_GENIE_KEY=" + k_genie_key,
                                 "TEST_ROUTING_KEY=" + k_routing_key,
                                 "TEST_SLACK_URL=" + echo.url() + k_slack_path,
                                 "TEST_HOOK_URL=" + echo.url() + "/hook?token=" + k_hook_token,
                                 "TEST_HOOK_SECRET=" + k_hmac});
  }
};

Json get_json(httplib::Client& c, const std::string& path) {
  auto res = c.Get(path);
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return Json::parse(res->body);
}

}  // namespace

TEST_CASE(
    "secrets: a receiver echoing the request leaks no secret into the database, API, log "
    "or fallback") {
  EchoEnv env;
  httplib::Client c("127.0.0.1", env.server->port());
  auto posted =
      c.Post("/hooks/generic", R"({"key":"disk-full","status":"firing"})", "application/json");
  REQUIRE(posted);
  REQUIRE(posted->status == 200);
  const auto alert_id = Json::parse(posted->body)["results"][0]["alert_id"].get<std::int64_t>();

  // Four channels fail for good, and each failure is announced on the fallback.
  const auto echoed = env.echo.wait_for(4);
  REQUIRE(echoed.size() == 4);
  const auto announced = env.fallback.wait_for(4);
  REQUIRE(announced.size() == 4);
  for (const auto& r : echoed) {  // the secrets did go out, so the echoes carry them back
    if (r.path == "/v2/alerts") CHECK(r.header("Authorization") == "GenieKey " + k_genie_key);
  }
  for (const auto& meta : announced) {
    check_no_secret("the fallback's meta-alert", meta.body);
    CHECK(meta.body.find("failed for good: HTTP 400") != std::string::npos);
  }

  const Json rows = get_json(c, "/api/v1/notifications?limit=100");
  REQUIRE(rows["notifications"].size() == 8);
  for (const auto& row : rows["notifications"]) {
    const std::string id = std::to_string(row["id"].get<std::int64_t>());
    const Json detail = get_json(c, "/api/v1/notifications/" + id);
    check_no_secret("GET /api/v1/notifications/" + id, detail.dump());
    const std::string last_error = detail["last_error"];
    CHECK_MESSAGE(last_error.find('\n') == std::string::npos, last_error);  // printable
    CHECK(last_error.size() <= 256);
    // Where the excerpt shows a secret, it says it was redacted (the routing key comes too
    // late in PagerDuty's echo to be shown at all).
    const std::string channel = detail["channel"];
    if (channel == "genie" || channel == "room" || channel == "hook")
      CHECK_MESSAGE(last_error.find("[redacted]") != std::string::npos, last_error);
  }
  check_no_secret("GET /api/v1/notifications", rows.dump());
  check_no_secret("GET /api/v1/alerts/{id}",
                  get_json(c, "/api/v1/alerts/" + std::to_string(alert_id)).dump());

  CHECK(env.server->stop() == 0);
  check_no_secret("the log", env.server->log());
  SQLite::Database db(env.db, SQLite::OPEN_READONLY);
  SQLite::Statement outbox(db, "SELECT last_error || ' ' || why FROM outbox");
  while (outbox.executeStep())
    check_no_secret("the outbox table", outbox.getColumn(0).getString());
  SQLite::Statement attempts(db, "SELECT error FROM delivery_attempts");
  while (attempts.executeStep())
    check_no_secret("the delivery_attempts table", attempts.getColumn(0).getString());
}

TEST_CASE("logging: an alert name with a newline cannot forge a log line") {
  for (const std::string format : {"text", "json"}) {
    CAPTURE(format);
    TempDir dir;
    const std::string rules = dir.file("rules.yaml");
    std::ofstream(rules) << "version: 1\n" << sources_section();
    ServerProcess server(dir.file("server.log"),
                         {"--rules", rules, "--db", dir.file("t.db"), "--log-format", format});
    httplib::Client c("127.0.0.1", server.port());
    const Json event = {
        {"key", "disk\n1999-12-31T23:59:59.000Z info forged\r\tline\x1b[2J\x7f end"},
        {"status", "firing"}};
    auto posted = c.Post("/hooks/generic", event.dump(), "application/json");
    REQUIRE(posted);
    REQUIRE(posted->status == 200);
    CHECK(server.stop() == 0);
    const std::string log = server.log();
    std::istringstream lines(log);
    int mentions = 0;
    for (std::string line; std::getline(lines, line);) {
      CHECK_MESSAGE(line.rfind("1999-12-31", 0) != 0, "a forged line: ", line);
      CHECK_MESSAGE(line.find_first_of("\r\x1b\x7f") == std::string::npos, line);
      if (format == "json") CHECK(Json::accept(line));
      if (line.find("forged") != std::string::npos) ++mentions;
    }
    CHECK(mentions >= 1);  // the name is logged, on its line, escaped
    CHECK(log.find(R"(disk\n1999-12-31)") != std::string::npos);
  }
}

TEST_CASE("secrets: a watchdog receiver echoing the ping leaks no ping URL into the log") {
  RecordingReceiver receiver;
  receiver.answer_all({400, "", "", 0ms, true});
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\nwatchdog: {url_env: TEST_PING_URL, every: 200ms}\n";
  ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", dir.file("t.db")},
                       {"TEST_PING_URL=" + receiver.url() + "/ping/ping-secret-7d2e"});
  REQUIRE(receiver.wait_for(2).size() >= 2);
  CHECK(server.stop() == 0);
  const std::string log = server.log();
  CHECK(log.find("watchdog: ping failed: HTTP 400") != std::string::npos);
  CHECK_MESSAGE(log.find("ping-secret-7d2e") == std::string::npos, log);
}

}  // namespace e2e_secrets_test
