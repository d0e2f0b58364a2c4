#pragma once
// Why an outbound request got no answer, in words a person can act on
// (docs/behaviour.md "Delivery"): "connection refused", "timed out after 10s", "TLS: certificate
// verify failed (...)". cpp-httplib says which step failed; the resolver, the socket and OpenSSL
// say why.

#include <httplib.h>

#include <string>

#include "core/time.hpp"

namespace tocsin::http {

// What is known of a request that failed, for failure_cause.
struct FailedRequest {
  std::string host;  // as in the URL ("127.0.0.1", "api.opsgenie.com", "::1")
  int port = 0;
  Duration timeout{0};              // the channel's delivery.timeout
  Duration elapsed{0};              // from the start of the request to the failure
  long verify_result = 0;           // X509_V_OK unless the server's certificate was refused
  unsigned long openssl_error = 0;  // the first OpenSSL error of the request; 0: none
};

// The cause, without the URL (the caller appends it). Error::Connection is diagnosed by
// connecting again (bounded by the timeout): cpp-httplib 0.11 keeps neither errno nor the
// resolver's answer, and "refused" (nothing listens), "unreachable" (a route or firewall) and
// "name resolution failed" (DNS) call for different fixes.
std::string failure_cause(httplib::Error error, const FailedRequest& request);

// What connecting to host:port now runs into: "name resolution failed (...)", "connection
// refused", "host unreachable", "network unreachable", "connect timed out after 2s", or
// "cannot connect (<strerror>)"; "cannot connect" when it now succeeds.
std::string connect_failure(const std::string& host, int port, Duration timeout);

}  // namespace tocsin::http
