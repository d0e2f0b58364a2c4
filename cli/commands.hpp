#pragma once
// The subcommands of `tocsin` (README "Running"), one file each: serve.cpp, receive.cpp,
// check.cpp (with check_against.cpp), replay.cpp, export.cpp, report.cpp, copy_db.cpp; and the
// client commands that talk to a running server, all in client.cpp. Each registers itself and its
// options on the command line, and runs when chosen; cli.cpp puts them together.

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tocsin::cli {

struct Subcommand {
  CLI::App* command = nullptr;  // owned by the command line it was added to
  std::function<int()> run;     // returns the exit status; call only after parsing chose it
};

Subcommand add_serve(CLI::App& cli);
Subcommand add_receive(CLI::App& cli);
Subcommand add_check(CLI::App& cli);
Subcommand add_replay(CLI::App& cli);
Subcommand add_export(CLI::App& cli);
Subcommand add_report(CLI::App& cli);
Subcommand add_copy_db(CLI::App& cli);
// route.cpp (README "Rules as code").
Subcommand add_route(CLI::App& cli);
// rules_test.cpp: `tocsin test` (README "Rules as code").
Subcommand add_rules_test(CLI::App& cli);
// alerts, show, ack, unack, resolve, notifications, silence (README "Command-line client").
std::vector<Subcommand> add_client(CLI::App& cli);

// Flag > environment variable > built-in default (README "Running").
std::string resolve(const std::string& flag, const char* env_name, const char* fallback);

// The database location (README "Selecting the database"): --db, then TOCSIN_DB, then the
// variable the rules file's storage.url_env names, then ./tocsin.db. A file path (SQLite) or a
// postgresql:// URI.
std::string resolve_db(const std::string& flag, const std::optional<std::string>& url_env);

}  // namespace tocsin::cli
