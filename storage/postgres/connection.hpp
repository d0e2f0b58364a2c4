#pragma once
// One libpq connection to PostgreSQL, owned (PQfinish on destruction), with parameterised
// statements and transactions. Not thread-safe: one thread uses a Connection at a time.
// Every failure is an Error of one of three classes (storage/postgres/error.hpp) whose message
// holds no password (docs/postgres.md "Error classes").

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/redact.hpp"
#include "storage/postgres/error.hpp"
#include "storage/postgres/result.hpp"

struct pg_conn;  // libpq's PGconn: libpq-fe.h stays in the .cpp files

namespace tocsin::storage::postgres {

// One statement parameter, sent in libpq's text format (the server parses it for the
// parameter's type).
class Param {
 public:
  Param(std::nullptr_t) {}                                      // NOLINT: NULL
  Param(std::nullopt_t) {}                                      // NOLINT: NULL
  Param(std::string_view text) : m_text(text) {}                // NOLINT
  Param(const std::string& text) : m_text(text) {}              // NOLINT
  Param(const char* text) : m_text(text) {}                     // NOLINT
  Param(int value) : m_text(std::to_string(value)) {}           // NOLINT
  Param(std::int64_t value) : m_text(std::to_string(value)) {}  // NOLINT
  template <typename T>
  Param(const std::optional<T>& value) : Param(value ? Param(*value) : Param(nullptr)) {}  // NOLINT

  // Raw bytes for a bytea parameter (sent in the hex format).
  static Param bytea(std::string_view bytes);

  // nullptr for NULL.
  const char* c_str() const { return m_text ? m_text->c_str() : nullptr; }

 private:
  std::optional<std::string> m_text;
};

// Bounds each connection attempt, per host, unless the connection string sets connect_timeout.
inline constexpr std::chrono::seconds k_default_connect_timeout{5};
// Defaults the connection string may override: an idle connection whose server or network died
// is found broken after k_keepalive_idle + k_keepalive_count x k_keepalive_interval (9 s), and
// data the server does not acknowledge within k_tcp_user_timeout (10 s) breaks it too.
inline constexpr std::chrono::seconds k_keepalive_idle{5};
inline constexpr std::chrono::seconds k_keepalive_interval{2};
inline constexpr int k_keepalive_count = 2;
inline constexpr std::chrono::milliseconds k_tcp_user_timeout{10000};

class Connection {
 public:
  // Connects with a libpq connection string: a postgresql:// URI or key=value pairs, including
  // several hosts and target_session_attrs=read-write. A malformed string throws a permanent
  // Error; a server that cannot be reached, refuses the login or is not read-write when asked
  // for, an unavailable one.
  static Connection open(std::string_view conninfo,
                         std::chrono::seconds connect_timeout = k_default_connect_timeout);

  Result exec(std::string_view sql, std::span<const Param> params);
  Result exec(std::string_view sql, std::initializer_list<Param> params = {}) {
    return exec(sql, std::span<const Param>(params.begin(), params.size()));
  }

  // A statement prepared on the server under `name` (parsed and planned once per connection;
  // its parameters' types inferred as exec's are), then run by name with its parameters. The
  // preparation lasts as long as the connection, whatever transaction it was made in.
  void prepare(const std::string& name, std::string_view sql);
  Result exec_prepared(const std::string& name, std::span<const Param> params);

  // Runs a script of one or more statements without parameters (libpq's simple query protocol,
  // which exec's extended protocol is not: it takes one statement). Inside no transaction, the
  // server runs the whole script as one. The Result is the last statement's.
  Result exec_script(std::string_view script);

  // The host and port this connection reached (one of several given).
  std::string host() const;
  std::string port() const;
  // The connection string without its passwords, for logs.
  const std::string& display() const { return m_display; }
  // True once the connection is lost: every statement fails as unavailable; open a new one.
  bool broken() const;

  // `message` without the passwords of this connection's string, in any spelling.
  std::string scrubbed(std::string_view message) const;

 private:
  struct Finish {
    void operator()(pg_conn* connection) const;
  };
  Connection(pg_conn* connection, std::string display, Redactor passwords);
  // `raw` as a Result when it succeeded, else its failure thrown as an Error.
  Result checked(pg_result* raw);

  std::unique_ptr<pg_conn, Finish> m_connection;
  std::string m_display;
  Redactor m_passwords;
};

// Why libpq cannot parse `conninfo` (its reason, without the string's passwords); nullopt
// when it can. Connects to nothing.
std::optional<std::string> conninfo_problem(std::string_view conninfo);

enum class Isolation { read_committed, repeatable_read, serializable };

// BEGIN on construction; ROLLBACK on destruction unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Connection& connection, Isolation isolation = Isolation::read_committed);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Result exec(std::string_view sql, std::span<const Param> params) {
    return m_connection.exec(sql, params);
  }
  Result exec(std::string_view sql, std::initializer_list<Param> params = {}) {
    return m_connection.exec(sql, params);
  }
  // Throws like exec; a retryable failure here (SERIALIZABLE) means nothing was committed.
  void commit();

 private:
  Connection& m_connection;
  bool m_done = false;
};

inline constexpr int k_default_transaction_attempts = 5;

// Runs work(Transaction&) in a transaction and commits it, running the whole of it again (at
// most `attempts` times in all) when it fails as retryable; other failures, and the last
// retryable one, are thrown. `work` must therefore be safe to run more than once. Returns what
// work returns.
template <typename Work>
auto run_in_transaction(Connection& connection, Isolation isolation, Work&& work,
                        int attempts = k_default_transaction_attempts) {
  for (int attempt = 1;; ++attempt) {
    try {
      Transaction transaction(connection, isolation);
      if constexpr (std::is_void_v<decltype(work(transaction))>) {
        work(transaction);
        transaction.commit();
        return;
      } else {
        auto result = work(transaction);
        transaction.commit();
        return result;
      }
    } catch (const Error& error) {
      if (error.error_class() != ErrorClass::retryable || attempt >= attempts) throw;
    }
  }
}

}  // namespace tocsin::storage::postgres
