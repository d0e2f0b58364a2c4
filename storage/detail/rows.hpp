#pragma once
// Reading rows of the statement layer's statements (storage/sql.hpp) into records, shared by
// the writer and the readers. Private to storage/.

#include <string>
#include <vector>

#include "core/time.hpp"
#include "storage/records.hpp"
#include "storage/sql.hpp"

namespace tocsin::storage {

// Column lists and readers for the SELECTs that build records; keep them in one place so
// every query reads rows the same way.
extern const char* const k_alert_columns;    // a.* in the order read_alert expects
extern const char* const k_episode_columns;  // e.* in the order read_episode expects
inline constexpr int k_alert_column_count = 17;
// The description may be a zstd frame (migration 12; storage/detail/body.hpp): read_alert gives
// it as received, which needs the backend the row came from.
AlertRecord read_alert(sql::Statement& q, int first_column, sql::Backend backend);
extern const char* const k_decision_columns;  // d.* in the order read_decision expects
DecisionRecord read_decision(sql::Statement& q, int first_column);

// Noise window (docs/behaviour.md "Noise"): the episodes that left it. `q` is k_leaving_sql, bound
// to an alert and the first episode number still counted; reading stops at the first episode opened
// at or after `cutoff`, so the cost is what left, plus one row.
extern const char* const k_leaving_sql;
std::vector<rules::EpisodeFacts> read_leaving(sql::Statement& q, TimePoint cutoff);
EpisodeRecord read_episode(sql::Statement& q, int first_column);

// An alert's members (migration 8): m.* in the order read_member expects. Since migration 12
// a member whose fingerprint is its alert's is stored as ''; k_member_fingerprint (the first of
// k_member_columns) reads the alert's then, and k_member_key is what a member is stored as: SQL
// of two parameters, the alert's id and the member's fingerprint.
extern const char* const k_member_fingerprint;
extern const char* const k_member_columns;
std::string member_key(int alert_id_parameter, int member_parameter);
rules::Member read_member(sql::Statement& q, int first_column);

// Outbox rows as stored (shared with the reader).
OutboxRecord read_outbox(sql::Statement& q);
const char* outbox_columns();

// channel_health rows as stored (shared with the reader): k_channel_health_select reads every
// row in the order read_channel_health expects.
extern const char* const k_channel_health_select;
ChannelHealth read_channel_health(sql::Statement& q);

// silences rows as stored (storage/silences.cpp, shared with the reader): k_silence_select
// reads every column in the order read_silence expects. A stored matcher this build cannot
// parse throws UnknownStoredValue.
extern const char* const k_silence_columns;  // the same columns, without SELECT and FROM
extern const char* const k_silence_select;
rules::Silence read_silence(sql::Statement& q);

// subscriptions rows as stored (shared with the reader): k_subscription_columns in the order
// read_subscription expects.
extern const char* const k_subscription_columns;
SubscriptionRecord read_subscription(sql::Statement& q, int first_column);

// The readiness probe's write (migration 5's health_probe), shared by storage::write_probe and
// Transaction::record_probe. Parameter: at (unix ms).
extern const char* const k_probe_sql;

}  // namespace tocsin::storage
