// End-to-end digests: the real binary sends a digest channel's messages to a recording
// receiver. The interval is short (the server runs on the system clock); the test waits for
// what arrives, never for time to pass.

#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>

#include "core/json.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_digest_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

std::string digest_rules(const RecordingReceiver& receiver) {
  return R"(version: 1
sources:
  generic: {token_env: TEST_GENERIC_TOKEN}
channels:
  digest: {type: webhook, url: ")" +
         receiver.url() + R"(/digest", digest_every: 300ms}
rules:
  - {name: everything, match: {}, notify: [digest]}
)";
}

void fire(int port, const std::string& key) {
  httplib::Client c("127.0.0.1", port);
  auto res = c.Post("/hooks/generic", {{"X-Tocsin-Token", "generic-secret"}},
                    R"({"key": ")" + key + R"(", "status": "firing", "severity": "warning"})",
                    "application/json");
  REQUIRE(res);
  REQUIRE(res->status == 200);
}

}  // namespace

TEST_CASE("digest: two digests reach the receiver under two aliases, across a restart") {
  // OpsGenie and PagerDuty fold a create under an alias still open into that alert: a
  // digest reusing its predecessor's alias would never be seen.
  RecordingReceiver receiver;
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << digest_rules(receiver);
  const std::string db = dir.file("t.db");
  const std::vector<std::string> env = {"TEST_GENERIC_TOKEN=generic-secret"};
  {
    ServerProcess server(dir.file("a.log"), {"--rules", rules, "--db", db}, env);
    fire(server.port(), "disk-a-full");
    REQUIRE(receiver.wait_for(1).size() == 1);
    CHECK(server.stop() == 0);
  }
  ServerProcess server(dir.file("b.log"), {"--rules", rules, "--db", db}, env);
  fire(server.port(), "disk-b-full");
  const auto sent = receiver.wait_for(2);
  REQUIRE(sent.size() == 2);
  const Json first = Json::parse(sent[0].body);
  const Json second = Json::parse(sent[1].body);
  REQUIRE(first["action"] == "digest");
  REQUIRE(second["action"] == "digest");
  CHECK(first["digest"]["alerts"][0]["fingerprint"] == "generic:disk-a-full");
  CHECK(second["digest"]["alerts"][0]["fingerprint"] == "generic:disk-b-full");
  CHECK(first["alias"] == "digest:digest:1");
  CHECK(second["alias"] == "digest:digest:2");
  CHECK(server.stop() == 0);
}

}  // namespace e2e_digest_test
