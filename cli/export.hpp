#pragma once
// `tocsin export` (README "Export"): the traffic a database received, as `tocsin replay` input
// (docs/formats.md §13.1), so a candidate rules file can be tried on real past events. Same
// database, same output, byte for byte.

#include <cstdint>
#include <iosfwd>
#include <string>

#include "core/time.hpp"

namespace tocsin::cli {

struct ExportOptions {
  std::string db_path;       // opened read-only; never created
  std::string since = "7d";  // a duration (core/duration), counted back from `now`
  // A terminal to show progress on, lines written and their rate (cli/progress.hpp); null:
  // none.
  std::ostream* progress = nullptr;
  // At most this many lines (0: no bound): more in the window is an error (status 2) that
  // says how many and asks for a shorter --since or a larger --limit. `command` names the
  // command in messages.
  std::uint64_t max_lines = 0;
  std::string command = "tocsin export";
};

// Writes one replay line per stored inbound request and per action a person took through the
// API, in time order, to `out`. Returns the exit status: 0 done, 2 usage or I/O error (a bad
// --since, a missing or unreadable database, one of a newer schema), with the reason on `err`.
int run_export(const ExportOptions& options, TimePoint now, std::ostream& out, std::ostream& err);

}  // namespace tocsin::cli
