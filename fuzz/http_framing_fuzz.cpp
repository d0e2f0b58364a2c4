// http/http_framing.hpp RequestReader on arbitrary bytes from a connection.
//
// Input layout: byte 0 picks the limits (bit 0: small ones, so that every limit is reachable
// by a short input), bytes 1-3 pick three split points (each a fraction of the rest, /256);
// the rest is what the client sent. The same bytes are fed whole, in the four pieces the split
// points make, and one byte at a time: a socket may cut a request anywhere, so all three must
// reach the same state and produce the same request or refusal.
//
// What the listener relies on (http/guarded_server.cpp):
//  - a complete request's normalized head is one cpp-httplib can parse without reframing it:
//    a request line, field lines each ending in CRLF with no bare CR or LF and no NUL, exactly
//    one Content-Length equal to the decoded body's size, no Transfer-Encoding and no Expect;
//  - the body never exceeds max_body_bytes, no line exceeds its bound, the head holds no more
//    than max_headers fields of the client's;
//  - a refusal carries a status the listener answers itself, a code, and a detail that is
//    printable ASCII (it is logged: a client must not be able to write control bytes to the log);
//  - the bytes taken never exceed those given, and a request still unfinished took them all;
//    a complete request took the same bytes however they came.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_framing.hpp"
#include "invariants.hpp"

namespace {

using tocsin::http::FramingError;
using tocsin::http::FramingLimits;
using tocsin::http::RequestReader;

struct Outcome {
  RequestReader::State state = RequestReader::State::head;
  std::size_t taken = 0;
  std::string head, body;
  FramingError error;
  bool continued = false;  // wants_continue() was seen at some point

  // What a refused request took does not matter (the rest is never read), and differs: a line
  // over its bound is refused before any of it is taken when it comes whole, after its first
  // pieces were taken when it comes in pieces.
  bool operator==(const Outcome& o) const {
    return state == o.state && (state == RequestReader::State::refused || taken == o.taken) &&
           head == o.head && body == o.body && error.status == o.error.status &&
           error.code == o.error.code && error.detail == o.error.detail;
  }
};

bool open(const RequestReader& r) {
  return r.state() == RequestReader::State::head || r.state() == RequestReader::State::body;
}

// Feeds `bytes` in the pieces that `cuts` (ascending offsets) make, as the listener does: a
// piece is offered until the reader stops taking from it.
Outcome feed(const FramingLimits& limits, std::string_view bytes,
             const std::vector<std::size_t>& cuts) {
  RequestReader r(limits);
  Outcome o;
  std::size_t from = 0;
  auto offer = [&](std::size_t to) {
    while (from < to && open(r)) {
      const auto n = r.take(bytes.substr(from, to - from));
      TOCSIN_FUZZ_CHECK(n <= to - from);
      // Unfinished, the reader takes everything it is given.
      TOCSIN_FUZZ_CHECK(!open(r) || n == to - from);
      from += n;
      o.continued = o.continued || r.wants_continue();
      TOCSIN_FUZZ_CHECK(!r.wants_continue() || r.state() == RequestReader::State::body);
    }
  };
  for (auto cut : cuts)
    offer(cut);
  offer(bytes.size());
  o.taken = from;
  o.state = r.state();
  TOCSIN_FUZZ_CHECK(r.started() == (from > 0));
  if (o.state == RequestReader::State::complete) {
    o.head = r.normalized_head();
    o.body = r.take_body();
  } else if (o.state == RequestReader::State::refused) {
    o.error = r.error();
  }
  return o;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

void check_complete(const FramingLimits& limits, const Outcome& o) {
  TOCSIN_FUZZ_CHECK(o.body.size() <= limits.max_body_bytes);
  std::string_view head = o.head;
  TOCSIN_FUZZ_CHECK(head.ends_with("\r\n\r\n"));
  TOCSIN_FUZZ_CHECK(head.find('\0') == std::string_view::npos);
  std::size_t lines = 0, lengths = 0, connections = 0;
  bool first = true;
  while (!head.empty()) {
    const auto crlf = head.find("\r\n");
    TOCSIN_FUZZ_CHECK(crlf != std::string_view::npos);
    const auto line = head.substr(0, crlf);
    head.remove_prefix(crlf + 2);
    // A bare CR or LF would let cpp-httplib see a line boundary we did not.
    TOCSIN_FUZZ_CHECK(line.find_first_of("\r\n") == std::string_view::npos);
    if (line.empty()) {
      TOCSIN_FUZZ_CHECK(head.empty());  // the empty line ends the head, and only it
      break;
    }
    if (first) {
      first = false;
      TOCSIN_FUZZ_CHECK(line.size() <= limits.max_request_line);
      TOCSIN_FUZZ_CHECK(line.ends_with(" HTTP/1.1") || line.ends_with(" HTTP/1.0"));
      TOCSIN_FUZZ_CHECK(std::count(line.begin(), line.end(), ' ') == 2);
      // The target is in origin form, or "*", or CONNECT's authority: never absolute.
      const auto target = line.substr(line.find(' ') + 1);
      TOCSIN_FUZZ_CHECK(!iequals(target.substr(0, 7), "http://") &&
                        !iequals(target.substr(0, 8), "https://"));
      continue;
    }
    ++lines;
    // cpp-httplib reads a line into an 8 KiB buffer: a longer one would be cut.
    TOCSIN_FUZZ_CHECK(line.size() + 2 <= 8192);
    const auto colon = line.find(": ");
    TOCSIN_FUZZ_CHECK(colon != std::string_view::npos && colon > 0);
    const auto name = line.substr(0, colon);
    const auto value = line.substr(colon + 2);
    TOCSIN_FUZZ_CHECK(!iequals(name, "transfer-encoding"));
    TOCSIN_FUZZ_CHECK(!iequals(name, "expect"));
    TOCSIN_FUZZ_CHECK(!iequals(name, "range") && !iequals(name, "if-range"));
    if (iequals(name, "connection")) {
      ++connections;
      TOCSIN_FUZZ_CHECK(value == "close" || value == "Keep-Alive");
    }
    if (iequals(name, "content-length")) {
      ++lengths;
      TOCSIN_FUZZ_CHECK(value == std::to_string(o.body.size()));
    }
  }
  TOCSIN_FUZZ_CHECK(lengths == 1);
  TOCSIN_FUZZ_CHECK(connections <= 1);
  TOCSIN_FUZZ_CHECK(lines <= limits.max_headers + 1);  // the client's, and our Content-Length
}

void check_refused(const Outcome& o) {
  static constexpr int k_statuses[] = {400, 413, 414, 415, 417, 431, 501, 505};
  TOCSIN_FUZZ_CHECK(std::find(std::begin(k_statuses), std::end(k_statuses), o.error.status) !=
                    std::end(k_statuses));
  TOCSIN_FUZZ_CHECK(!o.error.code.empty());
  TOCSIN_FUZZ_CHECK(!o.error.detail.empty());
  TOCSIN_FUZZ_CHECK(tocsin::fuzz::is_printable_ascii(o.error.detail));
  const auto response = tocsin::http::refusal_response(o.error);
  TOCSIN_FUZZ_CHECK(response.starts_with("HTTP/1.1 " + std::to_string(o.error.status) + " "));
  const auto end = response.find("\r\n\r\n");
  TOCSIN_FUZZ_CHECK(end != std::string::npos);
  const auto length_at = response.find("\r\nContent-Length: ");
  TOCSIN_FUZZ_CHECK(length_at != std::string::npos && length_at < end);
  const auto length =
      response.substr(length_at + 18, response.find("\r\n", length_at + 2) - length_at - 18);
  TOCSIN_FUZZ_CHECK(length == std::to_string(response.size() - end - 4));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  FramingLimits limits;
  if ((data[0] & 1) != 0) {
    limits.max_body_bytes = 100;
    limits.max_headers = 5;
    limits.max_request_line = 64;
    limits.max_field_line = 64;
    limits.max_chunk_line = 32;
  }
  const auto bytes = tocsin::fuzz::as_text(data + 4, size - 4);
  std::vector<std::size_t> cuts;
  for (int i = 1; i <= 3; ++i)
    cuts.push_back(bytes.size() * data[i] / 256);
  std::sort(cuts.begin(), cuts.end());

  const auto whole = feed(limits, bytes, {});
  TOCSIN_FUZZ_CHECK(whole.taken <= bytes.size());
  TOCSIN_FUZZ_CHECK(whole.state != RequestReader::State::head &&
                            whole.state != RequestReader::State::body
                        ? true
                        : whole.taken == bytes.size());
  if (whole.state == RequestReader::State::complete) check_complete(limits, whole);
  if (whole.state == RequestReader::State::refused) check_refused(whole);

  const auto split = feed(limits, bytes, cuts);
  TOCSIN_FUZZ_CHECK(split == whole);

  std::vector<std::size_t> every(bytes.size());
  for (std::size_t i = 0; i < every.size(); ++i)
    every[i] = i;
  const auto bytewise = feed(limits, bytes, every);
  TOCSIN_FUZZ_CHECK(bytewise == whole);
  // Fed whole, the body's first bytes arrive with the head, so "100 Continue" is never due;
  // byte by byte it is due for any body that needed it: at most the bytewise feed sees it.
  TOCSIN_FUZZ_CHECK(!whole.continued || bytewise.continued);
  return 0;
}
