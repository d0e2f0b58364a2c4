// End to end, the circuit breaker
// (docs/behaviour.md "The circuit breaker and the catch-up"): the real binary holds
// a failing channel down with one probe at a time, tells the fallback once, logs a line
// per transition, shows the state in the API and /metrics, and catches up when it is back.
#include <doctest/doctest.h>
#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_breaker_test {

using namespace tocsin::testing;
using tocsin::Json;
using namespace std::chrono_literals;

namespace {

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

Json channel(httplib::Client& c, const std::string& name) {
  auto res = c.Get("/api/v1/channels");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const Json all = Json::parse(res->body);
  for (const auto& ch : all["channels"]) {
    if (ch["name"] == name) return ch;
  }
  FAIL("no channel " << name << " in " << res->body);
  return {};
}

}  // namespace

TEST_CASE("breaker: a receiver that fails is held down, probed, and caught up when it is back") {
  RecordingReceiver hook, ops;
  hook.answer_all({503, "{}", "", 0ms});
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\n"
                       << sources_section("  generic: {allow_unauthenticated: true}\n")
                       << "channels:\n  hook: {type: webhook, url: \"" << hook.url()
                       << "/hook\"}\n  ops: {type: webhook, url: \"" << ops.url()
                       << "/ops\"}\n"
                          "delivery: {fallback: ops, timeout: 2s, max_attempts: 3, "
                          "backoff_initial: 300ms, backoff_max: 600ms, breaker_after: 3, "
                          "catch_up_rate: 40}\n"
                          "rules:\n  - {name: all, match: {}, notify: [hook]}\n";
  ServerProcess server(dir.file("s.log"), {"--rules", rules, "--db", dir.file("t.db")});
  httplib::Client c("127.0.0.1", server.port());
  constexpr int k_alerts = 30;
  for (int i = 0; i < k_alerts; ++i) {
    const Json body{{"key", "job-" + std::to_string(i)}, {"status", "firing"}};
    auto res = c.Post("/hooks/generic", body.dump(), "application/json");
    REQUIRE(res);
    REQUIRE(res->status == 200);
  }
  // Down after three failures; the fallback hears of it once.
  REQUIRE(ops.wait_for(1).size() == 1);
  Json down = channel(c, "hook");
  CHECK(down["state"] == "down");
  CHECK(down["failures"].get<int>() >= 3);
  CHECK(down["last_error"].get<std::string>().find("HTTP 503") != std::string::npos);
  CHECK(down["pending"].get<int>() == k_alerts);
  CHECK(Json::parse(ops.requests()[0].body)["action"] == "trigger");
  std::this_thread::sleep_for(200ms);  // requests that were already out
  const std::size_t tried = hook.requests().size();
  CHECK(tried >= 3);
  CHECK(tried <= 3 + 3 + 3);  // breaker_after, and the three lanes in flight twice at most
  const std::size_t lines = count_of(server.log(), "failed (attempt");
  CHECK(lines <= tried);
  // A few probe intervals: a probe each, nothing more, and no line per failure.
  std::this_thread::sleep_for(1500ms);
  const std::size_t probes = hook.requests().size() - tried;
  CHECK(probes >= 1);
  CHECK(probes <= 4);
  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("tocsin_channel_up{channel=\"hook\"} 0") != std::string::npos);
  CHECK(ops.requests().size() == 1);
  const std::string log = server.log();
  CHECK(count_of(log, "channel hook is down after") == 1);
  CHECK(count_of(log, "failed (attempt") == lines);  // none for the probes

  // Back: every alert's trigger arrives, after the list of what the outage held.
  hook.answer_all({202, "{}", "", 0ms});
  const std::size_t before = hook.requests().size();
  const auto all = hook.wait_for(before + k_alerts + 1, 20s);  // the probe's row was one of them
  REQUIRE(all.size() >= before + k_alerts);
  std::vector<std::string> actions;
  for (std::size_t i = before; i < all.size(); ++i)
    actions.push_back(Json::parse(all[i].body)["action"]);
  CHECK(actions[0] == "trigger");  // the probe
  CHECK(actions[1] == "digest");   // what it missed, before the backlog
  CHECK(std::count(actions.begin(), actions.end(), "trigger") == k_alerts);
  REQUIRE(ops.wait_for(2).size() == 2);
  CHECK(Json::parse(ops.requests()[1].body)["action"] == "resolve");
  CHECK(channel(c, "hook")["state"] == "up");
  CHECK(count_of(server.log(), "channel hook answers again after") == 1);
  CHECK(server.stop() == 0);
}

}  // namespace e2e_breaker_test
