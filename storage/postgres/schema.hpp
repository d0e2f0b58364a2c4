#pragma once
// The PostgreSQL schema and its migrations (docs/postgres.md "Schema and versions"): the same
// tables, columns, constraints and indexes as SQLite's (storage/sqlite/migrations.cpp), in
// PostgreSQL's dialect, versioned on their own: PostgreSQL's version 1 is SQLite's version 9.

#include "storage/sql.hpp"

namespace tocsin::storage::postgres {

// The version this build migrates a database to.
int current_schema_version();

// Brings the database (the connection's search_path: its first schema) to
// current_schema_version(), each migration in a transaction of its own holding an advisory lock,
// so that instances starting together migrate once. Throws DatabaseError for a database newer
// than this build, sql::Error when a statement fails. Not inside a transaction of the caller's.
void migrate(sql::Connection& db);

// The database's version; 0 when it was never migrated (no tocsin_schema table).
int schema_version(sql::Connection& db);

}  // namespace tocsin::storage::postgres
