#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "core/version.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_cli_test {

using namespace tocsin::testing;

TEST_CASE("tocsin check exits 0 for valid, 1 for invalid, 2 for unreadable files") {
  TempDir dir;
  const std::string shipped = std::string(TOCSIN_SOURCE_DIR) + "/rules.yaml";
  auto ok = run_tocsin({"check", shipped});
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output.find(": ok (") != std::string::npos);

  const std::string bad = dir.file("bad.yaml");
  std::ofstream(bad) << "version: 1\nrules:\n  - name: r\n    match: {}\n    notify: [nowhere]\n"
                        "bogus_key: 1\n";
  auto invalid = run_tocsin({"check", bad});
  INFO(invalid.output);
  CHECK(invalid.exit_code == 1);
  // Every problem at once, each as PATH:LINE:COL.
  CHECK(invalid.output.find(bad + ":5:") != std::string::npos);
  CHECK(invalid.output.find(bad + ":6:1: error:") != std::string::npos);

  auto missing = run_tocsin({"check", dir.file("missing.yaml")});
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("missing.yaml") != std::string::npos);

  auto usage = run_tocsin({"check", "--frobnicate"});
  CHECK(usage.exit_code == 2);
}

TEST_CASE("tocsin --version names the version and the git commit it was built from") {
  // A short hash, "-dirty" when tracked files differed, or a build without git says so; the
  // package test reads it (docs/operations.md "Installing the Debian package").
  auto v = run_tocsin({"--version"});
  INFO(v.output);
  CHECK(v.exit_code == 0);
  const std::regex expected(
      "tocsin " + std::regex_replace(std::string(tocsin::k_version), std::regex("\\."), "\\.") +
      " \\(commit ([0-9a-f]{12}(-dirty)?|unknown: not built from a git "
      "checkout)\\)\n");
  CHECK(std::regex_match(v.output, expected));
}

TEST_CASE("tocsin serve refuses to start on rules it cannot honour, and says why") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\nsources:\n  sns: {verify_signature: true, cert_dir: "
                       << dir.file("no-such-dir") << "}\n";
  auto r =
      run_tocsin({"serve", "--rules", rules, "--db", dir.file("t.db"), "--listen", "127.0.0.1:0"});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("cert_dir") != std::string::npos);
  CHECK(r.output.find("no-such-dir") != std::string::npos);

  auto bad_listen = run_tocsin({"serve", "--rules", rules, "--listen", "nonsense"});
  CHECK(bad_listen.exit_code == 2);
}

TEST_CASE("environment variables set the defaults and flags override them") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\n";
  // The env names a database path that cannot be created; the flag must win.
  ServerProcess server(dir.file("s.log"), {"--db", dir.file("flag.db")},
                       {"TOCSIN_RULES=" + rules, "TOCSIN_DB=/nonexistent/dir/env.db"});
  CHECK(server.log().find(dir.file("flag.db")) != std::string::npos);
  CHECK(server.log().find(rules) != std::string::npos);
  CHECK(server.stop() == 0);

  auto env_db = run_tocsin({"serve", "--listen", "127.0.0.1:0"},
                           {"TOCSIN_RULES=" + rules, "TOCSIN_DB=/nonexistent/dir/env.db"});
  CHECK(env_db.exit_code == 1);
  CHECK(env_db.output.find("/nonexistent/dir/env.db") != std::string::npos);
}

TEST_CASE("--log-format json writes one JSON object per line") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\n";
  ServerProcess server(dir.file("s.log"),
                       {"--rules", rules, "--db", dir.file("t.db"), "--log-format", "json"});
  server.stop();
  std::istringstream lines(server.log());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    CAPTURE(line);
    CHECK(line.front() == '{');
    CHECK(line.find("\"level\":") != std::string::npos);
    ++count;
  }
  CHECK(count >= 2);
}

TEST_CASE("tocsin replay: JSON lines out, exit 1 for invalid input, 2 for usage and I/O") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules)
      << "version: 1\nchannels:\n  a: {type: webhook, url: \"http://127.0.0.1:9/a\"}\n"
         "rules:\n  - {name: all, match: {}, notify: [a]}\n";
  const std::string events = dir.file("events.jsonl");
  std::ofstream(events)
      << R"({"at":"2026-11-01T10:00:00Z","hook":"generic","body":{"key":"disk","status":"firing"}})"
      << "\n"
      << R"({"at":"2026-11-01T10:05:00Z","hook":"generic","body":{"key":"disk","status":"resolved"}})"
      << "\n";
  auto ok = run_tocsin({"replay", "--rules", rules, events});
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output.find(R"({"at":"2026-11-01T10:00:00.000Z","type":"event","fingerprint":)"
                       R"("generic:disk","alert_id":1,"episode":1,"outcome":"created",)"
                       R"("reason":"first_occurrence"})") != std::string::npos);
  CHECK(ok.output.find(R"("type":"notify","channel":"a","action":"resolve")") != std::string::npos);

  const std::string broken = dir.file("broken.jsonl");
  std::ofstream(broken) << "{\"at\": 3}\n";
  auto invalid = run_tocsin({"replay", "--rules", rules, broken});
  CHECK(invalid.exit_code == 1);
  CHECK(invalid.output.find(broken + ":1: error:") != std::string::npos);

  CHECK(run_tocsin({"replay", "--rules", rules, dir.file("missing.jsonl")}).exit_code == 2);
  CHECK(run_tocsin({"replay", "--rules", rules, "--until", "soon", events}).exit_code == 2);
  CHECK(run_tocsin({"replay", events}).exit_code == 2);  // --rules is required

  // --db keeps the result for the API or sqlite3.
  const std::string db = dir.file("kept.db");
  CHECK(run_tocsin({"replay", "--rules", rules, "--db", db, events}).exit_code == 0);
  CHECK(std::ifstream(db).good());
}

TEST_CASE(
    "tocsin check: errors first, --strict fails on warnings, --no-env skips the environment") {
  TempDir dir;
  // A warning (an unset token variable) on line 3, before an error on line 6.
  const std::string mixed = dir.file("mixed.yaml");
  std::ofstream(mixed) << "version: 1\nsources:\n  generic: {token_env: TOCSIN_TEST_UNSET_VAR}\n"
                          "rules:\n  - name: r\n    match: {}\n    notify: [nowhere]\n";
  auto both = run_tocsin({"check", mixed});
  INFO(both.output);
  CHECK(both.exit_code == 1);
  const auto error = both.output.find(": error: ");
  const auto warning = both.output.find(": warning: ");
  REQUIRE(error != std::string::npos);
  REQUIRE(warning != std::string::npos);
  CHECK(error < warning);

  const std::string warned = dir.file("warned.yaml");
  std::ofstream(warned) << "version: 1\nsources:\n  generic: {token_env: TOCSIN_TEST_UNSET_VAR}\n";
  SUBCASE("warnings alone pass, unless --strict") {
    CHECK(run_tocsin({"check", warned}).exit_code == 0);
    auto strict = run_tocsin({"check", "--strict", warned});
    INFO(strict.output);
    CHECK(strict.exit_code == 1);
    CHECK(strict.output.find("TOCSIN_TEST_UNSET_VAR") != std::string::npos);
  }
  SUBCASE("--no-env does not look at the environment, for CI without the secrets") {
    auto no_env = run_tocsin({"check", "--no-env", "--strict", warned});
    INFO(no_env.output);
    CHECK(no_env.exit_code == 0);
    CHECK(no_env.output.find("not set") == std::string::npos);
  }
}

TEST_CASE("tocsin check warns about rules after a catch-all, and undefined escalations") {
  TempDir dir;
  const std::string shadowed = dir.file("shadowed.yaml");
  std::ofstream(shadowed) << "version: 1\nrules:\n  - {name: all, match: {}}\n"
                             "  - {name: late, match: {source: generic}}\n";
  auto r = run_tocsin({"check", shadowed});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find(shadowed + ":4:5: warning: rule \"late\" can never be the first match: "
                                 "rule \"all\" (line 3) matches every alert") != std::string::npos);

  const std::string both = dir.file("both.yaml");
  std::ofstream(both) << "version: 1\nchannels:\n  a: {type: webhook, url: \"http://x.example\"}\n"
                         "rules:\n  - {name: r, match: {}, notify: [a], escalation: nope}\n";
  auto undefined = run_tocsin({"check", both});
  INFO(undefined.output);
  CHECK(undefined.exit_code == 1);
  CHECK(undefined.output.find("undefined escalation policy \"nope\"") != std::string::npos);
}

TEST_CASE("tocsin replay: no warnings about secrets it never uses") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\nsources:\n  generic: {token_env: TOCSIN_TEST_UNSET_VAR}\n"
                          "channels:\n  og: {type: opsgenie, url: \"https://api.opsgenie.com\", "
                          "api_key_env: TOCSIN_TEST_UNSET_KEY}\n"
                          "rules:\n  - {name: all, match: {}, notify: [og]}\n";
  const std::string events = dir.file("events.jsonl");
  std::ofstream(events)
      << R"({"at":"2026-11-01T10:00:00Z","hook":"generic","body":{"key":"disk","status":"firing"}})"
      << "\n";
  auto r = run_tocsin({"replay", "--rules", rules, events});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find(": warning:") == std::string::npos);
  CHECK(r.output.find("TOCSIN_TEST_UNSET") == std::string::npos);
}

TEST_CASE("tocsin replay --until: now, or a duration after the last line, fires later timers") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules)
      << "version: 1\nchannels:\n  a: {type: webhook, url: \"http://127.0.0.1:9/a\"}\n"
         "  b: {type: webhook, url: \"http://127.0.0.1:9/b\"}\n"
         "escalations:\n  p: {steps: [{after: 0m, notify: [a]}, "
         "{after: 15m, notify: [b]}]}\n"
         "rules:\n  - {name: all, match: {}, escalation: p}\n";
  const std::string events = dir.file("events.jsonl");
  std::ofstream(events)
      << R"({"at":"2026-11-01T10:00:00Z","hook":"generic","body":{"key":"disk","status":"firing"}})"
      << "\n";
  const std::string escalated = R"("type":"notify","channel":"b","action":"escalate")";

  auto without = run_tocsin({"replay", "--rules", rules, events});
  INFO(without.output);
  CHECK(without.exit_code == 0);
  CHECK(without.output.find(escalated) == std::string::npos);

  struct Case {
    const char* intent;
    const char* until;
    bool escalates;
  };
  const Case cases[] = {
      {"now runs the clock to the present", "now", true},
      {"now minus a duration is still after the step", "now-1h", true},
      {"+DURATION counts from the last line", "+1h", true},
      {"+DURATION short of the step fires nothing", "+10m", false},
      {"an RFC 3339 time", "2026-11-01T11:00:00Z", true},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      auto r = run_tocsin({"replay", "--rules", rules, "--until", c.until, events});
      INFO(r.output);
      CHECK(r.exit_code == 0);
      CHECK((r.output.find(escalated) != std::string::npos) == c.escalates);
    }
  }
  SUBCASE("bad input names the flag and the spellings") {
    // Durations past 100 years would overflow the clock (a silent empty replay) or run for
    // days firing timers.
    for (const std::string bad : {"soon", "+", "now+2h", "+2", "+9223372036854775807ms",
                                  "now-9223372036854775807ms", "+36525d", "now-36525d"}) {
      CAPTURE(bad);
      auto r = run_tocsin({"replay", "--rules", rules, "--until", bad, events});
      CHECK(r.exit_code == 2);
      CHECK(r.output.find("--until") != std::string::npos);
      CHECK(r.output.find("now-2h") != std::string::npos);
    }
  }
}

// A database location that would leak its password is refused (exit 2) before anything is
// opened: the password appears in no output and no file is created under its name.
TEST_CASE("serve refuses a location that would show its password") {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  std::ofstream(rules) << "version: 1\n";
  struct Case {
    const char* intent;
    std::string location;
    std::string password;
    std::string advice;
  };
  const Case cases[] = {
      {"a key=value string is not a file path",
       "host=127.0.0.1 user=u password=kv-secret-1 dbname=t", "kv-secret-1", "postgresql://"},
      {"a key=value string starting with its password", "password=kv-secret-2 host=127.0.0.1",
       "kv-secret-2", "postgresql://"},
      {"one starting with dbname", "dbname=t user=u password=kv-secret-3", "kv-secret-3",
       "postgresql://"},
      {"an unencoded @ in a URI's password", "postgresql://u:p@ss-secret-4@127.0.0.1:1/db",
       "ss-secret-4", "%40"},
      {"an unencoded @ in a postgres:// URI's password", "postgres://u:at@at-secret-5@localhost/db",
       "at-secret-5", "%40"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.intent);
    // serve, and the commands that open a database given the same way.
    const std::vector<std::vector<std::string>> commands = {
        {"serve", "--rules", rules, "--listen", "127.0.0.1:0"},
        {"export"},
        {"report", "--rules", rules},
        {"copy-db", c.location, dir.file("copy.db")},
    };
    for (const auto& command : commands) {
      CAPTURE(command[0]);
      const auto r = run_tocsin(command, {"TOCSIN_DB=" + c.location});
      CHECK(r.exit_code == 2);
      CHECK(r.output.find(c.password) == std::string::npos);
      CHECK(r.output.find(c.advice) != std::string::npos);
      CHECK_FALSE(std::filesystem::exists(c.location));
    }
  }
}

}  // namespace e2e_cli_test
