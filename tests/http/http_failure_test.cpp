// Why a request got no answer, in words: each cpp-httplib error has a cause a person can act on.
#include "http/http_failure.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <unistd.h>

namespace http_http_failure_test {

using namespace tocsin;
using namespace tocsin::http;
using namespace std::chrono_literals;

TEST_CASE("failure_cause: each cpp-httplib error as a cause") {
  FailedRequest r;
  r.host = "127.0.0.1";
  r.port = 9;
  r.timeout = 10s;
  struct Case {
    const char* intent;
    httplib::Error error;
    Duration elapsed;
    long verify_result;
    const char* cause;
  };
  const Case cases[] = {
      {"no answer within the timeout", httplib::Error::Read, 10s, 0, "timed out after 10s"},
      {"the peer hung up before answering", httplib::Error::Read, 200ms, 0,
       "connection closed before an answer"},
      {"sending stalled until the timeout", httplib::Error::Write, 10s, 0,
       "timed out after 10s while sending"},
      {"the peer hung up while we sent", httplib::Error::Write, 5ms, 0,
       "connection closed while sending"},
      {"connecting took the whole timeout", httplib::Error::ConnectionTimeout, 10s, 0,
       "connect timed out after 10s"},
      {"an untrusted certificate says why", httplib::Error::SSLServerVerification, 5ms,
       X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
       "TLS: certificate verify failed (unable to get local issuer certificate)"},
      {"a trusted certificate for another name", httplib::Error::SSLServerVerification, 5ms,
       X509_V_OK, "TLS: certificate does not match the host name"},
      {"a handshake that failed without an OpenSSL reason", httplib::Error::SSLConnection, 5ms, 0,
       "TLS: handshake failed"},
      {"CA bundle missing", httplib::Error::SSLLoadingCerts, 0ms, 0,
       "TLS: cannot load the system CA certificates"},
      {"redirect loop", httplib::Error::ExceedRedirectCount, 0ms, 0, "too many redirects"},
      {"unknown", httplib::Error::Unknown, 0ms, 0, "request failed (Unknown)"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      r.elapsed = c.elapsed;
      r.verify_result = c.verify_result;
      CHECK(failure_cause(c.error, r) == c.cause);
    }
  }
}

TEST_CASE("connect_failure: a loopback port nobody listens on is refused") {
  // Bound but not listening: the port refuses, and no other process can take it meanwhile.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  CHECK(connect_failure("127.0.0.1", ntohs(addr.sin_port), 2s) == "connection refused");
  FailedRequest r{"127.0.0.1", ntohs(addr.sin_port), 2s, 5ms, 0, 0};
  CHECK(failure_cause(httplib::Error::Connection, r) == "connection refused");
  ::close(fd);
}

}  // namespace http_http_failure_test
