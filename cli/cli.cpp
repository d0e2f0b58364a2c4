#include "cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "cli/build_info.hpp"
#include "cli/commands.hpp"
#include "core/version.hpp"

namespace tocsin::cli {

std::string resolve(const std::string& flag, const char* env_name, const char* fallback) {
  if (!flag.empty()) return flag;
  if (const char* v = std::getenv(env_name); v && *v) return v;
  return fallback;
}

std::string resolve_db(const std::string& flag, const std::optional<std::string>& url_env) {
  if (!flag.empty()) return flag;
  if (const char* v = std::getenv("TOCSIN_DB"); v && *v) return v;
  if (url_env) {
    if (const char* v = std::getenv(url_env->c_str()); v && *v) return v;
  }
  return "./tocsin.db";
}

int run(int argc, char** argv) {
  CLI::App cli{"Tocsin: alert deduplication and escalation engine", "tocsin"};
  cli.require_subcommand(1);
  // The version and the commit built (cli/build_info.hpp), for a bug report or a package check.
  cli.set_version_flag("--version",
                       std::string("tocsin ") + k_version + " (commit " + k_build_commit + ")");
  // In the order `tocsin --help` lists them.
  std::vector<Subcommand> subcommands = {add_serve(cli),   add_receive(cli), add_check(cli),
                                         add_replay(cli),  add_export(cli),  add_report(cli),
                                         add_copy_db(cli), add_route(cli),   add_rules_test(cli)};
  for (auto& s : add_client(cli))
    subcommands.push_back(std::move(s));
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    // CLI11 exits 0 for --help/--version; any real usage error is status 2 (README "Running").
    return code == 0 ? 0 : 2;
  }
  for (const auto& s : subcommands) {
    if (*s.command) return s.run();
  }
  return 2;
}

}  // namespace tocsin::cli
