#pragma once
// Reads one HTTP/1.1 request off a connection by RFC 9112, within the listener's limits,
// before cpp-httplib sees any of it. Pure: bytes in, a decision out; no sockets, no clock.
//
// Why our own: Debian's cpp-httplib 0.11.4 is precompiled, and its parser frames requests in
// ways a public listener cannot keep: it counts no chunked byte against the body limit, serves
// the bytes after a chunked body that also had a Content-Length as a second request
// (smuggling), reads a POST without Content-Length until the connection closes, accepts
// "Content-Length: +30", and waits out the read timeout on a transfer coding it cannot decode.
// So the listener (http/guarded_server.cpp) reads each request with a RequestReader first,
// answers a refusal itself and closes the connection, and hands cpp-httplib only a complete,
// normalized request: the request line (in origin form) and fields without Transfer-Encoding,
// Content-Length, Expect, Range or If-Range, with one Connection option that cpp-httplib reads
// as the client meant it, plus one exact Content-Length, with the decoded body beside it. What
// follows the request on the connection stays with the listener for the next request (pipelining).
//
// Choices where RFC 9112 leaves one (README "HTTP limits" lists them):
//  - lines end with CRLF; a bare LF or a bare CR anywhere in the head is a 400 (§2.2 allows
//    either; refusing leaves no room to disagree with a proxy in front about where a line ends);
//  - a field line folded over two (obs-fold), or whitespace before a field's colon: 400 (§5);
//  - up to 4 empty lines before the request line are skipped (§2.2);
//  - repeated Content-Length values that are all equal are one length (§6.3 allows it);
//  - Transfer-Encoding and Content-Length together: 400, whichever comes first (§6.3);
//  - a transfer coding other than a single, final "chunked": 400 if "chunked" is not final
//    (the length is then unknowable), 501 for a coding before it that we do not decode (§6.1);
//  - no Content-Length and no Transfer-Encoding: the body is empty (§6.3, item 7);
//  - chunk extensions are ignored and trailer fields dropped (§7.1.1, §7.1.2);
//  - an absolute-form target is served as its origin form (§3.2.2);
//  - Range and If-Range are dropped: every response is whole (RFC 9110 §14.2 allows it);
//  - Connection options are matched case-insensitively: "close" in any case closes, and so
//    does "keep-alive" keep an HTTP/1.0 connection open;
//  - Content-Encoding other than identity on a body: 415 (RFC 9110 §8.4.1), so no decoder ever
//    expands a body past max_body_bytes;
//  - HTTP/1.1 needs exactly one Host field, HTTP/1.0 at most one (§3.2);
//  - a method other than the nine of RFC 9110 and RFC 5789 (PATCH) is a 501 (RFC 9110 §9.1).

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tocsin::http {

struct FramingLimits {
  std::size_t max_body_bytes = 1024 * 1024;  // decoded bytes; 413 above
  std::size_t max_headers = 100;             // field lines, trailers included; 431 above
  std::size_t max_request_line = 8192;       // 414 above (cpp-httplib's own bound)
  // One field line with its CRLF; 431 above. Under cpp-httplib's own 8192, so the line still
  // fits once normalized ("name:value" becomes "name: value").
  std::size_t max_field_line = 8190;
  std::size_t max_chunk_line = 4096;  // a chunk size with its extensions; 400 above
};

// How many bytes a chunked body may take on the wire, framing included: twice the decoded
// limit and a little more, so a client sending tiny chunks with long extensions is refused
// (413) as one sending too much data is.
std::size_t max_chunked_wire_bytes(const FramingLimits& limits);

// A request the listener answers itself, then closes the connection: the status and the
// `{"error": code, "detail": detail}` body.
struct FramingError {
  int status = 400;
  std::string code;
  std::string detail;
};

// The reason phrase of a status this listener answers itself.
std::string_view reason_phrase(int status);

// The whole response to a refused request: JSON body (none when answering HEAD, `head`),
// Connection: close.
std::string refusal_response(const FramingError& error, bool head = false);

class RequestReader {
 public:
  explicit RequestReader(FramingLimits limits) : m_limits(limits) {}

  enum class State { head, body, complete, refused };

  // Takes what belongs to this request from the front of `bytes` and returns how many bytes
  // it took: all of them while the request is unfinished, fewer once it is complete (the rest
  // begins the next request) or refused (the rest is never read).
  std::size_t take(std::string_view bytes);

  State state() const { return m_state; }
  bool started() const { return m_taken > 0; }
  // The request line says HEAD: whatever answers it sends no body.
  bool head_request() const { return m_method == "HEAD"; }
  // The head asked for "100 Continue" and no byte of the body has arrived yet.
  bool wants_continue() const {
    return m_state == State::body && m_expects_continue && m_body_taken == 0;
  }

  // REQUIRES state() == refused.
  const FramingError& error() const { return m_error; }

  // REQUIRES state() == complete. The request line and fields, for cpp-httplib to parse.
  const std::string& normalized_head() const { return m_normalized; }
  // REQUIRES state() == complete. The decoded body; the reader gives it up.
  std::string take_body() { return std::move(m_body); }

 private:
  enum class Body { none, length, chunked };
  enum class Chunk { size_line, data, data_end, trailers };

  std::size_t take_head(std::string_view bytes);
  std::size_t take_length_body(std::string_view bytes);
  std::size_t take_chunked_body(std::string_view bytes);
  // Appends bytes up to the next LF to m_line; true when the line is whole (with its LF).
  // `limit` bounds the line; over it, refuses with `too_long` and returns false.
  bool collect_line(std::string_view bytes, std::size_t& used, std::size_t limit,
                    const FramingError& too_long);
  void head_line(std::string_view line);
  void request_line(std::string_view line);
  void field_line(std::string_view line, bool trailer);
  void end_of_head();
  void chunk_size_line(std::string_view line);
  void complete();
  void refuse(int status, std::string code, std::string detail);

  const FramingLimits m_limits;
  State m_state = State::head;
  FramingError m_error;
  std::size_t m_taken = 0;

  std::string m_line;  // the line being collected, up to its LF
  std::size_t m_empty_lines = 0;
  std::string m_method, m_target, m_version;
  std::vector<std::pair<std::string, std::string>> m_fields;  // as sent, values trimmed
  std::size_t m_trailers = 0;

  Body m_body_kind = Body::none;
  bool m_expects_continue = false;
  std::size_t m_length = 0;      // Body::length: the Content-Length
  std::size_t m_body_taken = 0;  // bytes of the body's framing taken (chunk lines included)
  Chunk m_chunk = Chunk::size_line;
  std::size_t m_chunk_left = 0;  // Chunk::data: bytes of the chunk still to come
  std::size_t m_chunk_end = 0;   // Chunk::data_end: bytes of its CRLF seen
  std::string m_body;
  std::string m_normalized;
};

}  // namespace tocsin::http
