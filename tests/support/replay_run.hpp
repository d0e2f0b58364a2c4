#pragma once
// Runs `tocsin replay` in process on a rules text and input lines, and parses its output.

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/replay.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

namespace tocsin::testing {

struct ReplayRun {
  int status = -1;
  std::string out, err;
  std::vector<nlohmann::json> lines;

  // Lines of `type` (and, if given, with `key` == `value`).
  std::vector<nlohmann::json> where(const std::string& type, const char* key = nullptr,
                                    const std::string& value = "") const {
    std::vector<nlohmann::json> found;
    for (const auto& l : lines) {
      if (l["type"] != type) continue;
      if (key && (!l.contains(key) || l[key] != value)) continue;
      found.push_back(l);
    }
    return found;
  }
};

// `db`: keep the database there (empty: a throwaway one). `raw_extra` is appended verbatim.
inline ReplayRun run_replay_lines(const std::string& rules_text,
                                  const std::vector<nlohmann::json>& input,
                                  const std::string& until = "", const std::string& db = "",
                                  const std::string& raw_extra = "", bool summary = false) {
  TempDir dir;
  const std::string rules = dir.file("rules.yaml");
  const std::string events = dir.file("events.jsonl");
  {
    std::ofstream(rules) << rules_text;
    std::ofstream f(events);
    for (const auto& l : input)
      f << l.dump() << '\n';
    f << raw_extra;
  }
  cli::ReplayOptions options;
  options.rules_path = rules;
  options.events_path = events;
  // The PostgreSQL run of the suites replays into a scratch schema (support/test_database.hpp).
  std::optional<TestDatabaseLocation> scratch;
  if (db.empty() && testing_on_postgres()) scratch.emplace(dir, "replay.db");
  options.db_path = scratch ? scratch->location() : db;
  options.summary = summary;
  if (!until.empty()) options.until = parse_timestamp(until);
  std::ostringstream out, err;
  ReplayRun r;
  r.status = cli::run_replay(options, out, err);
  r.out = out.str();
  r.err = err.str();
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line))
    r.lines.push_back(nlohmann::json::parse(line));
  return r;
}

}  // namespace tocsin::testing
