#include "storage/postgres/sql_connection.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <string_view>

namespace tocsin::storage::postgres {

namespace {

// The wrapper's three classes, refined by SQLSTATE where the layer has a finer one.
sql::ErrorClass layer_class(const Error& e) {
  const std::string& state = e.sqlstate();
  if (state == "53100") return sql::ErrorClass::full;  // disk_full
  if (state == "XX001" || state == "XX002")
    return sql::ErrorClass::corrupt;  // data/index corrupted
  if (state == "58030") return sql::ErrorClass::io_error;
  switch (e.error_class()) {
    case ErrorClass::retryable:
      return sql::ErrorClass::busy;
    case ErrorClass::unavailable:
      return sql::ErrorClass::unavailable;
    case ErrorClass::permanent:
      return sql::ErrorClass::permanent;
  }
  return sql::ErrorClass::permanent;
}

template <class F>
auto translated(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw to_error(e);
  }
}

// Server-side statement names, unique in the process: two SqlConnections over one libpq
// connection (a Reader's and a Writer's, say) must not both prepare "tocsin_1" on it.
std::atomic<std::uint64_t> g_statement_names{0};

[[noreturn]] void misuse(const std::string& what) {
  throw sql::Error(sql::Backend::postgres, sql::ErrorClass::permanent, 0, "", what);
}

}  // namespace

std::string postgres_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int largest = 0;
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {  // a string or a quoted identifier; a doubled quote stays inside
      const std::size_t end = sql.find(c, i + 1);
      const std::size_t stop = end == std::string_view::npos ? sql.size() : end + 1;
      out.append(sql.substr(i, stop - i));
      i = stop;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const std::size_t end = sql.find('\n', i);
      const std::size_t stop = end == std::string_view::npos ? sql.size() : end;
      out.append(sql.substr(i, stop - i));
      i = stop;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const std::size_t end = sql.find("*/", i + 2);
      const std::size_t stop = end == std::string_view::npos ? sql.size() : end + 2;
      out.append(sql.substr(i, stop - i));
      i = stop;
    } else if (c == '?') {
      std::size_t j = i + 1;
      while (j < sql.size() && digit(sql[j]))
        ++j;
      int number = 0;
      if (j > i + 1) {
        std::from_chars(sql.data() + i + 1, sql.data() + j, number);
      } else {
        number = largest + 1;
      }
      largest = std::max(largest, number);
      out += '$';
      out += std::to_string(number);
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

sql::Error to_error(const Error& e) {
  return sql::Error(sql::Backend::postgres, layer_class(e), 0, e.sqlstate(), e.what());
}

void SqlStatement::set(int index, Param value) {
  if (index < 1) misuse("parameter index " + std::to_string(index) + " (they start at 1)");
  const auto i = static_cast<std::size_t>(index);
  if (m_params.size() < i) m_params.resize(i, Param(nullptr));
  m_params[i - 1] = std::move(value);
}

void SqlStatement::bind_null(int index) {
  set(index, Param(nullptr));
}
void SqlStatement::bind_int(int index, int value) {
  set(index, Param(value));
}
void SqlStatement::bind_int64(int index, std::int64_t value) {
  set(index, Param(value));
}
void SqlStatement::bind_double(int index, double value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;  // shortest round trip
  set(index, Param(std::string(text, end)));
}
void SqlStatement::bind_text(int index, const std::string& value) {
  set(index, Param(value));
}
void SqlStatement::bind_blob(int index, const void* data, std::size_t size) {
  set(index, Param::bytea(std::string_view(static_cast<const char*>(data), size)));
}

Result SqlStatement::run() {
  if (m_name.empty()) return m_connection.run(m_sql, m_params);
  if (!m_prepared) {
    translated([&] { m_connection.m_connection.prepare(m_name, m_sql); });
    m_prepared = true;
  }
  return m_connection.run_prepared(m_name, m_params);
}

bool SqlStatement::step() {
  if (!m_result) {
    m_result.emplace(run());
    m_row = -1;
  }
  if (m_row < m_result->rows()) ++m_row;
  return m_row < m_result->rows();
}

int SqlStatement::exec() {
  if (m_result) misuse("exec() on a statement already stepped; reset it first");
  const Result result = run();
  if (result.rows() > 0) misuse("exec() does not expect rows; use step()");
  return static_cast<int>(result.affected_rows());
}

const Result& SqlStatement::row() const {
  if (!m_result || m_row < 0 || m_row >= m_result->rows()) misuse("no row to read a column from");
  return *m_result;
}

bool SqlStatement::is_null(int column) {
  return translated([&] { return row().is_null(m_row, column); });
}
bool SqlStatement::is_blob(int column) {
  return translated([&] { return row().is_bytea(column) && !row().is_null(m_row, column); });
}
int SqlStatement::get_int(int column) {
  return static_cast<int>(get_int64(column));
}
std::int64_t SqlStatement::get_int64(int column) {
  return translated([&] {
    const Result& r = row();
    return r.is_null(m_row, column) ? 0 : r.int64(m_row, column);
  });
}
double SqlStatement::get_double(int column) {
  const std::string text = get_text(column);
  return text.empty() ? 0.0 : std::strtod(text.c_str(), nullptr);
}
std::string SqlStatement::get_text(int column) {
  return translated([&] {
    const Result& r = row();
    return r.is_null(m_row, column) ? std::string() : r.text(m_row, column);
  });
}
std::string SqlStatement::get_blob(int column) {
  return translated([&] {
    const Result& r = row();
    return r.is_null(m_row, column) ? std::string() : r.bytea(m_row, column);
  });
}
void SqlStatement::reset() {
  m_result.reset();
  m_row = -1;
}
void SqlStatement::clear_bindings() {
  for (auto& p : m_params)
    p = Param(nullptr);
}

Result SqlConnection::run(const std::string& sql, std::span<const Param> params) {
  return counted(translated([&] { return m_connection.exec(sql, params); }));
}

Result SqlConnection::run_prepared(const std::string& name, std::span<const Param> params) {
  return counted(translated([&] { return m_connection.exec_prepared(name, params); }));
}

Result SqlConnection::counted(Result result) {
  const std::string verb = result.command();
  if (verb == "INSERT" || verb == "UPDATE" || verb == "DELETE" || verb == "MERGE")
    m_changes += result.affected_rows();  // PQcmdTuples counts a SELECT's rows too
  return result;
}

std::unique_ptr<sql::Statement> SqlConnection::prepare(const std::string& sql) {
  return std::make_unique<SqlStatement>(*this, sql);
}

sql::Statement& SqlConnection::cached(const std::string& sql) {
  auto it = m_statements.find(sql);
  if (it == m_statements.end())
    it = m_statements
             .emplace(sql, std::make_unique<SqlStatement>(
                               *this, sql, "tocsin_" + std::to_string(++g_statement_names)))
             .first;
  return *it->second;
}

void SqlConnection::exec(const std::string& script) {
  counted(translated([&] { return m_connection.exec_script(script); }));
}

std::int64_t SqlConnection::last_insert_id() {
  const Result r = run("SELECT lastval()", {});
  return translated([&] { return r.int64(0, 0); });
}

void SqlConnection::begin() {
  exec("BEGIN");
}
void SqlConnection::begin_read() {
  exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}
void SqlConnection::commit() {
  exec("COMMIT");
}
void SqlConnection::rollback() {
  exec("ROLLBACK");
}
void SqlConnection::savepoint(const std::string& name) {
  exec("SAVEPOINT " + name);
}
void SqlConnection::release(const std::string& name) {
  exec("RELEASE SAVEPOINT " + name);
}
void SqlConnection::rollback_to(const std::string& name) {
  exec("ROLLBACK TO SAVEPOINT " + name);
}

}  // namespace tocsin::storage::postgres
