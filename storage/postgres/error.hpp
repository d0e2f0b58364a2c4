#pragma once
// What a caller does about a PostgreSQL failure depends on one of three classes, decided from
// the SQLSTATE (docs/postgres.md "Error classes").

#include <stdexcept>
#include <string>
#include <string_view>

namespace tocsin::storage::postgres {

enum class ErrorClass {
  // Another transaction got in the way (serialization failure, deadlock): run the whole
  // transaction again; nothing of it was committed.
  retryable,
  // The database cannot be reached or is going away (connection failures, shutdown, too many
  // connections, a primary demoted to read-only): answer 503 and reconnect. A COMMIT that fails
  // this way may or may not have committed.
  unavailable,
  // Everything else: a bug, a constraint, bad configuration. Retrying does not help.
  permanent,
};

std::string_view to_string(ErrorClass error_class);

// The class of a five-character SQLSTATE; an empty or unknown one is permanent.
ErrorClass classify_sqlstate(std::string_view sqlstate);

// Every failure of storage/postgres/. The message never holds a password (it went through
// redacted() and the connection's known passwords).
class Error : public std::runtime_error {
 public:
  Error(ErrorClass error_class, std::string sqlstate, const std::string& message);

  ErrorClass error_class() const { return m_class; }
  // Empty when the failure did not come from the server (connecting, a lost connection, a
  // value of the wrong type).
  const std::string& sqlstate() const { return m_sqlstate; }

 private:
  ErrorClass m_class;
  std::string m_sqlstate;
};

}  // namespace tocsin::storage::postgres
