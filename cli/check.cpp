// `tocsin check` (README "Running"): validate a rules file.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "rules/loader.hpp"
#include "storage/database.hpp"

namespace tocsin::cli {

namespace {

struct CheckOptions {
  std::string path = "./rules.yaml";
  bool strict = false;  // a warning fails the check
  bool no_env = false;  // look at no environment variable (CI without the secrets)
};

// `tocsin check` (README "Running"): errors first, then warnings, then notes, each group in file
// order. Exit 0 valid, 1 invalid (or, with --strict, any warning), 2 unreadable.
int print_check(const CheckOptions& options) {
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
  std::cout << options.path << ": ok (" << r.rules.size() << " rules, " << r.channels.size()
            << " channels, " << r.escalations.size() << " escalation policies, "
            << r.heartbeats.size() << " heartbeats; " << warnings << " warning(s); sha256 "
            << r.hash.substr(0, 12) << ")\n";
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
  return {cmd, [opt] { return print_check(*opt); }};
}

}  // namespace tocsin::cli
