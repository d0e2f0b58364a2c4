// End-to-end: `tocsin route` and `tocsin test` as a rules repository's CI runs them
// (README "Rules as code"), on the shipped rules.yaml and rules.test.yaml.

#include <doctest/doctest.h>

#include <fstream>

#include "core/json.hpp"
#include "support/peer_payloads.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_rules_as_code_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const std::string k_source = TOCSIN_SOURCE_DIR;
const std::string k_rules = k_source + "/rules.yaml";

}  // namespace

TEST_CASE("rules as code: the shipped rules.test.yaml passes against the shipped rules.yaml") {
  auto r = run_tocsin_split({"test", k_rules, k_source + "/rules.test.yaml"});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("FAIL") == std::string::npos);
  CHECK(r.out.find(" failed\n") != std::string::npos);
  CHECK(r.out.find(", 0 failed\n") != std::string::npos);
}

TEST_CASE("rules as code: a failing test file fails the command, with the diff") {
  TempDir dir;
  const std::string tests = dir.file("late.test.yaml");
  std::ofstream(tests) << R"(tests:
  - name: the CTO hears of it within 10 minutes
    start: 2026-12-22T04:00:00Z
    inputs:
      - {at: +0s, hook: generic, body: {key: hooks-worker-backlog, status: firing, severity: critical}}
    notifications:
      - {at: +0s, channel: alerts, action: trigger}
      - {at: +10m, channel: cto, action: escalate}
)";
  auto r = run_tocsin_split({"test", k_rules, tests});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("FAIL the CTO hears of it within 10 minutes") != std::string::npos);
  CHECK(r.out.find("    - +10m escalate cto") != std::string::npos);
}

TEST_CASE("rules as code: route shows where the December alarm goes in the shipped rules") {
  TempDir dir;
  const std::string alarm = dir.file("alarm.json");
  std::ofstream(alarm)
      << Json{{"AlarmName", "hooks-worker-oldest-message-age"},
              {"AWSAccountId", "123456789012"},
              {"NewStateValue", "ALARM"},
              {"OldStateValue", "OK"},
              {"StateChangeTime", "2026-12-22T04:00:00.000+0000"},
              {"AlarmArn",
               "arn:aws:cloudwatch:us-east-1:123456789012:alarm:hooks-worker-oldest-message-age"},
              {"Trigger",
               {{"MetricName", "ApproximateAgeOfOldestMessage"},
                {"Namespace", "AWS/SQS"},
                {"Dimensions", Json::array({{{"name", "QueueName"}, {"value", "hooks-worker"}}})}}}}
             .dump();
  SUBCASE("as text") {
    auto r = run_tocsin_split({"route", "--rules", k_rules, alarm, "--noise", "75"});
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("* queue-backlog (") != std::string::npos);
    CHECK(r.out.find("everything-else (") != std::string::npos);
    CHECK(r.out.find(
              "fingerprint: cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age") !=
          std::string::npos);
    CHECK(r.out.find("step 0 after 0s: oncall, alerts (trigger)") != std::string::npos);
    CHECK(r.out.find("step 1 after 20m: cto (escalate)") != std::string::npos);
    CHECK(r.out.find("never demoted or held (never_suppress)") != std::string::npos);
  }
  SUBCASE("as JSON") {
    auto r = run_tocsin_split({"route", "--rules", k_rules, "--json", alarm});
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    const Json j = Json::parse(r.out);
    CHECK(j["applies"] == Json::array({"queue-backlog"}));
    CHECK(j["severity"] == "critical");
    CHECK(j["priority"] == "P1");
    CHECK(j["steps"].size() == 2);
  }
  SUBCASE("a noisy database CPU alarm is demoted to the digest") {
    auto r = run_tocsin_split({"route", "--rules", k_rules, "--json", "--source", "cloudwatch",
                               "--name", "prod-db-cpu-high", "--label",
                               "DBInstanceIdentifier=prod-orders", "--noise", "75"});
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    const Json j = Json::parse(r.out);
    CHECK(j["applies"] == Json::array({"database-cpu"}));
    CHECK(j["noise"]["demote_to"] == "digest");
  }
  SUBCASE("an alert no rule matches exits 1; a bad one 2") {
    const std::string none = dir.file("none.yaml");
    std::ofstream(none) << "version: 1\nrules:\n  - {name: only-db, match: {name: db}}\n";
    auto r = run_tocsin_split({"route", "--rules", none, "--name", "web"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("no rule applies") != std::string::npos);
    auto bad = run_tocsin_split({"route", "--rules", none, "--name", "web", "--label", "novalue"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("--label must be k=v") != std::string::npos);
  }
}

TEST_CASE("rules as code: route says a composite alarm with suppressed actions is ignored") {
  // AWS's documented EventBridge event of a composite alarm whose suppressor held its actions
  // back (actionsSuppressedBy WaitPeriod): the engine records it as ignored/actions_suppressed
  // under actions_suppressed: ignore (the default), and applies it under firing.
  const auto event = peer_payload("eventbridge/awsdocs_composite_alarm_suppressor_ALARM.json");
  if (!event) {
    MESSAGE("skipped: the peer payload collection is not on this machine (TOCSIN_PEER_PAYLOADS)");
    return;
  }
  TempDir dir;
  const std::string body = dir.file("event.json");
  std::ofstream(body) << *event;
  const auto rules_with = [&](const std::string& policy) {
    const std::string path = dir.file("rules-" + policy + ".yaml");
    std::ofstream(path) << "version: 1\n"
                           "channels:\n"
                           "  oncall: {type: webhook, url: \"http://127.0.0.1:9/oncall\"}\n"
                           "sources:\n"
                           "  eventbridge: {allow_unauthenticated: true}\n"
                           "rules:\n"
                           "  - name: service\n"
                           "    match: {name: ServiceAggregatedAlarm}\n"
                           "    notify: [oncall]\n" +
                               (policy.empty() ? "" : "    actions_suppressed: " + policy + "\n");
    return path;
  };
  SUBCASE("ignored by default, as text and as JSON") {
    const std::string rules = rules_with("");
    auto text = run_tocsin_split({"route", "--rules", rules, "--hook", "eventbridge", body});
    INFO(text.out, text.err);
    CHECK(text.exit_code == 0);
    CHECK(text.out.find("outcome: ignored (actions_suppressed): the source suppressed its "
                        "actions (actionsSuppressedBy WaitPeriod) and rule service says "
                        "actions_suppressed: ignore") != std::string::npos);
    CHECK(text.out.find("escalation: none (ignored)") != std::string::npos);
    CHECK(text.out.find("step 0") == std::string::npos);
    auto json =
        run_tocsin_split({"route", "--rules", rules, "--hook", "eventbridge", "--json", body});
    INFO(json.out, json.err);
    REQUIRE(json.exit_code == 0);
    const Json j = Json::parse(json.out);
    CHECK(j["ignored"] == "actions_suppressed");
    CHECK(j["actions_suppressed"] == "ignore");
    CHECK(j["alert"]["actions_suppressed_by"] == "WaitPeriod");
    CHECK(j["steps"].empty());
  }
  SUBCASE("routed as any firing alarm under actions_suppressed: firing") {
    const std::string rules = rules_with("firing");
    auto text = run_tocsin_split({"route", "--rules", rules, "--hook", "eventbridge", body});
    INFO(text.out, text.err);
    CHECK(text.exit_code == 0);
    CHECK(text.out.find("outcome: ignored") == std::string::npos);
    CHECK(text.out.find("actions suppressed: the source suppressed its actions "
                        "(actionsSuppressedBy WaitPeriod), and rule service says "
                        "actions_suppressed: firing: applied as any firing event") !=
          std::string::npos);
    CHECK(text.out.find("step 0 after 0s: oncall (trigger)") != std::string::npos);
    auto json =
        run_tocsin_split({"route", "--rules", rules, "--hook", "eventbridge", "--json", body});
    INFO(json.out, json.err);
    REQUIRE(json.exit_code == 0);
    const Json j = Json::parse(json.out);
    CHECK(j["ignored"].is_null());
    CHECK(j["actions_suppressed"] == "firing");
    CHECK(j["steps"].size() == 1);
  }
  SUBCASE("no rule applies: the defaults decide") {
    const std::string rules = dir.file("none.yaml");
    std::ofstream(rules) << "version: 1\nsources:\n  eventbridge: {allow_unauthenticated: "
                            "true}\nrules:\n  - {name: only-db, match: {name: db}}\n";
    auto text = run_tocsin_split({"route", "--rules", rules, "--hook", "eventbridge", body});
    INFO(text.out, text.err);
    CHECK(text.exit_code == 1);
    CHECK(text.out.find("outcome: ignored (actions_suppressed): the source suppressed its "
                        "actions (actionsSuppressedBy WaitPeriod) and the defaults say") !=
          std::string::npos);
  }
}

}  // namespace e2e_rules_as_code_test
