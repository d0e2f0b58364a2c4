#pragma once

#include <SQLiteCpp/Database.h>

namespace tocsin::storage {

// The schema version this build writes (PRAGMA user_version).
int current_schema_version();

// Brings the database to current_schema_version(), one migration per transaction, so a crash
// mid-way leaves a consistent earlier version. Throws DatabaseError for a database newer than
// this build (a downgrade would silently misread it).
// `target` stops at an earlier version (tests of a migration over data of the version before).
void migrate(SQLite::Database& db, int target = -1);

}  // namespace tocsin::storage
