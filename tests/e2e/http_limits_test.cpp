// End-to-end: the HTTP listener's limits against the real binary, with requests played by
// raw sockets where the exact bytes matter. Every wait is bounded (socket timeouts and polls
// with a deadline), so a server that misbehaves fails these tests instead of hanging them.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace std::chrono_literals;
using namespace tocsin::testing;
using Clock = std::chrono::steady_clock;

namespace {

// A client socket played by hand. Every call is bounded in time.
class RawClient {
 public:
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
    if (m_closed) return true;
    const auto until = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
      if (left <= 0ms) return false;
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const auto n = ::recv(m_fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        m_received.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        m_closed = true;
        m_closed_at = Clock::now();
        return true;
      }
    }
  }

  const std::string& received() const { return m_received; }
  Clock::time_point closed_at() const { return m_closed_at; }

 private:
  int m_fd = -1;
  bool m_connected = false;
  bool m_closed = false;
  Clock::time_point m_closed_at{};
  std::string m_received;
};

struct LimitedServer {
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::string db = dir.file("tocsin.db");
  std::optional<ServerProcess> server;

  explicit LimitedServer(const std::string& server_section,
                         const std::vector<std::string>& flags = {}) {
    std::ofstream(rules) << "version: 1\n"
                         << server_section << "rules:\n  - {name: everything, match: {}}\n";
    std::vector<std::string> args{"--rules", rules, "--db", db};
    args.insert(args.end(), flags.begin(), flags.end());
    server.emplace(dir.file("server.log"), args);
  }
  int port() const { return server->port(); }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port());
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(3, 0);
    c.set_write_timeout(3, 0);
    return c;
  }
};

// Sends `request` from `source` on a connection of its own; the answer's status line, or ""
// when none came within 3 s.
std::string status_line(int port, const char* source, const std::string& request) {
  RawClient c(port, source);
  if (!c.connected()) return "";
  c.send(request);
  c.wait_closed(3s);
  return c.received().substr(0, c.received().find("\r\n"));
}

// GET /healthz with exactly `count` headers (count >= 2).
std::string healthz_with_headers(int port, int count) {
  std::string request = "GET /healthz HTTP/1.1\r\nHost: tocsin\r\nConnection: close\r\n";
  for (int i = 2; i < count; ++i)
    request += "X-Filler-" + std::to_string(i) + ": x\r\n";
  return status_line(port, nullptr, request + "\r\n");
}

}  // namespace

TEST_CASE("server limits come from the rules file; --max-body-bytes overrides the file") {
  const std::string section = "server: {max_body_bytes: 2KiB, max_headers: 10}\n";
  const std::string body =
      R"({"key": "big", "status": "firing", "summary": ")" + std::string(3000, 'x') + R"("})";

  SUBCASE("the file's limits") {
    LimitedServer s(section);
    auto c = s.client();
    auto big = c.Post("/hooks/generic", body, "application/json");
    REQUIRE(big);
    CHECK(big->status == 413);
    CHECK(big->body.find("exceeds the limit of 2048 bytes") != std::string::npos);

    CHECK(healthz_with_headers(s.port(), 10) == "HTTP/1.1 200 OK");
    CHECK(healthz_with_headers(s.port(), 11) == "HTTP/1.1 431 Request Header Fields Too Large");

    // A change is noted on reload, and waits for a restart.
    std::ofstream(s.rules) << "version: 1\nserver: {max_body_bytes: 4KiB}\n";
    s.server->signal(SIGHUP);
    const auto until = Clock::now() + 5s;
    while (Clock::now() < until && s.server->log().find("rules reloaded") == std::string::npos) {
      std::this_thread::sleep_for(20ms);
    }
    const auto log = s.server->log();
    INFO(log);
    CHECK(log.find("server limits changed; they take effect at the next restart") !=
          std::string::npos);
    auto still = c.Post("/hooks/generic", body, "application/json");
    REQUIRE(still);
    CHECK(still->status == 413);
  }
  SUBCASE("the flag wins") {
    LimitedServer s(section, {"--max-body-bytes", "4096"});
    auto c = s.client();
    auto big = c.Post("/hooks/generic", body, "application/json");
    REQUIRE(big);
    CHECK(big->status == 200);
  }
}
