#pragma once
// The rows of one statement, owned (PQclear on destruction). Values come in libpq's text format
// and are converted by the typed getters, which throw a permanent Error on a NULL or a value
// that is not of the asked type; the optional_ getters map NULL to nullopt.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct pg_result;  // libpq's PGresult: libpq-fe.h stays in the .cpp files

namespace tocsin::storage::postgres {

class Result {
 public:
  explicit Result(pg_result* result);

  int rows() const;
  int columns() const;
  // The index of the column named `name`; throws when there is none.
  int column(std::string_view name) const;
  // Rows changed by INSERT, UPDATE, DELETE (0 for other statements).
  std::int64_t affected_rows() const;
  // The command tag's verb: "INSERT", "SELECT", "BEGIN", ...
  std::string command() const;

  bool is_null(int row, int column) const;
  std::string text(int row, int column) const;
  std::int64_t int64(int row, int column) const;
  bool boolean(int row, int column) const;
  // Whether the column's type is bytea (any row).
  bool is_bytea(int column) const;
  // A bytea column's bytes (the server's hex text format, decoded).
  std::string bytea(int row, int column) const;

  std::optional<std::string> optional_text(int row, int column) const;
  std::optional<std::int64_t> optional_int64(int row, int column) const;

 private:
  struct Free {
    void operator()(pg_result* result) const;
  };
  // The raw text of a non-NULL value; throws on NULL or out of range.
  std::string_view raw(int row, int column) const;

  std::unique_ptr<pg_result, Free> m_result;
};

}  // namespace tocsin::storage::postgres
