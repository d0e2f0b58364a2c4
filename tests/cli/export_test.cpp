// tocsin export, in process, on a database written row by row through the storage Writer: which
// rows become replay lines, in what order and shape. (tests/e2e/export_test.cpp runs the real
// binary from a live server to a replay.)
#include "cli/export.hpp"

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "core/json.hpp"
#include "rules/silence.hpp"
#include "storage/vocabulary.hpp"
#include "storage/writer.hpp"
#include "support/replay_run.hpp"
#include "support/temp_dir.hpp"

namespace cli_export_test {

using namespace tocsin;
using namespace tocsin::cli;
using namespace tocsin::storage;
using tocsin::testing::run_replay_lines;
using tocsin::testing::TempDir;

namespace {

TimePoint at(const char* text) {
  auto t = parse_timestamp(text);
  REQUIRE(t);
  return *t;
}

InboundRecord request(const char* received_at, const std::string& hook, const std::string& body,
                      const std::string& headers = "{}") {
  InboundRecord r;
  r.received_at = at(received_at);
  r.hook = hook;
  r.headers_json = headers;
  r.body = body;
  return r;
}

DecisionRecord decision(const char* when, const std::string& kind, const std::string& outcome,
                        const std::string& reason) {
  DecisionRecord d;
  d.at = at(when);
  d.kind = parse_stored<DecisionKind>(kind);
  d.outcome = parse_stored<DecisionOutcome>(outcome);
  d.reason = reason;
  d.rules_hash = "test";
  d.fingerprint = "generic:disk";
  return d;
}

struct Exported {
  int status = -1;
  std::string out, err;
};

Exported export_from(const std::string& db, const std::string& since,
                     const char* now = "2026-11-08T12:00:00Z") {
  ExportOptions options;
  options.db_path = db;
  options.since = since;
  std::ostringstream out, err;
  Exported e;
  e.status = run_export(options, at(now), out, err);
  e.out = out.str();
  e.err = err.str();
  return e;
}

// A body nested as deep as intake accepts: one level more once it sits inside a replay line.
std::string deepest_accepted_body() {
  std::string body = "{}";
  while (parse_json_strict("{\"a\":" + body + "}"))
    body = "{\"a\":" + body + "}";
  return body;
}

}  // namespace

TEST_CASE("export: requests and API actions since the cutoff, in time order, as replay lines") {
  TempDir dir;
  const std::string db = dir.file("t.db");
  const std::string deep = deepest_accepted_body();
  {
    Writer writer(db, Durability::normal);
    auto status = writer.submit([&](Transaction& tx) {
      // Before the cutoff (now - 7d = 2026-11-01T12:00:00Z): left out.
      tx.insert_inbound(request("2026-11-01T11:59:59.999Z", "generic", R"({"key":"old"})"));
      tx.insert_decision(
          decision("2026-11-01T11:59:59.999Z", "decision", "acknowledged", "by old-timer"));
      // At the cutoff exactly: in.
      tx.insert_inbound(
          request("2026-11-01T12:00:00Z", "generic", R"({"status": "firing", "key": "disk"})"));
      // An SNS request: pretty-printed as SNS sends it, with the headers a database written
      // before README "Storage" kept fewer of them still holds: exported as stored.
      tx.insert_inbound(request("2026-11-02T08:00:00Z", "sns",
                                "{\n  \"Type\" : \"Notification\",\n  \"Message\" : \"{}\"\n}",
                                R"({"content-type":"text/plain","x-amz-sns-message-type":)"
                                R"("Notification"})"));
      // Not replayable as an object: stays the exact string.
      tx.insert_inbound(request("2026-11-02T09:00:00Z", "generic", "[1, 2]"));
      tx.insert_inbound(request("2026-11-02T09:00:01Z", "generic", deep));
      tx.insert_inbound(request("2026-11-02T09:00:02Z", "generic", R"({"n": 1e400})"));
      tx.insert_inbound(request("2026-11-03T10:00:00Z", "heartbeat", R"({"name":"hooks-worker"})"));
      // People through the API.
      tx.insert_decision(decision("2026-11-04T10:00:00Z", "decision", "acknowledged",
                                  "by alice: draining the queue"));
      tx.insert_decision(decision("2026-11-04T10:05:00Z", "decision", "unacknowledged", "by bob"));
      tx.insert_decision(
          decision("2026-11-04T10:10:00Z", "decision", "resolved", "by carol: fixed: really"));
      // Within one millisecond, in commit order: an action before a request...
      tx.insert_decision(decision("2026-11-05T10:00:00Z", "decision", "acknowledged", "by dan"));
      const auto tie =
          tx.insert_inbound(request("2026-11-05T10:00:00Z", "generic", R"({"key":"tie"})"));
      auto tie_event = decision("2026-11-05T10:00:00Z", "event", "created", "first_occurrence");
      tie_event.inbound_id = tie;
      tx.insert_decision(tie_event);
      // ... and a request before an action.
      const auto tie2 =
          tx.insert_inbound(request("2026-11-05T11:00:00Z", "generic", R"({"key":"tie2"})"));
      auto tie2_event = decision("2026-11-05T11:00:00Z", "event", "created", "first_occurrence");
      tie2_event.inbound_id = tie2;
      tx.insert_decision(tie2_event);
      tx.insert_decision(decision("2026-11-05T11:00:00Z", "decision", "resolved", "by frank"));
      // Two-way sync: the OpsGenie request replays the acknowledgement; it is not exported twice.
      const auto sync_request = tx.insert_inbound(
          request("2026-11-06T10:00:00Z", "opsgenie", R"({"action":"Acknowledge"})"));
      auto sync = decision("2026-11-06T10:00:00Z", "event", "ignored", "sync_ack");
      sync.inbound_id = sync_request;
      tx.insert_decision(sync);
      tx.insert_decision(
          decision("2026-11-06T10:00:00Z", "decision", "acknowledged", "by opsgenie:erin"));
      // The engine's own decisions are not people's actions.
      tx.insert_decision(decision("2026-11-07T10:00:00Z", "decision", "ack_timeout",
                                  "acknowledged by alice 30m ago and still firing"));
      tx.insert_decision(decision("2026-11-07T10:01:00Z", "decision", "expired", "idle for 1d"));
      tx.insert_decision(decision("2026-11-07T10:02:00Z", "event", "resolved", "signal_resolved"));
      tx.insert_decision(
          decision("2026-11-07T10:03:00Z", "decision", "escalated", "by step 1 of page"));
    });
    REQUIRE_FALSE(status.get().has_value());
  }

  const Exported e = export_from(db, "7d");
  INFO(e.err);
  REQUIRE(e.status == 0);
  CHECK(e.err.empty());
  const std::string expected =
      R"({"at":"2026-11-01T12:00:00.000Z","hook":"generic","body":{"status":"firing","key":"disk"}})"
      "\n"
      R"({"at":"2026-11-02T08:00:00.000Z","hook":"sns","headers":{"content-type":"text/plain","x-amz-sns-message-type":"Notification"},"body":{"Type":"Notification","Message":"{}"}})"
      "\n"
      R"({"at":"2026-11-02T09:00:00.000Z","hook":"generic","body":"[1, 2]"})"
      "\n" +
      nlohmann::ordered_json{
          {"at", "2026-11-02T09:00:01.000Z"}, {"hook", "generic"}, {"body", deep}}
          .dump() +
      "\n"
      R"({"at":"2026-11-02T09:00:02.000Z","hook":"generic","body":"{\"n\": 1e400}"})"
      "\n"
      R"({"at":"2026-11-03T10:00:00.000Z","hook":"heartbeat","name":"hooks-worker"})"
      "\n"
      R"({"at":"2026-11-04T10:00:00.000Z","ack":{"fingerprint":"generic:disk","by":"alice","note":"draining the queue"}})"
      "\n"
      R"({"at":"2026-11-04T10:05:00.000Z","unack":{"fingerprint":"generic:disk","by":"bob"}})"
      "\n"
      R"({"at":"2026-11-04T10:10:00.000Z","resolve":{"fingerprint":"generic:disk","by":"carol","note":"fixed: really"}})"
      "\n"
      R"({"at":"2026-11-05T10:00:00.000Z","ack":{"fingerprint":"generic:disk","by":"dan"}})"
      "\n"
      R"({"at":"2026-11-05T10:00:00.000Z","hook":"generic","body":{"key":"tie"}})"
      "\n"
      R"({"at":"2026-11-05T11:00:00.000Z","hook":"generic","body":{"key":"tie2"}})"
      "\n"
      R"({"at":"2026-11-05T11:00:00.000Z","resolve":{"fingerprint":"generic:disk","by":"frank"}})"
      "\n"
      R"({"at":"2026-11-06T10:00:00.000Z","hook":"opsgenie","body":{"action":"Acknowledge"}})"
      "\n";
  std::istringstream got(e.out), want(expected);
  std::string got_line, want_line;
  int number = 0;
  while (std::getline(want, want_line)) {
    ++number;
    CAPTURE(number);
    REQUIRE(std::getline(got, got_line));
    CHECK(got_line == want_line);
    // Every line is one replay accepts: strict JSON within the depth limit.
    CHECK(parse_json_strict(got_line));
  }
  CHECK_FALSE(std::getline(got, got_line));

  // Same database, same output, byte for byte.
  CHECK(export_from(db, "7d").out == e.out);
  // A shorter window starts later.
  const Exported day = export_from(db, "54h");
  REQUIRE(day.status == 0);
  CHECK(day.out.rfind(R"({"at":"2026-11-06T10:00:00.000Z","hook":"opsgenie")", 0) == 0);
}

TEST_CASE("export: a bad --since, a missing database and a newer schema are exit 2") {
  TempDir dir;
  SUBCASE("a --since that is not a duration is named") {
    for (const char* bad : {"week", "7", "-3d", ""}) {
      CAPTURE(bad);
      const Exported e = export_from(dir.file("t.db"), bad);
      CHECK(e.status == 2);
      CHECK(e.err.find(std::string("\"") + bad + "\"") != std::string::npos);
      CHECK(e.out.empty());
    }
  }
  SUBCASE("a missing database is not created") {
    const std::string missing = dir.file("missing.db");
    const Exported e = export_from(missing, "7d");
    CHECK(e.status == 2);
    CHECK(e.err.find(missing) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(missing));
  }
  SUBCASE("a schema newer than this build is refused, not misread") {
    const std::string db = dir.file("future.db");
    { Writer writer(db, Durability::normal); }
    {
      SQLite::Database raw(db, SQLite::OPEN_READWRITE);
      raw.exec("PRAGMA user_version = 999");
    }
    const Exported e = export_from(db, "7d");
    CHECK(e.status == 2);
    CHECK(e.err.find("newer than this build") != std::string::npos);
  }
  SUBCASE("a file that is not a Tocsin database") {
    const std::string db = dir.file("empty.db");
    { SQLite::Database raw(db, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE); }
    const Exported e = export_from(db, "7d");
    CHECK(e.status == 2);
    CHECK(e.err.find("not a Tocsin database") != std::string::npos);
  }
}

namespace {

rules::Silence stored_silence(const char* created, const char* starts, const char* ends,
                              const std::string& comment) {
  rules::Silence s;
  s.created_at = at(created);
  s.starts_at = at(starts);
  s.ends_at = at(ends);
  s.created_by = "alice";
  s.comment = comment;
  s.spelled = Json{{"name", "forms-*"}};
  auto matchers = rules::parse_silence_matchers(s.spelled);
  REQUIRE(matchers);
  s.matchers = *matchers;
  return s;
}

}  // namespace

TEST_CASE("export: silences become silence and expire_silence lines among the requests") {
  TempDir dir;
  const std::string db = dir.file("t.db");
  {
    Writer writer(db, Durability::normal);
    auto status = writer.submit([&](Transaction& tx) {
      // Ended before the window (now - 7d = 2026-11-01T12:00:00Z): left out.
      tx.insert_silence(stored_silence("2026-11-01T08:00:00Z", "2026-11-01T08:00:00Z",
                                       "2026-11-01T10:00:00Z", "over"));
      // Added before the window, in force at its start: added at the start.
      tx.insert_silence(stored_silence("2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z",
                                       "2026-11-01T14:00:00Z", "upgrade"));
      tx.insert_inbound(request("2026-11-01T12:00:00Z", "generic", R"({"key":"disk"})"));
      // In the window, scheduled ahead, expired by hand.
      const auto ahead = tx.insert_silence(stored_silence(
          "2026-11-02T09:00:00Z", "2026-11-03T00:00:00Z", "2026-11-03T02:00:00Z", "window"));
      tx.insert_inbound(request("2026-11-02T10:00:00Z", "generic", R"({"key":"forms-api"})"));
      tx.expire_silence(ahead, at("2026-11-03T01:00:00Z"), "bob");
    });
    REQUIRE_FALSE(status.get().has_value());
  }
  const Exported e = export_from(db, "7d");
  INFO(e.err);
  REQUIRE(e.status == 0);
  const std::string expected =
      R"({"at":"2026-11-01T12:00:00.000Z","silence":{"id":2,"matchers":{"name":"forms-*"},"starts_at":"2026-11-01T10:00:00.000Z","ends_at":"2026-11-01T14:00:00.000Z","by":"alice","comment":"upgrade"}})"
      "\n"
      R"({"at":"2026-11-01T12:00:00.000Z","hook":"generic","body":{"key":"disk"}})"
      "\n"
      R"({"at":"2026-11-02T09:00:00.000Z","silence":{"id":3,"matchers":{"name":"forms-*"},"starts_at":"2026-11-03T00:00:00.000Z","ends_at":"2026-11-03T02:00:00.000Z","by":"alice","comment":"window"}})"
      "\n"
      R"({"at":"2026-11-02T10:00:00.000Z","hook":"generic","body":{"key":"forms-api"}})"
      "\n"
      R"({"at":"2026-11-03T01:00:00.000Z","expire_silence":3,"by":"bob"})"
      "\n";
  CHECK(e.out == expected);
}

TEST_CASE("export: a replay of an exported database with silences makes the same decisions") {
  TempDir dir;
  const std::string rules = R"(version: 1
channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
rules:
  - {name: forms, match: {source: generic, name: "forms-*"}, notify: [alerts]}
)";
  auto generic = [](const char* when, const std::string& key, const std::string& state) {
    return Json{{"at", when}, {"hook", "generic"}, {"body", {{"key", key}, {"status", state}}}};
  };
  const std::vector<Json> input = {
      Json{{"at", "2026-11-02T00:00:00Z"},
           {"silence",
            {{"matchers", {{"name", "forms-*"}}},
             {"duration", "2h"},
             {"by", "alice"},
             {"comment", "upgrade"}}}},
      generic("2026-11-02T00:30:00Z", "forms-api", "firing"),
      Json{{"at", "2026-11-02T03:00:00Z"},
           {"silence",
            {{"matchers", {{"name", "forms-db"}}},
             {"starts_at", "2026-11-02T04:00:00Z"},
             {"ends_at", "2026-11-02T08:00:00Z"},
             {"by", "bob"},
             {"comment", "failover"}}}},
      generic("2026-11-02T04:30:00Z", "forms-db", "firing"),
      Json{{"at", "2026-11-02T05:00:00Z"}, {"expire_silence", 2}, {"by", "bob"}},
  };
  // On PostgreSQL too when the suite runs there (support/test_database.hpp).
  const tocsin::testing::TestDatabaseLocation recorded(dir, "recorded.db");
  const auto first = run_replay_lines(rules, input, "2026-11-02T09:00:00Z", recorded.location());
  REQUIRE(first.status == 0);
  REQUIRE(first.where("decision", "decision", "silenced").size() == 2);
  REQUIRE(first.where("decision", "decision", "unsilenced").size() == 2);

  const Exported e = export_from(recorded.location(), "30d", "2026-11-02T09:00:00Z");
  REQUIRE(e.status == 0);
  std::vector<Json> exported;
  std::istringstream lines(e.out);
  for (std::string l; std::getline(lines, l);)
    exported.push_back(Json::parse(l));
  REQUIRE(exported.size() == input.size());
  const auto again = run_replay_lines(rules, exported, "2026-11-02T09:00:00Z");
  REQUIRE(again.status == 0);
  CHECK(again.err.empty());
  CHECK(again.out == first.out);
}

}  // namespace cli_export_test
