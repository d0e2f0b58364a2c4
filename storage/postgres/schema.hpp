#pragma once
// The PostgreSQL schema and its migrations (docs/postgres.md "Schema and versions"): the same
// tables, columns, constraints and indexes as SQLite's (storage/sqlite/migrations.cpp), in
// PostgreSQL's dialect, versioned on their own: PostgreSQL's version 1 is SQLite's version 9.

#include "storage/sql.hpp"

namespace tocsin::storage::postgres {

class Connection;  // storage/postgres/connection.hpp

// The version this build migrates a database to.
int current_schema_version();

// Brings the database (the connection's search_path: its first schema) to
// current_schema_version(), each migration in a transaction of its own holding an advisory lock,
// so that instances starting together migrate once. Throws DatabaseError for a database newer
// than this build, sql::Error when a statement fails. Not inside a transaction of the caller's.
void migrate(sql::Connection& db);

// The database's version; 0 when it was never migrated (no tocsin_schema table).
int schema_version(sql::Connection& db);

// The bounds of the writer's session (docs/postgres.md "The writer"), set after migrate:
// - READ COMMITTED, whatever the server's default (one alert's events are serialised by its
//   row lock; a conflict is run again).
// - synchronous_commit: `off` is raised to `on` (logged once at info), since a 2xx is answered
//   only after a durable commit; `local`, `on`, `remote_write` and `remote_apply` are kept.
// - idle_in_transaction_session_timeout (k_idle_in_transaction_bound): the server ends the
//   session of an instance stopped inside a transaction, freeing the locks the others wait on.
// - lock_timeout (k_lock_wait_bound): a wait on another instance's lock ends with 55P03, which
//   the writer runs again as a conflict.
// A shorter bound already set (the location's options, the role's settings) is kept.
inline constexpr int k_idle_in_transaction_bound_ms = 5000;
inline constexpr int k_lock_wait_bound_ms = 5000;
void set_up_writer_session(Connection& connection);

}  // namespace tocsin::storage::postgres
