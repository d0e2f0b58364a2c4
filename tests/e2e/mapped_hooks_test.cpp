// End-to-end: every mapping the README ships (examples/mappings/), served by the real binary
// at /hooks/mapped/<name>, fed the real payloads its tool sent (the collection beside the
// repository, tests/support/peer_payloads.hpp). Where the collection holds no matching
// resolve (or firing) payload for the same alert, the test derives it from the real one by
// changing only the status value (and the delivery id), and says so in the table.

#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "core/json.hpp"
#include "support/mappings.hpp"
#include "support/peer_payloads.hpp"
#include "support/process.hpp"
#include "support/rules_server.hpp"
#include "support/temp_dir.hpp"

namespace e2e_mapped_hooks_test {

using namespace tocsin::testing;
using tocsin::Json;

// The table below leaves optional columns out.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

// A payload: a file of the collection (`mapped/<tool>/<file>`), or JSON written here (for the
// tools without a sample, said in `why`), with pointer -> value changes applied.
struct Payload {
  std::string file;  // empty: `json` is the payload
  Json json;
  std::vector<std::pair<std::string, Json>> changes;

  std::optional<std::string> body() const {
    Json out;
    if (file.empty()) {
      out = json;
    } else {
      const auto text = peer_payload("mapped/" + file);
      if (!text) return std::nullopt;
      out = Json::parse(*text);
    }
    for (const auto& [pointer, value] : changes)
      out[Json::json_pointer(pointer)] = value;
    return out.dump();
  }
};

struct Tool {
  std::string mapping;
  Payload firing;
  std::optional<Payload> resolved;  // the same alert's resolve
  std::string identity;
  std::string severity;  // the alert's effective severity
  std::string summary;
  Payload misfit;  // a real payload the mapping does not fit
  std::string misfit_detail;
  bool has_delivery_id = false;
};

// Uptime Kuma's webhook body as its documentation and source describe it (no real sample was
// found): {"heartbeat": {...}, "monitor": {...}, "msg": "..."}.
Json kuma(int status) {
  return Json{
      {"heartbeat",
       {{"monitorID", 7},
        {"status", status},
        {"time", "2026-11-30 10:00:00.000"},
        {"msg", status == 0 ? "timeout of 48000ms exceeded" : "200 - OK"},
        {"important", true}}},
      {"monitor", {{"id", 7}, {"name", "shop"}, {"url", "https://shop.example"}, {"type", "http"}}},
      {"msg", "[shop] [Down] timeout of 48000ms exceeded"}};
}

// The cron wrapper's body (README "Cron jobs through a mapped source"): our own format.
Json cron(const char* status, int code, long at) {
  return Json{{"job", "nightly-backup"}, {"host", "db1"},     {"status", status},
              {"exit_code", code},       {"finished_at", at}, {"output", "pg_dump: done"}};
}

std::vector<Tool> tools() {
  return {
      {"datadog",
       {"datadog/inres_triggered_query_alert_p1_2025.json"},
       Payload{"datadog/inres_triggered_query_alert_p1_2025.json",
               {},
               {{"/transition", "Recovered"}, {"/id", "derived-recovery"}}},
       "06ade3da0286048d242ea8e46f521c93",
       "critical",
       "[Triggered] High tracking",
       {"datadog/nudgebee_triggered_cpu_high_p1_2025.json"},
       "status: /transition is missing",
       true},
      {"grafana-oncall",
       {"grafana-oncall/kartverket_escalation_firing_2023.json"},
       Payload{"grafana-oncall/kartverket_escalation_firing_2023.json",
               {},
               {{"/alert_group/state", "resolved"}, {"/event/type", "resolve"}}},
       "I57917WDFNGHY",
       "warning",
       "[firing:3] InstanceDown ",
       {"sentry/zulip_issue_created_exception.json"},
       "status: /alert_group/state is missing"},
      {"sentry",
       {"sentry/zulip_issue_created_exception.json"},
       Payload{"sentry/zulip_issue_created_exception.json", {}, {{"/action", "resolved"}}},
       "1635244907",
       "high",
       "ZULIP-INTEGRATION-TESTING-2: Exception: Custom exception!",
       {"sentry/sentrydocs_issue_alert_triggered.json"},
       "status: /action is \"triggered\", which the mapping does not list (firing \"created\", "
       "\"unresolved\"; resolved \"resolved\"; ignore \"assigned\", \"ignored\", \"archived\")"},
      {"sentry-metric-alert",
       {"sentry/sentrydocs_metric_alert_resolved.json", {}, {{"/action", "critical"}}},
       Payload{"sentry/sentrydocs_metric_alert_resolved.json"},
       "7",
       "critical",
       "Resolved: Too many errors",
       {"datadog/inres_triggered_query_alert_p1_2025.json"},
       "status: /action is missing"},
      {"uptimerobot",
       {"uptimerobot/zulip_template_monitor_down.json"},
       Payload{"uptimerobot/zulip_template_monitor_down.json", {}, {{"/alert_type", "2"}}},
       "server1.example.com",
       "warning",
       "Web Server is Down: Host Is Unreachable",
       {"pingdom/alerta_http_down_2017.json"},
       "status: /alert_type is missing"},
      {"uptime-kuma",
       {"", kuma(0)},
       Payload{"", kuma(1)},
       "7",
       "warning",
       "shop: timeout of 48000ms exceeded",
       {"uptimerobot/zulip_template_monitor_down.json"},
       "status: /heartbeat/status is missing"},
      {"pingdom",
       {"pingdom/alerta_http_down_2017.json"},
       Payload{"pingdom/alerta_http_up_2017.json"},
       "803318",
       "high",
       "Alerta API on OpenShift: HTTP Error 503",
       {"uptimerobot/zulip_template_monitor_down.json"},
       "status: /current_state is missing",
       true},
      {"newrelic",
       {"newrelic/zulip_workflow_default_activated.json"},
       Payload{"newrelic/zulip_workflow_default_activated.json", {}, {{"/state", "CLOSED"}}},
       "c5faa7e6-7b54-402d-af79-f99601e0278c",
       "critical",
       "zulip_app query result is > 1.0 for 1 minutes on 'Zulip Server Low Storage'",
       {"newrelic/alerta_legacy_test_notification_open_2020.json"},
       "status: /state is missing"},
      {"azure-monitor",
       {"azure-monitor/dialogporten_log_alert_v2_fired_2023.json"},
       Payload{"azure-monitor/dialogporten_log_alert_v2_fired_2023.json",
               {},
               {{"/data/essentials/monitorCondition", "Resolved"}}},
       "",
       "high",
       "",
       {"google-cloud-monitoring/agilicus_v1_2_uptime_open_2020.json"},
       "status: /data/essentials/monitorCondition is missing"},
      {"google-cloud-monitoring",
       {"google-cloud-monitoring/agilicus_v1_2_uptime_open_2020.json"},
       Payload{"google-cloud-monitoring/agilicus_v1_2_uptime_closed_2020.json"},
       "0.ligwyr056k2l",
       "warning",
       "An uptime check on Uptime Check URL labels {host=MYHOST} is failing.",
       {"azure-monitor/msdocs_common_schema_metric_resolved.json"},
       "status: /incident/state is missing"},
      {"zabbix",
       {"zabbix/zulip_template_problem_average.json"},
       Payload{"zabbix/zulip_template_problem_average.json", {}, {{"/status", "OK"}}},
       "www.example.com:Zabbix agent on www.example.com is unreachable for 5 minutes",
       "warning",
       "Zabbix agent on www.example.com is unreachable for 5 minutes",
       {"pingdom/alerta_http_down_2017.json"},
       "status: /status is missing"},
      {"github-actions",
       {"github-actions/octokit_workflow_run_completed.json",
        {},
        {{"/workflow_run/conclusion", "failure"}, {"/workflow_run/run_attempt", 0}}},
       Payload{"github-actions/octokit_workflow_run_completed.json"},
       "octo-org/octo-repo::master",
       "warning",
       "octo-org/octo-repo:  on master: failure",
       {"sentry/zulip_issue_created_exception.json"},
       "status: /workflow_run/conclusion is missing",
       true},
      {"cron",
       {"", cron("failed", 2, 1764500000)},
       Payload{"", cron("ok", 0, 1764586400)},
       "db1:nightly-backup",
       "warning",
       "nightly-backup on db1 exited with 2",
       {"", Json{{"job", "x"}, {"status", "failed"}}},
       "identity: /host is missing",
       true},
  };
}

// The token of each shipped mapping's token_env, set in the server's environment.
std::vector<std::string> token_env(const std::vector<std::string>& names,
                                   std::map<std::string, std::string>& token_of) {
  std::vector<std::string> env;
  std::set<std::string> set;
  const std::regex token_env_line("token_env: ([A-Z_]+)");
  for (const auto& name : names) {
    std::smatch m;
    const auto text = shipped_mapping_text(name);
    REQUIRE(std::regex_search(text, m, token_env_line));
    token_of[name] = "secret-" + m[1].str();
    if (set.insert(m[1]).second) env.push_back(m[1].str() + "=secret-" + m[1].str());
  }
  return env;
}

Json post(httplib::Client& c, const std::string& name, const std::string& token,
          const std::string& body, int expected_status) {
  auto r = c.Post("/hooks/mapped/" + name, {{"X-Tocsin-Token", token}}, body, "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == expected_status);
  return Json::parse(r->body);
}

}  // namespace

TEST_CASE("mapped hooks: every shipped mapping takes its tool's real payloads end to end") {
  if (!peer_payloads_dir()) {
    MESSAGE(
        "skipped: the real payloads (../shared/peer-payloads, or TOCSIN_PEER_PAYLOADS) are "
        "not on this machine");
    return;
  }
  const auto all = tools();
  std::vector<std::string> names;
  for (const auto& t : all)
    names.push_back(t.mapping);
  // Every shipped mapping is tested here.
  const auto shipped = shipped_mappings();
  CHECK(std::set<std::string>(names.begin(), names.end()) ==
        std::set<std::string>(shipped.begin(), shipped.end()));
  std::map<std::string, std::string> token_of;
  const auto env = token_env(names, token_of);
  RulesServer s(rules_with_mappings(names, "rules:\n  - {name: everything, match: {}}\n"), {}, env);
  auto c = s.client();

  for (const auto& t : all) {
    CAPTURE(t.mapping);
    const auto& token = token_of[t.mapping];
    const auto firing = t.firing.body();
    REQUIRE(firing.has_value());

    // A wrong token is refused before anything is read.
    post(c, t.mapping, "wrong", *firing, 401);

    auto first = post(c, t.mapping, token, *firing, 200);
    REQUIRE(first["results"].size() == 1);
    const auto& created = first["results"][0];
    CHECK(created["outcome"] == "created");
    const auto alert_id = created["alert_id"].get<std::int64_t>();
    auto r = c.Get("/api/v1/alerts/" + std::to_string(alert_id));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    const auto alert = Json::parse(r->body);
    INFO(alert.dump());
    if (!t.identity.empty()) {
      CHECK(alert["fingerprint"] == "mapped:" + t.mapping + ":" + t.identity);
    } else {
      CHECK(alert["fingerprint"].get<std::string>().starts_with("mapped:" + t.mapping + ":"));
    }
    CHECK(alert["severity"] == t.severity);
    if (!t.summary.empty()) CHECK(alert["summary"] == t.summary);
    CHECK(alert["status"] == "open");

    // The same delivery again is recognised, not a new event.
    if (t.has_delivery_id) {
      auto again = post(c, t.mapping, token, *firing, 200);
      CHECK(again["results"][0]["outcome"] == "redelivery");
      CHECK(again["results"][0]["alert_id"] == alert_id);
    }

    // The resolve closes it.
    REQUIRE(t.resolved.has_value());
    const auto resolved = t.resolved->body();
    REQUIRE(resolved.has_value());
    auto closing = post(c, t.mapping, token, *resolved, 200);
    CHECK(closing["results"][0]["outcome"] == "resolved");
    CHECK(closing["results"][0]["alert_id"] == alert_id);
    r = c.Get("/api/v1/alerts/" + std::to_string(alert_id));
    REQUIRE(r);
    CHECK(Json::parse(r->body)["status"] == "resolved");

    // A payload the mapping does not fit: 400 naming the field and the path.
    const auto misfit = t.misfit.body();
    REQUIRE(misfit.has_value());
    auto refused = post(c, t.mapping, token, *misfit, 400);
    CHECK(refused["error"] == "mapped_payload_invalid");
    CHECK(refused["detail"] == t.misfit_detail);
  }
}

TEST_CASE("mapped hooks: ignored values are recorded as ignored, unknown names are 404") {
  if (!peer_payloads_dir()) {
    MESSAGE("skipped: the real payloads are not on this machine");
    return;
  }
  RulesServer s(
      rules_with_mappings({"github-actions"}, "rules:\n  - {name: everything, match: {}}\n"), {},
      {"TOCSIN_GITHUB_TOKEN=gh"});
  auto c = s.client();
  // A run just requested has no conclusion yet (null): the mapping ignores it.
  const auto requested = peer_payload("mapped/github-actions/octokit_workflow_run_requested.json");
  REQUIRE(requested.has_value());
  auto ignored = post(c, "github-actions", "gh", *requested, 200);
  CHECK(ignored["results"][0]["outcome"] == "ignored");
  CHECK(ignored["results"][0]["reason"] == "mapped_ignored_null");

  auto unknown =
      c.Post("/hooks/mapped/datadog", {{"X-Tocsin-Token", "gh"}}, "{}", "application/json");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  CHECK(Json::parse(unknown->body)["error"] == "source_disabled");

  auto missing = c.Post("/hooks/mapped/github-actions", "{}", "application/json");
  REQUIRE(missing);
  CHECK(missing->status == 401);
}

TEST_CASE("mapped hooks: tocsin check reports a bad mapping with its line and column") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\nsources:\n  mapped:\n    tool:\n      token_env: T\n"
                          "      identity: \"{/id\"\n      status: {path: /s, firing: [a]}\n";
  auto check = run_tocsin({"check", rules});
  INFO(check.output);
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(rules + ":6:18: error: sources.mapped.tool: \"identity\": a placeholder "
                                  "opened here is not closed") != std::string::npos);
}

}  // namespace e2e_mapped_hooks_test
