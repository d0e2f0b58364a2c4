// End-to-end: /regex/ match values against alerts whose name or label value is tens of
// kilobytes. A backtracking matcher recursed once per character and took the server down with
// SIGSEGV on such an alert (and again on every retry); it must answer 200 and keep serving.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>
#include <string>

#include "core/json.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_regex_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

// Every regex a long value reaches is scanned to its end: nothing before the last rule
// matches the first alert.
const std::string k_rules = "version: 1\n" + sources_section() + R"(rules:
  - name: nested-quantifier
    match: {name: "/(a*)*b/"}
  - name: starred-group
    match: {name: "/(a|b)*c/"}
  - name: prod-db
    match: {labels: {host: "/prod.*db/"}}
  - name: ends-in-x
    match: {name: "/.*x/"}
  - name: everything-else
    match: {}
)";

constexpr std::size_t k_long = 40 * 1024;

}  // namespace

TEST_CASE("an alert with a 40 KB name or label value is matched by regex rules and stored") {
  TempDir dir;
  const auto rules = dir.file("rules.yaml");
  const auto db = dir.file("tocsin.db");
  std::ofstream(rules) << k_rules;
  ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", db});
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(10, 0);

  struct Case {
    const char* intent;
    std::string name;
    std::string host;
    const char* rule;  // the rule the stored alert records
  };
  const std::string run(k_long, 'a');
  const Case cases[] = {
      {"no regex matches: every one scans the whole value", run, "prod-" + run, "everything-else"},
      {"a label regex matches across 40 KB", "short", "prod-" + run + "-db", "prod-db"},
      {"a name regex matches at the end of 40 KB", run + "x", "web", "ends-in-x"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    const Json body = {{"key", k.name}, {"status", "firing"}, {"labels", {{"host", k.host}}}};
    auto r = c.Post("/hooks/generic", body.dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    SQLite::Database store(db, SQLite::OPEN_READONLY);
    SQLite::Statement q(store, "SELECT rule FROM alerts WHERE name = ?");
    q.bind(1, k.name);
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getString() == k.rule);
  }

  auto health = c.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(server.stop() == 0);
}

}  // namespace e2e_regex_test
