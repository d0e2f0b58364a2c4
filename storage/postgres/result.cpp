#include "storage/postgres/result.hpp"

#include <libpq-fe.h>

#include <charconv>

#include "storage/postgres/error.hpp"

namespace tocsin::storage::postgres {

namespace {

[[noreturn]] void wrong_value(int row, int column, const std::string& what) {
  throw Error(ErrorClass::permanent, "",
              "PostgreSQL result row " + std::to_string(row) + " column " + std::to_string(column) +
                  ": " + what);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void Result::Free::operator()(pg_result* result) const {
  PQclear(result);
}

Result::Result(pg_result* result) : m_result(result) {}

int Result::rows() const {
  return PQntuples(m_result.get());
}

int Result::columns() const {
  return PQnfields(m_result.get());
}

int Result::column(std::string_view name) const {
  for (int c = 0; c < columns(); ++c)
    if (name == PQfname(m_result.get(), c)) return c;
  throw Error(ErrorClass::permanent, "",
              "PostgreSQL result has no column \"" + std::string(name) + "\"");
}

std::int64_t Result::affected_rows() const {
  const std::string_view count = PQcmdTuples(m_result.get());
  std::int64_t n = 0;
  std::from_chars(count.data(), count.data() + count.size(), n);
  return n;
}

std::string Result::command() const {
  const std::string_view tag = PQcmdStatus(m_result.get());
  return std::string(tag.substr(0, tag.find(' ')));
}

bool Result::is_null(int row, int column) const {
  if (row < 0 || row >= rows() || column < 0 || column >= columns())
    wrong_value(row, column,
                "out of range (" + std::to_string(rows()) + " rows, " + std::to_string(columns()) +
                    " columns)");
  return PQgetisnull(m_result.get(), row, column) != 0;
}

std::string_view Result::raw(int row, int column) const {
  if (is_null(row, column)) wrong_value(row, column, "NULL where a value was expected");
  return {PQgetvalue(m_result.get(), row, column),
          static_cast<std::size_t>(PQgetlength(m_result.get(), row, column))};
}

std::string Result::text(int row, int column) const {
  return std::string(raw(row, column));
}

std::int64_t Result::int64(int row, int column) const {
  const std::string_view value = raw(row, column);
  std::int64_t n = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (error != std::errc() || end != value.data() + value.size())
    wrong_value(row, column, "not a 64-bit integer");
  return n;
}

bool Result::boolean(int row, int column) const {
  const std::string_view value = raw(row, column);
  if (value == "t") return true;
  if (value == "f") return false;
  wrong_value(row, column, "not a boolean");
}

bool Result::is_bytea(int column) const {
  constexpr Oid k_bytea = 17;  // BYTEAOID in the server's catalog, stable since forever
  return PQftype(m_result.get(), column) == k_bytea;
}

std::string Result::bytea(int row, int column) const {
  // The hex format (bytea_output = hex, the default since PostgreSQL 9.0): "\x" then two
  // digits a byte.
  const std::string_view value = raw(row, column);
  if (!value.starts_with("\\x") || value.size() % 2 != 0)
    wrong_value(row, column, "not a bytea in hex format");
  std::string bytes;
  bytes.reserve(value.size() / 2 - 1);
  for (std::size_t i = 2; i < value.size(); i += 2) {
    const int high = hex_digit(value[i]);
    const int low = hex_digit(value[i + 1]);
    if (high < 0 || low < 0) wrong_value(row, column, "not a bytea in hex format");
    bytes += static_cast<char>(high * 16 + low);
  }
  return bytes;
}

std::optional<std::string> Result::optional_text(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return text(row, column);
}

std::optional<std::int64_t> Result::optional_int64(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return int64(row, column);
}

}  // namespace tocsin::storage::postgres
