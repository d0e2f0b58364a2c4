#pragma once
// A client socket played by hand, for e2e tests that must send what no HTTP library sends:
// trickled, stalled, malformed or pipelined requests. Every call is bounded in time, so a
// server that misbehaves fails a test instead of hanging it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace tocsin::testing {

class RawClient {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects to 127.0.0.1:port, from `source` (another loopback address) when given.
  // connected() is false when that fails (e.g. a source address the host refuses).
  explicit RawClient(int port, const char* source = nullptr) {
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) return;
    timeval tv{2, 0};  // no single call may block for long
    setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (source != nullptr) {
      sockaddr_in from{};
      from.sin_family = AF_INET;
      inet_pton(AF_INET, source, &from.sin_addr);
      if (::bind(m_fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    m_connected = ::connect(m_fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  ~RawClient() {
    if (m_fd >= 0) ::close(m_fd);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return m_connected; }

  bool send(std::string_view bytes) {
    return ::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // Waits up to `timeout` for the server to end the connection, keeping what it sent. True
  // when it ended it (end of stream or reset).
  bool wait_closed(std::chrono::milliseconds timeout) {
    return wait_until(timeout, [] { return false; });
  }

  // Waits up to `timeout` until what the server sent contains `text`; true when it does.
  bool wait_received(std::string_view text, std::chrono::milliseconds timeout) {
    wait_until(timeout, [&] { return m_received.find(text) != std::string::npos; });
    return m_received.find(text) != std::string::npos;
  }

  // Waits up to `timeout` until the server has sent something, without reading it: the bytes
  // stay in the socket's buffer. True when there is something to read.
  bool wait_readable(std::chrono::milliseconds timeout) const {
    pollfd p{m_fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }

  // Whether the server has sent something, or ended the connection, without waiting.
  bool answered() {
    wait_until(std::chrono::milliseconds(0), [] { return false; });
    return m_closed || !m_received.empty();
  }

  const std::string& received() const { return m_received; }
  bool closed() const { return m_closed; }
  Clock::time_point closed_at() const { return m_closed_at; }

 private:
  // Reads until `done()` or the end of the connection (true) or `timeout` (false).
  template <class Done>
  bool wait_until(std::chrono::milliseconds timeout, Done done) {
    const auto until = Clock::now() + timeout;
    for (;;) {
      if (m_closed) return true;
      if (done()) return false;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0))) <= 0) {
        if (left.count() <= 0) return false;
        continue;
      }
      char buf[4096];
      const auto n = ::recv(m_fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        m_received.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        m_closed = true;
        m_closed_at = Clock::now();
      }
    }
  }

  int m_fd = -1;
  bool m_connected = false;
  bool m_closed = false;
  Clock::time_point m_closed_at{};
  std::string m_received;
};

}  // namespace tocsin::testing
