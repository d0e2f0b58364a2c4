#include "storage/copy.hpp"

#include <SQLiteCpp/Exception.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <variant>

#include "storage/database.hpp"
#include "storage/detail/body.hpp"
#include "storage/detail/dialect.hpp"
#include "storage/migrations.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/redact.hpp"
#include "storage/postgres/schema.hpp"
#include "storage/postgres/sql_connection.hpp"
#include "storage/sqlite/connection.hpp"
#include "storage/sqlite/database.hpp"

namespace tocsin::storage {

namespace {

// Parents before the tables whose foreign keys name them; within a table, rows in key order, so
// an outbox row's `about` (an earlier row) is there before it.
const std::vector<std::string> k_tables = {
    "inbound",        "alerts",          "episodes",      "rules_versions",  "decisions",
    "subscriptions",  "heartbeat_pings", "timers",        "outbox",          "delivery_attempts",
    "digest_items",   "health_probe",    "alert_members", "digest_sequence", "instances",
    "channel_health", "silences",        "silence_hits"};

// Each table's primary key, for the order rows are read in; `id` unless named here. Text keys
// are compared as bytes on both backends.
const std::map<std::string, std::vector<std::string>> k_text_keys = {
    {"heartbeat_pings", {"name"}},
    {"digest_sequence", {"channel"}},
    {"instances", {"id"}},
    {"channel_health", {"channel"}},
};

// Rows per INSERT: fewer round trips than one a row, far under both backends' limits on
// parameters (SQLite 32766, PostgreSQL 65535) with the widest table's 27 columns.
constexpr std::size_t k_batch_rows = 500;

// As long as the server waits for a lock on an SQLite file.
constexpr int k_busy_timeout_ms = 5000;

enum class Kind { integer, real, text };

struct Column {
  std::string name;
  Kind kind = Kind::text;
  std::string type;  // as the catalog declares it, for errors
};

using Catalog = std::map<std::string, std::vector<Column>>;

Kind kind_of(std::string type) {
  std::transform(type.begin(), type.end(), type.begin(), ::toupper);
  if (type.find("INT") != std::string::npos) return Kind::integer;
  if (type.find("REAL") != std::string::npos || type.find("DOUBLE") != std::string::npos ||
      type.find("FLOAT") != std::string::npos)
    return Kind::real;
  return Kind::text;
}

std::string display(const std::string& location) {
  return display_location(location);
}

std::string quote_identifier(const std::string& identifier) {
  return "\"" + identifier + "\"";
}

std::int64_t single_int64(sql::Connection& db, const std::string& query) {
  const auto q = db.prepare(query);
  return q->step() ? q->get_int64(0) : 0;
}

// One end of the copy: the connection and what it stands on.
struct Database {
  std::string location;
  std::string shown;  // location without a password
  std::unique_ptr<Connection> sqlite_file;
  std::unique_ptr<postgres::Connection> postgres_connection;
  std::unique_ptr<sql::Connection> db;

  sql::Backend backend() const { return db->backend(); }

  int schema_version() {
    if (dialect::is_postgres(backend())) return postgres::schema_version(*db);
    return static_cast<int>(single_int64(*db, "PRAGMA user_version"));
  }
  int known_version() const {
    return dialect::is_postgres(backend()) ? postgres::current_schema_version()
                                           : current_schema_version();
  }

  Catalog catalog() {
    Catalog out;
    if (dialect::is_postgres(backend())) {
      const auto q = db->prepare(
          "SELECT table_name, column_name, data_type FROM information_schema.columns "
          "WHERE table_schema = current_schema() AND table_name <> 'tocsin_schema' "
          "ORDER BY table_name, ordinal_position");
      while (q->step())
        out[q->get_text(0)].push_back({q->get_text(1), kind_of(q->get_text(2)), q->get_text(2)});
      return out;
    }
    const auto tables = db->prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
    std::vector<std::string> names;
    while (tables->step())
      names.push_back(tables->get_text(0));
    for (const auto& table : names) {
      const auto q = db->prepare("SELECT name, type FROM pragma_table_info(?) ORDER BY cid");
      q->bind(1, table);
      while (q->step())
        out[table].push_back({q->get_text(0), kind_of(q->get_text(1)), q->get_text(1)});
    }
    return out;
  }
};

Database open_postgres(const std::string& location) {
  Database d;
  d.location = location;
  d.shown = display(location);
  d.postgres_connection =
      std::make_unique<postgres::Connection>(postgres::Connection::open(location));
  d.db = std::make_unique<postgres::SqlConnection>(*d.postgres_connection);
  return d;
}

// Where a PostgreSQL connection landed: two locations spelled differently (another host name,
// another option order) may still be one database.
std::string postgres_identity(sql::Connection& db) {
  const auto q = db.prepare(
      "SELECT COALESCE(host(inet_server_addr()), '') || ':' || "
      "COALESCE(CAST(inet_server_port() AS TEXT), '') || '/' || current_database() || '/' || "
      "COALESCE(current_schema(), '')");
  return q->step() ? q->get_text(0) : "";
}

Database open_source(const std::string& location) {
  if (is_postgres_location(location)) return open_postgres(location);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(location, ec)) {
    throw CopyError("no database at " + location + " (the source must exist)");
  }
  Database d;
  d.location = location;
  d.shown = location;
  d.sqlite_file = open_for_reading(location);
  d.db = std::make_unique<sqlite::Connection>(*d.sqlite_file);
  return d;
}

void check_source_version(Database& source) {
  int version = 0;
  try {
    version = source.schema_version();
    if (!dialect::is_postgres(source.backend())) {
      single_int64(*source.db, "SELECT count(*) FROM sqlite_master");  // reads the header
    }
  } catch (const std::exception& e) {
    // SQLite opens any file lazily: the first read finds it is not a database.
    throw CopyError(source.shown + " is not a Tocsin database (" + e.what() + ")");
  }
  if (version == 0) {
    throw CopyError(source.shown + " is not a Tocsin database (schema version 0)");
  }
  const int known = source.known_version();
  if (version < known) {
    throw CopyError("source " + source.shown + " has schema version " + std::to_string(version) +
                    ", older than this build's (" + std::to_string(known) +
                    "): migrate it first by running this version's `tocsin serve --db` on it " +
                    "once, or copy it with the version of tocsin that wrote it");
  }
  if (version > known) {
    throw CopyError("source " + source.shown + " has schema version " + std::to_string(version) +
                    ", newer than this build of tocsin knows (" + std::to_string(known) +
                    "): copy it with the version of tocsin that wrote it");
  }
}

// A value as read from the source, written to the destination with the same type.
using Value = std::variant<std::monostate, std::int64_t, double, std::string, StoredBody>;

Value read_value(sql::Statement& q, int column, const Column& c, bool is_body,
                 sql::Backend backend) {
  if (q.is_null(column)) return std::monostate{};
  if (is_body) return read_stored_body(q, column, backend);
  switch (c.kind) {
    case Kind::integer:
      return q.get_int64(column);
    case Kind::real:
      return q.get_double(column);
    case Kind::text:
      break;
  }
  return q.get_text(column);
}

void bind_value(sql::Statement& q, int index, const Value& v, sql::Backend backend) {
  if (std::holds_alternative<std::monostate>(v)) {
    q.bind_null(index);
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    q.bind_int64(index, *i);
  } else if (const auto* d = std::get_if<double>(&v)) {
    q.bind_double(index, *d);
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    q.bind_text(index, *s);
  } else {
    bind_stored_body(q, index, std::get<StoredBody>(v), backend);
  }
}

std::string insert_sql(const std::string& table, const std::vector<Column>& columns,
                       std::size_t rows) {
  std::string names;
  std::string row = "(";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    names += (i ? ", " : "") + quote_identifier(columns[i].name);
    row += i ? ", ?" : "?";
  }
  row += ")";
  std::string sql = "INSERT INTO " + quote_identifier(table) + " (" + names + ") VALUES ";
  for (std::size_t r = 0; r < rows; ++r)
    sql += (r ? ", " : "") + row;
  return sql;
}

std::string order_by(const std::string& table, sql::Backend backend) {
  const auto keys = k_text_keys.find(table);
  if (table == "alert_members") return "\"alert_id\", \"member\"" + dialect::bytewise(backend);
  if (table == "silence_hits") return "\"silence_id\", \"alert_id\", \"episode\"";
  if (keys == k_text_keys.end()) return "\"id\"";
  std::string out;
  for (const auto& key : keys->second)
    out += (out.empty() ? "" : ", ") + quote_identifier(key) + dialect::bytewise(backend);
  return out;
}

// The most recently seen instance of `database` seen within options.live_within, as
// "instance ID was seen N s ago"; nullopt when none is.
std::optional<std::string> live_instance(Database& database, const CopyOptions& options) {
  const auto q = database.db->prepare(
      "SELECT id, last_seen FROM instances WHERE last_seen >= ? ORDER BY last_seen DESC");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(options.now - options.live_within)));
  if (!q->step()) return std::nullopt;
  return "instance " + q->get_text(0) + " was seen " +
         std::to_string((to_unix_ms(options.now) - q->get_int64(1)) / 1000) + " s ago";
}

// Refuses a destination holding rows (naming the first table that does) or a running server.
void check_empty(Database& destination, const Catalog& catalog, const CopyOptions& options) {
  for (const auto& table : k_tables) {
    if (!catalog.contains(table) || table == "health_probe") continue;  // replaced by the copy
    if (table == "instances") {
      if (const auto live = live_instance(destination, options)) {
        throw CopyError("destination " + destination.shown + " has a running tocsin: " + *live +
                        "; stop every tocsin serve on it before copying");
      }
      continue;  // presumed dead: removed by the copy
    }
    const auto q = destination.db->prepare("SELECT 1 FROM " + quote_identifier(table) + " LIMIT 1");
    if (q->step()) {
      throw CopyError("destination " + destination.shown + " is not empty: table " + table +
                      " has rows. copy-db only writes into an empty database (a new SQLite " +
                      "file, or a PostgreSQL database or schema without Tocsin's rows)");
    }
  }
}

void check_catalogs(const Database& source, const Catalog& from, const Database& destination,
                    const Catalog& to) {
  for (const auto& [table, columns] : from) {
    if (std::find(k_tables.begin(), k_tables.end(), table) == k_tables.end()) {
      throw CopyError("table " + table + " of " + source.shown +
                      " is not one copy-db copies; this build of tocsin cannot copy it");
    }
  }
  for (const auto& table : k_tables) {
    const auto s = from.find(table);
    const auto d = to.find(table);
    if (s == from.end()) throw CopyError("source " + source.shown + " has no table " + table);
    if (d == to.end())
      throw CopyError("destination " + destination.shown + " has no table " + table);
    const auto& a = s->second;
    const auto& b = d->second;
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      if (i >= b.size()) {
        throw CopyError("table " + table + ": column " + a[i].name + " of the source is missing " +
                        "in the destination " + destination.shown);
      }
      if (i >= a.size()) {
        throw CopyError("table " + table + ": column " + b[i].name + " of the destination is " +
                        "missing in the source " + source.shown);
      }
      if (a[i].name != b[i].name || a[i].kind != b[i].kind) {
        throw CopyError("table " + table + ": column " + a[i].name + " (" + a[i].type +
                        ") of the source does not match column " + b[i].name + " (" + b[i].type +
                        ") of the destination");
      }
    }
  }
}

std::int64_t copy_table(Database& source, Database& destination, const std::string& table,
                        const std::vector<Column>& columns) {
  std::string names;
  int body = -1;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    names += (i ? ", " : "") + quote_identifier(columns[i].name);
    // Columns that may hold a zstd frame (storage/detail/body.hpp), in each backend's form.
    if ((table == "inbound" && columns[i].name == "body") ||
        (table == "alerts" && columns[i].name == "description"))
      body = static_cast<int>(i);
  }
  const auto read = source.db->prepare("SELECT " + names + " FROM " + quote_identifier(table) +
                                       " ORDER BY " + order_by(table, source.backend()));
  const std::string full_batch = insert_sql(table, columns, k_batch_rows);
  std::vector<Value> batch;
  batch.reserve(k_batch_rows * columns.size());
  std::int64_t rows = 0;
  auto flush = [&] {
    const std::size_t n = batch.size() / columns.size();
    if (n == 0) return;
    auto write = [&](sql::Statement& q) {
      for (std::size_t i = 0; i < batch.size(); ++i)
        bind_value(q, static_cast<int>(i + 1), batch[i], destination.backend());
      q.exec();
    };
    if (n == k_batch_rows) {
      sql::CachedStatement q(*destination.db, full_batch);
      write(*q);
    } else {
      write(*destination.db->prepare(insert_sql(table, columns, n)));
    }
    batch.clear();
  };
  while (read->step()) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      batch.push_back(read_value(*read, static_cast<int>(i), columns[i],
                                 static_cast<int>(i) == body, source.backend()));
    }
    ++rows;
    if (batch.size() == k_batch_rows * columns.size()) flush();
  }
  flush();
  return rows;
}

// PostgreSQL's identity sequences past every id the source gave (the copied ones, and on a
// PostgreSQL source any its sequence gave to rows since deleted), so the next insert does not
// collide. SQLite's tables take max(id) + 1 by themselves.
void set_sequences(Database& source, Database& destination) {
  if (!dialect::is_postgres(destination.backend())) return;
  std::vector<std::string> tables;
  {
    const auto q = destination.db->prepare(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_name = 'id' AND is_identity = 'YES' ORDER BY table_name");
    while (q->step())
      tables.push_back(q->get_text(0));
  }
  for (const auto& table : tables) {
    std::int64_t high = single_int64(*destination.db,
                                     "SELECT COALESCE(MAX(id), 0) FROM " + quote_identifier(table));
    if (dialect::is_postgres(source.backend())) {
      const auto q = source.db->prepare(
          "SELECT COALESCE(pg_sequence_last_value(CAST(pg_get_serial_sequence(?, 'id') AS "
          "regclass)), 0)");
      q->bind(1, quote_identifier(table));
      if (q->step()) high = std::max(high, q->get_int64(0));
    }
    if (high == 0) continue;  // a fresh sequence starts at 1
    const auto q = destination.db->prepare("SELECT setval(pg_get_serial_sequence(?, 'id'), ?)");
    q->bind(1, quote_identifier(table));
    q->bind(2, high);
    q->step();
  }
}

void rollback_quietly(sql::Connection& db) {
  try {
    db.rollback();
  } catch (const std::exception&) {
    // The connection is gone, and its transaction with it.
  }
}

void remove_created_file(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(path + suffix, ec);
}

CopySummary copy(const std::string& source_location, const std::string& destination_location,
                 const CopyOptions& options, bool& created) {
  const std::string shown_source = display(source_location);
  const std::string shown_destination = display(destination_location);
  if (source_location == destination_location) {
    throw CopyError("source and destination are the same database (" + shown_source + ")");
  }
  const bool sqlite_destination = !is_postgres_location(destination_location);
  if (sqlite_destination && !is_postgres_location(source_location)) {
    std::error_code ec;
    if (std::filesystem::equivalent(source_location, destination_location, ec)) {
      throw CopyError("source and destination are the same database (" + shown_source + ")");
    }
  }
  Database source = open_source(source_location);
  check_source_version(source);
  if (options.on_warning) {
    if (const auto live = live_instance(source, options)) {
      options.on_warning("source " + shown_source + " has a running tocsin (" + *live +
                         "): what it commits after this copy's snapshot is not copied; stop it " +
                         "first when moving the installation");
    }
  }

  Database destination;
  if (sqlite_destination) {
    std::error_code ec;
    created = !std::filesystem::exists(destination_location, ec);
    destination.location = destination_location;
    destination.shown = shown_destination;
    if (created) {
      destination.sqlite_file = open_for_writing(destination_location, Durability::full);
    } else {
      // Not open_for_writing: its probe write would change a destination about to be refused.
      destination.sqlite_file = std::make_unique<Connection>(
          destination_location, SQLite::OPEN_READWRITE | SQLite::OPEN_FULLMUTEX, k_busy_timeout_ms);
      destination.sqlite_file->exec("PRAGMA foreign_keys = ON");
      migrate(*destination.sqlite_file);
    }
    destination.db = std::make_unique<sqlite::Connection>(*destination.sqlite_file);
  } else {
    destination = open_postgres(destination_location);
    if (dialect::is_postgres(source.backend()) &&
        postgres_identity(*source.db) == postgres_identity(*destination.db)) {
      throw CopyError("source and destination are the same database (" + shown_source + ")");
    }
    postgres::migrate(*destination.db);
  }

  const Catalog from = source.catalog();
  const Catalog to = destination.catalog();
  check_catalogs(source, from, destination, to);

  source.db->begin_read();
  destination.db->begin();
  try {
    check_empty(destination, to, options);
    destination.db->exec("DELETE FROM health_probe");
    destination.db->exec("DELETE FROM instances");
    CopySummary summary;
    for (const auto& table : k_tables) {
      const std::int64_t rows = copy_table(source, destination, table, from.at(table));
      ++summary.tables;
      summary.rows += rows;
      if (options.on_table) options.on_table(table, rows);
    }
    set_sequences(source, destination);
    destination.db->commit();
    source.db->commit();
    return summary;
  } catch (...) {
    rollback_quietly(*destination.db);
    rollback_quietly(*source.db);
    throw;
  }
}

}  // namespace

const std::vector<std::string>& copied_tables() {
  return k_tables;
}

CopySummary copy_database(const std::string& source, const std::string& destination,
                          const CopyOptions& options) {
  bool created = false;
  try {
    return copy(source, destination, options, created);
  } catch (const std::exception& e) {
    // Every connection is closed by now: a file this copy created goes again.
    if (created) remove_created_file(destination);
    const std::string what = postgres::redacted(e.what());
    if (dynamic_cast<const CopyError*>(&e) != nullptr) throw CopyError(what);
    throw CopyError("copy from " + display(source) + " to " + display(destination) +
                    " failed, nothing was written: " + what);
  }
}

}  // namespace tocsin::storage
