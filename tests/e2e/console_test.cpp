// End-to-end: the web console's files as the real binary serves them (README "Web console"):
// the bytes of console/, their Content-Type, the security headers, revalidation by ETag, and
// that the console adds no path but its own. The browser test (tests/browser/console_test.py)
// checks what the console shows and does.

#include "server/console.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>
#include <regex>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_console_test {

using namespace tocsin::testing;

namespace {

const std::string k_rules = "version: 1\n" + sources_section() + R"(channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
rules:
  - {name: everything, match: {}, notify: [alerts]}
api:
  tokens:
    - {name: reader, token_env: TEST_READ_TOKEN, scope: read}
)";

struct Served {
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  ServerProcess server = start();
  httplib::Client client{"127.0.0.1", server.port()};

  ServerProcess start() {
    std::ofstream(rules) << k_rules;
    return ServerProcess(dir.file("server.log"), {"--rules", rules, "--db", dir.file("t.db")},
                         {"TEST_READ_TOKEN=read-secret"});
  }
};

std::string source_file(const std::string& relative) {
  return read_file(std::string(TOCSIN_SOURCE_DIR) + "/" + relative);
}

}  // namespace

TEST_CASE("console: each file of console/ is served, byte for byte, with its type") {
  Served s;
  struct Case {
    const char* path;
    const char* file;
    const char* content_type;
  };
  for (const Case& c :
       {Case{"/", "console/index.html", "text/html; charset=utf-8"},
        Case{"/console/console.js", "console/console.js", "text/javascript; charset=utf-8"},
        Case{"/console/console.css", "console/console.css", "text/css; charset=utf-8"}}) {
    CAPTURE(c.path);
    auto res = s.client.Get(c.path);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == source_file(c.file));
    CHECK(res->get_header_value("Content-Type") == c.content_type);
  }
  // Every asset compiled in is one of the files above: none is forgotten by this test.
  CHECK(tocsin::server::console_assets().size() == 3);
}

TEST_CASE("console: every answer carries a strict policy, nosniff and no-cache") {
  Served s;
  for (const char* path : {"/", "/console/console.js", "/console/console.css"}) {
    CAPTURE(path);
    auto res = s.client.Get(path);
    REQUIRE(res);
    CHECK(res->get_header_value("Content-Security-Policy") ==
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
          "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    CHECK(res->get_header_value("X-Content-Type-Options") == "nosniff");
    CHECK(res->get_header_value("Cache-Control") == "no-cache");
    CHECK(res->get_header_value("Referrer-Policy") == "no-referrer");
    CHECK(res->has_header("ETag"));
    // The console needs no token to load: the API it calls asks for one.
    CHECK(!res->has_header("WWW-Authenticate"));
  }
}

TEST_CASE("console: no inline script or style, which the policy would block") {
  const std::string html = source_file("console/index.html");
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("<style") == std::string::npos);
  CHECK(html.find(" style=") == std::string::npos);
  CHECK(!std::regex_search(html, std::regex(R"(\son[a-z]+\s*=)")));  // onclick=, onload=, ...
  // And the script never turns API text into markup.
  const std::string js = source_file("console/console.js");
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"}) {
    CAPTURE(sink);
    CHECK(js.find(sink) == std::string::npos);
  }
}

TEST_CASE("console: a matching If-None-Match is 304, a stale one the file again") {
  Served s;
  auto first = s.client.Get("/console/console.js");
  REQUIRE(first);
  const std::string etag = first->get_header_value("ETag");
  REQUIRE(etag.size() > 2);
  auto same = s.client.Get("/console/console.js", {{"If-None-Match", etag}});
  REQUIRE(same);
  CHECK(same->status == 304);
  CHECK(same->body.empty());
  CHECK(same->get_header_value("ETag") == etag);
  auto listed = s.client.Get("/console/console.js", {{"If-None-Match", "\"old\", W/" + etag}});
  REQUIRE(listed);
  CHECK(listed->status == 304);
  auto stale = s.client.Get("/console/console.js", {{"If-None-Match", "\"old\""}});
  REQUIRE(stale);
  CHECK(stale->status == 200);
  CHECK(stale->body == first->body);
  // A page's ETag is not a script's.
  auto page = s.client.Get("/", {{"If-None-Match", etag}});
  REQUIRE(page);
  CHECK(page->status == 200);
}

TEST_CASE("console: other paths stay 404 or 405, and the API is unchanged") {
  Served s;
  for (const char* path : {"/console/", "/console/nope.js", "/index.html", "/console/consoleXjs"}) {
    CAPTURE(path);
    auto res = s.client.Get(path);
    REQUIRE(res);
    CHECK(res->status == 404);
    CHECK(res->get_header_value("Content-Type") == "application/json");
  }
  auto post = s.client.Post("/", "", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 405);
  CHECK(post->get_header_value("Allow") == "GET, HEAD");
  auto head = s.client.Head("/");
  REQUIRE(head);
  CHECK(head->status == 200);
  // The API still asks for its token and carries no console policy.
  auto api = s.client.Get("/api/v1/alerts");
  REQUIRE(api);
  CHECK(api->status == 401);
  CHECK(!api->has_header("Content-Security-Policy"));
}

TEST_CASE("console: the rules' warnings and notes are in GET /api/v1/rules") {
  Served s;
  auto res = s.client.Get("/api/v1/rules", {{"Authorization", "Bearer read-secret"}});
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const auto warnings = tocsin::Json::parse(res->body)["warnings"];
  REQUIRE(warnings.is_array());
  bool unauthenticated = false;
  for (const auto& w : warnings) {
    CHECK(w.get<std::string>().find(": error: ") == std::string::npos);
    unauthenticated |=
        w.get<std::string>().find("accepts unauthenticated requests") != std::string::npos;
  }
  // sources_section() opens hooks without a token: the loader notes each.
  CHECK(unauthenticated);
}

TEST_CASE("console: If-None-Match compares tags as RFC 9110 says") {
  using tocsin::server::etag_matches;
  struct Case {
    const char* header;
    bool matches;
    const char* intent;
  };
  for (const Case& c : {
           Case{"\"abc\"", true, "the same tag"},
           Case{"W/\"abc\"", true, "a weak tag compares weakly"},
           Case{"\"x\", \"abc\"", true, "one of a list"},
           Case{" \"x\" ,\t\"abc\" ", true, "spaces around list items"},
           Case{"*", true, "any tag"},
           Case{"", false, "no header"},
           Case{"\"abcd\"", false, "a longer tag"},
           Case{"abc", false, "an unquoted value is not the tag"},
       }) {
    CAPTURE(c.intent);
    CHECK(etag_matches(c.header, "\"abc\"") == c.matches);
  }
}

}  // namespace e2e_console_test
