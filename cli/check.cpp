// `tocsin check` (README "Running"): validate a rules file.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>

#include "cli/check_against.hpp"
#include "cli/commands.hpp"
#include "rules/loader.hpp"
#include "storage/database.hpp"

namespace tocsin::cli {

namespace {

struct CheckOptions {
  std::string path = "./rules.yaml";
  bool strict = false;  // a warning fails the check
  bool no_env = false;  // look at no environment variable (CI without the secrets)
  // --against-db (cli/check_against.hpp): the comparison over stored traffic, once valid.
  AgainstOptions against;
  bool since_given = false;
};

// `tocsin check` (README "Running"): errors first, then warnings, then notes, each group in file
// order. Exit 0 valid, 1 invalid (or, with --strict, any warning), 2 unreadable.
int print_check(const CheckOptions& options, std::ostream& ok_out) {
  rules::LoadOptions load;
  if (options.no_env) load.env = nullptr;
  load.location_problem = storage::location_problem;
  rules::LoadResult result = rules::load_rules_file(options.path, load);
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                   [](const auto& a, const auto& b) { return a.level < b.level; });
  std::size_t errors = 0, warnings = 0;
  for (const auto& d : result.diagnostics) {
    std::cerr << d.format() << '\n';
    if (d.level == rules::Diagnostic::Level::error) ++errors;
    if (d.level == rules::Diagnostic::Level::warning) ++warnings;
  }
  if (result.unreadable) return 2;
  if (!result.ok()) {
    std::cerr << options.path << ": " << errors << " error(s), " << warnings << " warning(s)\n";
    return 1;
  }
  if (options.strict && warnings > 0) {
    std::cerr << options.path << ": " << warnings << " warning(s), which --strict refuses\n";
    return 1;
  }
  const auto& r = *result.rules;
  ok_out << options.path << ": ok (" << r.rules.size() << " rules, " << r.channels.size()
         << " channels, " << r.escalations.size() << " escalation policies, " << r.heartbeats.size()
         << " heartbeats; " << warnings << " warning(s); sha256 " << r.hash.substr(0, 12) << ")\n";
  return 0;
}

}  // namespace

Subcommand add_check(CLI::App& cli) {
  auto opt = std::make_shared<CheckOptions>();
  auto* cmd = cli.add_subcommand(
      "check",
      "Validate a rules file; exit 0 valid, 1 invalid (or warnings with --strict), 2 usage or "
      "I/O error");
  cmd->add_option("PATH", opt->path, "Rules file (default ./rules.yaml)");
  cmd->add_flag("--strict", opt->strict, "Fail (exit 1) on warnings too");
  cmd->add_flag("--no-env", opt->no_env,
                "Do not look at environment variables (for CI without the secrets)");
  cmd->add_option("--against-db", opt->against.db_path,
                  "Also replay this database's stored traffic (SQLite file, opened read-only, "
                  "or postgresql:// URI) with --baseline and with PATH, and report the "
                  "difference: pages per channel, unrouted alerts, never_suppress alerts "
                  "demoted, held, dropped or silenced (exit 1)");
  cmd->add_option("--baseline", opt->against.baseline_path,
                  "With --against-db: the rules file in force when the traffic was stored "
                  "(the database keeps only its sha256)");
  cmd->add_option("--since", opt->against.since,
                  "With --against-db: how much traffic, as a duration back from now (default "
                  "7d)")
      ->each([opt](const std::string&) { opt->since_given = true; });
  cmd->add_option("--limit", opt->against.limit,
                  "With --against-db: refuse (exit 2) a window of more stored lines than this "
                  "(default 1000000)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", opt->against.json, "With --against-db: the report as one JSON object");
  return {cmd, [opt, cmd] {
            const bool against = !opt->against.db_path.empty();
            if (!against) {
              for (const char* flag : {"--baseline", "--limit", "--json"}) {
                if (cmd->count(flag) > 0) {
                  std::cerr << "tocsin check: " << flag << " goes with --against-db DB\n";
                  return 2;
                }
              }
              if (opt->since_given) {
                std::cerr << "tocsin check: --since goes with --against-db DB\n";
                return 2;
              }
              return print_check(*opt, std::cout);
            }
            // The candidate is checked first, as plain `tocsin check` would (its line on the
            // error stream when standard output carries the JSON): an invalid file is exit 1
            // before the database is opened.
            if (int status = print_check(*opt, opt->against.json ? std::cerr : std::cout);
                status != 0)
              return status;
            if (opt->against.baseline_path.empty()) {
              std::cerr << "tocsin check: --against-db needs --baseline OLD_RULES: the rules "
                           "file the stored traffic was decided by (the database keeps only "
                           "its sha256, not its text); in a rules repository, the file as it "
                           "is on the main branch\n";
              return 2;
            }
            opt->against.rules_path = opt->path;
            std::ios::sync_with_stdio(false);
            return run_check_against(opt->against, SystemClock().now(), std::cout, std::cerr);
          }};
}

}  // namespace tocsin::cli
