// One transition, one page (docs/behaviour.md "Episodes, escalation and timers"): the same source
// transition delivered by several paths, and a dedup_key group of members, replayed on a
// virtual clock through the engine `serve` runs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"
#include "support/replay_run.hpp"

namespace engine_transitions_replay_test {

using namespace tocsin;
using namespace tocsin::cli;
using namespace tocsin::testing;
using Json = nlohmann::json;

namespace {

const char* const k_fingerprint =
    "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age";

const char* const k_rules = R"(version: 1
defaults: {stale_after: 24h, max_open_age: 72h}
sources:
  sns: {verify_signature: false}
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
rules:
  - name: queue-backlog
    match: {source: cloudwatch}
    severity: critical
    notify: [oncall, alerts]
  - name: hooks-worker-pods
    match: {source: alertmanager, name: HooksWorkerBacklog}
    dedup_key: "{source}:{name}"
    notify: [oncall]
)";

// The CloudWatch state change `state` (from `old_state`) at `change_time`, as SNS delivers it
// from `topic`.
Json sns(const std::string& at, const std::string& message_id, const std::string& topic,
         const std::string& state, const std::string& old_state, const std::string& change_time) {
  Json body = Json::parse(fixture("sns_notification_alarm.json"));
  Json message = Json::parse(body["Message"].get<std::string>());
  message["NewStateValue"] = state;
  message["OldStateValue"] = old_state;
  message["StateChangeTime"] = change_time;
  body["Message"] = message.dump();
  body["MessageId"] = message_id;
  body["TopicArn"] = "arn:aws:sns:us-east-1:123456789012:" + topic;
  return Json{{"at", at}, {"hook", "sns"}, {"body", body}};
}

// The same state change as EventBridge delivers it (event `id`).
Json eventbridge(const std::string& at, const std::string& id, const std::string& state,
                 const std::string& old_state, const std::string& change_time) {
  Json body = Json::parse(fixture("eventbridge_alarm_state_change.json"));
  body["id"] = id;
  body["detail"]["state"]["value"] = state;
  body["detail"]["state"]["timestamp"] = change_time;
  body["detail"]["previousState"]["value"] = old_state;
  return Json{{"at", at}, {"hook", "eventbridge"}, {"body", body}};
}

struct Pod {
  std::string name, status, starts_at, ends_at = "0001-01-01T00:00:00Z";
};

// An Alertmanager group notification of per-pod alerts.
Json alertmanager(const std::string& at, const std::vector<Pod>& pods) {
  Json body = Json::parse(fixture("alertmanager_webhook_v4.json"));
  Json model = body["alerts"][0];
  body["alerts"] = Json::array();
  for (const auto& p : pods) {
    Json a = model;
    a["status"] = p.status;
    a["labels"]["pod"] = p.name;
    a["startsAt"] = p.starts_at;
    a["endsAt"] = p.ends_at;
    body["alerts"].push_back(a);
  }
  return Json{{"at", at}, {"hook", "alertmanager"}, {"body", body}};
}

std::vector<std::string> outcomes(const ReplayRun& r) {
  std::vector<std::string> out;
  for (const auto& e : r.where("event"))
    out.push_back(e["outcome"].get<std::string>() + "/" + e["reason"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE(
    "replay: one CloudWatch transition through SNS, EventBridge and a second topic pages once") {
  const std::string alarm_at = "2026-11-01T10:00:00.118+0000";
  const std::string ok_at = "2026-11-01T10:30:00.512+0000";
  const std::vector<Json> input = {
      sns("2026-11-01T10:00:01Z", "m1", "alerts-critical", "ALARM", "OK", alarm_at),
      eventbridge("2026-11-01T10:00:02Z", "e1", "ALARM", "OK", alarm_at),
      sns("2026-11-01T10:00:03Z", "m2", "alerts-critical-2", "ALARM", "OK", alarm_at),
      // EventBridge retries with a new event id.
      eventbridge("2026-11-01T10:00:40Z", "e1-retry", "ALARM", "OK", alarm_at),
      sns("2026-11-01T10:30:01Z", "m3", "alerts-critical", "OK", "ALARM", ok_at),
      eventbridge("2026-11-01T10:30:02Z", "e2", "OK", "ALARM", ok_at),
      sns("2026-11-01T10:30:03Z", "m4", "alerts-critical-2", "OK", "ALARM", ok_at),
      // A late delivery of the ALARM after the OK: older than the last transition applied.
      eventbridge("2026-11-01T10:31:00Z", "e1-late", "ALARM", "OK", alarm_at),
  };
  ReplayRun r = run_replay_lines(k_rules, input, "2026-11-01T12:00:00Z");
  REQUIRE(r.status == 0);
  CHECK(outcomes(r) == std::vector<std::string>{
                           "created/first_occurrence",
                           "duplicate/same_transition",
                           "duplicate/same_transition",
                           "duplicate/same_transition",
                           "resolved/source_resolved",
                           "duplicate/same_transition",
                           "duplicate/same_transition",
                           "out_of_order/older_than_last_change",
                       });
  for (const auto& e : r.where("event")) {
    CHECK(e["fingerprint"] == k_fingerprint);
    CHECK(e["episode"] == 1);
  }
  // One trigger and one resolve per channel: one episode.
  CHECK(r.where("notify", "action", "trigger").size() == 2);
  CHECK(r.where("notify", "action", "resolve").size() == 2);
  CHECK(r.where("decision", "decision", "superseded").empty());
}

TEST_CASE("replay: a dedup_key group resolves when its last firing member resolves") {
  const std::string group = "alertmanager:HooksWorkerBacklog";
  const std::vector<Json> input = {
      // Pod B started earlier than pod A: per-member order, not out of order against A.
      alertmanager("2026-11-01T10:00:00Z", {{"pod-a", "firing", "2026-11-01T09:59:30Z"},
                                            {"pod-b", "firing", "2026-11-01T09:58:00Z"}}),
      // A resolves; B still fires (Alertmanager re-sends it with the group).
      alertmanager("2026-11-01T10:10:00Z",
                   {{"pod-a", "resolved", "2026-11-01T09:59:30Z", "2026-11-01T10:09:30Z"},
                    {"pod-b", "firing", "2026-11-01T09:58:00Z"}}),
      // repeat_interval: B re-sent unchanged.
      alertmanager("2026-11-01T14:10:00Z", {{"pod-b", "firing", "2026-11-01T09:58:00Z"}}),
      // B resolves: the last firing member.
      alertmanager("2026-11-01T14:20:00Z",
                   {{"pod-b", "resolved", "2026-11-01T09:58:00Z", "2026-11-01T14:19:00Z"}}),
      // A fires again after the group resolved: the next episode.
      alertmanager("2026-11-01T15:00:00Z", {{"pod-a", "firing", "2026-11-01T14:59:00Z"}}),
  };
  ReplayRun r = run_replay_lines(k_rules, input, "2026-11-01T16:00:00Z");
  REQUIRE(r.status == 0);
  CHECK(outcomes(r) == std::vector<std::string>{
                           "created/first_occurrence",
                           "duplicate/continues_episode",
                           "duplicate/member_resolved;still_firing=1",
                           "duplicate/same_transition",
                           "duplicate/same_transition",
                           "resolved/source_resolved",
                           "created/new_occurrence",
                       });
  auto events = r.where("event");
  REQUIRE(events.size() == 7);
  for (const auto& e : events)
    CHECK(e["fingerprint"] == group);
  CHECK(events[5]["episode"] == 1);
  CHECK(events[6]["episode"] == 2);
  auto triggers = r.where("notify", "action", "trigger");
  REQUIRE(triggers.size() == 2);
  CHECK(triggers[0]["episode"] == 1);
  CHECK(triggers[1]["episode"] == 2);
  auto resolves = r.where("notify", "action", "resolve");
  REQUIRE(resolves.size() == 1);
  CHECK(resolves[0]["at"] == "2026-11-01T14:20:00.000Z");
  // Four hours of B re-sent firing kept the episode alive: nothing went stale.
  CHECK(r.where("decision", "decision", "stale").empty());
}

TEST_CASE("replay: a member left firing when a person closed the group does not pin the next one") {
  const std::vector<Json> input = {
      alertmanager("2026-11-01T10:00:00Z", {{"pod-a", "firing", "2026-11-01T09:59:00Z"},
                                            {"pod-b", "firing", "2026-11-01T09:59:00Z"}}),
      // Someone closes the group; pod B's resolve never arrives (its pod was deleted).
      Json{{"at", "2026-11-01T10:05:00Z"}, {"resolve", {{"alert_id", 1}, {"by", "alice"}}}},
      alertmanager("2026-11-01T10:10:00Z",
                   {{"pod-a", "resolved", "2026-11-01T09:59:00Z", "2026-11-01T10:09:00Z"}}),
      // Pod A alone fires again, then resolves: nothing since the close says B still fires.
      alertmanager("2026-11-01T12:00:00Z", {{"pod-a", "firing", "2026-11-01T11:59:00Z"}}),
      alertmanager("2026-11-01T12:30:00Z",
                   {{"pod-a", "resolved", "2026-11-01T11:59:00Z", "2026-11-01T12:29:00Z"}}),
      // Next time B is re-sent as still firing after a new episode opened: it holds that one.
      alertmanager("2026-11-01T13:00:00Z", {{"pod-a", "firing", "2026-11-01T12:59:00Z"}}),
      alertmanager("2026-11-01T13:01:00Z", {{"pod-b", "firing", "2026-11-01T09:59:00Z"}}),
      alertmanager("2026-11-01T13:30:00Z",
                   {{"pod-a", "resolved", "2026-11-01T12:59:00Z", "2026-11-01T13:29:00Z"}}),
  };
  ReplayRun r = run_replay_lines(k_rules, input, "2026-11-01T14:00:00Z");
  REQUIRE(r.status == 0);
  CHECK(outcomes(r) == std::vector<std::string>{
                           "created/first_occurrence",
                           "duplicate/continues_episode",
                           "ignored/nothing_open",
                           "created/new_occurrence",
                           "resolved/source_resolved",
                           "created/new_occurrence",
                           "duplicate/same_transition",
                           "duplicate/member_resolved;still_firing=1",
                       });
}

TEST_CASE("replay: a member firing before a missed resolve superseded the group still holds it") {
  const std::vector<Json> input = {
      alertmanager("2026-11-01T10:00:00Z", {{"pod-b", "firing", "2026-11-01T09:59:00Z"}}),
      alertmanager("2026-11-01T10:01:00Z", {{"pod-a", "firing", "2026-11-01T10:00:00Z"}}),
      // 25 hours of silence: A's next firing supersedes the stale episode; B never resolved.
      alertmanager("2026-11-02T11:00:00Z", {{"pod-a", "firing", "2026-11-02T10:59:00Z"}}),
      alertmanager("2026-11-02T11:30:00Z",
                   {{"pod-a", "resolved", "2026-11-02T10:59:00Z", "2026-11-02T11:29:00Z"}}),
  };
  ReplayRun r = run_replay_lines(k_rules, input, "2026-11-02T12:00:00Z");
  REQUIRE(r.status == 0);
  CHECK(outcomes(r) == std::vector<std::string>{
                           "created/first_occurrence",
                           "duplicate/continues_episode",
                           "reopened/stale",
                           "duplicate/member_resolved;still_firing=1",
                       });
}

}  // namespace engine_transitions_replay_test
