#pragma once
// The few places where SQLite's SQL and PostgreSQL's differ, for the statements storage/ writes
// once for both backends (docs/postgres.md "Dialect differences"). Private to storage/. The rest
// is written in what both accept: `?` placeholders (the PostgreSQL backend numbers them),
// INSERT ... ON CONFLICT, RETURNING, IS NOT DISTINCT FROM, CASE for a truth value read as a number.

#include <string>

#include "storage/sql.hpp"

namespace tocsin::storage::dialect {

inline bool is_postgres(sql::Backend b) {
  return b == sql::Backend::postgres;
}

// The larger / smaller of two values: SQLite's max() and min() with two arguments are
// PostgreSQL's GREATEST and LEAST (its max() and min() are only aggregates).
inline std::string greatest(sql::Backend b, const std::string& x, const std::string& y) {
  return std::string(is_postgres(b) ? "GREATEST(" : "max(") + x + ", " + y + ")";
}
inline std::string least(sql::Backend b, const std::string& x, const std::string& y) {
  return std::string(is_postgres(b) ? "LEAST(" : "min(") + x + ", " + y + ")";
}

// The 1-based position of `needle` in `haystack`, 0 if absent: instr() / strpos().
inline std::string position(sql::Backend b, const std::string& haystack,
                            const std::string& needle) {
  return std::string(is_postgres(b) ? "strpos(" : "instr(") + haystack + ", " + needle + ")";
}

// A query giving one row per string of a JSON array (a parameter), in a column named `value`.
inline std::string json_strings(sql::Backend b, const std::string& json) {
  return is_postgres(b) ? "SELECT value FROM jsonb_array_elements_text(CAST(" + json + " AS jsonb))"
                        : "SELECT value FROM json_each(" + json + ")";
}

// After a text in ORDER BY: SQLite compares texts byte by byte, PostgreSQL by the database's
// collation unless told "C", which is bytes too.
inline std::string bytewise(sql::Backend b) {
  return is_postgres(b) ? " COLLATE \"C\"" : "";
}

// SQLite's `INDEXED BY index` after a table: the plan its planner would not pick without
// statistics. PostgreSQL has no such hint (it has statistics): nothing.
inline std::string indexed_by(sql::Backend b, const std::string& index) {
  return is_postgres(b) ? "" : " INDEXED BY " + index;
}

// Appended to a SELECT that claims rows for this transaction: PostgreSQL locks them and skips
// rows another instance's transaction holds; SQLite's single writer already serialises claims.
inline std::string skip_locked(sql::Backend b) {
  return is_postgres(b) ? " FOR UPDATE SKIP LOCKED" : "";
}

// Appended to a SELECT of the row(s) this transaction is about to change, so that two
// instances change them one after the other (PostgreSQL's row lock, held to the commit); SQLite's
// single writer already does.
inline std::string for_update(sql::Backend b) {
  return is_postgres(b) ? " FOR UPDATE" : "";
}

// Appended to a SELECT of rows this transaction's decision rests on and another's may change:
// PostgreSQL waits for a transaction changing them, then reads them again (or finds them gone);
// SQLite's single writer already serialises the two.
inline std::string for_share(sql::Backend b) {
  return is_postgres(b) ? " FOR SHARE" : "";
}

}  // namespace tocsin::storage::dialect
