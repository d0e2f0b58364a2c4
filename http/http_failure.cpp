#include "http/http_failure.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/duration.hpp"

namespace tocsin::http {

namespace {

std::string timed_out(Duration timeout) {
  return "timed out after " + format_duration(timeout);
}

// Whether a read or write failed at the timeout rather than because the peer hung up. The
// request's own timeouts end it right at `timeout`; a little slack for the connect before.
bool at_timeout(const FailedRequest& r) {
  return r.timeout.count() > 0 && r.elapsed * 10 >= r.timeout * 9;
}

std::string errno_cause(int error) {
  switch (error) {
    case ECONNREFUSED:
      return "connection refused";
    case EHOSTUNREACH:
      return "host unreachable";
    case ENETUNREACH:
      return "network unreachable";
    case ETIMEDOUT:
      return "connect timed out";
    default:
      return "cannot connect (" + std::string(std::strerror(error)) + ")";
  }
}

// The outcome of one non-blocking connect within `timeout`: 0 connected, -1 timed out, else
// the errno.
int try_connect(const addrinfo& a, Duration timeout) {
  const int fd = ::socket(a.ai_family, a.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a.ai_protocol);
  if (fd < 0) return errno;
  int result = 0;
  if (::connect(fd, a.ai_addr, a.ai_addrlen) != 0) {
    result = errno;
    if (result == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const auto ms = std::clamp<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count(), 1, 60'000);
      int ready = 0;
      do {
        ready = ::poll(&p, 1, static_cast<int>(ms));
      } while (ready < 0 && errno == EINTR);
      if (ready == 0) {
        result = -1;
      } else {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        result = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0 ? so_error : errno;
      }
    }
  }
  ::close(fd);
  return result;
}

std::string openssl_reason(unsigned long error) {
  if (error == 0) return {};
  if (const char* reason = ERR_reason_error_string(error)) return " (" + std::string(reason) + ")";
  char buffer[256];
  ERR_error_string_n(error, buffer, sizeof buffer);
  return " (" + std::string(buffer) + ")";
}

}  // namespace

std::string connect_failure(const std::string& host, int port, Duration timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int resolved = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (resolved != 0) {
    return "name resolution failed (" +
           std::string(resolved == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(resolved)) +
           ")";
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  // The first address that fails for a reason of its own speaks for all (as the request, which
  // tried them in order); an address family the host lacks is skipped.
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int result = try_connect(*a, timeout);
    if (result == EAFNOSUPPORT || result == EADDRNOTAVAIL) continue;
    if (result == 0) return "cannot connect";  // it works now: a passing fault
    if (result == -1) return "connect " + timed_out(timeout);
    return errno_cause(result);
  }
  return "cannot connect";
}

std::string failure_cause(httplib::Error error, const FailedRequest& r) {
  switch (error) {
    case httplib::Error::Connection:
      return connect_failure(r.host, r.port, r.timeout);
    case httplib::Error::ConnectionTimeout:
      return "connect " + timed_out(r.timeout);
    case httplib::Error::Read:
      return at_timeout(r) ? timed_out(r.timeout) : "connection closed before an answer";
    case httplib::Error::Write:
      return at_timeout(r) ? timed_out(r.timeout) + " while sending"
                           : "connection closed while sending";
    case httplib::Error::SSLConnection:
      return "TLS: handshake failed" + openssl_reason(r.openssl_error);
    case httplib::Error::SSLLoadingCerts:
      return "TLS: cannot load the system CA certificates";
    case httplib::Error::SSLServerVerification:
      // cpp-httplib checks the host name itself: the chain verified, the name did not match.
      if (r.verify_result == X509_V_OK) return "TLS: certificate does not match the host name";
      return "TLS: certificate verify failed (" +
             std::string(X509_verify_cert_error_string(r.verify_result)) + ")";
    case httplib::Error::BindIPAddress:
      return "cannot bind the local address";
    case httplib::Error::ExceedRedirectCount:
      return "too many redirects";
    case httplib::Error::Canceled:
      return "canceled";
    case httplib::Error::UnsupportedMultipartBoundaryChars:
      return "invalid multipart boundary";
    case httplib::Error::Compression:
      return "compressing the request failed";
    case httplib::Error::Success:
    case httplib::Error::Unknown:
      break;
  }
  return "request failed (" + httplib::to_string(error) + ")";
}

}  // namespace tocsin::http
