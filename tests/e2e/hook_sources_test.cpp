// End-to-end: hooks are closed unless the rules file opens them
// (docs/behaviour.md "Inbound endpoints"). A source the file does not list answers 404 naming the
// fix; a listed source either names its token or says `allow_unauthenticated: true`, and the server
// refuses to start otherwise.

#include <doctest/doctest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>

#include "core/json.hpp"
#include "support/process.hpp"
#include "support/rules_server.hpp"
#include "support/temp_dir.hpp"

namespace e2e_hook_sources_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const std::string k_firing = R"({"key": "disk", "status": "firing"})";

std::string rules_with(const std::string& sources) {
  return "version: 1\n" + sources + "rules:\n  - {name: everything, match: {}}\n";
}

}  // namespace

TEST_CASE("hooks: a source the rules file does not list answers 404 naming the fix") {
  RulesServer s(rules_with("sources:\n  generic: {allow_unauthenticated: true}\n"));
  auto c = s.client();
  struct Case {
    const char* intent;
    const char* path;
    const char* source;
  };
  const Case cases[] = {
      {"an event hook", "/hooks/alertmanager", "alertmanager"},
      {"another event hook", "/hooks/opsgenie", "opsgenie"},
      {"Grafana's hook", "/hooks/grafana", "grafana"},
      {"SNS, which signatures would authenticate", "/hooks/sns", "sns"},
      {"raw SNS delivery belongs to the sns source", "/hooks/sns-raw", "sns"},
      {"heartbeat pings", "/hooks/heartbeat/worker", "heartbeat"},
  };
  for (const auto& k : cases) {
    SUBCASE(k.intent) {
      auto r = c.Post(k.path, k_firing, "application/json");
      REQUIRE(r);
      INFO(r->body);
      CHECK(r->status == 404);
      const auto body = Json::parse(r->body);
      CHECK(body["error"] == "source_disabled");
      const std::string detail = body["detail"];
      CHECK(detail.find("source '" + std::string(k.source) + "' is not enabled") !=
            std::string::npos);
      CHECK(detail.find("add sources." + std::string(k.source)) != std::string::npos);
    }
  }
  SUBCASE("the listed source still works") {
    auto r = c.Post("/hooks/generic", k_firing, "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
}

TEST_CASE("hooks: a listed source without a token needs allow_unauthenticated: true") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << rules_with("sources:\n  alertmanager: {}\n");

  auto check = run_tocsin({"check", rules});
  INFO(check.output);
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(rules + ":3:3: error: sources.alertmanager") != std::string::npos);
  CHECK(check.output.find("allow_unauthenticated: true") != std::string::npos);

  auto serve =
      run_tocsin({"serve", "--rules", rules, "--db", dir.file("t.db"), "--listen", "127.0.0.1:0"});
  INFO(serve.output);
  CHECK(serve.exit_code == 1);
  CHECK(serve.output.find(rules + ":3:3: error: sources.alertmanager") != std::string::npos);
}

TEST_CASE("hooks: allow_unauthenticated opens the hook, and the startup log says so once") {
  RulesServer s(rules_with("sources:\n  generic: {allow_unauthenticated: true}\n"));
  auto r = s.client().Post("/hooks/generic", k_firing, "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  const auto log = s.server->log();
  INFO(log);
  const std::string line = "/hooks/generic accepts unauthenticated requests";
  const auto first = log.find(line);
  REQUIRE(first != std::string::npos);
  CHECK(log.find(line, first + 1) == std::string::npos);

  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << rules_with("sources:\n  generic: {allow_unauthenticated: true}\n");
  auto check = run_tocsin({"check", rules});
  CHECK(check.exit_code == 0);
  CHECK(check.output.find(line) != std::string::npos);
}

TEST_CASE("hooks: a source with a token refuses requests without it") {
  RulesServer s(rules_with("sources:\n  generic: {token_env: T_GENERIC}\n"), {},
                {"T_GENERIC=hook-secret"});
  auto c = s.client();
  auto without = c.Post("/hooks/generic", k_firing, "application/json");
  REQUIRE(without);
  CHECK(without->status == 401);
  auto with =
      c.Post("/hooks/generic", {{"X-Tocsin-Token", "hook-secret"}}, k_firing, "application/json");
  REQUIRE(with);
  CHECK(with->status == 200);
}

TEST_CASE("hooks: SNS without signature verification must be allowed explicitly") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << rules_with("sources:\n  sns: {verify_signature: false}\n");
  auto check = run_tocsin({"check", rules});
  INFO(check.output);
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(rules + ":3:27: error: sources.sns") != std::string::npos);
}

TEST_CASE("hooks: declared heartbeats need the heartbeat source") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\nheartbeats:\n  - {name: worker, every: 5m}\n";
  auto check = run_tocsin({"check", rules});
  INFO(check.output);
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(rules + ":2:1: error:") != std::string::npos);
  CHECK(check.output.find("sources.heartbeat") != std::string::npos);
}

TEST_CASE("hooks: a reload applies the new set of sources") {
  RulesServer s(rules_with("sources:\n  generic: {allow_unauthenticated: true}\n"));
  auto c = s.client();
  auto before = c.Post("/hooks/alertmanager", "{}", "application/json");
  REQUIRE(before);
  CHECK(before->status == 404);

  std::ofstream(s.rules) << rules_with("sources:\n  alertmanager: {allow_unauthenticated: true}\n");
  auto reload = c.Post("/api/v1/rules/reload", "", "application/json");
  REQUIRE(reload);
  INFO(reload->body);
  REQUIRE(reload->status == 200);

  auto generic = c.Post("/hooks/generic", k_firing, "application/json");
  REQUIRE(generic);
  CHECK(generic->status == 404);
  // Enabled now: an empty object is refused by the adapter, not by the source check.
  auto am = c.Post("/hooks/alertmanager", "{}", "application/json");
  REQUIRE(am);
  CHECK(am->status == 400);
}

}  // namespace e2e_hook_sources_test
