#include "storage/postgres/connection.hpp"

#include <libpq-fe.h>

#include <utility>

#include "storage/postgres/redact.hpp"

namespace tocsin::storage::postgres {

namespace {

// libpq's messages end in a newline, put one per host on its own line and indent hints with a
// tab.
std::string one_line(std::string_view message) {
  std::string out;
  for (char c : message) {
    if (c == '\n') {
      if (!out.empty() && out.back() != ' ') out += "; ";
    } else if (c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';'))
    out.pop_back();
  return out;
}

// The passwords libpq itself reads from `conninfo`, beside those redacted() finds: covers any
// spelling the text scan misses. Returns false when libpq cannot parse the string, with its
// reason in `why`.
bool libpq_passwords(const std::string& conninfo, std::vector<std::string>& passwords,
                     std::string& why) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    why = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    return false;
  }
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    const std::string_view keyword = o->keyword;
    if ((keyword == "password" || keyword == "sslpassword") && o->val != nullptr && *o->val)
      passwords.emplace_back(o->val);
  }
  PQconninfoFree(options);
  return true;
}

// libpq prints the server's notices and warnings on stderr by default. They are not failures
// (a NOTICE from DROP ... CASCADE, a WARNING for ROLLBACK outside a transaction), and stderr is
// not the log: drop them.
void ignore_notice(void*, const char*) {}

std::string hex(std::string_view bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += k_digits[b >> 4];
    out += k_digits[b & 0xf];
  }
  return out;
}

}  // namespace

std::optional<std::string> conninfo_problem(std::string_view conninfo) {
  const std::string info(conninfo);
  std::vector<std::string> passwords = passwords_in(info);
  std::string why;
  if (libpq_passwords(info, passwords, why)) return std::nullopt;
  return Redactor(passwords).redact(redacted(one_line(why)));
}

Param Param::bytea(std::string_view bytes) {
  return Param(hex(bytes));
}

void Connection::Finish::operator()(pg_conn* connection) const {
  PQfinish(connection);
}

Connection::Connection(pg_conn* connection, std::string display, Redactor passwords)
    : m_connection(connection), m_display(std::move(display)), m_passwords(std::move(passwords)) {}

Connection Connection::open(std::string_view conninfo, std::chrono::seconds connect_timeout) {
  const std::string info(conninfo);
  std::vector<std::string> passwords = passwords_in(info);
  std::string why;
  const bool parsed = libpq_passwords(info, passwords, why);
  Redactor scrub(passwords);
  const std::string display = scrub.redact(redacted(info));
  if (!parsed)
    throw Error(ErrorClass::permanent, "",
                "invalid PostgreSQL connection string " + display + ": " +
                    scrub.redact(redacted(one_line(why))));

  // Keywords before dbname are defaults the connection string may override (libpq processes
  // them in order, and expand_dbname spreads the string over the ones it sets).
  // TCP keepalives and tcp_user_timeout bound how long a dead server or a cut network goes
  // unnoticed (docs/postgres.md "Noticing a dead server").
  const std::string timeout = std::to_string(connect_timeout.count());
  const std::string idle = std::to_string(k_keepalive_idle.count());
  const std::string interval = std::to_string(k_keepalive_interval.count());
  const std::string count = std::to_string(k_keepalive_count);
  const std::string user_timeout = std::to_string(k_tcp_user_timeout.count());
  const char* const keywords[] = {"connect_timeout",  "client_encoding",     "application_name",
                                  "keepalives",       "keepalives_idle",     "keepalives_interval",
                                  "keepalives_count", "tcp_user_timeout",    "dbname",
                                  nullptr};
  const char* const values[] = {timeout.c_str(), "UTF8",           "tocsin",
                                "1",             idle.c_str(),     interval.c_str(),
                                count.c_str(),   user_timeout.c_str(), info.c_str(),
                                nullptr};
  pg_conn* raw = PQconnectdbParams(keywords, values, 1);
  Connection connection(raw, display, scrub);
  if (raw == nullptr)
    throw Error(ErrorClass::unavailable, "",
                "cannot connect to PostgreSQL " + display + ": out of memory");
  if (PQstatus(raw) != CONNECTION_OK)
    throw Error(ErrorClass::unavailable, "",
                "cannot connect to PostgreSQL " + display + ": " +
                    connection.scrubbed(one_line(PQerrorMessage(raw))));
  PQsetNoticeProcessor(raw, ignore_notice, nullptr);
  return connection;
}

std::string Connection::scrubbed(std::string_view message) const {
  return m_passwords.redact(redacted(message));
}

Result Connection::exec(std::string_view sql, std::span<const Param> params) {
  const std::string statement(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params)
    values.push_back(p.c_str());
  pg_conn* conn = m_connection.get();
  return checked(PQexecParams(conn, statement.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0));
}

void Connection::prepare(const std::string& name, std::string_view sql) {
  const std::string text(sql);
  checked(PQprepare(m_connection.get(), name.c_str(), text.c_str(), 0, nullptr));
}

Result Connection::exec_prepared(const std::string& name, std::span<const Param> params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params)
    values.push_back(p.c_str());
  return checked(PQexecPrepared(m_connection.get(), name.c_str(), static_cast<int>(values.size()),
                                values.data(), nullptr, nullptr, 0));
}

Result Connection::exec_script(std::string_view script) {
  const std::string text(script);
  return checked(PQexec(m_connection.get(), text.c_str()));
}

Result Connection::checked(pg_result* raw) {
  pg_conn* conn = m_connection.get();
  Result result(raw);  // owns raw from here on, so every throw below frees it
  // A null result (out of memory, or no connection) reads as PGRES_FATAL_ERROR.
  const ExecStatusType status = PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY)
    return result;

  const char* state = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state != nullptr ? state : "";
  const char* primary = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = primary != nullptr ? primary : one_line(PQerrorMessage(conn));
  if (message.empty()) message = std::string("unexpected result ") + PQresStatus(status);
  // A lost connection is unavailable whatever the last SQLSTATE said (57P01 arrives just before
  // the server closes it).
  const ErrorClass error_class =
      PQstatus(conn) == CONNECTION_BAD ? ErrorClass::unavailable : classify_sqlstate(sqlstate);
  throw Error(error_class, sqlstate,
              "PostgreSQL: " + scrubbed(message) +
                  (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")"));
}

std::string Connection::host() const {
  return PQhost(m_connection.get());
}

std::string Connection::port() const {
  return PQport(m_connection.get());
}

bool Connection::broken() const {
  return PQstatus(m_connection.get()) != CONNECTION_OK;
}

Transaction::Transaction(Connection& connection, Isolation isolation) : m_connection(connection) {
  switch (isolation) {
    case Isolation::read_committed:
      m_connection.exec("BEGIN ISOLATION LEVEL READ COMMITTED");
      break;
    case Isolation::repeatable_read:
      m_connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
      break;
    case Isolation::serializable:
      m_connection.exec("BEGIN ISOLATION LEVEL SERIALIZABLE");
      break;
  }
}

Transaction::~Transaction() {
  if (m_done) return;
  try {
    m_connection.exec("ROLLBACK");
  } catch (const Error&) {
    // A lost connection has no transaction left to roll back.
  }
}

void Transaction::commit() {
  m_done = true;  // whatever COMMIT answers, the transaction is over
  m_connection.exec("COMMIT");
}

}  // namespace tocsin::storage::postgres
