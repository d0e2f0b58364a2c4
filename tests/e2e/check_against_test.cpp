// End-to-end: `tocsin check RULES --against-db DB --baseline OLD` (README "Rules as code") on
// the database of a real server that received some traffic: what a rules change would do to
// it, as a rules repository's CI runs it.

#include <doctest/doctest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>

#include "core/json.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_check_against_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

// The rules the server ran: db-* pages oncall and is never_suppress, disk-* pages oncall,
// web-* tells the team. `database`, `disk` and `web` are the three rules' lines, so a candidate
// changes one of them.
struct RulesText {
  std::string database =
      "  - {name: database, match: {name: \"db-*\"}, notify: [oncall], never_suppress: true, "
      "low_priority: team}\n";
  std::string disk = "  - {name: disk, match: {name: \"disk-*\"}, notify: [oncall]}\n";
  std::string web = "  - {name: web, match: {name: \"web-*\"}, notify: [team]}\n";

  std::string text(const std::string& receiver) const {
    // demote_above 0: any score demotes an alert whose rule allows it (low_priority, not
    // never_suppress), so the flapping db-primary is demoted once its rule stops saying
    // never_suppress.
    return "version: 1\n" + sources_section() + "channels:\n  oncall: {type: webhook, url: \"" +
           receiver + "/oncall\"}\n  team: {type: webhook, url: \"" + receiver +
           "/team\"}\nnoise: {demote_above: 0}\nrules:\n" + database + disk + web;
  }
};

// A database with a little traffic, made by a real server: each alert opens, db-primary and
// disk-full resolve and open again.
struct StoredTraffic {
  TempDir dir;
  RecordingReceiver receiver;
  std::string db = dir.file("tocsin.db");
  std::string baseline = dir.file("baseline.yaml");

  StoredTraffic() {
    std::ofstream(baseline) << RulesText{}.text(receiver.url());
    ServerProcess server(dir.file("server.log"), {"--rules", baseline, "--db", db});
    httplib::Client c("127.0.0.1", server.port());
    auto post = [&](const std::string& key, const std::string& status) {
      auto r = c.Post("/hooks/generic",
                      Json{{"key", key}, {"status", status}, {"severity", "critical"}}.dump(),
                      "application/json");
      REQUIRE(r);
      INFO(r->body);
      REQUIRE(r->status == 200);
    };
    post("db-primary", "firing");
    post("disk-full", "firing");
    post("web-latency", "firing");
    post("db-primary", "resolved");
    post("disk-full", "resolved");
    post("db-primary", "firing");
    post("disk-full", "firing");
    CHECK(server.stop() == 0);
  }

  std::string candidate(const RulesText& rules, const std::string& name) {
    const std::string path = dir.file(name);
    std::ofstream(path) << rules.text(receiver.url());
    return path;
  }

  SplitResult check(const std::string& candidate_path, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"check", candidate_path, "--against-db",
                                     db,      "--baseline",   baseline};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tocsin_split(args);
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("check --against-db: the same rules change nothing, exit 0") {
  StoredTraffic t;
  auto r = t.check(t.candidate(RulesText{}, "same.yaml"));
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(has(r.out, ": ok (3 rules, 2 channels"));
  CHECK(has(r.out, ": 7 stored line(s) of the last 7d replayed with the baseline "));
  CHECK(has(r.out, "no change: "));
  CHECK_FALSE(has(r.out, "pages by channel"));
}

TEST_CASE("check --against-db: a rule moved to another channel shows the pages gained and lost") {
  StoredTraffic t;
  RulesText moved;
  moved.disk = "  - {name: disk, match: {name: \"disk-*\"}, notify: [team]}\n";
  const std::string path = t.candidate(moved, "moved.yaml");
  auto r = t.check(path);
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(has(r.out,
            "pages by channel (baseline -> new):\n"
            "  oncall: 4 -> 2 (0 gained, 2 lost)\n"
            "      lost: generic:disk-full 2\n"
            "  team: 1 -> 3 (2 gained, 0 lost)\n"
            "      gained: generic:disk-full 2\n"));
  CHECK_FALSE(has(r.out, "error:"));
  CHECK_FALSE(has(r.out, "no change"));

  // The same for a machine: one JSON object on standard output, the check's line on stderr.
  auto j = t.check(path, {"--json", "--since", "1h"});
  INFO(j.out, j.err);
  CHECK(j.exit_code == 0);
  CHECK(has(j.err, ": ok (3 rules"));
  const Json report = Json::parse(j.out);
  CHECK(report["lines"] == 7);
  CHECK(report["since"] == "1h");
  CHECK(report["changed"] == true);
  CHECK(report["channels"][0]["channel"] == "oncall");
  CHECK(report["channels"][0]["pages_before"] == 4);
  CHECK(report["channels"][0]["pages_after"] == 2);
  CHECK(report["channels"][0]["lost_alerts"] ==
        Json::parse(R"([{"fingerprint": "generic:disk-full", "pages": 2}])"));
  CHECK(report["channels"][1]["gained"] == 2);
  CHECK(report["errors"] == Json::array());

  // A window with no traffic in it compares nothing, and says so.
  auto none = t.check(path, {"--since", "0s"});
  INFO(none.out, none.err);
  CHECK(none.exit_code == 0);
  CHECK(has(none.out, ": 0 stored line(s) of the last 0s"));
  CHECK(has(none.out, "no change: "));
}

TEST_CASE("check --against-db: a dropped rule lists the alerts that would match no rule") {
  StoredTraffic t;
  RulesText dropped;
  dropped.web = "";
  auto r = t.check(t.candidate(dropped, "dropped.yaml"));
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(has(r.out, "  team: 1 -> 0 (0 gained, 1 lost)\n      lost: generic:web-latency 1\n"));
  CHECK(has(r.out,
            "alerts that would match no rule (1):\n"
            "  generic:web-latency (web-latency): 1 event(s); rule web before\n"));
}

TEST_CASE("check --against-db: a never_suppress alert demoted or dropped is an error, exit 1") {
  StoredTraffic t;
  RulesText demoted;
  demoted.database =
      "  - {name: database, match: {name: \"db-*\"}, notify: [oncall], low_priority: team}\n";
  auto r = t.check(t.candidate(demoted, "demoted.yaml"));
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK(has(r.out,
            "error: generic:db-primary (db-primary) is never_suppress under the baseline "
            "(rule database) but would be demoted 2x under "));
  CHECK(has(r.out, ": 1 never_suppress alert(s) would no longer page as they did\n"));
  auto j = t.check(t.dir.file("demoted.yaml"), {"--json"});
  CHECK(j.exit_code == 1);
  const Json report = Json::parse(j.out);
  REQUIRE(report["errors"].size() == 1);
  CHECK(report["errors"][0]["fingerprint"] == "generic:db-primary");
  CHECK(report["errors"][0]["decisions"] == Json{{"demoted", 2}});

  RulesText drop;
  drop.database = "  - {name: database, match: {name: \"db-*\"}, drop: true}\n";
  auto d = t.check(t.candidate(drop, "drop.yaml"));
  INFO(d.out, d.err);
  CHECK(d.exit_code == 1);
  CHECK(has(d.out,
            "error: generic:db-primary (db-primary) is never_suppress under the baseline "
            "(rule database) but would be dropped 2x under "));
}

TEST_CASE("check --against-db: a never_suppress alert renamed or left to no rule is an error") {
  StoredTraffic t;
  // A changed dedup_key gives its events another fingerprint: no demotion of the old one to
  // see, and the new one was never never_suppress. The pages it lost still fail the check.
  RulesText renamed;
  renamed.database =
      "  - {name: database, match: {name: \"db-*\"}, notify: [oncall], dedup_key: \"db:{name}\"}\n";
  auto r = t.check(t.candidate(renamed, "renamed.yaml"));
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK(has(r.out,
            "error: generic:db-primary (db-primary) is never_suppress under the baseline "
            "(rule database) but would page nobody under "));
  CHECK(has(r.out, "(a changed dedup_key?)"));
  auto j = t.check(t.dir.file("renamed.yaml"), {"--json"});
  CHECK(j.exit_code == 1);
  const Json report = Json::parse(j.out);
  REQUIRE(report["errors"].size() == 1);
  CHECK(report["errors"][0]["fingerprint"] == "generic:db-primary");
  CHECK(report["errors"][0]["note"].get<std::string>().find("under the baseline") !=
        std::string::npos);

  // Its rule deleted: no rule matches it, nothing pages.
  RulesText gone;
  gone.database = "";
  auto g = t.check(t.candidate(gone, "gone.yaml"));
  INFO(g.out, g.err);
  CHECK(g.exit_code == 1);
  CHECK(has(g.out,
            "error: generic:db-primary (db-primary) is never_suppress under the baseline "
            "(rule database) but would page nobody under "));
  CHECK(has(g.out, "; no rule matches it\n"));
}

TEST_CASE("check --against-db: invalid rules, no baseline, a missing database, bad flags") {
  StoredTraffic t;
  // An invalid candidate is reported as plain `check` does, before any database is opened.
  const std::string invalid = t.dir.file("invalid.yaml");
  std::ofstream(invalid) << "version: 1\nrules:\n  - {name: x, match: {}, notify: [nowhere]}\n";
  auto r = run_tocsin_split(
      {"check", invalid, "--against-db", t.dir.file("absent.db"), "--baseline", t.baseline});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK(has(r.err, "nowhere"));
  CHECK_FALSE(std::filesystem::exists(t.dir.file("absent.db")));

  auto no_baseline = run_tocsin_split({"check", t.baseline, "--against-db", t.db});
  CHECK(no_baseline.exit_code == 2);
  CHECK(has(no_baseline.err, "--against-db needs --baseline OLD_RULES"));

  auto itself = t.check(t.baseline);
  CHECK(itself.exit_code == 0);
  auto absent = run_tocsin_split(
      {"check", t.baseline, "--against-db", t.dir.file("absent.db"), "--baseline", t.baseline});
  CHECK(absent.exit_code == 2);
  CHECK(has(absent.err, "no database at "));
  CHECK_FALSE(std::filesystem::exists(t.dir.file("absent.db")));

  auto bad_baseline =
      run_tocsin_split({"check", t.baseline, "--against-db", t.db, "--baseline", invalid});
  CHECK(bad_baseline.exit_code == 2);
  CHECK(has(bad_baseline.err, "is not a valid rules file; nothing compared"));

  auto bad_since = t.check(t.baseline, {"--since", "last week"});
  CHECK(bad_since.exit_code == 2);
  CHECK(has(bad_since.err, "--since must be a duration"));

  auto over = t.check(t.baseline, {"--limit", "3"});
  CHECK(over.exit_code == 2);
  CHECK(has(over.err, "the last 7d hold 7 lines, more than the limit of 3"));

  auto stray = run_tocsin_split({"check", t.baseline, "--baseline", t.baseline});
  CHECK(stray.exit_code == 2);
  CHECK(has(stray.err, "--baseline goes with --against-db DB"));
}

}  // namespace e2e_check_against_test
