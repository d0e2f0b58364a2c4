#include <doctest/doctest.h>

#include <fstream>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

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
  std::ofstream(rules) << "version: 1\nsources:\n  sns: {verify_signature: false}\n";
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
  std::ofstream(rules) << "version: 1\nsources:\n  sns: {verify_signature: false}\n";
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
