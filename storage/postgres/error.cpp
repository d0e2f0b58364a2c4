#include "storage/postgres/error.hpp"

#include <utility>

namespace tocsin::storage::postgres {

std::string_view to_string(ErrorClass error_class) {
  switch (error_class) {
    case ErrorClass::retryable:
      return "retryable";
    case ErrorClass::unavailable:
      return "unavailable";
    case ErrorClass::permanent:
      return "permanent";
  }
  return "permanent";
}

ErrorClass classify_sqlstate(std::string_view sqlstate) {
  if (sqlstate == "40001" || sqlstate == "40P01") return ErrorClass::retryable;
  // Class 08: connection exceptions. 57P01 admin_shutdown, 57P02 crash_shutdown,
  // 57P03 cannot_connect_now (starting up, or shutting down). 53300 too_many_connections.
  // 25006 read_only_sql_transaction: with target_session_attrs=read-write we only ever connect
  // to a primary, so this means the server was demoted under us; reconnecting finds the new one.
  if (sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03" || sqlstate == "53300" || sqlstate == "25006")
    return ErrorClass::unavailable;
  return ErrorClass::permanent;
}

Error::Error(ErrorClass error_class, std::string sqlstate, const std::string& message)
    : std::runtime_error(message), m_class(error_class), m_sqlstate(std::move(sqlstate)) {}

}  // namespace tocsin::storage::postgres
