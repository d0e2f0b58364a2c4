#pragma once
// `tocsin copy-db SRC DST` (README "Moving an installation"): a whole database copied into an
// empty one, SQLite or PostgreSQL either way, every row with its id (storage/copy.hpp).

#include <iosfwd>
#include <string>

#include "core/time.hpp"

namespace tocsin::cli {

// Prints one line per table copied and a summary to `out`. Returns the exit status: 0 copied,
// 1 refused or failed (the reason on `err`; the destination is left as it was).
int run_copy_db(const std::string& source, const std::string& destination, TimePoint now,
                std::ostream& out, std::ostream& err);

}  // namespace tocsin::cli
