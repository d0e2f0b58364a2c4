// tocsin report, end to end: a database built by `tocsin replay --db`, then the report of it,
// as JSON and as text. The report reads the real clock, so the events are placed in the last
// few days.
#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/time.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_report_cli_test {

using namespace tocsin;
using namespace tocsin::testing;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

const char* const k_rules = R"(version: 1
channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
  digest: {type: webhook, url: "http://127.0.0.1:9/digest"}
rules:
  - name: cpu
    match: {source: generic, name: "cpu-*"}
    notify: [alerts]
    low_priority: digest
  - name: queue
    match: {source: generic, name: "queue-*"}
    notify: [alerts]
    max_open_age: 1d
  - name: batch
    match: {source: generic, name: "batch-*"}
  - name: never-used
    match: {source: cloudwatch, metric: NoSuchMetric}
    notify: [alerts]
)";

struct Timed {
  TimePoint at;
  Json line;
};

Timed generic(TimePoint at, const std::string& key, const std::string& status) {
  return Timed{at, Json{{"at", format_timestamp(at)},
                        {"hook", "generic"},
                        {"body", {{"key", key}, {"status", status}}}}};
}

// A database holding: a CPU alert flapping every 30 minutes for 3 days, a queue alert open
// for 5 days (its rule's max_open_age is 1d), an alert no rule matches, and one whose rule
// notifies nobody.
struct Fixture {
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::string events = dir.file("events.jsonl");
  std::string db = dir.file("tocsin.db");

  Fixture() {
    std::ofstream(rules) << k_rules;
    const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    std::vector<Timed> lines;
    const TimePoint flap_start = now - 3 * 24h - 1h;
    for (int i = 0; i < 144; ++i)
      lines.push_back(
          generic(flap_start + i * 30min, "cpu-high", i % 2 == 0 ? "firing" : "resolved"));
    lines.push_back(generic(now - 5 * 24h, "queue-backlog", "firing"));
    lines.push_back(generic(now - 2 * 24h, "disk-full", "firing"));
    lines.push_back(generic(now - 24h, "batch-nightly", "firing"));
    lines.push_back(generic(now - 24h + 10min, "batch-nightly", "resolved"));
    std::stable_sort(lines.begin(), lines.end(),
                     [](const Timed& a, const Timed& b) { return a.at < b.at; });
    std::ofstream out(events);
    for (const auto& l : lines)
      out << l.line.dump() << '\n';
    out.close();
    auto replay = run_tocsin({"replay", "--rules", rules, "--db", db, events});
    INFO(replay.output.substr(0, 2000));
    REQUIRE(replay.exit_code == 0);
  }
};

const Json* find_by(const Json& list, const char* key, const std::string& value) {
  for (const auto& item : list) {
    if (item.contains(key) && item[key] == value) return &item;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("tocsin report on a replayed database: noisiest, stale, unmatched, unrouted") {
  Fixture f;
  auto json = run_tocsin({"report", "--rules", f.rules, "--db", f.db, "--json"});
  INFO(json.output);
  REQUIRE(json.exit_code == 0);
  const Json doc = Json::parse(json.output);

  // The flapping CPU alert is the noisiest, demoted to its low-priority channel, and the first
  // fix suggested is about the flapping.
  REQUIRE_FALSE(doc["noisiest"].empty());
  const Json& cpu = doc["noisiest"][0];
  CHECK(cpu["fingerprint"] == "generic:cpu-high");
  CHECK(cpu["rule"] == "cpu");
  CHECK(cpu["noise"]["factors"]["flap"]["flapping"] == true);
  CHECK(cpu["noise"]["score"].get<double>() > 60);
  CHECK(cpu["demoted"] == true);
  CHECK(cpu["demoted_to"] == "digest");
  REQUIRE_FALSE(cpu["advice"].empty());
  CHECK(cpu["advice"][0].get<std::string>().rfind("flapping ", 0) == 0);

  // The queue alert, open for 5 days with no activity, flagged by the max_open_age sweep.
  REQUIRE(doc["stale"].size() == 1);
  const Json& stale = doc["stale"][0];
  CHECK(stale["fingerprint"] == "generic:queue-backlog");
  CHECK(stale["status"] == "open");
  CHECK(stale["age"].get<std::string>().rfind("5d", 0) == 0);
  CHECK(stale["max_open_age"] == "1d");
  CHECK(stale["flagged_stale_at"].is_string());
  CHECK(stale["advice"].get<std::string>().find(
            "resolve it or fix the alarm that never sends OK") != std::string::npos);

  CHECK(find_by(doc["unmatched_rules"], "rule", "never-used"));
  CHECK_FALSE(find_by(doc["unmatched_rules"], "rule", "cpu"));
  CHECK_FALSE(find_by(doc["unmatched_rules"], "rule", "batch"));

  REQUIRE(doc["no_rule"].size() == 1);
  CHECK(doc["no_rule"][0]["fingerprint"] == "generic:disk-full");
  CHECK(doc["no_rule"][0]["events"] == 1);

  // batch matched, notified nobody; disk-full is listed under no_rule only.
  REQUIRE(doc["no_escalation"].size() == 1);
  CHECK(doc["no_escalation"][0]["fingerprint"] == "generic:batch-nightly");
  CHECK(doc["no_escalation"][0]["rule"] == "batch");

  CHECK(doc["failed_deliveries"].empty());

  auto text = run_tocsin({"report", "--db", f.db}, {"TOCSIN_RULES=" + f.rules});
  INFO(text.output);
  REQUIRE(text.exit_code == 0);
  for (const char* heading :
       {"NOISIEST ALERTS", "STALE OPEN EPISODES", "RULES NEVER THE FIRST MATCH",
        "ALERTS THAT MATCHED NO RULE", "ALERTS WITH NO ESCALATION", "FAILED DELIVERIES"}) {
    CHECK(text.output.find(heading) != std::string::npos);
  }
  const auto flapping = text.output.find("\n    - flapping ");
  CHECK(flapping != std::string::npos);
  CHECK(text.output.find("debounce at the source", flapping) != std::string::npos);
  CHECK(text.output.find("nothing to report: no notification failed") != std::string::npos);

  // A period that ends before the noise began: the event sections are empty; the noise score
  // keeps its own window.
  auto recent =
      run_tocsin({"report", "--rules", f.rules, "--db", f.db, "--json", "--since", "30m"});
  REQUIRE(recent.exit_code == 0);
  const Json r = Json::parse(recent.output);
  CHECK(r["no_rule"].empty());
  CHECK(r["no_escalation"].empty());
  CHECK(find_by(r["unmatched_rules"], "rule", "cpu"));
  CHECK(r["noisiest"][0]["fingerprint"] == "generic:cpu-high");
}

TEST_CASE("tocsin report refuses a bad --since, a missing or newer database, invalid rules") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << k_rules;
  const std::string missing = dir.file("missing.db");

  auto bad_since = run_tocsin({"report", "--rules", rules, "--db", missing, "--since", "7x"});
  CHECK(bad_since.exit_code == 2);
  CHECK(bad_since.output.find("\"7x\"") != std::string::npos);
  CHECK(run_tocsin({"report", "--rules", rules, "--db", missing, "--since", "0s"}).exit_code == 2);

  auto no_db = run_tocsin({"report", "--rules", rules, "--db", missing});
  CHECK(no_db.exit_code == 2);
  CHECK(no_db.output.find(missing) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(missing));  // a report never creates one

  const std::string bad_rules = dir.file("bad.yaml");
  std::ofstream(bad_rules) << "version: 1\nrules:\n  - {name: r, match: {}, notify: [nowhere]}\n";
  auto invalid = run_tocsin({"report", "--rules", bad_rules, "--db", missing});
  CHECK(invalid.exit_code == 2);
  CHECK(invalid.output.find(bad_rules + ":3:") != std::string::npos);

  // A database from a newer tocsin is named, not read.
  const std::string events = dir.file("events.jsonl");
  std::ofstream(events)
      << R"({"at":"2026-01-01T00:00:00Z","hook":"generic","body":{"key":"a","status":"firing"}})"
      << "\n";
  const std::string db = dir.file("newer.db");
  REQUIRE(run_tocsin({"replay", "--rules", rules, "--db", db, events}).exit_code == 0);
  {
    SQLite::Database raw(db, SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = 999");
  }
  auto newer = run_tocsin({"report", "--rules", rules, "--db", db});
  CHECK(newer.exit_code == 2);
  CHECK(newer.output.find("schema version 999") != std::string::npos);
}

}  // namespace e2e_report_cli_test
