// tocsin copy-db, end to end: a database built by `tocsin replay --db` copied by the binary to
// PostgreSQL and back to a new file exports exactly what the original exports; a destination
// holding rows is refused with exit 1 and the table named.

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/fixtures.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_copy_db_test {

using namespace tocsin::testing;
using Json = nlohmann::json;

namespace {

const char* const k_rules = R"(version: 1
sources:
  sns: {verify_signature: false}
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
rules:
  - {name: all, match: {}, notify: [oncall]}
)";

// A database of a few requests, the SNS ones large enough to be stored compressed.
std::string replayed(const TempDir& dir) {
  const std::string rules = dir.file("rules.yaml");
  const std::string events = dir.file("events.jsonl");
  const std::string db = dir.file("original.db");
  std::ofstream(rules) << k_rules;
  {
    std::ofstream out(events);
    Json body = Json::parse(fixture("sns_notification_alarm.json"));
    out << Json{{"at", "2026-11-01T00:00:00Z"}, {"hook", "sns"}, {"body", body}}.dump() << '\n';
    out << Json{{"at", "2026-11-01T00:01:00Z"},
                {"hook", "generic"},
                {"body", {{"key", "disk-full"}, {"status", "firing"}}}}
               .dump()
        << '\n';
    body["MessageId"] = "another";
    out << Json{{"at", "2026-11-01T00:02:00Z"}, {"hook", "sns"}, {"body", body}}.dump() << '\n';
  }
  const auto replay = run_tocsin({"replay", "--rules", rules, "--db", db, events});
  INFO(replay.output);
  REQUIRE(replay.exit_code == 0);
  return db;
}

std::string export_of(const std::string& db) {
  const auto r = run_tocsin({"export", "--db", db, "--since", "36500d"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

}  // namespace

TEST_CASE("tocsin copy-db: SQLite to PostgreSQL and back exports what the original exports") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  TempDir dir;
  const std::string original = replayed(dir);
  ScratchSchema schema(*uri);
  const std::string postgres = *uri + "?options=-csearch_path%3D" + schema.name();

  const auto there = run_tocsin({"copy-db", original, postgres});
  INFO(there.output);
  REQUIRE(there.exit_code == 0);
  CHECK(there.output.find("inbound            3 rows\n") != std::string::npos);
  CHECK(there.output.find("copied ") != std::string::npos);

  const std::string back = dir.file("back.db");
  const auto again = run_tocsin({"copy-db", postgres, back});
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  const std::string exported = export_of(original);
  CHECK(exported.find("\"hook\":\"sns\"") != std::string::npos);
  CHECK(export_of(back) == exported);

  const auto refused = run_tocsin({"copy-db", original, postgres});
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("tocsin copy-db: destination ") != std::string::npos);
  CHECK(refused.output.find("table inbound has rows") != std::string::npos);
}

TEST_CASE("tocsin copy-db: SQLite to a new file, then refused into it, exit 1") {
  TempDir dir;
  const std::string original = replayed(dir);
  const std::string copy = dir.file("copy.db");
  const auto ok = run_tocsin({"copy-db", original, copy});
  INFO(ok.output);
  REQUIRE(ok.exit_code == 0);
  CHECK(export_of(copy) == export_of(original));
  const auto refused = run_tocsin({"copy-db", original, copy});
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("table inbound has rows") != std::string::npos);
  CHECK(run_tocsin({"copy-db", original}).exit_code == 2);  // usage: DST missing
}

}  // namespace e2e_copy_db_test
