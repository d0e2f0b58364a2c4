#pragma once
// `tocsin copy-db SRC DST`: a whole database copied to another, SQLite or PostgreSQL either way,
// every row of every table with its id (docs/postgres.md "Moving an installation").

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/time.hpp"

namespace tocsin::storage {

// Why nothing was copied, for the operator: a source or destination that cannot be used as it
// is (missing, not a Tocsin database, another schema version, a destination that holds rows),
// or a failure mid-way (the destination's one transaction was rolled back). The message names
// the database (passwords redacted) and, for a refusal, the table or what to do.
class CopyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CopyOptions {
  // The destination's `instances` rows (the registry of running servers) are not data: rows of
  // instances presumed dead are dropped, but one seen within `live_within` of `now` means a
  // server is running on the destination, and the copy is refused.
  TimePoint now;
  Duration live_within = std::chrono::seconds(15);
  // Called when the source has an instance seen within `live_within`: a server still running
  // on it, whose later commits the copy's snapshot does not hold. The copy goes on (a copy
  // taken as a backup is fine); a move should stop the server first.
  std::function<void(const std::string& warning)> on_warning;
  // Called after each table is written (still inside the destination's transaction).
  std::function<void(const std::string& table, std::int64_t rows)> on_table;
};

struct CopySummary {
  std::int64_t tables = 0;
  std::int64_t rows = 0;
};

// Copies the database at `source` into the one at `destination` (locations as --db takes
// them: a file path, or a postgresql:// URI). The source is read in one snapshot; the
// destination is created (an SQLite file) or migrated, must hold no rows, and is written in one
// transaction, so a failure leaves it as it was (a file created here is removed again). Tables
// go in foreign-key order, rows in primary-key order, each value with its type; inbound bodies
// keep their bytes and whether they are compressed. PostgreSQL's identity sequences, and
// SQLite's AUTOINCREMENT counters, are set past the highest id the source ever gave, so the
// next insert takes a new id. Throws CopyError.
CopySummary copy_database(const std::string& source, const std::string& destination,
                          const CopyOptions& options);

// The tables copy_database copies, in the order it copies them (parents before children).
const std::vector<std::string>& copied_tables();

}  // namespace tocsin::storage
