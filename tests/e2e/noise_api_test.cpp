// End-to-end: the real binary scores an alert flapping through /hooks/generic, demotes its
// next episode to the low-priority channel, and explains it through the REST API and
// /metrics; a never_suppress alert as noisy still goes to its escalation.

#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>

#include "core/json.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_noise_api_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const std::string k_rules = "version: 1\n" + sources_section() + R"(channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
  lowprio: {type: webhook, url: "http://127.0.0.1:9/lowprio"}
rules:
  - {name: queue, match: {name: "queue-*"}, notify: [alerts], never_suppress: true, low_priority: lowprio}
  - {name: cpu, match: {name: "*cpu*"}, notify: [alerts], low_priority: lowprio}
noise: {demote_above: 60}
)";

void post(httplib::Client& c, const std::string& key, const std::string& status) {
  auto r =
      c.Post("/hooks/generic", Json{{"key", key}, {"status", status}}.dump(), "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
}

// Ten firing/resolved cycles, then it fires again: the eleventh episode.
void flap(httplib::Client& c, const std::string& key) {
  for (int i = 0; i < 10; ++i) {
    post(c, key, "firing");
    post(c, key, "resolved");
  }
  post(c, key, "firing");
}

Json get(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return Json::parse(r->body);
}

// The outbox rows about `alert_id`, oldest first, as "channel action episode".
std::vector<std::string> outbox(httplib::Client& c, std::int64_t alert_id) {
  Json rows = get(c, "/api/v1/notifications?limit=200&alert_id=" + std::to_string(alert_id));
  std::vector<std::string> out;
  for (const auto& n : rows["notifications"])
    out.insert(out.begin(), n["channel"].get<std::string>() + " " + n["action"].get<std::string>() +
                                " " + n["episode"].dump());
  return out;
}

}  // namespace

TEST_CASE("noise API: a flapping alert is demoted and every point is explained") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << k_rules;
  ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", dir.file("t.db")});
  httplib::Client c("127.0.0.1", server.port());

  flap(c, "db-cpu-high");
  flap(c, "queue-age");
  Json alerts = get(c, "/api/v1/alerts?q=cpu");
  REQUIRE(alerts["alerts"].size() == 1);
  const std::int64_t cpu = alerts["alerts"][0]["alert_id"];
  const std::int64_t queue = get(c, "/api/v1/alerts?q=queue")["alerts"][0]["alert_id"];

  // The detail explains the score: every factor with its value, weight and points.
  Json detail = get(c, "/api/v1/alerts/" + std::to_string(cpu));
  const Json& noise = detail["noise"];
  CHECK(noise["score"] > 60.0);
  CHECK(noise["above_demote"] == true);
  CHECK(noise["factors"]["flap"]["flapping"] == true);
  CHECK(noise["factors"]["flap"]["weight"] == 0.4);
  CHECK(noise["factors"]["rate"]["episodes"] == 11);
  CHECK(noise["factors"]["transient"]["count"] == 10);
  CHECK(noise["factors"]["transient"]["ended"] == 10);
  CHECK(noise["factors"]["ignored"]["share"] == 1.0);
  const double sum = noise["factors"]["flap"]["points"].get<double>() +
                     noise["factors"]["rate"]["points"].get<double>() +
                     noise["factors"]["transient"]["points"].get<double>() +
                     noise["factors"]["ignored"]["points"].get<double>();
  CHECK(noise["score"].get<double>() == doctest::Approx(sum));
  CHECK(detail["episode"]["demoted_to"] == "lowprio");
  CHECK(detail["episode"]["noise"] > 60.0);

  // By hand (events seconds apart, so the rate counts over one day): episode 6 opens on the
  // 11th observation, 10 alternating changes = 56.6 % ≥ flap_high: flap 22.6 + rate 6/24 × 30
  // = 7.5 + transient 5/5 20 + ignored 5/5 10 = 60.1 > 60. Episode 5 scored 36.3 (46.3 %,
  // not flapping). So episodes 1–5 page the prioritized channel and 6–11 go to lowprio.
  std::vector<std::string> expected;
  for (int k = 1; k <= 11; ++k) {
    const std::string channel = k <= 5 ? "alerts" : "lowprio";
    expected.push_back(channel + " trigger " + std::to_string(k));
    if (k < 11) expected.push_back(channel + " resolve " + std::to_string(k));
  }
  CHECK(outbox(c, cpu) == expected);
  // Every notification carries the score at decision time.
  const Json cpu_notifications = get(c, "/api/v1/notifications?alert_id=" + std::to_string(cpu));
  for (const auto& n : cpu_notifications["notifications"])
    CHECK(n["noise"].is_number());

  // The never_suppress alert is as noisy, and still goes to its escalation.
  CHECK(get(c, "/api/v1/alerts/" + std::to_string(queue))["noise"]["score"] > 60.0);
  CHECK(outbox(c, queue).back() == "alerts trigger 11");

  // The noisiest list. Eleven episodes within seconds are one burst, not a history to judge an
  // alert by: its advice says so rather than "delete it" (tests/engine/noise_view_test.cpp has
  // the advice given once the history is long enough).
  Json noisiest = get(c, "/api/v1/noise?limit=5");
  REQUIRE(noisiest["alerts"].size() == 2);
  for (const auto& a : noisiest["alerts"]) {
    REQUIRE(a["advice"].size() == 1);
    CHECK(a["advice"][0].get<std::string>().rfind("not enough history (11 episodes over ", 0) == 0);
  }
  auto bad = c.Get("/api/v1/noise?limit=0");
  REQUIRE(bad);
  CHECK(bad->status == 400);

  // Metrics count the demotions (the queue alert had none).
  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("tocsin_noise_routing_total{decision=\"demoted\"} 6\n") !=
        std::string::npos);
  CHECK(metrics->body.find("tocsin_noise_routing_total{decision=\"held\"} 0\n") !=
        std::string::npos);
}

}  // namespace e2e_noise_api_test
