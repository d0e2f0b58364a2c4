#include "storage/database.hpp"

#include <sqlite3.h>
#include <sys/statvfs.h>

#include <filesystem>

#include "storage/detail/rows.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/redact.hpp"

namespace tocsin::storage {

bool is_postgres_location(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

namespace {

// A libpq key=value connection string ("host=db user=u password=..."), which Tocsin does not
// take: read as a file path it would start SQLite on a file named after it, password included.
bool looks_like_conninfo(std::string_view location) {
  static constexpr std::string_view k_keywords[] = {
      "host",    "hostaddr", "port",           "dbname",        "user",
      "password", "passfile", "service",       "sslmode",       "options",
      "application_name", "connect_timeout", "target_session_attrs"};
  std::size_t start = 0;
  while (start < location.size() && location[start] == ' ') ++start;
  const std::string_view rest = location.substr(start);
  for (const std::string_view keyword : k_keywords) {
    if (!rest.starts_with(keyword)) continue;
    std::size_t i = keyword.size();
    while (i < rest.size() && rest[i] == ' ') ++i;
    if (i < rest.size() && rest[i] == '=') return true;
  }
  return location.find(" password=") != std::string_view::npos ||
         location.find(" password =") != std::string_view::npos;
}

// A URI whose authority (from :// to the next '/', '?' or the end) holds more than one '@': an
// unencoded '@' in the user name or password, which libpq splits at the wrong one, then names
// the rest of the password as the host in its error.
bool has_unencoded_at(std::string_view location) {
  const std::size_t scheme = location.find("://");
  if (scheme == std::string_view::npos) return false;
  const std::size_t begin = scheme + 3;
  const std::size_t end = location.find_first_of("/?", begin);
  const std::string_view authority = location.substr(begin, end == std::string_view::npos
                                                                 ? std::string_view::npos
                                                                 : end - begin);
  const std::size_t first = authority.find('@');
  return first != std::string_view::npos && authority.find('@', first + 1) != std::string_view::npos;
}

}  // namespace

std::string display_location(const std::string& location) {
  if (looks_like_conninfo(location)) return "(a key=value connection string, not shown)";
  if (is_postgres_location(location) && has_unencoded_at(location))
    return "(a postgresql:// URI with more than one '@', not shown)";
  return is_postgres_location(location) ? postgres::redacted(location) : location;
}

std::optional<std::string> location_problem(const std::string& location) {
  if (location.empty()) return "is empty";
  if (looks_like_conninfo(location)) {
    return "is a libpq key=value connection string, which Tocsin does not take (it would be read "
           "as an SQLite file path): give a postgresql:// URI instead, e.g. "
           "postgresql://USER:PASSWORD@HOST:5432/DBNAME";
  }
  if (!is_postgres_location(location)) return std::nullopt;
  if (has_unencoded_at(location)) {
    return "has more than one '@' before its host: percent-encode an '@' in the user name or "
           "password as %40";
  }
  if (auto why = postgres::conninfo_problem(location)) {
    return "is not a connection URI libpq can parse: " + *why;
  }
  return std::nullopt;
}

bool ReadError::transient() const {
  if (m_backend == sql::Backend::sqlite) return is_transient_sqlite_error(m_sqlite_code);
  switch (m_class) {
    case sql::ErrorClass::busy:
    case sql::ErrorClass::unavailable:
    case sql::ErrorClass::read_only:
    case sql::ErrorClass::io_error:
    case sql::ErrorClass::full:
      return true;
    case sql::ErrorClass::corrupt:
    case sql::ErrorClass::permanent:
      return false;
  }
  return false;
}

bool is_transient_sqlite_error(int code) {
  switch (code & 0xFF) {  // primary result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:  // e.g. the file was made read-only under us; an operator can fix it
      return true;
    default:
      return false;
  }
}

std::string_view to_string(DatabaseFault f) {
  switch (f) {
    case DatabaseFault::none:
      return "none";
    case DatabaseFault::busy:
      return "busy";
    case DatabaseFault::disk_full:
      return "disk_full";
    case DatabaseFault::read_only:
      return "read_only";
    case DatabaseFault::io_error:
      return "io_error";
    case DatabaseFault::corrupt:
      return "corrupt";
    case DatabaseFault::file_replaced:
      return "file_replaced";
    case DatabaseFault::unreachable:
      return "unreachable";
  }
  return "none";
}

DatabaseFault classify_sqlite_error(int code) {
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
      return DatabaseFault::busy;
    case SQLITE_FULL:
      return DatabaseFault::disk_full;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:  // the -wal or -shm cannot be opened: permissions, almost always
    case SQLITE_PERM:
      return DatabaseFault::read_only;
    case SQLITE_IOERR:
      return DatabaseFault::io_error;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DatabaseFault::corrupt;
    default:
      return DatabaseFault::none;
  }
}

bool is_permanent(DatabaseFault f) {
  return f == DatabaseFault::corrupt || f == DatabaseFault::file_replaced;
}

std::string describe(DatabaseFault f, const std::string& path) {
  switch (f) {
    case DatabaseFault::none:
      return "database " + path + " is healthy";
    case DatabaseFault::busy:
      return "database " + path + " is locked by another process; retrying";
    case DatabaseFault::disk_full:
      return "the disk holding database " + path +
             " is full; commits resume by themselves once space is freed";
    case DatabaseFault::read_only:
      return "database " + path + " (or its -wal or -shm file, or its folder) is not writable " +
             "by tocsin's user; fix the permissions";
    case DatabaseFault::io_error:
      return "I/O error on database " + path + "; check the disk (dmesg); retrying";
    case DatabaseFault::corrupt:
      return "database " + path + " is corrupt; this does not heal by itself: stop tocsin, " +
             "restore the file from a backup (check one with sqlite3 FILE 'PRAGMA " +
             "integrity_check') and restart";
    case DatabaseFault::file_replaced:
      return "database file " + path + " was removed or replaced while tocsin was running, " +
             "so nothing more can be committed to it: restore the file and restart tocsin";
    case DatabaseFault::unreachable:
      return "PostgreSQL " + path + " cannot be reached or closed the connection; " +
             "reconnecting by itself (at most once a second)";
  }
  return "database " + path;
}

std::optional<std::uint64_t> free_bytes(const std::string& path) {
  // Not `dir = "."` after the fact: GCC 12's -Wrestrict misreads that assignment once inlined.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

const char* const k_probe_sql = "UPDATE health_probe SET at = ?, probes = probes + 1 WHERE id = 1";

}  // namespace tocsin::storage
