// `tocsin serve` on PostgreSQL (README "Selecting the database"): the real binary, its database
// named through storage.url_env, takes an event, answers 200 after it committed, and the API
// shows the alert; the password in the location never reaches the log.

#include <doctest/doctest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "core/json.hpp"
#include "support/open_sources.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_postgres_serve_test {

using namespace tocsin::testing;
using tocsin::Json;

TEST_CASE("postgres e2e: serve on a postgresql:// location takes an event and lists its alert") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\n"
                       << sources_section() << "storage: {url_env: TOCSIN_TEST_DB_URL}\n"
                       << "rules:\n  - {name: everything, match: {}}\n";
  // The test server trusts 127.0.0.1: the password is carried, never checked, never shown.
  const std::string secret = "e2e-s3cret-password";
  const std::string prefix = "postgresql://tocsin@";
  REQUIRE(uri->starts_with(prefix));
  const std::string location =
      schema.location("postgresql://tocsin:" + secret + "@" + uri->substr(prefix.size()));
  ServerProcess server(dir.file("server.log"), {"--rules", rules},
                       {"TOCSIN_TEST_DB_URL=" + location});
  httplib::Client c("127.0.0.1", server.port());
  auto posted = c.Post("/hooks/generic", R"({"key": "disk-full", "status": "firing"})",
                       "application/json");
  REQUIRE(posted);
  CHECK(posted->status == 200);
  auto list = c.Get("/api/v1/alerts");
  REQUIRE(list);
  REQUIRE(list->status == 200);
  const Json alerts = Json::parse(list->body);
  CHECK(alerts["total"] == 1);
  CHECK(alerts.dump().find("disk-full") != std::string::npos);
  auto ready = c.Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(server.stop() == 0);
  const std::string log = server.log();
  CHECK(log.find("[redacted]") != std::string::npos);  // the location, as logged at start
  CHECK(log.find(secret) == std::string::npos);

  // export and report read the same database by the same location.
  const auto exported = run_tocsin({"export", "--db", location, "--since", "3650d"});
  CHECK(exported.exit_code == 0);
  CHECK(exported.output.find("disk-full") != std::string::npos);
  CHECK(exported.output.find(secret) == std::string::npos);
  const auto reported =
      run_tocsin({"report", "--rules", rules, "--json"}, {"TOCSIN_TEST_DB_URL=" + location});
  INFO(reported.output);
  CHECK(reported.exit_code == 0);
  CHECK(reported.output.find(secret) == std::string::npos);
}

TEST_CASE("postgres e2e: tocsin check names storage.url_env's bad location, never its password") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\n"
                       << sources_section() << "storage: {url_env: TOCSIN_TEST_DB_URL}\n"
                       << "rules:\n  - {name: everything, match: {}}\n";
  const auto bad = run_tocsin({"check", rules},
                              {"TOCSIN_TEST_DB_URL=postgresql://u:pw-s3cret@h/db?colour=red"});
  INFO(bad.output);
  CHECK(bad.exit_code == 1);
  CHECK(bad.output.find("\"url_env\"") != std::string::npos);
  CHECK(bad.output.find("libpq can parse") != std::string::npos);
  CHECK(bad.output.find("pw-s3cret") == std::string::npos);
  const auto good = run_tocsin(
      {"check", rules},
      {"TOCSIN_TEST_DB_URL=postgresql://u:pw-s3cret@h1,h2/db?target_session_attrs=read-write"});
  INFO(good.output);
  CHECK(good.exit_code == 0);
  // serve refuses the bad one at start, exit 2, without the password either.
  const auto refused = run_tocsin({"serve", "--rules", rules, "--listen", "127.0.0.1:0"},
                                  {"TOCSIN_TEST_DB_URL=postgresql://u:pw-s3cret@h/db?colour=red"});
  CHECK(refused.exit_code == 2);
  CHECK(refused.output.find("pw-s3cret") == std::string::npos);
}

TEST_CASE("postgres e2e: PostgreSQL down answers 503 with Retry-After, then recovers unrestarted") {
  if (!test_postgres_uri()) return;
  OwnServer database;
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\n"
                       << sources_section() << "rules:\n  - {name: everything, match: {}}\n";
  ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", database.uri()});
  httplib::Client c("127.0.0.1", server.port());
  const auto post = [&](const std::string& key) {
    return c.Post("/hooks/generic", R"({"key": ")" + key + R"(", "status": "firing"})",
                  "application/json");
  };
  auto before = post("before");
  REQUIRE(before);
  CHECK(before->status == 200);

  database.halt();
  auto down = post("while-down");
  REQUIRE(down);
  CHECK(down->status == 503);
  CHECK(down->get_header_value("Retry-After") == "5");
  CHECK(Json::parse(down->body)["error"] == "database_unreachable");
  auto ready = c.Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 503);

  database.resume();
  // The writer reconnects by itself, at most once a second; bounded wait for it.
  bool recovered = false;
  for (int i = 0; i < 200 && !recovered; ++i) {
    auto r = c.Get("/readyz");
    recovered = r && r->status == 200;
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(recovered);
  auto after = post("after");
  REQUIRE(after);
  CHECK(after->status == 200);
  CHECK(server.stop() == 0);
}

}  // namespace e2e_postgres_serve_test
