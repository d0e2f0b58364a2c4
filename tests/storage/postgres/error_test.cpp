// A failure's class says what the caller does: retry the transaction, answer 503, or give up
// (docs/postgres.md "Error classes").

#include "storage/postgres/error.hpp"

#include <doctest/doctest.h>

namespace storage_postgres_error_test {

using namespace tocsin::storage::postgres;

TEST_CASE("postgres: SQLSTATEs are classified retryable, unavailable or permanent") {
  struct Case {
    const char* sqlstate;
    ErrorClass expected;
    const char* intent;
  };
  const Case cases[] = {
      {"40001", ErrorClass::retryable, "serialization_failure: run the transaction again"},
      {"40P01", ErrorClass::retryable, "deadlock_detected: run the transaction again"},
      {"08006", ErrorClass::unavailable, "connection_failure"},
      {"08001", ErrorClass::unavailable, "sqlclient_unable_to_establish_sqlconnection"},
      {"08P01", ErrorClass::unavailable, "protocol_violation: the whole class 08 is the link"},
      {"57P01", ErrorClass::unavailable, "admin_shutdown"},
      {"57P02", ErrorClass::unavailable, "crash_shutdown"},
      {"57P03", ErrorClass::unavailable, "cannot_connect_now: starting or stopping"},
      {"53300", ErrorClass::unavailable, "too_many_connections"},
      {"25006", ErrorClass::unavailable, "read_only_sql_transaction: the primary was demoted"},
      {"23505", ErrorClass::permanent, "unique_violation: a bug or a duplicate, not a retry"},
      {"42P01", ErrorClass::permanent, "undefined_table"},
      {"40002", ErrorClass::permanent, "integrity_constraint_violation at commit is not a race"},
      {"57014", ErrorClass::permanent, "query_canceled"},
      {"", ErrorClass::permanent, "no SQLSTATE at all"},
  };
  for (const Case& c : cases) {
    const std::string intent = c.intent;
    CAPTURE(intent);
    CHECK(classify_sqlstate(c.sqlstate) == c.expected);
  }
}

}  // namespace storage_postgres_error_test
