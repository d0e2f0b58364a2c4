// The first run of README "Quick start (Debian 12)": `tocsin receive` and `tocsin serve` with the
// shipped rules.demo.yaml, the README's own curl, and the notification arriving at the receiver,
// with no warning on the way.
#include <doctest/doctest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_demo_test {

using tocsin::testing::read_file;
using tocsin::testing::ServerProcess;
using tocsin::testing::TempDir;
using Json = nlohmann::json;

namespace {

const std::string k_source = TOCSIN_SOURCE_DIR;

// The body of the quick start's first `curl ... -d '...'`, so the README cannot drift from
// what this test sends.
std::string readme_demo_body() {
  const std::string readme = read_file(k_source + "/README.md");
  const auto quick_start = readme.find("\n## Quick start");
  REQUIRE(quick_start != std::string::npos);
  const auto curl = readme.find("/hooks/generic", quick_start);
  REQUIRE(curl != std::string::npos);
  const auto open = readme.find("-d '", curl);
  REQUIRE(open != std::string::npos);
  const auto close = readme.find('\'', open + 4);
  REQUIRE(close != std::string::npos);
  return readme.substr(open + 4, close - open - 4);
}

// The demo rules, pointed at the receiver's port instead of the README's 9099.
std::string demo_rules_for(int receiver_port) {
  std::string rules = read_file(k_source + "/rules.demo.yaml");
  const std::string demo_url = "http://127.0.0.1:9099/";
  const auto at = rules.find(demo_url);
  REQUIRE(at != std::string::npos);
  rules.replace(at, demo_url.size(), "http://127.0.0.1:" + std::to_string(receiver_port) + "/");
  return rules;
}

template <class Pred>
bool within(std::chrono::milliseconds limit, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

}  // namespace

TEST_CASE("quick start: the README's curl reaches tocsin receive through rules.demo.yaml") {
  TempDir dir;
  ServerProcess receiver(ServerProcess::AsGiven{}, dir.file("receive.out"),
                         {"receive", "--listen", "127.0.0.1:0"});
  const std::string rules = dir.file("rules.demo.yaml");
  std::ofstream(rules) << demo_rules_for(receiver.port());

  // The demo needs no variable exported: no token, no key, no URL.
  ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", dir.file("demo.db")});
  httplib::Client c("127.0.0.1", server.port());
  const auto answer =
      c.Post("/hooks/generic", readme_demo_body(), "application/x-www-form-urlencoded");
  REQUIRE(answer);
  INFO(answer->body);
  REQUIRE(answer->status == 200);
  const Json result = Json::parse(answer->body)["results"][0];
  CHECK(result["outcome"] == "created");
  const std::string fingerprint = result["fingerprint"];

  // The receiver prints one line a person reads, then the JSON Tocsin sent.
  const std::string expected = "demo: trigger level 0: " + fingerprint + " episode 1 (critical, ";
  const bool arrived = within(std::chrono::seconds(20),
                              [&] { return receiver.log().find(expected) != std::string::npos; });
  INFO(receiver.log());
  INFO(server.log());
  REQUIRE(arrived);
  const std::string out = receiver.log();
  const auto line_end = out.find('\n', out.find(expected));
  const Json sent =
      Json::parse(out.substr(line_end + 1, out.find('\n', line_end + 1) - line_end - 1));
  CHECK(sent["schema"] == "tocsin.notification/v1");
  CHECK(sent["action"] == "trigger");
  CHECK(sent["fingerprint"] == fingerprint);

  // Nobody acknowledges: the second step is due 30 seconds after the opening.
  const Json alert =
      Json::parse(c.Get("/api/v1/alerts/" + std::to_string(result["alert_id"].get<int>()))->body);
  bool escalation_due = false;
  for (const auto& t : alert["timers"])
    escalation_due |= t["kind"] == "escalation" && t["step"] == 1;
  CHECK(escalation_due);

  // A first run shows no warning and no error.
  const std::string log = server.log();
  CHECK(log.find(" warning ") == std::string::npos);
  CHECK(log.find(" error ") == std::string::npos);
  CHECK(log.find(" critical ") == std::string::npos);
}

}  // namespace e2e_demo_test
