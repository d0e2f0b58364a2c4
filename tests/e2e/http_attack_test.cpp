// End-to-end: the listener as an attacker sees it, over raw sockets against the real binary:
// request smuggling spellings, pipelining, requests cut at every byte, odd bytes in fields,
// odd request targets, HEAD, keep-alive after an error, HTTP/1.0, a half-closed connection.
// Whatever the bytes, each request is either answered once or refused and the connection
// closed: nothing a client sends may be taken for a second request it did not frame.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/raw_client.hpp"
#include "support/rules_server.hpp"
#include "support/temp_dir.hpp"

namespace e2e_http_attack_test {

using namespace std::chrono_literals;
using namespace std::string_literals;
using namespace tocsin::testing;

namespace {

// A short request_timeout, a token-protected hook and a heartbeat.
struct AttackedServer : RulesServer {
  AttackedServer()
      : RulesServer(with_sections("server: {request_timeout: 2s}\n" +
                                  sources_section("  generic: {token_env: T_GENERIC}\n") +
                                  "heartbeats:\n"
                                  "  - {name: hb, every: 5m, grace: 1m}\n"),
                    {}, {"T_GENERIC=secret"}) {}
};

// The status lines of the responses in `received`, in order. Each response is framed by its
// Content-Length (every response of this server has one), so a body that looks like a
// response is not counted as one.
std::vector<std::string> statuses(const std::string& received) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < received.size()) {
    const auto end = received.find("\r\n\r\n", at);
    if (end == std::string::npos || received.compare(at, 5, "HTTP/") != 0) {
      out.push_back("<garbage: " + received.substr(at, 40) + ">");
      break;
    }
    const auto head = received.substr(at, end - at);
    out.push_back(head.substr(0, head.find("\r\n")));
    std::size_t length = 0;
    const auto cl = head.find("\r\nContent-Length: ");
    if (cl != std::string::npos) length = std::stoul(head.substr(cl + 18));
    at = end + 4 + length;
  }
  return out;
}

struct Exchange {
  std::string received;
  bool closed = false;
};

Exchange exchange(int port, const std::string& request, std::chrono::milliseconds wait = 3s) {
  RawClient c(port);
  Exchange e;
  if (!c.connected()) return e;
  c.send(request);
  e.closed = c.wait_closed(wait);
  e.received = c.received();
  return e;
}

const std::string k_hb = "POST /hooks/heartbeat/hb HTTP/1.1\r\nHost: t\r\n";
const std::string k_get = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
const std::string k_last = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

}  // namespace

TEST_CASE("smuggling spellings are refused, or framed exactly as RFC 9112 reads them") {
  AttackedServer s;
  struct Case {
    const char* intent;
    std::string request;
    std::vector<std::string> statuses;  // every response on the connection, in order
  };
  const std::string ok = "HTTP/1.1 200 OK", bad = "HTTP/1.1 400 Bad Request";
  const Case cases[] = {
      {"CL.TE: the bytes after the chunked body are never a request",
       k_hb + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG" + k_last,
       {bad}},
      {"TE.CL",
       k_hb + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\nx\r\n0\r\n\r\n" + k_last,
       {bad}},
      {"TE.TE: xchunked is no chunked",
       k_hb + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + k_last,
       {bad}},
      {"TE.TE: a second, unknown coding line",
       k_hb + "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n" + k_last,
       {bad}},
      {"a space before the colon hides no Transfer-Encoding",
       k_hb + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + k_last,
       {bad}},
      {"a vertical tab is no whitespace",
       k_hb +
           "Transfer-Encoding:\x0b"
           "chunked\r\n\r\n0\r\n\r\n" +
           k_last,
       {bad}},
      {"a tab is whitespace",
       k_hb + "Transfer-Encoding:\tchunked\t\r\n\r\n0\r\n\r\n" + k_last,
       {ok, ok}},
      {"coding names are case-insensitive",
       k_hb + "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n" + k_last,
       {ok, ok}},
      {"chunk extensions are skipped",
       k_hb + "Transfer-Encoding: chunked\r\n\r\n2;a=b;c=\"d;e\"\r\n{}\r\n0;z\r\n\r\n" + k_last,
       {ok, ok}},
      {"a chunk size with leading zeros",
       k_hb + "Transfer-Encoding: chunked\r\n\r\n" + std::string(40, '0') + "2\r\n{}\r\n0\r\n\r\n" +
           k_last,
       {ok, ok}},
      {"a chunk size past 64 bits",
       k_hb + "Transfer-Encoding: chunked\r\n\r\n10000000000000002\r\n{}" + k_last,
       {"HTTP/1.1 413 Payload Too Large"}},
      {"a negative chunk size",
       k_hb + "Transfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n" + k_last,
       {bad}},
      {"a 0x chunk size",
       k_hb + "Transfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n" + k_last,
       {bad}},
      {"a Content-Length in the trailers frames nothing",
       k_hb + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nContent-Length: 40\r\n\r\n" +
           k_last,
       {ok, ok}},
      {"a chunked body of a GET is read and set aside",
       "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET "
       "/\r\n0\r\n\r\n" +
           k_last,
       {ok, ok}},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    const auto e = exchange(s.port(), k.request);
    INFO(e.received);
    CHECK(e.closed);
    CHECK(statuses(e.received) == k.statuses);
  }
}

TEST_CASE("a chunked body without its last CRLF is cut at request_timeout with a 408") {
  AttackedServer s;
  const auto e =
      exchange(s.port(), k_hb + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n", 5s);
  INFO(e.received);
  CHECK(e.closed);
  CHECK(statuses(e.received) == std::vector<std::string>{"HTTP/1.1 408 Request Timeout"});
}

TEST_CASE("a hundred pipelined requests in one packet are each answered once, in order") {
  AttackedServer s;
  std::string packet;
  for (int i = 0; i < 99; ++i)
    packet += i % 2 == 0 ? k_get : k_hb + "Content-Length: 2\r\n\r\n{}";
  const auto e = exchange(s.port(), packet + k_last, 5s);
  CHECK(e.closed);
  const auto got = statuses(e.received);
  CHECK(got.size() == 100);
  CHECK(std::count(got.begin(), got.end(), "HTTP/1.1 200 OK") == 100);
}

TEST_CASE("a request cut at every byte boundary is the same request") {
  AttackedServer s;
  const std::string request = k_hb +
                              "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                              "1;e=1\r\n{\r\n1\r\n}\r\n0\r\nT: 1\r\n\r\n";
  RawClient c(s.port());
  REQUIRE(c.connected());
  for (char byte : request) {
    REQUIRE(c.send(std::string(1, byte)));
    std::this_thread::sleep_for(1ms);  // one segment each
  }
  REQUIRE(c.wait_closed(3s));
  CHECK(statuses(c.received()) == std::vector<std::string>{"HTTP/1.1 200 OK"});
}

TEST_CASE("odd bytes in fields and odd request targets are refused or served, never reframed") {
  AttackedServer s;
  struct Case {
    const char* intent;
    std::string request;
    std::string status;
  };
  const std::string bad = "HTTP/1.1 400 Bad Request";
  const Case cases[] = {
      {"a NUL in a field name", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-\0A: b\r\n\r\n"s, bad},
      {"a NUL in a field value", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\0c\r\n\r\n"s, bad},
      {"a byte over 0x7f in a field name",
       "GET /healthz HTTP/1.1\r\nHost: t\r\nX-\xc3\xa9: b\r\n\r\n", bad},
      {"bytes over 0x7f in a field value are opaque text (obs-text)",
       "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: \xff\xc3\xa9\r\nConnection: close\r\n\r\n",
       "HTTP/1.1 200 OK"},
      {"an escape sequence in the target", "GET /\x1b[2J HTTP/1.1\r\nHost: t\r\n\r\n", bad},
      {"OPTIONS * is not an endpoint", "OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
       "HTTP/1.1 404 Not Found"},
      {"CONNECT tunnels nowhere",
       "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\nConnection: close\r\n\r\n",
       "HTTP/1.1 404 Not Found"},
      {"a percent-encoded NUL in the path",
       "GET /healthz%00 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
       "HTTP/1.1 404 Not Found"},
      {"HTTP/1.1 with an empty Host is still one Host",
       "GET /healthz HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    const auto e = exchange(s.port(), k.request);
    INFO(e.received);
    CHECK(e.closed);
    CHECK(statuses(e.received) == std::vector<std::string>{k.status});
  }
}

TEST_CASE("max_headers small fields are served, one more is 431, ten thousand cost nothing") {
  AttackedServer s;
  auto with_fields = [](int count) {
    std::string r = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
    for (int i = 2; i < count; ++i)
      r += "X" + std::to_string(i) + ": x\r\n";
    return r + "\r\n";
  };
  CHECK(statuses(exchange(s.port(), with_fields(100)).received) ==
        std::vector<std::string>{"HTTP/1.1 200 OK"});
  CHECK(statuses(exchange(s.port(), with_fields(101)).received) ==
        std::vector<std::string>{"HTTP/1.1 431 Request Header Fields Too Large"});
  const auto start = std::chrono::steady_clock::now();
  const auto many = exchange(s.port(), with_fields(10000));
  CHECK(statuses(many.received) ==
        std::vector<std::string>{"HTTP/1.1 431 Request Header Fields Too Large"});
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
}

TEST_CASE("a response to HEAD has no body, whoever answers it") {
  AttackedServer s;
  struct Case {
    const char* intent;
    std::string request;
    std::string status;
  };
  const Case cases[] = {
      {"a route", "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 200 OK"},
      {"an unknown path", "HEAD /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 404 Not Found"},
      {"a path that takes POST only", "HEAD /hooks/generic HTTP/1.1\r\nHost: t\r\n\r\n",
       "HTTP/1.1 405 Method Not Allowed"},
      {"a refusal of the framing", "HEAD /healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"a refused body", "HEAD /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n",
       "HTTP/1.1 413 Payload Too Large"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    const auto e = exchange(s.port(), k.request + k_last);
    INFO(e.received);
    CHECK(e.received.starts_with(k.status + "\r\n"));
    // What follows the head is the next response or nothing: never a body.
    const auto end = e.received.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    const auto rest = e.received.substr(end + 4);
    CHECK((rest.empty() || rest.starts_with("HTTP/1.1 200 OK\r\n")));
  }
}

TEST_CASE("after a 4xx answered by a route the connection serves the next request") {
  AttackedServer s;
  struct Case {
    const char* intent;
    std::string first;
    std::string status;
  };
  const Case cases[] = {
      {"404", "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 404 Not Found"},
      {"405 with a body", "PUT /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
       "HTTP/1.1 405 Method Not Allowed"},
      {"401 with a body",
       "POST /hooks/generic?token=bad HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}",
       "HTTP/1.1 401 Unauthorized"},
      {"400 from a hook",
       "POST /hooks/generic?token=secret HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n{",
       "HTTP/1.1 400 Bad Request"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    const auto e = exchange(s.port(), k.first + k_last);
    INFO(e.received);
    CHECK(statuses(e.received) == std::vector<std::string>{k.status, "HTTP/1.1 200 OK"});
  }
}

TEST_CASE("HTTP/1.0 closes after one response unless it asks for keep-alive") {
  AttackedServer s;
  const std::string get10 = "GET /healthz HTTP/1.0\r\n";
  const auto plain = exchange(s.port(), get10 + "\r\n" + k_last);
  CHECK(plain.closed);
  CHECK(statuses(plain.received) == std::vector<std::string>{"HTTP/1.1 200 OK"});
  const auto kept = exchange(s.port(), get10 + "Connection: Keep-Alive\r\n\r\n" + k_last);
  CHECK(statuses(kept.received) == std::vector<std::string>{"HTTP/1.1 200 OK", "HTTP/1.1 200 OK"});
}

TEST_CASE("a client that half-closes after its requests still gets every answer") {
  AttackedServer s;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(s.port()));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  const std::string requests = k_get + k_hb + "Content-Length: 2\r\n\r\n{}" + k_get;
  REQUIRE(::send(fd, requests.data(), requests.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(requests.size()));
  ::shutdown(fd, SHUT_WR);
  std::string received;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    received.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  INFO(received);
  CHECK(statuses(received) ==
        std::vector<std::string>{"HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"});
}

TEST_CASE("Connection: close is honoured in any case, and with other options") {
  AttackedServer s;
  for (const char* value : {"close", "Close", "CLOSE", "keep-alive, close", "Upgrade,close"}) {
    INFO(std::string(value));
    const auto e =
        exchange(s.port(),
                 "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: " + std::string(value) +
                     "\r\n\r\n" + k_get,
                 1s);
    CHECK(e.closed);  // not left open for the keep-alive timeout
    CHECK(statuses(e.received) == std::vector<std::string>{"HTTP/1.1 200 OK"});
  }
  const auto kept =
      exchange(s.port(), "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + k_last);
  CHECK(statuses(kept.received) == std::vector<std::string>{"HTTP/1.1 200 OK", "HTTP/1.1 200 OK"});
}

TEST_CASE("a Range header does not multiply a response") {
  AttackedServer s;
  // Two thousand whole copies of the metrics page, asked for in an 8 KiB header.
  std::string ranges = "bytes=0-";
  for (int i = 1; i < 2000; ++i)
    ranges += ",0-";
  const auto e = exchange(
      s.port(),
      "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\nRange: " + ranges + "\r\n\r\n");
  CHECK(e.closed);
  CHECK(statuses(e.received) == std::vector<std::string>{"HTTP/1.1 200 OK"});
  CHECK(e.received.size() < 64 * 1024);
}

TEST_CASE("an absolute-form request target reaches the route its path names") {
  AttackedServer s;
  const auto e = exchange(
      s.port(), "GET http://t/healthz HTTP/1.1\r\nHost: t\r\n\r\n" +
                    "POST HTTP://t:80/hooks/heartbeat/hb HTTP/1.1\r\nHost: t\r\n\r\n"s + k_last);
  CHECK(statuses(e.received) ==
        std::vector<std::string>{"HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"});
}

}  // namespace e2e_http_attack_test
