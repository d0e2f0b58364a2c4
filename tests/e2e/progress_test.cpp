// End-to-end: `tocsin export` and `tocsin replay` show progress only on a terminal
// (cli/progress.hpp). Run with stderr going to a file, as in CI and in scripts, they write
// nothing there beyond what they wrote before: no `\r`, no status line.

#include <doctest/doctest.h>
#include <httplib.h>

#include <algorithm>
#include <fstream>

#include "core/json.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_progress_test {

using namespace tocsin::testing;
using tocsin::Json;

TEST_CASE("progress: export and replay with stderr not a terminal write nothing to it") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  const std::string db = dir.file("t.db");
  std::ofstream(rules) << "version: 1\n" + sources_section() +
                              "rules:\n  - {name: everything, match: {}}\n";
  {
    ServerProcess server(dir.file("server.log"), {"--rules", rules, "--db", db});
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(10, 0);
    for (int i = 0; i < 20; ++i) {
      auto r = c.Post("/hooks/generic",
                      Json{{"key", "job-" + std::to_string(i)}, {"status", "firing"}}.dump(),
                      "application/json");
      REQUIRE(r);
      REQUIRE(r->status == 200);
    }
    CHECK(server.stop() == 0);
  }
  auto exported = run_tocsin_split({"export", "--db", db, "--since", "1h"});
  CHECK(exported.exit_code == 0);
  CHECK(exported.err.empty());
  CHECK(std::count(exported.out.begin(), exported.out.end(), '\n') == 20);

  const std::string events = dir.file("events.jsonl");
  std::ofstream(events) << exported.out;
  auto replayed = run_tocsin_split({"replay", "--rules", rules, events});
  CHECK(replayed.exit_code == 0);
  CHECK(replayed.err.empty());
  CHECK(std::count(replayed.out.begin(), replayed.out.end(), '\n') == 20);  // one event line each
}

}  // namespace e2e_progress_test
