// tocsin replay, in process: the incident of docs/behaviour.md "Replay" and the clock-driven
// behaviour of the engine, on a virtual clock. (tests/e2e/cli_test.cpp runs the binary itself.)
#include "cli/replay.hpp"

#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/fixtures.hpp"
#include "support/replay_run.hpp"
#include "support/temp_dir.hpp"

namespace cli_replay_test {

using namespace tocsin;
using namespace tocsin::cli;
using namespace tocsin::testing;
using Json = nlohmann::json;

namespace {

const char* const k_fingerprint =
    "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age";

// The queue-age rule of the shipped rules.yaml, with its escalation, offline.
const char* const k_rules = R"(version: 1
defaults: {stale_after: 24h, max_open_age: 72h}
sources:
  sns: {verify_signature: false}
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  queue-critical:
    steps:
      - {after: 0m, notify: [oncall, alerts]}
      - {after: 20m, notify: [cto]}
    repeat_every: 30m
rules:
  - name: queue-backlog
    match: {source: cloudwatch, metric: ApproximateAgeOfOldestMessage}
    severity: critical
    priority: P1
    escalation: queue-critical
    max_open_age: 30d
  - name: batch
    match: {source: generic, name: "batch-*"}
    notify: [alerts]
    stale_after: 2h
    auto_resolve_after: 1d
    ack_timeout: 30m
)";

// The CloudWatch fixture as an SNS line at `at`, with the given transition.
Json alarm(const std::string& at, const std::string& message_id, const std::string& state,
           const std::string& old_state, const std::string& change_time = "") {
  Json body = Json::parse(fixture("sns_notification_alarm.json"));
  Json message = Json::parse(body["Message"].get<std::string>());
  message["NewStateValue"] = state;
  message["OldStateValue"] = old_state;
  std::string t = change_time.empty() ? at : change_time;
  message["StateChangeTime"] = t.substr(0, 19) + ".000+0000";
  body["Message"] = message.dump();
  body["MessageId"] = message_id;
  return Json{{"at", at}, {"hook", "sns"}, {"body", body}};
}

Json generic(const std::string& at, const std::string& key, const std::string& status,
             const std::string& id = "") {
  Json body{{"key", key}, {"status", status}, {"summary", key + " is " + status}};
  if (!id.empty()) body["id"] = id;
  return Json{{"at", at}, {"hook", "generic"}, {"body", body}};
}

using Replay = ReplayRun;

Replay replay(const std::vector<Json>& input, const std::string& until = "",
              const std::string& raw_extra = "") {
  return run_replay_lines(k_rules, input, until, "", raw_extra);
}

}  // namespace

TEST_CASE("replay: the incident — a December alarm is never folded into October's open alert") {
  const std::vector<Json> input = {
      alarm("2026-10-03T09:00:00Z", "oct", "ALARM", "OK"),
      Json{{"at", "2026-10-03T09:05:00Z"},
           {"ack", {{"fingerprint", k_fingerprint}, {"by", "alice"}, {"note", "looking"}}}},
      // The OK never arrives. Two months later the worker dies again.
      alarm("2026-12-22T04:00:00Z", "dec", "ALARM", "OK"),
  };
  Replay r = replay(input, "2026-12-22T05:00:00Z");
  REQUIRE(r.status == 0);

  auto events = r.where("event");
  REQUIRE(events.size() == 2);
  CHECK(events[0]["outcome"] == "created");
  CHECK(events[1]["at"] == "2026-12-22T04:00:00.000Z");
  CHECK(events[1]["outcome"] == "reopened");
  CHECK(events[1]["reason"] == "missed_resolve");
  CHECK(events[1]["episode"] == 2);

  // The page leaves in the same virtual minute, under a new alias, at level 0.
  auto december = r.where("notify", "alias", "tocsin-8997f65a9bd2-2");
  REQUIRE(december.size() >= 3);
  CHECK(december[0]["at"] == "2026-12-22T04:00:00.000Z");
  CHECK(december[0]["channel"] == "oncall");
  CHECK(december[0]["action"] == "trigger");
  CHECK(december[0]["level"] == 0);
  CHECK(december[0]["severity"] == "critical");
  CHECK(december[0]["priority"] == "P1");
  CHECK(december[1]["channel"] == "alerts");
  // Nobody acknowledges: the policy's second step, on time.
  CHECK(december[2]["at"] == "2026-12-22T04:20:00.000Z");
  CHECK(december[2]["channel"] == "cto");
  CHECK(december[2]["action"] == "escalate");
  CHECK(december[2]["level"] == 1);
  // And it repeats until someone acknowledges.
  REQUIRE(december.size() == 4);
  CHECK(december[3]["at"] == "2026-12-22T04:50:00.000Z");
  CHECK(december[3]["action"] == "reminder");

  // The October episode ends as superseded, and its alias is closed downstream.
  auto superseded = r.where("decision", "decision", "superseded");
  REQUIRE(superseded.size() == 1);
  CHECK(superseded[0]["episode"] == 1);
  auto october = r.where("notify", "alias", "tocsin-8997f65a9bd2-1");
  CHECK(october.back()["action"] == "resolve");
  // October's escalation stopped at the acknowledgement: nobody escalated to the CTO then.
  for (const auto& n : october)
    CHECK(n["channel"] != "cto");
}

TEST_CASE("replay: the program's default logger is its own again, however the replay ends") {
  // A replay silences the engine's log while it runs; the process (a test runner, a future
  // caller) keeps its own logger afterwards.
  struct Case {
    std::string intent;
    std::string rules;
    std::string raw_input;
    int status;
  };
  const Case cases[] = {
      {"a replay that runs to the end", k_rules, "", 0},
      {"input refused before anything runs", k_rules, "not json\n", 1},
      {"rules that do not load", "version: [\n", "", 1},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const auto before = spdlog::default_logger();
    const auto r = run_replay_lines(c.rules, {}, "", "", c.raw_input);
    CHECK(r.status == c.status);
    CHECK(spdlog::default_logger() == before);
  }
}

TEST_CASE("replay: deterministic, byte for byte") {
  std::vector<Json> input;
  for (int day = 1; day <= 9; ++day) {
    const std::string d = "2026-11-0" + std::to_string(day);
    input.push_back(alarm(d + "T10:00:00Z", "a" + std::to_string(day), "ALARM", "OK"));
    input.push_back(generic(d + "T10:30:00Z", "batch-" + std::to_string(day % 3), "firing"));
    input.push_back(alarm(d + "T11:00:00Z", "o" + std::to_string(day), "OK", "ALARM"));
  }
  Replay first = replay(input, "2026-11-12T00:00:00Z");
  Replay second = replay(input, "2026-11-12T00:00:00Z");
  REQUIRE(first.status == 0);
  CHECK(first.lines.size() > 40);
  CHECK(first.out == second.out);
}

TEST_CASE("replay: redelivery, out-of-order and stale occurrences") {
  const std::vector<Json> input = {
      alarm("2026-11-01T10:00:00Z", "m1", "ALARM", "OK"),
      alarm("2026-11-01T10:00:03Z", "m1", "ALARM", "OK"),  // SNS retried
      // An OK that was sent before the ALARM, delivered after it.
      alarm("2026-11-01T10:01:00Z", "m0", "OK", "ALARM", "2026-11-01T09:50:00Z"),
      generic("2026-11-01T12:00:00Z", "batch-nightly", "firing"),
      generic("2026-11-01T13:00:00Z", "batch-nightly", "firing"),  // continues
      generic("2026-11-01T16:00:00Z", "batch-nightly", "firing"),  // 3h later: stale_after 2h
  };
  Replay r = replay(input);
  REQUIRE(r.status == 0);
  auto events = r.where("event");
  REQUIRE(events.size() == 6);
  CHECK(events[1]["outcome"] == "redelivery");
  CHECK(events[2]["outcome"] == "out_of_order");
  CHECK(events[3]["outcome"] == "created");
  CHECK(events[4]["outcome"] == "duplicate");
  CHECK(events[5]["outcome"] == "reopened");
  CHECK(events[5]["reason"] == "stale");
  CHECK(events[5]["episode"] == 2);
  // One page per occurrence: the redelivery and the out-of-order OK triggered nothing.
  auto triggers = r.where("notify", "action", "trigger");
  REQUIRE(triggers.size() == 4);  // oncall + alerts for the alarm, alerts twice for the batch
  CHECK(triggers[0]["fingerprint"] == k_fingerprint);
  CHECK(triggers[1]["fingerprint"] == k_fingerprint);
  CHECK(triggers[3]["episode"] == 2);
}

TEST_CASE("replay: sweeps on the virtual clock") {
  SUBCASE("auto_resolve_after expires a forgotten episode and resolves it downstream") {
    Replay r =
        replay({generic("2026-11-01T00:00:00Z", "batch-a", "firing")}, "2026-11-03T00:00:00Z");
    REQUIRE(r.status == 0);
    auto expired = r.where("decision", "decision", "expired");
    REQUIRE(expired.size() == 1);
    CHECK(expired[0]["at"] == "2026-11-02T00:00:00.000Z");
    auto notes = r.where("notify", "action", "resolve");
    REQUIRE(notes.size() == 1);
    CHECK(notes[0]["at"] == "2026-11-02T00:00:00.000Z");
  }
  SUBCASE("ack_timeout returns an acknowledged episode to open and reminds") {
    Replay r = replay({generic("2026-11-01T00:00:00Z", "batch-a", "firing"),
                       Json{{"at", "2026-11-01T00:10:00Z"},
                            {"ack", {{"fingerprint", "generic:batch-a"}, {"by", "bob"}}}}},
                      "2026-11-01T01:00:00Z");
    REQUIRE(r.status == 0);
    auto back = r.where("decision", "decision", "ack_timeout");
    REQUIRE(back.size() == 1);
    CHECK(back[0]["at"] == "2026-11-01T00:40:00.000Z");
    auto reminders = r.where("notify", "action", "reminder");
    REQUIRE(reminders.size() == 1);
    CHECK(reminders[0]["at"] == "2026-11-01T00:40:00.000Z");
  }
  SUBCASE("max_open_age flags a quiet episode once and re-announces it to its owners") {
    Replay r = replay({alarm("2026-10-01T00:00:00Z", "m1", "ALARM", "OK"),
                       Json{{"at", "2026-10-01T00:05:00Z"},
                            {"ack", {{"fingerprint", k_fingerprint}, {"by", "alice"}}}}},
                      "2026-12-01T00:00:00Z");
    REQUIRE(r.status == 0);
    auto stale = r.where("decision", "decision", "stale");
    REQUIRE(stale.size() == 1);
    // 30d after the last event (an acknowledgement is not activity of the alert itself).
    CHECK(stale[0]["at"] == "2026-10-31T00:00:00.000Z");
    CHECK(stale[0]["reason"].get<std::string>().find("no activity for 30d") != std::string::npos);
    CHECK(r.where("notify", "action", "reminder").size() == 2);  // oncall, alerts
  }
}

TEST_CASE("replay: malformed input is reported with line numbers and nothing runs") {
  Replay r =
      replay({alarm("2026-11-01T10:00:00Z", "m1", "ALARM", "OK"),
              Json{{"at", "2026-11-01T09:00:00Z"},
                   {"hook", "generic"},
                   {"body", {{"key", "x"}, {"status", "firing"}}}},
              Json{{"at", "yesterday"}, {"hook", "generic"}, {"body", Json::object()}},
              Json{{"at", "2026-11-01T11:00:00Z"}, {"hook", "pagerduty"}, {"body", Json::object()}},
              Json{{"at", "2026-11-01T11:00:00Z"}, {"ack", {{"by", "x"}}}}},
             "", "{not json\n");
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  CHECK(r.err.find("events.jsonl:2: error: \"at\" 2026-11-01T09:00:00.000Z is before line 1") !=
        std::string::npos);
  CHECK(r.err.find("events.jsonl:3: error: \"at\" is not an RFC 3339 time") != std::string::npos);
  CHECK(r.err.find("events.jsonl:4: error: unknown hook \"pagerduty\"") != std::string::npos);
  CHECK(r.err.find("events.jsonl:5: error: \"ack\" needs \"fingerprint\" or \"alert_id\"") !=
        std::string::npos);
  CHECK(r.err.find("events.jsonl:6: error:") != std::string::npos);
  CHECK(r.err.find("5 invalid line(s); nothing replayed") != std::string::npos);
}

TEST_CASE("replay: a payload the server would refuse is a warning, and the rest runs") {
  Replay r = replay({Json{{"at", "2026-11-01T10:00:00Z"},
                          {"hook", "generic"},
                          {"body", {{"key", "x"}, {"status", "sideways"}}}},
                     generic("2026-11-01T10:01:00Z", "batch-a", "firing")});
  CHECK(r.status == 0);
  CHECK(r.err.find("events.jsonl:1: warning: /hooks/generic would answer 400 "
                   "invalid_generic_event") != std::string::npos);
  CHECK(r.where("event").size() == 1);
}

TEST_CASE("replay: a heartbeat that goes quiet opens an episode, the next ping resolves it") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
heartbeats:
  - {name: hooks-worker, every: 5m, grace: 2m, severity: critical, priority: P1, notify: [oncall]}
)";
  const std::string events = dir.file("events.jsonl");
  std::ofstream(events)
      << R"({"at":"2026-11-01T00:00:00Z","hook":"heartbeat","name":"hooks-worker"})"
      << "\n"
      << R"({"at":"2026-11-01T00:05:00Z","hook":"heartbeat","name":"hooks-worker"})"
      << "\n"
      << R"({"at":"2026-11-01T00:40:00Z","hook":"heartbeat","name":"hooks-worker"})"
      << "\n";
  ReplayOptions options;
  options.rules_path = rules;
  options.events_path = events;
  std::ostringstream out, err;
  REQUIRE(run_replay(options, out, err) == 0);
  std::vector<Json> lines;
  std::istringstream in(out.str());
  for (std::string l; std::getline(in, l);)
    lines.push_back(Json::parse(l));
  REQUIRE(lines.size() == 4);
  CHECK(lines[0]["type"] == "event");
  CHECK(lines[0]["at"] == "2026-11-01T00:12:00.000Z");  // 00:05 + every 5m + grace 2m
  CHECK(lines[0]["fingerprint"] == "heartbeat:hooks-worker");
  CHECK(lines[0]["outcome"] == "created");
  CHECK(lines[1]["type"] == "notify");
  CHECK(lines[1]["channel"] == "oncall");
  CHECK(lines[1]["severity"] == "critical");
  CHECK(lines[1]["priority"] == "P1");
  CHECK(lines[2]["at"] == "2026-11-01T00:40:00.000Z");
  CHECK(lines[2]["outcome"] == "resolved");
  CHECK(lines[3]["action"] == "resolve");
}

namespace {

// The shipped rules.yaml, with one rule added for the forms stack's web tier that escalates
// like the queue alarm (the shipped file has no other escalating rule to watch).
std::string shipped_rules_with_forms() {
  std::ifstream in(std::string(TOCSIN_SOURCE_DIR) + "/rules.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string rules = text.str();
  const std::string anchor = "  - name: everything-else\n";
  const auto at = rules.find(anchor);
  REQUIRE(at != std::string::npos);
  rules.insert(at,
               "  - name: forms-web\n"
               "    match: {source: generic, name: \"forms-*\"}\n"
               "    escalation: queue-critical\n\n");
  return rules;
}

Json silence_line(const std::string& at, Json spec) {
  return Json{{"at", at}, {"silence", std::move(spec)}};
}

}  // namespace

TEST_CASE("replay: a maintenance window never quiets the queue-age alarm") {
  // Issue 15's closing evidence: a broad silence over the forms stack (its web tier and its
  // hooks worker, by a name regex) while the queue alarm fires.
  const std::vector<Json> input = {
      silence_line("2026-12-22T03:00:00Z", {{"id", 7},
                                            {"matchers", {{"name", "/^(forms-|hooks-worker)/"}}},
                                            {"duration", "2h"},
                                            {"by", "alice"},
                                            {"comment", "forms stack upgrade"}}),
      generic("2026-12-22T03:30:00Z", "forms-api-5xx", "firing"),
      alarm("2026-12-22T04:00:00Z", "dec", "ALARM", "OK"),
  };
  Replay r = run_replay_lines(shipped_rules_with_forms(), input, "2026-12-22T05:30:00Z");
  REQUIRE(r.status == 0);

  auto added = r.where("decision", "decision", "silence_added");
  REQUIRE(added.size() == 1);
  CHECK(added[0]["at"] == "2026-12-22T03:00:00.000Z");
  CHECK(added[0]["fingerprint"].is_null());
  CHECK(added[0]["episode"].is_null());
  CHECK(
      added[0]["reason"].get<std::string>().starts_with("silence 1 by alice until "
                                                        "2026-12-22T05:00:00"));

  // The queue alarm (never_suppress in the shipped rules) pages on-call at once, then the CTO.
  auto queue = r.where("notify", "fingerprint", k_fingerprint);
  REQUIRE(queue.size() >= 3);
  CHECK(queue[0]["at"] == "2026-12-22T04:00:00.000Z");
  CHECK(queue[0]["channel"] == "oncall");
  CHECK(queue[0]["action"] == "trigger");
  CHECK(queue[2]["at"] == "2026-12-22T04:20:00.000Z");
  CHECK(queue[2]["channel"] == "cto");
  for (const auto& d : r.where("decision", "fingerprint", k_fingerprint))
    CHECK(d["decision"] == "escalated");  // never `silenced`

  // The forms alert is withheld, then pages when the silence ends, and escalates from then.
  auto silenced = r.where("decision", "decision", "silenced");
  REQUIRE(silenced.size() == 1);
  CHECK(silenced[0]["at"] == "2026-12-22T03:30:00.000Z");
  CHECK(silenced[0]["fingerprint"] == "generic:forms-api-5xx");
  CHECK(silenced[0]["episode"] == 1);
  CHECK(silenced[0]["reason"].get<std::string>().find("forms stack upgrade") != std::string::npos);
  auto ended = r.where("decision", "decision", "silence_ended");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0]["at"] == "2026-12-22T05:00:00.000Z");
  auto unsilenced = r.where("decision", "decision", "unsilenced");
  REQUIRE(unsilenced.size() == 1);
  CHECK(unsilenced[0]["at"] == "2026-12-22T05:00:00.000Z");
  CHECK(unsilenced[0]["fingerprint"] == "generic:forms-api-5xx");
  auto forms = r.where("notify", "fingerprint", "generic:forms-api-5xx");
  REQUIRE(forms.size() == 3);
  CHECK(forms[0]["at"] == "2026-12-22T05:00:00.000Z");
  CHECK(forms[0]["channel"] == "oncall");
  CHECK(forms[0]["action"] == "trigger");
  CHECK(forms[0]["level"] == 0);
  CHECK(forms[1]["channel"] == "alerts");
  CHECK(forms[2]["at"] == "2026-12-22T05:20:00.000Z");  // 20m after the page, not the opening
  CHECK(forms[2]["channel"] == "cto");
  CHECK(forms[2]["action"] == "escalate");
}

TEST_CASE("replay: silence lines add and expire silences, refusals are warnings") {
  const std::string rules = std::string(k_rules) + R"(  - name: forms
    match: {source: generic, name: "forms-*"}
    notify: [alerts]
)";
  SUBCASE("expire_silence names the recorded id; the withheld episode pages then") {
    const std::vector<Json> input = {
        // Refused (ends in the past): a warning, and its recorded id expires nothing.
        silence_line("2026-11-01T00:00:00Z", {{"id", 3},
                                              {"matchers", {{"name", "forms-*"}}},
                                              {"ends_at", "2026-10-01T00:00:00Z"},
                                              {"by", "bob"},
                                              {"comment", "too late"}}),
        silence_line("2026-11-01T00:00:00Z", {{"id", 40},
                                              {"matchers", {{"name", "forms-*"}}},
                                              {"duration", "4h"},
                                              {"by", "bob"},
                                              {"comment", "deploy"}}),
        generic("2026-11-01T00:10:00Z", "forms-db", "firing"),
        Json{{"at", "2026-11-01T00:20:00Z"}, {"expire_silence", 3}},
        Json{{"at", "2026-11-01T00:30:00Z"}, {"expire_silence", 40}, {"by", "carol"}},
        Json{{"at", "2026-11-01T00:31:00Z"}, {"expire_silence", 40}},
    };
    Replay r = run_replay_lines(rules, input, "", "", "", true);
    REQUIRE(r.status == 0);
    CHECK(r.err.find("events.jsonl:1: warning: silence not added (invalid_silence): ends_at") !=
          std::string::npos);
    CHECK(r.err.find("events.jsonl:4: warning: expire_silence not applied: silence 3 was not "
                     "added") != std::string::npos);
    CHECK(r.err.find("events.jsonl:6: warning: expire_silence not applied (silence_ended)") !=
          std::string::npos);
    auto ended = r.where("decision", "decision", "silence_ended");
    REQUIRE(ended.size() == 1);
    CHECK(ended[0]["at"] == "2026-11-01T00:30:00.000Z");
    CHECK(ended[0]["reason"].get<std::string>().starts_with("silence 1 expired by carol"));
    auto page = r.where("notify", "fingerprint", "generic:forms-db");
    REQUIRE(page.size() == 1);
    CHECK(page[0]["at"] == "2026-11-01T00:30:00.000Z");
    CHECK(r.err.find("silences: silence_added 1 silence_ended 1 silenced 1 unsilenced 1") !=
          std::string::npos);
  }
  SUBCASE("malformed silence lines are errors before anything runs") {
    struct Case {
      std::string intent;
      Json line;
      std::string error;
    };
    const Case cases[] = {
        {"not an object", Json{{"at", "2026-11-01T00:00:00Z"}, {"silence", "forms"}},
         "\"silence\" must be an object"},
        {"an unknown key in the silence",
         Json{{"at", "2026-11-01T00:00:00Z"}, {"silence", {{"until", "2h"}}}},
         "unknown key \"until\" in \"silence\""},
        {"an id that is not a positive integer",
         Json{{"at", "2026-11-01T00:00:00Z"}, {"silence", {{"id", "7"}}}},
         "\"id\" in \"silence\" must be a positive integer"},
        {"a by that is not a string",
         Json{{"at", "2026-11-01T00:00:00Z"}, {"silence", {{"by", 7}}}},
         "\"by\" in \"silence\" must be a string"},
        {"an unknown key beside expire_silence",
         Json{{"at", "2026-11-01T00:00:00Z"}, {"expire_silence", 1}, {"note", "x"}},
         "unknown key \"note\""},
        {"expire_silence not an id", Json{{"at", "2026-11-01T00:00:00Z"}, {"expire_silence", "1"}},
         "\"expire_silence\" must be a silence id"},
        {"two kinds on one line",
         Json{{"at", "2026-11-01T00:00:00Z"}, {"expire_silence", 1}, {"silence", Json::object()}},
         "a line needs exactly one of \"hook\", \"ack\", \"unack\", \"resolve\", \"silence\", "
         "\"expire_silence\""},
    };
    for (const auto& c : cases) {
      CAPTURE(c.intent);
      Replay r = run_replay_lines(rules, {c.line});
      CHECK(r.status == 1);
      CHECK(r.out.empty());
      CHECK(r.err.find("events.jsonl:1: error: " + c.error) != std::string::npos);
    }
  }
}

namespace {

// Months of mixed traffic, the same every run: flapping alarms (a critical one escalates),
// batch jobs with timeouts, acknowledgements (some of alerts that do not exist), redeliveries
// and a silence. For the differential test below.
std::vector<Json> generated_traffic() {
  std::mt19937 rng(14);  // the engine's output is compared, not the draws: any fixed seed
  const auto draw = [&](std::uint32_t n) { return static_cast<int>(rng() % n); };
  std::vector<Json> input;
  std::map<int, bool> firing;
  std::vector<std::string> sent;  // message ids so far, for redeliveries
  for (int i = 0; i < 700; ++i) {
    const int minute = i * 37;
    char at[32];
    std::snprintf(at, sizeof at, "2026-11-%02dT%02d:%02d:00Z", 1 + minute / 1440,
                  minute / 60 % 24, minute % 60);
    const int kind = draw(10);
    const int n = draw(12);
    if (kind < 4) {
      const bool now = !firing[n];
      firing[n] = now;
      Json line = alarm(at, "m" + std::to_string(i), now ? "ALARM" : "OK", now ? "OK" : "ALARM");
      if (n % 4 != 0) {  // other alarms than the queue-age one: rule `batch` or nothing
        Json message = Json::parse(line["body"]["Message"].get<std::string>());
        message["AlarmName"] = "alarm-" + std::to_string(n);
        message["Trigger"]["MetricName"] = "Errors";
        line["body"]["Message"] = message.dump();
      }
      sent.push_back(line.dump());
      input.push_back(line);
    } else if (kind < 7) {
      input.push_back(generic(at, "batch-" + std::to_string(n), draw(2) ? "firing" : "resolved",
                              "g" + std::to_string(i)));
    } else if (kind < 9) {
      const std::string fingerprint =
          n < 10 ? "generic:batch-" + std::to_string(n) : std::string(k_fingerprint);
      input.push_back(Json{{"at", at}, {draw(4) ? "ack" : "unack", {{"fingerprint", fingerprint}}}});
    } else if (!sent.empty()) {
      Json again = Json::parse(sent[static_cast<std::size_t>(draw(
          static_cast<std::uint32_t>(sent.size())))]);
      again["at"] = at;
      input.push_back(again);
    }
    if (i % 100 == 50) {  // text the output must escape: quotes, backslash, control, non-ASCII
      input.push_back(generic(at, "batch-\"q\"\\\t\x01-\xc3\xa9-\xe2\x9c\x93", "firing"));
    }
    if (i == 350) {
      input.push_back(Json{{"at", at},
                           {"silence", {{"id", 9},
                                        {"matchers", {{"name", "batch-1*"}}},
                                        {"duration", "6h"},
                                        {"by", "bob"},
                                        {"comment", "maintenance"}}}});
    }
  }
  return input;
}

// Each line of `err` from its "events.jsonl:" on (the runs' input files are in different folders).
std::string warnings(const std::string& err) {
  std::istringstream in(err);
  std::string line, out;
  while (std::getline(in, line)) {
    const auto at = line.find("events.jsonl:");
    out += (at == std::string::npos ? line : line.substr(at)) + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("replay: the throwaway database decides exactly as a kept one") {
  // A replay without --db runs on a database stripped for speed (storage/sqlite/database.cpp,
  // strip_for_throwaway); its decisions must be byte for byte those of the full schema.
  if (testing_on_postgres()) return;  // without --db the PostgreSQL run uses a scratch schema
  const std::vector<Json> input = generated_traffic();
  for (const std::string until : {"", "2026-12-31T00:00:00Z"}) {
    CAPTURE(until);
    TempDir dir;
    Replay fast = replay(input, until);
    Replay kept = run_replay_lines(k_rules, input, until, dir.file("kept.db"));
    REQUIRE(fast.status == 0);
    REQUIRE(kept.status == 0);
    CHECK(fast.lines.size() > 1000);
    CHECK(fast.err.find("not applied") != std::string::npos);
    CHECK(fast.out == kept.out);
    CHECK(warnings(fast.err) == warnings(kept.err));
    // Each line is what nlohmann prints for it (the writer of cli/replay.cpp writes them itself).
    std::istringstream lines(fast.out);
    std::string line;
    std::size_t escaped = 0;
    while (std::getline(lines, line)) {
      REQUIRE(nlohmann::ordered_json::parse(line).dump() == line);
      if (line.find("\\u0001") != std::string::npos) ++escaped;
    }
    CHECK(escaped > 0);
  }
}

TEST_CASE("replay: mapped events take the rules file's mapping, as the hook would") {
  const std::string rules = std::string(k_rules) + R"(  - name: cron
    match: {source: generic, labels: {host: "*"}}
    notify: [alerts]
)";
  // sources.mapped appended to the sources of k_rules.
  std::string with_mapped = rules;
  with_mapped.replace(with_mapped.find("sources:\n"), 9,
                      "sources:\n  mapped:\n    cron:\n      allow_unauthenticated: true\n"
                      "      identity: \"{/host}:{/job}\"\n"
                      "      status: {path: /status, firing: [failed], resolved: [ok]}\n"
                      "      labels: {host: \"{/host}\"}\n"
                      "      delivery_id: \"{/run}\"\n");
  const auto line = [](const char* at, const char* status, const char* run) {
    return Json{{"at", at},
                {"hook", "mapped/cron"},
                {"body", {{"host", "db1"}, {"job", "backup"}, {"status", status}, {"run", run}}}};
  };
  const std::vector<Json> input = {
      line("2026-11-01T03:00:00Z", "failed", "r1"),
      line("2026-11-01T03:00:05Z", "failed", "r1"),  // the wrapper's curl retried
      line("2026-11-02T03:00:00Z", "ok", "r2"),
      Json{{"at", "2026-11-02T04:00:00Z"}, {"hook", "mapped/cron"}, {"body", {{"job", "x"}}}},
      Json{{"at", "2026-11-02T05:00:00Z"}, {"hook", "mapped/other"}, {"body", Json::object()}},
  };
  Replay r = run_replay_lines(with_mapped, input);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto events = r.where("event");
  REQUIRE(events.size() == 3);
  CHECK(events[0]["outcome"] == "created");
  CHECK(events[0]["fingerprint"] == "mapped:cron:db1:backup");
  CHECK(events[1]["outcome"] == "redelivery");
  CHECK(events[2]["outcome"] == "resolved");
  CHECK(r.err.find("would answer 400 mapped_payload_invalid: status: /status is missing") !=
        std::string::npos);
  CHECK(r.err.find("would answer 404 unknown_mapped_source") != std::string::npos);
  CHECK(r.where("notify", "action", "trigger").size() == 1);
}

}  // namespace cli_replay_test
