// tocsin route, in process (README "Rules as code"): which rules match and apply, the route, the
// fingerprint and the noise routing, from the engine's own functions.

#include "cli/route.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

namespace cli_route_test {

using namespace tocsin;
using namespace tocsin::cli;
using namespace tocsin::testing;

namespace {

const char* const k_rules = R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
  digest: {type: webhook, url: "http://127.0.0.1:9/digest"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  critical:
    steps:
      - {after: 0m, notify: [oncall]}
      - {after: 20m, notify: [cto]}
    repeat_every: 30m
noise: {demote_above: 60}
rules:
  - name: queue
    match: {source: cloudwatch, metric: ApproximateAgeOfOldestMessage}
    severity: critical
    never_suppress: true
    escalation: critical
  - name: tag-team
    match: {labels: {team: db}}
    continue: true
    dedup_key: "db:{labels.instance}"
  - name: db-cpu
    match: {name: "*cpu*"}
    notify: [alerts]
    low_priority: digest
    hold_for: 5m
  - name: watchdog
    match: {source: alertmanager, name: Watchdog}
    drop: true
  - name: generic-fallback
    match: {source: generic}
    notify: [alerts]
)";

struct Routed {
  int status = -1;
  std::string out, err;
  Json json;
};

Routed route(RouteOptions options, const std::string& stdin_text = "",
             const char* rules = k_rules) {
  TempDir dir;
  options.rules_path = dir.file("rules.yaml");
  std::ofstream(options.rules_path) << rules;
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  Routed r;
  r.status = run_route(options, in, out, err);
  r.out = out.str();
  r.err = err.str();
  if (options.json && r.status < 2) r.json = Json::parse(r.out);
  return r;
}

RouteOptions flags(const std::string& name, std::vector<std::pair<std::string, std::string>> labels,
                   const std::string& source = "generic") {
  RouteOptions o;
  o.name = name;
  o.labels = std::move(labels);
  o.source = source;
  o.json = true;
  return o;
}

std::vector<std::string> names(const Json& list) {
  std::vector<std::string> out;
  for (const auto& x : list)
    out.push_back(x.is_object() ? x["rule"].get<std::string>() : x.get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("route: which rules match, which apply, and where the alert goes") {
  struct Case {
    const char* intent;
    RouteOptions options;
    int status;
    std::vector<std::string> matches, applies;
    std::string fingerprint, severity, priority;
    std::vector<std::string> first_step;
  };
  RouteOptions cw = flags("orders-age", {{"QueueName", "orders"}}, "cloudwatch");
  cw.metric = "ApproximateAgeOfOldestMessage";
  cw.account = "111122223333";
  cw.region = "eu-west-1";
  const Case cases[] = {
      {"a CloudWatch queue alarm takes the escalation policy, its first match",
       cw,
       0,
       {"queue"},
       {"queue"},
       "cloudwatch:111122223333:eu-west-1:orders-age",
       "critical",
       "P1",
       {"oncall"}},
      {"continue: true lets the next matching rule apply too, and its dedup_key names the alert",
       flags("db-cpu-high", {{"team", "db"}, {"instance", "prod-1"}}),
       0,
       {"tag-team", "db-cpu", "generic-fallback"},
       {"tag-team", "db-cpu"},
       "db:prod-1",
       "warning",
       "P3",
       {"alerts"}},
      {"a later match does not apply after a rule without continue",
       flags("api-cpu", {}),
       0,
       {"db-cpu", "generic-fallback"},
       {"db-cpu"},
       "generic:api-cpu",
       "warning",
       "P3",
       {"alerts"}},
      {"an alert no rule matches exits 1",
       flags("Other", {}, "alertmanager"),
       1,
       {},
       {},
       "alertmanager:{alertname=\"Other\"}",
       "warning",
       "P3",
       {}},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      Routed r = route(k.options);
      INFO(r.out, r.err);
      REQUIRE(r.status == k.status);
      CHECK(names(r.json["matches"]) == k.matches);
      CHECK(names(r.json["applies"]) == k.applies);
      CHECK(r.json["fingerprint"] == k.fingerprint);
      CHECK(r.json["severity"] == k.severity);
      CHECK(r.json["priority"] == k.priority);
      std::vector<std::string> first;
      if (!r.json["steps"].empty())
        first = r.json["steps"][0]["notify"].get<std::vector<std::string>>();
      CHECK(first == k.first_step);
    }
  }
}

TEST_CASE("route: the escalation steps with their delays, and what a silence can do") {
  RouteOptions o = flags("orders-age", {}, "cloudwatch");
  o.metric = "ApproximateAgeOfOldestMessage";
  Routed r = route(o);
  REQUIRE(r.status == 0);
  REQUIRE(r.json["steps"].size() == 2);
  CHECK(r.json["steps"][1]["after"] == "20m");
  CHECK(r.json["steps"][1]["after_seconds"] == 1200);
  CHECK(r.json["steps"][1]["notify"] == Json::array({"cto"}));
  CHECK(r.json["repeat_every"] == "30m");
  CHECK(r.json["never_suppress"] == true);

  o.json = false;
  o.noise = 99;
  Routed text = route(o);
  INFO(text.out);
  CHECK(text.out.find("step 1 after 20m: cto (escalate)") != std::string::npos);
  CHECK(text.out.find("every 30m until acknowledged") != std::string::npos);
  CHECK(text.out.find("never demoted or held (never_suppress)") != std::string::npos);
}

TEST_CASE("route: noise demotes or holds as the engine would") {
  struct Case {
    const char* intent;
    std::optional<double> noise;
    std::optional<std::pair<int, int>> transient;
    bool demoted, held;
  };
  const Case cases[] = {
      {"a score at demote_above is not demoted", 60.0, std::nullopt, false, false},
      {"a score above demote_above is demoted to low_priority", 60.1, std::nullopt, true, false},
      {"half the ended episodes transient is held", 10.0, std::make_pair(2, 4), false, true},
      {"one transient episode is not a history", 10.0, std::make_pair(1, 1), false, false},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      RouteOptions o = flags("api-cpu", {});
      o.noise = k.noise;
      o.transient = k.transient;
      Routed r = route(o);
      INFO(r.out);
      REQUIRE(r.status == 0);
      CHECK(r.json["noise"]["demoted"] == k.demoted);
      CHECK(r.json["noise"]["held"] == k.held);
      if (k.demoted) {
        CHECK(r.json["noise"]["demote_to"] == "digest");
        CHECK(r.json["steps"].empty());
      }
    }
  }
}

TEST_CASE("route: alerts from JSON, as the hooks would parse them") {
  struct Case {
    const char* intent;
    std::string body;
    std::string fingerprint;
    std::vector<std::string> applies;
  };
  const Json alarm = {{"AlarmName", "orders-age"},
                      {"AWSAccountId", "123456789012"},
                      {"NewStateValue", "ALARM"},
                      {"OldStateValue", "OK"},
                      {"StateChangeTime", "2026-12-22T04:00:00.000+0000"},
                      {"AlarmArn", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-age"},
                      {"Trigger", {{"MetricName", "ApproximateAgeOfOldestMessage"}}}};
  const Json sns = {{"Type", "Notification"},
                    {"TopicArn", "arn:aws:sns:eu-west-1:123456789012:alerts"},
                    {"Message", alarm.dump()}};
  const Case cases[] = {
      {"a generic event",
       R"({"key": "backup", "status": "firing", "severity": "high"})",
       "generic:backup",
       {"generic-fallback"}},
      {"a CloudWatch alarm message",
       alarm.dump(),
       "cloudwatch:123456789012:us-east-1:orders-age",
       {"queue"}},
      {"an SNS Notification carrying one",
       sns.dump(),
       "cloudwatch:123456789012:us-east-1:orders-age",
       {"queue"}},
      {"an Alertmanager webhook with one alert",
       R"({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}, "startsAt": "2026-01-01T00:00:00Z"}]})",
       "alertmanager:{alertname=\"Watchdog\"}",
       {"watchdog"}},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      RouteOptions o;
      o.json = true;
      Routed r = route(o, k.body);
      INFO(r.out, r.err);
      REQUIRE(r.status == 0);
      CHECK(r.json["fingerprint"] == k.fingerprint);
      CHECK(names(r.json["applies"]) == k.applies);
    }
  }
  SUBCASE("a generic event's own severity counts when the rule sets none") {
    RouteOptions o;
    o.json = true;
    Routed r = route(o, R"({"key": "backup", "status": "firing", "severity": "high"})");
    CHECK(r.json["severity"] == "high");
    CHECK(r.json["priority"] == "P2");
  }
  SUBCASE("an INSUFFICIENT_DATA alarm is ignored under the rule's insufficient_data: ignore") {
    Json insufficient = alarm;
    insufficient["NewStateValue"] = "INSUFFICIENT_DATA";
    RouteOptions o;
    o.json = true;
    Routed r = route(o, insufficient.dump());
    INFO(r.out, r.err);
    CHECK(r.json["ignored"] == "insufficient_data");
    CHECK(r.json["actions_suppressed"].is_null());
    CHECK(r.json["steps"].empty());
    CHECK(r.json["repeat_every"].is_null());
    o.json = false;
    r = route(o, insufficient.dump());
    CHECK(r.out.find("outcome: ignored (insufficient_data): the alarm is INSUFFICIENT_DATA and "
                     "rule queue says insufficient_data: ignore") != std::string::npos);
    Routed applied = route(o, alarm.dump());
    CHECK(applied.out.find("outcome:") == std::string::npos);
    CHECK(applied.out.find("step 0 after 0s: oncall (trigger)") != std::string::npos);
  }
  SUBCASE("a drop rule is shown as such") {
    RouteOptions o;
    o.json = true;
    Routed r = route(
        o,
        R"({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}, "startsAt": "2026-01-01T00:00:00Z"}]})");
    CHECK(r.json["drop"] == true);
  }
}

TEST_CASE("route: --hook reads a request body as that hook does, mapped sources included") {
  const std::string rules = std::string(k_rules) + R"(sources:
  eventbridge: {allow_unauthenticated: true}
  grafana: {allow_unauthenticated: true}
  mapped:
    tool:
      allow_unauthenticated: true
      identity: "{/host}"
      status: {path: /state, firing: [DOWN], resolved: [UP]}
)";
  struct Case {
    const char* intent;
    const char* hook;
    std::string body;
    int status;
    std::string fingerprint;  // or the error's start
  };
  const Case cases[] = {
      {"an EventBridge alarm state change", "eventbridge",
       fixture("eventbridge_alarm_state_change.json"), 0,
       "cloudwatch:123456789012:us-east-1:hooks-worker-oldest-message-age"},
      {"a Grafana Alerting webhook", "grafana", fixture("grafana_webhook_v1.json"), 1, "grafana:{"},
      {"a mapped source's own JSON", "mapped/tool", R"({"host": "db1", "state": "DOWN"})", 0,
       "mapped:tool:db1"},
      {"a body its mapping does not fit", "mapped/tool", R"({"host": "db1"})", 2,
       "tocsin route: standard input: /hooks/mapped/tool would answer 400 "
       "mapped_payload_invalid: status: /state is missing"},
      {"a mapped source the rules lack", "mapped/other", "{}", 2,
       "tocsin route: standard input: /hooks/mapped/other would answer 404"},
      {"an unknown hook", "nope", "{}", 2,
       "tocsin route: standard input: --hook: unknown hook \"nope\""},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      RouteOptions o;
      o.hook = k.hook;
      o.json = true;
      Routed r = route(o, k.body, rules.c_str());
      INFO(r.out, r.err);
      CHECK(r.status == k.status);
      if (k.status < 2) {
        CHECK(r.json["fingerprint"].get<std::string>().rfind(k.fingerprint, 0) == 0);
      } else {
        CHECK(r.err.rfind(k.fingerprint, 0) == 0);
      }
    }
  }
}

TEST_CASE("route: bad input is a usage error naming the problem") {
  struct Case {
    const char* intent;
    RouteOptions options;
    std::string stdin_text;
    std::string message;
  };
  RouteOptions both = flags("x", {});
  both.alert_path = "alert.json";
  RouteOptions bad_source = flags("x", {}, "nagios");
  RouteOptions bad_noise = flags("x", {});
  bad_noise.noise = 101;
  RouteOptions cw_flag = flags("x", {});
  cw_flag.region = "us-east-1";
  RouteOptions missing;
  missing.alert_path = "/nonexistent/alert.json";
  const Case cases[] = {
      {"not JSON", {}, "{", "standard input: not JSON"},
      {"not an alert", {}, R"({"hello": 1})", "not an alert Tocsin knows"},
      {"a generic event the hook would refuse",
       {},
       R"({"key": "x", "status": "burning"})",
       "invalid_generic_event"},
      {"ALERT and --name together", both, "", "not both"},
      {"an unknown source", bad_source, "", "--source must be generic, cloudwatch or alertmanager"},
      {"a noise score out of range", bad_noise, "", "--noise must be a score from 0 to 100"},
      {"a CloudWatch flag for another source", cw_flag, "", "need --source cloudwatch"},
      {"an unreadable file", missing, "", "cannot read /nonexistent/alert.json"},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      Routed r = route(k.options, k.stdin_text);
      INFO(r.err);
      CHECK(r.status == 2);
      CHECK(r.err.find(k.message) != std::string::npos);
      CHECK(r.out.empty());
    }
  }
  SUBCASE("an invalid rules file") {
    Routed r = route(flags("x", {}), "", "version: 1\nrules: [{name: a}]\n");
    CHECK(r.status == 2);
    CHECK(r.err.find("rules.yaml:") != std::string::npos);
    CHECK(r.err.find("is not a valid rules file") != std::string::npos);
  }
}

}  // namespace cli_route_test
