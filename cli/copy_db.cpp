#include "cli/copy_db.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "storage/copy.hpp"
#include "storage/database.hpp"
#include "storage/postgres/redact.hpp"

namespace tocsin::cli {

namespace {

std::string shown(const std::string& location) {
  return storage::display_location(location);
}

}  // namespace

int run_copy_db(const std::string& source, const std::string& destination, TimePoint now,
                std::ostream& out, std::ostream& err) {
  for (const std::string* location : {&source, &destination}) {
    if (auto problem = storage::location_problem(*location)) {
      err << "tocsin copy-db: the database location " << shown(*location) << " " << *problem
          << "\n";
      return 2;
    }
  }
  storage::CopyOptions options;
  options.now = now;
  options.on_table = [&](const std::string& table, std::int64_t rows) {
    char line[96];
    std::snprintf(line, sizeof line, "%-18s %lld rows\n", table.c_str(),
                  static_cast<long long>(rows));
    out << line << std::flush;
  };
  options.on_warning = [&](const std::string& warning) {
    err << "tocsin copy-db: warning: " << storage::postgres::redacted(warning) << '\n';
  };
  // Elapsed time for the operator's summary only; nothing depends on it.
  const auto started = std::chrono::steady_clock::now();
  try {
    const auto summary = storage::copy_database(source, destination, options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    char took[32];
    std::snprintf(took, sizeof took, "%.2f", seconds);
    out << "copied " << summary.rows << " rows in " << summary.tables << " tables from "
        << shown(source) << " to " << shown(destination) << " in " << took << " s\n";
    return 0;
  } catch (const std::exception& e) {
    err << "tocsin copy-db: " << storage::postgres::redacted(e.what()) << '\n';
    return 1;
  }
}

Subcommand add_copy_db(CLI::App& cli) {
  auto source = std::make_shared<std::string>();
  auto destination = std::make_shared<std::string>();
  auto* cmd = cli.add_subcommand(
      "copy-db",
      "Copy a whole database into an empty one, SQLite or PostgreSQL either way, keeping every "
      "row and its id (stop tocsin serve first)");
  cmd->add_option("SRC", *source, "Database to copy: an SQLite file or a postgresql:// URI")
      ->required();
  cmd->add_option("DST", *destination,
                  "Empty database to copy into: an SQLite file (created when missing) or a "
                  "postgresql:// URI (migrated when empty)")
      ->required();
  return {cmd, [source, destination] {
            return run_copy_db(*source, *destination, SystemClock().now(), std::cout, std::cerr);
          }};
}

}  // namespace tocsin::cli
