// End-to-end: the HTTP listener's limits against the real binary. Slow clients are played by
// raw sockets: one trickling a request, one saying nothing, several stalling from the same
// address, many from many addresses. Every wait is bounded (socket timeouts and polls with a
// deadline), so a server that never cuts fails these tests instead of hanging them.

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
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/raw_client.hpp"
#include "support/rules_server.hpp"
#include "support/temp_dir.hpp"

namespace e2e_http_limits_test {

using namespace std::chrono_literals;
using namespace tocsin::testing;
using Clock = std::chrono::steady_clock;

namespace {

// A request's line and first header: a request that has begun and will not end.
constexpr std::string_view k_unfinished = "GET /healthz HTTP/1.1\r\nHost: tocsin\r\n";

// A server with this `server:` section and one catch-all rule.
struct LimitedServer : RulesServer {
  explicit LimitedServer(const std::string& server_section,
                         const std::vector<std::string>& flags = {})
      : RulesServer(with_sections(server_section), flags) {}
};

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

bool has_loopback_alias(const char* address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, address, &from.sin_addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0;
  ::close(fd);
  return ok;
}

// Sends `request` from `source` on a connection of its own; the answer's status line, or ""
// when none came within 3 s.
std::string status_line(int port, const char* source, const std::string& request) {
  RawClient c(port, source);
  if (!c.connected()) return "";
  c.send(request);
  c.wait_closed(3s);
  return c.received().substr(0, c.received().find("\r\n"));
}

std::string healthz_from(int port, const char* source) {
  return status_line(port, source,
                     "GET /healthz HTTP/1.1\r\nHost: tocsin\r\nConnection: close\r\n\r\n");
}

// GET /healthz with exactly `count` headers (count >= 2).
std::string healthz_with_headers(int port, int count) {
  std::string request = "GET /healthz HTTP/1.1\r\nHost: tocsin\r\nConnection: close\r\n";
  for (int i = 2; i < count; ++i)
    request += "X-Filler-" + std::to_string(i) + ": x\r\n";
  return status_line(port, nullptr, request + "\r\n");
}

}  // namespace

TEST_CASE("a client trickling its headers, or saying nothing, is cut at request_timeout") {
  LimitedServer s("server: {request_timeout: 1s}\n");
  RawClient trickler(s.port());
  RawClient silent(s.port());
  REQUIRE(trickler.connected());
  REQUIRE(silent.connected());
  const auto start = Clock::now();

  // One header byte every 100 ms: each arrives well within the 10 s read timeout, which is
  // all cpp-httplib checks by itself. Stop shortly before the deadline, so no byte is in
  // flight when the server closes (a close over unread bytes is a reset, which may drop the
  // 408 on the floor).
  REQUIRE(trickler.send(k_unfinished));
  for (char c : std::string("X-Slow: abcdefgh")) {
    if (Clock::now() - start > 800ms || trickler.wait_closed(100ms)) break;
    trickler.send(std::string_view(&c, 1));
  }

  REQUIRE(trickler.wait_closed(4s));
  REQUIRE(silent.wait_closed(4s));
  const double trickler_cut = seconds_between(start, trickler.closed_at());
  const double silent_cut = seconds_between(start, silent.closed_at());
  CHECK(trickler_cut >= 0.9);
  CHECK(trickler_cut < 2.5);
  CHECK(silent_cut >= 0.9);
  CHECK(silent_cut < 2.5);

  INFO("answer: " << trickler.received());
  CHECK(trickler.received().starts_with("HTTP/1.1 408 Request Timeout\r\n"));
  CHECK(trickler.received().find(R"("error":"request_timeout")") != std::string::npos);
  CHECK(silent.received().empty());  // it never started a request: nothing to answer

  CHECK(s.cuts("deadline") == 2);
  CHECK(s.cuts("per_ip_limit") == 0);
  const auto log = s.server->log();
  INFO(log);
  CHECK(log.find("http: cut connection from 127.0.0.1:") != std::string::npos);
  CHECK(log.find("request not complete within 1s (server.request_timeout)") != std::string::npos);
}

TEST_CASE("one address gets max_connections_per_ip connections, the next is answered 503") {
  LimitedServer s("server: {request_timeout: 1s, max_connections_per_ip: 4}\n");
  const auto start = Clock::now();

  // Five slow clients from one address. Which one the server sees last is up to its threads,
  // so: exactly one is refused, before the deadline of the other four.
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 5; ++i) {
    slow.push_back(std::make_unique<RawClient>(s.port()));
    REQUIRE(slow.back()->connected());
    slow.back()->send(k_unfinished);
  }

  // Meanwhile another address is not affected by this one's cap.
  if (has_loopback_alias("127.0.0.2")) {
    CHECK(healthz_from(s.port(), "127.0.0.2") == "HTTP/1.1 200 OK");
  } else {
    MESSAGE("127.0.0.2 cannot be bound here; skipping the other-address check");
  }

  // Watched together, so each one's closing time is seen within a few tens of milliseconds.
  const auto until = start + 4s;
  for (bool all_closed = false; !all_closed && Clock::now() < until;) {
    all_closed = true;
    for (auto& c : slow)
      all_closed = c->wait_closed(10ms) && all_closed;
  }
  std::vector<RawClient*> refused, cut;
  for (auto& c : slow) {
    REQUIRE(c->wait_closed(0ms));
    (c->received().starts_with("HTTP/1.1 503") ? refused : cut).push_back(c.get());
  }
  REQUIRE(refused.size() == 1);
  const auto& answer = refused[0]->received();
  INFO("answer: " << answer);
  CHECK(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
  CHECK(answer.find("Retry-After: 5\r\n") != std::string::npos);
  CHECK(answer.find(R"("error":"too_many_connections")") != std::string::npos);
  CHECK(seconds_between(start, refused[0]->closed_at()) < 0.9);
  for (auto* c : cut) {
    CHECK(c->received().starts_with("HTTP/1.1 408"));
    CHECK(seconds_between(start, c->closed_at()) >= 0.9);
  }

  // The slow four are gone: this address is served again.
  CHECK(healthz_from(s.port(), nullptr) == "HTTP/1.1 200 OK");
  CHECK(s.cuts("deadline") == 4);
  CHECK(s.cuts("per_ip_limit") == 1);
  const auto log = s.server->log();
  INFO(log);
  CHECK(log.find("http: refusing connections from 127.0.0.1 with 503: 4 already open "
                 "(server.max_connections_per_ip)") != std::string::npos);
}

TEST_CASE("more slow clients than cpp-httplib's old fixed pool of 64 threads starve no one") {
  // 80 stalled connections from 20 loopback addresses (4 each, the cap): with the fixed pool
  // of 64 threads, the 65th connection and every one after it waited for a slow one to go
  // (10 s of silence).
  if (!has_loopback_alias("127.0.0.30")) {
    MESSAGE("loopback aliases (127.0.0.x) cannot be bound here; skipping");
    return;
  }
  LimitedServer s("server: {request_timeout: 10s, max_connections_per_ip: 4}\n");
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int host = 10; host < 30; ++host) {
    const auto source = "127.0.0." + std::to_string(host);
    for (int i = 0; i < 4; ++i) {
      slow.push_back(std::make_unique<RawClient>(s.port(), source.c_str()));
      REQUIRE(slow.back()->connected());
      REQUIRE(slow.back()->send(k_unfinished));
    }
  }
  const auto start = Clock::now();
  CHECK(healthz_from(s.port(), "127.0.0.30") == "HTTP/1.1 200 OK");
  CHECK(seconds_between(start, Clock::now()) < 2.5);  // served, not queued behind the slow
  CHECK(s.cuts("per_ip_limit") == 0);
  CHECK(s.cuts("deadline") == 0);
}

TEST_CASE("server limits come from the rules file, --max-body-bytes overrides the file") {
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
    std::ofstream(s.rules) << "version: 1\nserver: {max_body_bytes: 4KiB}\n" << sources_section();
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

}  // namespace e2e_http_limits_test
