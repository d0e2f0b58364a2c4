// End-to-end: traffic through the real server, `tocsin export` of its database, and `tocsin
// replay --verify` of the export with the same rules must decide exactly what the server did.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_export_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

// The name SNS would give the test certificate (docs/formats.md §8): pinned, so nothing is fetched.
constexpr const char* k_pinned_cert =
    "SimpleNotificationService-ac9ba2946855213a28bfa93d609aeb4b.pem";

// kind, outcome, reason, fingerprint, episode: one entry of the decision log.
using Decided = std::tuple<std::string, std::string, std::string, std::string, int>;
// channel, action, fingerprint, level: one notification.
using Notified = std::tuple<std::string, std::string, std::string, int>;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

std::string text_or_empty(const Json& j) {
  return j.is_string() ? j.get<std::string>() : std::string();
}

}  // namespace

TEST_CASE("export: what the server received replays to the decisions the server made") {
  TempDir dir;
  RecordingReceiver receiver;
  std::filesystem::create_directories(dir.file("certs"));
  std::filesystem::copy_file(fixture_path("sns-signing/test-signing-cert.pem"),
                             dir.file(std::string("certs/") + k_pinned_cert));
  const std::string rules = dir.file("rules.yaml");
  const std::string db = dir.file("tocsin.db");
  std::ofstream(rules)
      << "version: 1\n"
      << sources_section(
             "  sns:\n"
             "    verify_signature: true\n"
             "    topics: [\"arn:aws:sns:us-east-1:123456789012:alerts-critical\"]\n"
             "    cert_dir: " +
             dir.file("certs") +
             "\n"
             "    fetch_certs: false\n")
      << "channels:\n"
         "  oncall: {type: webhook, url: \""
      << receiver.url()
      << "/oncall\"}\n"
         "escalations:\n"
         "  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: "
         "[oncall]}]}\n"
         "heartbeats:\n"
         "  - {name: hooks-worker, every: 5m, grace: 2m}\n"
         "rules:\n"
         "  - {name: everything, match: {}, escalation: page}\n";
  {
    ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", db});
    httplib::Client c("127.0.0.1", server.port());
    const httplib::Headers sns{{"x-amz-sns-message-type", "Notification"}};
    auto ok = [](const httplib::Result& r) {
      REQUIRE(r);
      INFO(r->body);
      REQUIRE(r->status == 200);
      return Json::parse(r->body);
    };
    ok(c.Get("/hooks/heartbeat/hooks-worker"));
    const Json alarm =
        ok(c.Post("/hooks/sns", sns, fixture("sns_notification_alarm.json"), "text/plain"));
    ok(c.Post("/hooks/generic",
              R"({"key":"disk-full","status":"firing","severity":"critical","summary":"db-1"})",
              "application/json"));
    ok(c.Post("/hooks/alertmanager", fixture("alertmanager_webhook_v4.json"), "application/json"));
    const auto alert_id = alarm["results"][0]["alert_id"].get<std::int64_t>();
    ok(c.Post("/api/v1/alerts/" + std::to_string(alert_id) + "/ack",
              R"({"by":"alice","note":"draining the queue"})", "application/json"));
    ok(c.Post("/hooks/sns", sns, fixture("sns_notification_ok.json"), "text/plain"));
    CHECK(server.stop() == 0);
  }

  // What the server decided and queued, in commit order.
  std::vector<Decided> server_decisions;
  std::vector<Notified> server_notifications;
  {
    SQLite::Database raw(db, SQLite::OPEN_READONLY);
    SQLite::Statement d(raw,
                        // A decision's fingerprint is '' when it is its alert's (migration 11).
                        "SELECT d.kind, d.outcome, d.reason, coalesce(nullif(d.fingerprint, ''), "
                        "a.fingerprint, ''), coalesce(d.episode, 0) "
                        "FROM decisions d LEFT JOIN alerts a ON a.id = d.alert_id ORDER BY d.id");
    while (d.executeStep()) {
      server_decisions.emplace_back(d.getColumn(0).getString(), d.getColumn(1).getString(),
                                    d.getColumn(2).getString(), d.getColumn(3).getString(),
                                    d.getColumn(4).getInt());
    }
    SQLite::Statement n(raw,
                        "SELECT channel, action, fingerprint, level FROM outbox "
                        "WHERE about IS NULL ORDER BY id");
    while (n.executeStep()) {
      server_notifications.emplace_back(n.getColumn(0).getString(), n.getColumn(1).getString(),
                                        n.getColumn(2).getString(), n.getColumn(3).getInt());
    }
  }
  // The traffic left a trace worth comparing: the acknowledgement among it.
  CHECK(std::find(server_decisions.begin(), server_decisions.end(),
                  Decided{"decision", "acknowledged", "by alice: draining the queue",
                          "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age",
                          1}) != server_decisions.end());
  CHECK(server_notifications.size() >= 3);

  const CommandResult exported = run_tocsin({"export", "--db", db, "--since", "7d"});
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  const auto lines = lines_of(exported.output);
  REQUIRE(lines.size() == 6);
  CHECK(lines[0].find(R"(,"hook":"heartbeat","name":"hooks-worker"})") != std::string::npos);
  const Json first_sns = Json::parse(lines[1]);
  CHECK(first_sns["hook"] == "sns");
  // Stored without headers: its envelope says what SNS's headers did (README "Storage").
  CHECK(!first_sns.contains("headers"));
  // Readable as an object, and still verifiable (below): the signature covers field values.
  CHECK(first_sns["body"].is_object());
  CHECK(first_sns["body"]["MessageId"] == "860c5fb4-fbda-50ea-8da3-09257e8ae967");
  CHECK(Json::parse(lines[2])["hook"] == "generic");
  CHECK(Json::parse(lines[3])["hook"] == "alertmanager");
  CHECK(Json::parse(lines[4])["ack"] ==
        Json{{"fingerprint", "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age"},
             {"by", "alice"},
             {"note", "draining the queue"}});
  CHECK(Json::parse(lines[5])["hook"] == "sns");

  // TOCSIN_DB names the database as for serve; the default window is 7d; same bytes again.
  const CommandResult again = run_tocsin({"export"}, {"TOCSIN_DB=" + db});
  CHECK(again.exit_code == 0);
  CHECK(again.output == exported.output);

  const std::string events = dir.file("week.jsonl");
  std::ofstream(events) << exported.output;
  const CommandResult replayed = run_tocsin({"replay", "--rules", rules, "--verify", events});
  INFO(replayed.output);
  REQUIRE(replayed.exit_code == 0);
  std::vector<Decided> replay_decisions;
  std::vector<Notified> replay_notifications;
  for (const auto& line : lines_of(replayed.output)) {
    CAPTURE(line);
    // A refused request would be a warning line here, not JSON.
    const Json j = Json::parse(line, nullptr, false);
    REQUIRE(j.is_object());
    const int episode = j["episode"].is_number() ? j["episode"].get<int>() : 0;
    const std::string type = j["type"].get<std::string>();
    if (type == "event" || type == "decision") {
      replay_decisions.emplace_back(
          type, j[type == "event" ? "outcome" : "decision"].get<std::string>(),
          j["reason"].get<std::string>(), text_or_empty(j["fingerprint"]), episode);
    } else if (type == "notify") {
      replay_notifications.emplace_back(j["channel"].get<std::string>(),
                                        j["action"].get<std::string>(),
                                        j["fingerprint"].get<std::string>(), j["level"].get<int>());
    }
  }
  CHECK(replay_decisions == server_decisions);
  CHECK(replay_notifications == server_notifications);
}

TEST_CASE("export: the CLI refuses a bad --since and a missing database with exit 2") {
  TempDir dir;
  const std::string missing = dir.file("missing.db");
  const CommandResult no_db = run_tocsin({"export", "--db", missing});
  CHECK(no_db.exit_code == 2);
  CHECK(no_db.output.find(missing) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(missing));

  const CommandResult bad_since = run_tocsin({"export", "--db", missing, "--since", "fortnight"});
  CHECK(bad_since.exit_code == 2);
  CHECK(bad_since.output.find("\"fortnight\"") != std::string::npos);

  CHECK(run_tocsin({"export", "--frobnicate"}).exit_code == 2);
}

}  // namespace e2e_export_test
