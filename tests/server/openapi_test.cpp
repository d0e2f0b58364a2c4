// The OpenAPI document (docs/openapi.json) against the routes the server registers, both ways,
// and the schema check the end-to-end test uses (tests/e2e/openapi_test.cpp), on answers whose
// shape is known.
#include "server/openapi.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "server/api.hpp"
#include "server/app.hpp"
#include "server/hooks.hpp"
#include "support/openapi.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

namespace server_openapi_test {

using namespace tocsin;
using namespace tocsin::testing;

namespace {

// The routes `tocsin serve` registers, from the same functions it calls (make_http_server).
std::vector<http::Routes::Registered> served_routes() {
  TempDir dir;
  TestDatabaseLocation db{dir};
  ManualClock clock{*parse_timestamp("2026-09-01T00:00:00Z")};
  server::App app{dir.file("rules.yaml"), db, clock, rules_or_fail("version: 1\n")};
  httplib::Server listener;
  http::Routes routes(listener);
  server::register_hooks(routes, app);
  server::register_api(routes, app);
  return routes.registered();
}

std::string lines(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems)
    out += p + "\n";
  return out;
}

}  // namespace

TEST_CASE("openapi: the served document is docs/openapi.json, byte for byte") {
  std::ifstream file(std::string(TOCSIN_SOURCE_DIR) + "/docs/openapi.json", std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  REQUIRE_FALSE(text.str().empty());
  CHECK(server::openapi_document() == text.str());
  CHECK(served_document()["openapi"] == "3.1.0");
}

TEST_CASE("openapi: every route the server registers is documented, and nothing more") {
  const auto routes = served_routes();
  REQUIRE(routes.size() > 20);
  const auto problems = compare_routes(served_document(), routes);
  INFO(lines(problems));
  CHECK(problems.empty());
}

TEST_CASE("openapi: the route comparison catches a difference either way") {
  const Json& document = served_document();
  const auto routes = served_routes();
  struct Case {
    const char* intent;
    std::vector<http::Routes::Registered> extra;  // added to the served routes
    const char* removed_path;                     // taken out of the document, or null
    std::string expected;                         // a problem that must be reported; "" none
  };
  const Case cases[] = {
      {"a new API route without a document entry fails",
       {{"GET", "/api/v1/widgets"}},
       nullptr,
       "GET /api/v1/widgets is served but not documented"},
      {"a new method on a documented path fails",
       {{"POST", "/api/v1/alerts/([^/]+)"}},
       nullptr,
       "POST /api/v1/alerts/{} is served but not documented"},
      {"a new hook fails",
       {{"POST", "/hooks/zabbix"}},
       nullptr,
       "POST /hooks/zabbix is served but not documented"},
      {"a served path taken out of the document fails",
       {},
       "/api/v1/cluster",
       "GET /api/v1/cluster is served but not documented"},
      {"an unescaped dot is a regex that serves other paths too",
       {{"GET", "/api/v1/report.json"}},
       nullptr,
       "GET /api/v1/report.json is a regex the document cannot name (only ([^/]+) maps to {name})"},
      {"a route regex the document cannot name fails",
       {{"GET", "/api/v1/x/(\\d+)"}},
       nullptr,
       "GET /api/v1/x/(\\d+) is a regex the document cannot name (only ([^/]+) maps to {name})"},
      {"the console's page and assets are outside the API",
       {{"GET", "/"}, {"GET", "/console/app.js"}, {"GET", "/assets/([^/]+)"}},
       nullptr,
       ""},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.intent));
    auto served = routes;
    served.insert(served.end(), c.extra.begin(), c.extra.end());
    Json changed = document;
    if (c.removed_path) changed["paths"].erase(c.removed_path);
    const auto problems = compare_routes(changed, served);
    if (c.expected.empty()) {
      CHECK_MESSAGE(problems.empty(), lines(problems));
    } else {
      CHECK_MESSAGE(std::find(problems.begin(), problems.end(), c.expected) != problems.end(),
                    lines(problems));
    }
  }
  // Documented but not served: the server without its cluster route.
  auto without_cluster = routes;
  std::erase_if(without_cluster,
                [](const http::Routes::Registered& r) { return r.pattern == "/api/v1/cluster"; });
  const auto problems = compare_routes(document, without_cluster);
  CHECK(problems == std::vector<std::string>{"GET /api/v1/cluster is documented but not served"});
}

TEST_CASE("openapi: the schema check refuses what the document does not allow") {
  const Json& document = served_document();
  const Json problem = {{"$ref", "#/components/schemas/Problem"}};
  const Json health = {{"$ref", "#/components/schemas/HeartbeatPing"}};
  const Json alert = {{"$ref", "#/components/schemas/AlertPage"}};
  struct Case {
    const char* intent;
    Json schema;
    Json value;
    bool fits;
  };
  const Json page = Json::parse(R"({"alerts": [], "total": 0, "limit": 50, "offset": 0,
                                    "next_offset": null})");
  Json page_extra = page;
  page_extra["cursor"] = "x";
  Json page_wrong = page;
  page_wrong["next_offset"] = "1";
  const Case cases[] = {
      {"an error answer fits", problem, {{"error", "not_found"}, {"detail", "no alert 9"}}, true},
      {"a field left out is refused", problem, {{"error", "not_found"}}, false},
      {"a field the schema does not name is refused",
       problem,
       {{"error", "not_found"}, {"detail", "x"}, {"hint", "y"}},
       false},
      {"an error code not in snake_case is refused",
       problem,
       {{"error", "Not Found"}, {"detail", "x"}},
       false},
      {"a ping fits",
       health,
       {{"heartbeat", "nightly"}, {"recorded_at", "2026-09-01T00:00:00Z"}},
       true},
      {"a page fits", alert, page, true},
      {"a page with an undeclared field is refused", alert, page_extra, false},
      {"a nullable integer given a string is refused", alert, page_wrong, false},
      {"a keyword the check does not know is refused", Json{{"type", "string"}, {"format2", 1}},
       "x", false},
  };
  for (const auto& c : cases) {
    const auto problems = schema_problems(document, c.schema, c.value);
    CHECK_MESSAGE(problems.empty() == c.fits, c.intent, "\n", lines(problems));
  }
}

}  // namespace server_openapi_test
