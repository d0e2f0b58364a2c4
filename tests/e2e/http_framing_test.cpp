// End-to-end: how the listener frames requests (RFC 9112), against the real binary over raw
// sockets: bodies (Content-Length, chunked, none), framing errors, methods, pipelining. A
// refused request ends its connection, so nothing after it can be read as another request.

#include <doctest/doctest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/raw_client.hpp"
#include "support/rules_server.hpp"
#include "support/temp_dir.hpp"

namespace e2e_http_framing_test {

using namespace std::chrono_literals;
using namespace tocsin::testing;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t k_limit = 64 * 1024;  // the server's max_body_bytes

// Small limits, a token-protected hook, a heartbeat and the API's two scopes.
struct FramingServer : RulesServer {
  FramingServer()
      : RulesServer(with_sections("server: {max_body_bytes: 64KiB, max_headers: 20}\n" +
                                  sources_section("  generic: {token_env: T_GENERIC}\n") +
                                  "heartbeats:\n"
                                  "  - {name: hb, every: 5m, grace: 1m}\n"
                                  "api:\n"
                                  "  tokens:\n"
                                  "    - {name: reader, token_env: T_READ, scope: read}\n"
                                  "    - {name: admin, token_env: T_ADMIN, scope: write}\n"),
                    {}, {"T_GENERIC=secret", "T_READ=read-secret", "T_ADMIN=admin-secret"}) {}
};

std::string event_json(std::size_t padding = 0) {
  return R"({"key": "disk", "status": "firing", "summary": ")" + std::string(padding, 'x') +
         R"("})";
}

std::string first_line(const std::string& received) {
  return received.substr(0, received.find("\r\n"));
}

// How many responses `received` holds (each begins with a status line).
std::size_t responses_in(const std::string& received) {
  std::size_t n = 0;
  for (auto at = received.find("HTTP/1.1 "); at != std::string::npos;
       at = received.find("HTTP/1.1 ", at + 1)) {
    if (at == 0 || received.compare(at - 2, 2, "\r\n") == 0 || received[at - 1] == '}') ++n;
  }
  return n;
}

struct Exchange {
  std::string received;
  bool closed = false;
  double seconds = 0;  // from sending to the connection's end (or the wait's)
};

// Sends `request` on a connection of its own and waits up to `wait` for the server to close.
Exchange exchange(int port, const std::string& request, std::chrono::milliseconds wait = 3s) {
  RawClient c(port);
  Exchange e;
  if (!c.connected()) return e;
  const auto start = Clock::now();
  c.send(request);
  e.closed = c.wait_closed(wait);
  e.seconds =
      std::chrono::duration<double>((e.closed ? c.closed_at() : Clock::now()) - start).count();
  e.received = c.received();
  return e;
}

std::string header_of(const std::string& received, const std::string& name) {
  const auto at = received.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const auto begin = at + name.size() + 4;
  return received.substr(begin, received.find("\r\n", begin) - begin);
}

std::string chunked(const std::string& body) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx", body.size());
  return std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n";
}

}  // namespace

TEST_CASE("a chunked body counts against max_body_bytes: 413 once crossed, then the close") {
  FramingServer s;
  for (const char* token : {"secret", "wrong"}) {
    INFO(std::string(token));
    RawClient c(s.port());
    REQUIRE(c.connected());
    REQUIRE(c.send(std::string("POST /hooks/generic?token=") + token +
                   " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
    // Twice the limit, and never the last chunk: only a server that counts the chunks
    // answers before its read timeout.
    const std::string chunk = "4000\r\n" + std::string(0x4000, ' ') + "\r\n";
    for (std::size_t sent = 0; sent < 2 * k_limit && !c.answered(); sent += 0x4000)
      c.send(chunk);
    REQUIRE(c.wait_closed(2s));
    INFO(c.received());
    CHECK(first_line(c.received()) == "HTTP/1.1 413 Payload Too Large");
    CHECK(c.received().find("exceeds the limit of 65536 bytes") != std::string::npos);
    CHECK(responses_in(c.received()) == 1);
  }

  SUBCASE("a chunked body within the limit is decoded and accepted") {
    auto e = exchange(s.port(),
                      "POST /hooks/generic?token=secret HTTP/1.1\r\nHost: t\r\n"
                      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                          chunked(event_json(40000)));
    CHECK(first_line(e.received) == "HTTP/1.1 200 OK");
  }
  SUBCASE("a chunk-size line or trailer section without end is cut short") {
    const std::string head =
        "POST /hooks/generic?token=secret HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
        "chunked\r\n\r\n";
    auto long_line = exchange(s.port(), head + "10;ext=" + std::string(100000, 'x'));
    CHECK(first_line(long_line.received) == "HTTP/1.1 400 Bad Request");
    CHECK(long_line.closed);
    std::string trailers;
    for (int i = 0; i < 5000; ++i)
      trailers += "X-Trailer-" + std::to_string(i) + ": x\r\n";
    auto many = exchange(s.port(), head + "2\r\n{}\r\n0\r\n" + trailers);
    CHECK(first_line(many.received) == "HTTP/1.1 431 Request Header Fields Too Large");
    CHECK(many.closed);
  }
}

TEST_CASE("a request whose framing is wrong is answered at once and ends its connection") {
  FramingServer s;
  const std::string post = "POST /hooks/heartbeat/hb HTTP/1.1\r\nHost: t\r\n";
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
  const std::string next = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";  // must never be served
  struct Case {
    const char* intent;
    std::string request;
    std::string status;
  };
  const Case cases[] = {
      {"Content-Length and Transfer-Encoding together (smuggling)",
       post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"Transfer-Encoding before Content-Length",
       post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"two different Content-Length values",
       post + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}" + next,
       "HTTP/1.1 400 Bad Request"},
      {"two different values in one Content-Length", post + "Content-Length: 2, 3\r\n\r\n{}" + next,
       "HTTP/1.1 400 Bad Request"},
      {"a signed Content-Length", post + "Content-Length: +2\r\n\r\n{}" + next,
       "HTTP/1.1 400 Bad Request"},
      {"a negative Content-Length", post + "Content-Length: -1\r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"a hexadecimal Content-Length", post + "Content-Length: 0x2\r\n\r\n{}" + next,
       "HTTP/1.1 400 Bad Request"},
      {"an empty Content-Length", post + "Content-Length: \r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"chunked, then identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n",
       "HTTP/1.1 400 Bad Request"},
      {"identity alone", post + "Transfer-Encoding: identity\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"chunked twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       "HTTP/1.1 400 Bad Request"},
      {"a coding the server does not know, before chunked",
       post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 501 Not Implemented"},
      {"Transfer-Encoding in HTTP/1.0",
       "POST /hooks/heartbeat/hb HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"a chunk size that is not hexadecimal",
       post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n" + next, "HTTP/1.1 400 Bad Request"},
      {"chunk data longer than its size",
       post + "Transfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"a field line folded over two (obs-fold)", get + "X-Folded: a\r\n b\r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"whitespace between field name and colon", get + "X-Space : a\r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"a bare LF ending a field line", get + "X-Bare: a\n\r\n" + next, "HTTP/1.1 400 Bad Request"},
      {"a bare CR inside a field value", get + "X-Bare: a\rb\r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"no Host in HTTP/1.1", "GET /healthz HTTP/1.1\r\n\r\n" + next, "HTTP/1.1 400 Bad Request"},
      {"two Host fields", get + "Host: u\r\n\r\n" + next, "HTTP/1.1 400 Bad Request"},
      {"a request line with two spaces", "GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + next,
       "HTTP/1.1 400 Bad Request"},
      {"an HTTP version the server does not speak", "GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n",
       "HTTP/1.1 505 HTTP Version Not Supported"},
      {"a request line over 8 KiB",
       "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n",
       "HTTP/1.1 414 URI Too Long"},
      {"a body in a coding the server does not decode",
       post + "Content-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}" + next,
       "HTTP/1.1 415 Unsupported Media Type"},
      {"an expectation other than 100-continue",
       post + "Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", "HTTP/1.1 417 Expectation Failed"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    auto e = exchange(s.port(), k.request, 2s);
    INFO(e.received);
    CHECK(first_line(e.received) == k.status);
    CHECK(e.closed);
    CHECK(e.seconds < 1.5);
    CHECK(responses_in(e.received) == 1);
    CHECK(e.received.find("Connection: close\r\n") != std::string::npos);
    CHECK(e.received.find(R"("error":")") != std::string::npos);
  }

  SUBCASE("identical Content-Length values are one length, as RFC 9112 allows") {
    auto e = exchange(
        s.port(), post + "Connection: close\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}");
    CHECK(first_line(e.received) == "HTTP/1.1 200 OK");
    auto listed = exchange(s.port(), post + "Connection: close\r\nContent-Length: 2, 2\r\n\r\n{}");
    CHECK(first_line(listed.received) == "HTTP/1.1 200 OK");
  }
}

TEST_CASE(
    "a POST without Content-Length or Transfer-Encoding has an empty body, answered at once") {
  FramingServer s;
  struct Case {
    const char* intent;
    std::string request;
    std::string status;
  };
  const std::string end = "Host: t\r\nConnection: close\r\n\r\n";
  const Case cases[] = {
      {"a heartbeat ping (curl -X POST)", "POST /hooks/heartbeat/hb HTTP/1.1\r\n" + end,
       "HTTP/1.1 200 OK"},
      {"a rules reload",
       "POST /api/v1/rules/reload HTTP/1.1\r\nAuthorization: Bearer admin-secret\r\n" + end,
       "HTTP/1.1 200 OK"},
      {"an ack without a body is told what it lacks",
       "POST /api/v1/alerts/1/ack HTTP/1.1\r\nAuthorization: Bearer admin-secret\r\n" + end,
       "HTTP/1.1 400 Bad Request"},
      {"an event hook without a body is told it is empty",
       "POST /hooks/generic?token=secret HTTP/1.1\r\n" + end, "HTTP/1.1 400 Bad Request"},
      {"HTTP/1.0 too", "POST /hooks/heartbeat/hb HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    auto e = exchange(s.port(), k.request, 3s);
    INFO(e.received);
    CHECK(first_line(e.received) == k.status);
    CHECK(e.seconds < 1.5);
  }
}

TEST_CASE("hooks take their body as bytes up to max_body_bytes, whatever its Content-Type") {
  FramingServer s;
  auto c = s.client();
  for (const char* type : {"application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "text/plain", "application/json"}) {
    INFO(std::string(type));
    // 20 KiB: over cpp-httplib's own 8 KiB limit for form bodies, under ours.
    auto r = c.Post("/hooks/generic?token=secret", event_json(20000), type);
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 200);
    auto big = c.Post("/hooks/generic?token=secret", event_json(k_limit), type);
    REQUIRE(big);
    CHECK(big->status == 413);
    CHECK(big->body.find("exceeds the limit of 65536 bytes") != std::string::npos);
  }
  // A form body is not query parameters: its token= does not authenticate.
  auto form_token = c.Post("/hooks/generic", "token=secret", "application/x-www-form-urlencoded");
  REQUIRE(form_token);
  CHECK(form_token->status == 401);
}

TEST_CASE("a method a path does not take is 405 with Allow, an unknown path is 404") {
  FramingServer s;
  struct Case {
    const char* method;
    const char* path;
    int status;
    const char* allow;
  };
  const Case cases[] = {
      {"PUT", "/hooks/generic", 405, "POST"},
      {"GET", "/hooks/generic", 405, "POST"},
      {"DELETE", "/hooks/sns", 405, "POST"},
      {"OPTIONS", "/healthz", 405, "GET, HEAD"},
      {"POST", "/healthz", 405, "GET, HEAD"},
      {"DELETE", "/api/v1/alerts/1", 405, "GET, HEAD"},
      {"PATCH", "/api/v1/alerts/1/ack", 405, "POST"},
      {"PUT", "/hooks/heartbeat/hb", 405, "GET, HEAD, POST"},
      {"TRACE", "/api/v1/rules/reload", 405, "POST"},
      {"PUT", "/nowhere", 404, ""},
      // A method no HTTP specification defines is not implemented anywhere (RFC 9110 §9.1).
      {"BREW", "/api/v1/rules/reload", 501, ""},
      {"BREW", "/nowhere", 501, ""},
  };
  for (const auto& k : cases) {
    INFO((std::string(k.method) + " " + k.path));
    auto e =
        exchange(s.port(), std::string(k.method) + " " + k.path +
                               " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                               "Authorization: Bearer admin-secret\r\nContent-Length: 0\r\n\r\n");
    INFO(e.received);
    CHECK(first_line(e.received).starts_with("HTTP/1.1 " + std::to_string(k.status)));
    CHECK(header_of(e.received, "Allow") == k.allow);
  }
}

TEST_CASE("the bearer scheme is case-insensitive, the token is not") {
  FramingServer s;
  auto c = s.client();
  struct Case {
    const char* authorization;
    int status;
  };
  for (const Case k : {Case{"Bearer read-secret", 200}, Case{"bearer read-secret", 200},
                       Case{"BEARER read-secret", 200}, Case{"bEaReR read-secret", 200},
                       Case{"bearer READ-SECRET", 401}, Case{"Basic read-secret", 401},
                       Case{"bearer", 401}, Case{"bearerread-secret", 401}}) {
    INFO(std::string(k.authorization));
    auto r = c.Get("/api/v1/alerts", {{"Authorization", k.authorization}});
    REQUIRE(r);
    CHECK(r->status == k.status);
  }
}

TEST_CASE("pipelined requests with bodies are each served once, in order") {
  FramingServer s;
  RawClient c(s.port());
  REQUIRE(c.connected());
  const std::string event = event_json();
  REQUIRE(
      c.send("POST /hooks/heartbeat/hb HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
             "POST /hooks/generic?token=secret HTTP/1.1\r\nHost: t\r\n"
             "Transfer-Encoding: chunked\r\n\r\n" +
             chunked(event) +
             // A GET may carry a body: it is read and set aside, not taken for a request.
             "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
             "POST /hooks/heartbeat/hb HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  REQUIRE(c.wait_closed(3s));
  INFO(c.received());
  CHECK(responses_in(c.received()) == 5);
  std::size_t at = 0;
  for (int i = 0; i < 5; ++i) {
    at = c.received().find("HTTP/1.1 ", at);
    REQUIRE(at != std::string::npos);
    CHECK(c.received().compare(at, 15, "HTTP/1.1 200 OK") == 0);
    ++at;
  }
}

TEST_CASE("Expect: 100-continue is answered before the body, unless the body is refused") {
  FramingServer s;
  const std::string body = event_json();
  RawClient c(s.port());
  REQUIRE(c.connected());
  REQUIRE(
      c.send("POST /hooks/generic?token=secret HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Expect: 100-continue\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n"));
  REQUIRE(c.wait_received("\r\n\r\n", 2s));
  CHECK(c.received() == "HTTP/1.1 100 Continue\r\n\r\n");
  REQUIRE(c.send(body));
  REQUIRE(c.wait_closed(3s));
  CHECK(c.received().find("HTTP/1.1 200 OK\r\n") != std::string::npos);
  CHECK(responses_in(c.received()) == 2);

  RawClient big(s.port());
  REQUIRE(big.connected());
  REQUIRE(
      big.send("POST /hooks/generic?token=secret HTTP/1.1\r\nHost: t\r\n"
               "Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n"));
  REQUIRE(big.wait_closed(2s));
  CHECK(first_line(big.received()) == "HTTP/1.1 413 Payload Too Large");
  CHECK(responses_in(big.received()) == 1);
}

}  // namespace e2e_http_framing_test
