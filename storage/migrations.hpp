#pragma once

namespace tocsin::storage {

// The schema version this build writes (PRAGMA user_version).
int current_schema_version();

}  // namespace tocsin::storage
