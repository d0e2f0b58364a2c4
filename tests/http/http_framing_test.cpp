// RequestReader: one request's framing by RFC 9112, from tables. Each request is also fed
// one byte at a time, since a socket may split it anywhere.

#include "http/http_framing.hpp"

#include <doctest/doctest.h>

#include <string>

namespace http_http_framing_test {

using namespace tocsin;
using namespace tocsin::http;
using namespace std::string_literals;

namespace {

FramingLimits small_limits() {
  FramingLimits l;
  l.max_body_bytes = 100;
  l.max_headers = 5;
  l.max_request_line = 64;
  l.max_field_line = 64;
  l.max_chunk_line = 32;
  return l;
}

struct Fed {
  RequestReader::State state;
  std::size_t taken = 0;
  std::string head, body;
  FramingError error;
};

Fed feed(const std::string& bytes, bool bytewise) {
  RequestReader r(small_limits());
  Fed f{};
  if (bytewise) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (r.state() != RequestReader::State::head && r.state() != RequestReader::State::body) break;
      f.taken += r.take(std::string_view(bytes).substr(i, 1));
    }
  } else {
    f.taken = r.take(bytes);
  }
  f.state = r.state();
  if (f.state == RequestReader::State::complete) {
    f.head = r.normalized_head();
    f.body = r.take_body();
  }
  if (f.state == RequestReader::State::refused) f.error = r.error();
  return f;
}

constexpr const char* k_post = "POST /p HTTP/1.1\r\nHost: h\r\n";

}  // namespace

TEST_CASE("complete requests are normalized to one exact Content-Length") {
  const std::string post = k_post;
  struct Case {
    const char* intent;
    std::string request;
    std::string head;  // normalized
    std::string body;
  };
  const Case cases[] = {
      {"no body framing: an empty body (RFC 9112 §6.3)", post + "\r\n",
       post + "Content-Length: 0\r\n\r\n", ""},
      {"a Content-Length body", post + "Content-Length: 3\r\n\r\nabc",
       post + "Content-Length: 3\r\n\r\n", "abc"},
      {"leading zeros and repeated equal lengths",
       post + "Content-Length: 03, 3\r\nContent-Length: 3\r\n\r\nabc",
       post + "Content-Length: 3\r\n\r\n", "abc"},
      {"a chunked body is decoded, extensions and trailers dropped",
       post + "Transfer-Encoding: Chunked\r\n\r\n2;x=y\r\nab\r\n001 \r\nc\r\n0\r\nX-T: 1\r\n\r\n",
       post + "Content-Length: 3\r\n\r\n", "abc"},
      {"an empty chunked body", post + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       post + "Content-Length: 0\r\n\r\n", ""},
      {"Expect is answered by the reader, not passed on",
       post + "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
       post + "Content-Length: 1\r\n\r\n", "x"},
      {"field values lose their surrounding whitespace",
       "GET / HTTP/1.1\r\nHost:\th \r\nX-A:  b c \r\n\r\n",
       "GET / HTTP/1.1\r\nHost: h\r\nX-A: b c\r\nContent-Length: 0\r\n\r\n", ""},
      {"empty lines before the request line are skipped",
       "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", ""},
      {"HTTP/1.0 needs no Host", "GET / HTTP/1.0\r\n\r\n",
       "GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", ""},
      {"a later HTTP/1.x is served as HTTP/1.1", "GET / HTTP/1.7\r\nHost: h\r\n\r\n",
       "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", ""},
      {"a body at the limit", post + "Content-Length: 100\r\n\r\n" + std::string(100, 'b'),
       post + "Content-Length: 100\r\n\r\n", std::string(100, 'b')},
      {"Connection options are case-insensitive: close in any case is close",
       "GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\nX: y\r\n\r\n",
       "GET / HTTP/1.1\r\nHost: h\r\nX: y\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", ""},
      {"HTTP/1.0 keep-alive in any case", "GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n",
       "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", ""},
      {"other Connection options are dropped",
       "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n",
       "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", ""},
      {"Range is ignored, as RFC 9110 allows: no response is multiplied by its ranges",
       "GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-,0-\r\nIf-Range: x\r\n\r\n",
       "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", ""},
      {"an absolute-form target is served as origin-form (RFC 9112 §3.2.2)",
       "GET http://h:80/a?b=c HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", ""},
      {"an absolute-form target without a path is /", "GET HTTPS://h?x HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET /?x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", ""},
      {"Content-Encoding identity is no coding",
       post + "Content-Encoding: identity\r\nContent-Length: 1\r\n\r\nx",
       post + "Content-Encoding: identity\r\nContent-Length: 1\r\n\r\n", "x"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    for (bool bytewise : {false, true}) {
      CAPTURE(bytewise);
      const auto f = feed(k.request + "NEXT", bytewise);
      REQUIRE(f.state == RequestReader::State::complete);
      CHECK(f.taken == k.request.size());  // "NEXT" is left for the next request
      CHECK(f.head == k.head);
      CHECK(f.body == k.body);
    }
  }
}

TEST_CASE("requests that cannot be framed exactly are refused with the status RFC 9112 names") {
  const std::string post = k_post;
  const std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
  struct Case {
    const char* intent;
    std::string request;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {"Content-Length and Transfer-Encoding",
       post + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "ambiguous_length"},
      {"different Content-Length values", post + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
       400, "ambiguous_length"},
      {"a signed Content-Length", post + "Content-Length: +1\r\n\r\n", 400, "bad_content_length"},
      {"a Content-Length with a space inside", post + "Content-Length: 1 0\r\n\r\n", 400,
       "bad_content_length"},
      {"an empty Content-Length", post + "Content-Length:\r\n\r\n", 400, "bad_content_length"},
      {"a Content-Length of commas", post + "Content-Length: ,\r\n\r\n", 400, "bad_content_length"},
      {"a Content-Length over the limit", post + "Content-Length: 101\r\n\r\n", 413,
       "payload_too_large"},
      {"a Content-Length beyond 64 bits", post + "Content-Length: 99999999999999999999999\r\n\r\n",
       413, "payload_too_large"},
      {"chunked not last", post + "Transfer-Encoding: chunked, identity\r\n\r\n", 400,
       "bad_transfer_encoding"},
      {"identity alone", post + "Transfer-Encoding: identity\r\n\r\n", 400,
       "bad_transfer_encoding"},
      {"an empty Transfer-Encoding", post + "Transfer-Encoding: \r\n\r\n", 400,
       "bad_transfer_encoding"},
      {"chunked twice over two lines",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "bad_transfer_encoding"},
      {"a coding we do not decode", post + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501,
       "unsupported_transfer_encoding"},
      {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
       400, "bad_transfer_encoding"},
      {"chunked bodies over the limit, counted as they come",
       chunked + "40\r\n" + std::string(64, 'a') + "\r\n25\r\n", 413, "payload_too_large"},
      {"a chunk size beyond 64 bits", chunked + "fffffffffffffffff\r\n", 413, "payload_too_large"},
      {"a chunk size that is not hex", chunked + "g\r\n", 400, "bad_chunk"},
      {"a chunk size line without digits", chunked + ";x\r\n", 400, "bad_chunk"},
      {"a chunk-size line over its bound", chunked + "1;" + std::string(40, 'e'), 400, "bad_chunk"},
      {"chunk data longer than its size", chunked + "1\r\nab\r\n", 400, "bad_chunk"},
      {"a chunk-size line ending in LF", chunked + "1\nx\r\n", 400, "bad_chunk"},
      {"too many trailer fields", chunked + "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n", 431,
       "too_many_headers"},
      {"a trailer line over its bound", chunked + "0\r\nA: " + std::string(70, 'x'), 431,
       "header_too_large"},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400, "bad_header"},
      {"whitespace before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "bad_header"},
      {"a field without a colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", 400, "bad_header"},
      {"a control character in a value", "GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", 400,
       "bad_header"},
      {"a bare LF ends a line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "bad_request"},
      {"a bare CR in a line", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, "bad_request"},
      {"too many header fields",
       "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n", 431,
       "too_many_headers"},
      {"a header field line over its bound", "GET / HTTP/1.1\r\nX: " + std::string(70, 'x'), 431,
       "header_too_large"},
      {"a request line over its bound", "GET /" + std::string(70, 'a'), 414, "uri_too_long"},
      {"two spaces in the request line", "GET  / HTTP/1.1\r\n", 400, "bad_request_line"},
      {"a space in the target", "GET /a b HTTP/1.1\r\n", 400, "bad_request_line"},
      {"no version", "GET /\r\n", 400, "bad_request_line"},
      {"a method that is not a token", "G(T / HTTP/1.1\r\n", 400, "bad_request_line"},
      {"a method no HTTP specification defines", "BREW / HTTP/1.1\r\n", 501,
       "method_not_implemented"},
      {"methods are case-sensitive", "get / HTTP/1.1\r\n", 501, "method_not_implemented"},
      {"a lower-case protocol name", "GET / http/1.1\r\n", 400, "bad_request_line"},
      {"HTTP/2", "GET / HTTP/2.0\r\n", 505, "http_version_not_supported"},
      {"too many empty lines first", "\r\n\r\n\r\n\r\n\r\n", 400, "bad_request"},
      {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400, "bad_host"},
      {"two Host fields", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400, "bad_host"},
      {"a body in gzip", post + "Content-Encoding: gzip\r\nContent-Length: 1\r\n\r\n", 415,
       "unsupported_content_encoding"},
      {"an unknown expectation", post + "Expect: something\r\n\r\n", 417, "expectation_failed"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    for (bool bytewise : {false, true}) {
      CAPTURE(bytewise);
      const auto f = feed(k.request, bytewise);
      REQUIRE(f.state == RequestReader::State::refused);
      CHECK(f.error.status == k.status);
      CHECK(f.error.code == k.code);
    }
  }
}

TEST_CASE("a reader asks for 100 Continue only until the body begins") {
  RequestReader r(small_limits());
  r.take(std::string(k_post) + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  CHECK(r.wants_continue());
  r.take("a");
  CHECK_FALSE(r.wants_continue());
  r.take("b");
  CHECK(r.state() == RequestReader::State::complete);

  RequestReader http10(small_limits());
  http10.take("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  CHECK_FALSE(http10.wants_continue());  // HTTP/1.0 clients do not wait for it
}

TEST_CASE("a refusal is a whole JSON response that closes the connection") {
  const auto r = refusal_response({413, "payload_too_large", "too big"});
  const std::string body = R"({"detail":"too big","error":"payload_too_large"})";
  CHECK(r ==
        "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
        "Connection: close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(refusal_response({415, "x", "y"}).find("\r\nAccept-Encoding: identity\r\n") !=
        std::string::npos);
}

TEST_CASE("a refusal's detail quotes the client's bytes as printable ASCII, for the log") {
  struct Case {
    const char* intent;
    std::string request;
    std::string shown;  // how the offending bytes appear in the detail
  };
  const Case cases[] = {
      {"an escape sequence in the request line", "GET /\x1b[2J\x01 HTTP/1.1\r\n", "/\\x1b[2J\\x01"},
      {"a NUL in a field name", "GET / HTTP/1.1\r\nX-\0: v\r\n"s, "X-\\x00: v"},
      {"bytes over 0x7f in a field name", "GET / HTTP/1.1\r\nX-\xc3\xa9: v\r\n", "X-\\xc3\\xa9"},
      {"a control character after a chunk size",
       std::string(k_post) + "Transfer-Encoding: chunked\r\n\r\n1\x7f\r\n", "1\\x7f"},
  };
  for (const auto& k : cases) {
    INFO(std::string(k.intent));
    const auto f = feed(k.request, false);
    REQUIRE(f.state == RequestReader::State::refused);
    INFO(f.error.detail);
    CHECK(f.error.detail.find(k.shown) != std::string::npos);
    for (char c : f.error.detail) {
      const auto u = static_cast<unsigned char>(c);
      CHECK((u >= 0x20 && u < 0x7f));
    }
  }
}

TEST_CASE("a chunked body's framing is bounded on the wire, not only its decoded bytes") {
  FramingLimits limits;
  limits.max_body_bytes = 100'000;
  RequestReader r(limits);
  r.take(std::string(k_post) + "Transfer-Encoding: chunked\r\n\r\n");
  // One byte of data per chunk, each with a 4,000-byte extension: far under the decoded limit,
  // gigabytes on the wire if nothing else counts.
  const std::string chunk = "1;" + std::string(4000, 'x') + "\r\na\r\n";
  std::size_t sent = 0;
  while (r.state() == RequestReader::State::body && sent < 10 * max_chunked_wire_bytes(limits)) {
    r.take(chunk);
    sent += chunk.size();
  }
  REQUIRE(r.state() == RequestReader::State::refused);
  CHECK(r.error().status == 413);
  CHECK(sent <= max_chunked_wire_bytes(limits) + chunk.size());
  CHECK(r.error().detail.find("framing") != std::string::npos);
}

}  // namespace http_http_framing_test
