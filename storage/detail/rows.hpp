#pragma once
// Reading rows of SQLite's statements into records, shared by the writer and the readers.
// Private to storage/ (storage/detail/sqlite.hpp says why).

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>

#include <vector>

#include "core/time.hpp"
#include "storage/records.hpp"

namespace tocsin::storage {

// Column lists and readers for the SELECTs that build records; keep them in one place so
// every query reads rows the same way.
extern const char* const k_alert_columns;    // a.* in the order read_alert expects
extern const char* const k_episode_columns;  // e.* in the order read_episode expects
inline constexpr int k_alert_column_count = 17;
AlertRecord read_alert(SQLite::Statement& q, int first_column);
extern const char* const k_decision_columns;  // d.* in the order read_decision expects
DecisionRecord read_decision(SQLite::Statement& q, int first_column);

// Noise window (docs/behaviour.md "Noise"): the episodes that left it. `q` is k_leaving_sql, bound
// to an alert and the first episode number still counted; reading stops at the first episode opened
// at or after `cutoff`, so the cost is what left, plus one row.
extern const char* const k_leaving_sql;
std::vector<rules::EpisodeFacts> read_leaving(SQLite::Statement& q, TimePoint cutoff);
EpisodeRecord read_episode(SQLite::Statement& q, int first_column);

// An alert's members (migration 8): m.* in the order read_member expects.
extern const char* const k_member_columns;
rules::Member read_member(SQLite::Statement& q, int first_column);

// Outbox rows as stored (shared with the reader).
OutboxRecord read_outbox(SQLite::Statement& q);
const char* outbox_columns();

}  // namespace tocsin::storage
