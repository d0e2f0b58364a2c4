#pragma once
// `tocsin check RULES --against-db DB` (README "Rules as code"; and
// docs/behaviour.md "Checking a rules change against stored traffic"): what a rules change
// would do to the traffic a database received. The traffic is what `tocsin export` reads
// (cli/export.hpp), replayed twice by `tocsin replay` (cli/replay.hpp) on throwaway databases, once
// with the baseline rules and once with the candidate; the two runs' journals are compared. One
// engine decides both: no rule is evaluated here.

#include <cstdint>
#include <iosfwd>
#include <string>

#include "core/time.hpp"

namespace tocsin::cli {

struct AgainstOptions {
  std::string rules_path;           // the candidate, already checked valid
  std::string baseline_path;        // the rules the stored traffic was decided by
  std::string db_path;              // opened read-only; never created
  std::string since = "7d";         // a duration, counted back from `now`
  std::uint64_t limit = 1'000'000;  // export lines at most (more is status 2)
  bool json = false;
};

// Writes the comparison to `out` (text, or one JSON object with `json`). Returns 0 when no
// alert a baseline rule made never_suppress would be demoted, held, dropped or silenced (other
// changes are only reported), 1 when one would, 2 for a usage or database problem (an invalid or
// unreadable baseline, a missing database, a bad --since, more lines than --limit), with the
// reason on `err`.
int run_check_against(const AgainstOptions& options, TimePoint now, std::ostream& out,
                      std::ostream& err);

}  // namespace tocsin::cli
