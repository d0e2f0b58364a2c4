#include "http/http_framing.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "core/json.hpp"
#include "core/text.hpp"

namespace tocsin::http {

namespace {

// Up to this many empty lines before a request line are skipped (RFC 9112 §2.2: "at least one").
constexpr std::size_t k_max_empty_lines = 4;

bool is_tchar(unsigned char c) {
  if (std::isalnum(c) != 0 && c < 0x80) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

// field-vchar, SP and HTAB (RFC 9110 §5.5): no control character but HTAB.
bool is_field_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back()))
    s.remove_suffix(1);
  return s;
}

// The elements of a comma-separated field value, trimmed; empty elements are skipped
// (RFC 9110 §5.6.1).
void split_list(std::string_view value, std::vector<std::string_view>& out) {
  for (;;) {
    const auto comma = value.find(',');
    const auto element = trim_ows(value.substr(0, comma));
    if (!element.empty()) out.push_back(element);
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

// The client's bytes as a detail shows them: at most 64 of them, quoted, and any byte that is
// not printable ASCII written as \xHH. Details are logged as they are, so a client must not be
// able to put an escape sequence, a NUL or invalid UTF-8 into the log through them.
std::string in_quotes(std::string_view s) {
  constexpr std::size_t k_shown = 64;
  constexpr std::string_view k_hex = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : s.substr(0, k_shown)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += k_hex[c >> 4];
      out += k_hex[c & 0xf];
    }
  }
  return out + (s.size() > k_shown ? "...\"" : "\"");
}

// The request target in origin form. RFC 9112 §3.2.2: a server MUST accept the absolute form
// ("http://host/path?query"), which our routes would not match; its Host field is what the
// routes see of the authority, and they do not look at it. nullopt for an absolute form
// without a host. Other forms ("*", CONNECT's authority form) are left as they are.
std::optional<std::string> origin_form(std::string_view target) {
  std::size_t scheme = 0;
  for (std::string_view prefix : {"http://", "https://"}) {
    if (target.size() >= prefix.size() && iequals(target.substr(0, prefix.size()), prefix)) {
      scheme = prefix.size();
    }
  }
  if (scheme == 0) return std::string(target);
  const auto rest = target.substr(scheme);
  const auto path = std::min(rest.find_first_of("/?"), rest.size());
  if (path == 0) return std::nullopt;
  const auto origin = rest.substr(path);
  return origin.starts_with('/') ? std::string(origin) : "/" + std::string(origin);
}

}  // namespace

std::size_t max_chunked_wire_bytes(const FramingLimits& limits) {
  return 2 * limits.max_body_bytes + 64 * 1024;
}

namespace {

std::string too_large_detail(std::size_t limit) {
  return "the request body exceeds the limit of " + std::to_string(limit) +
         " bytes (server.max_body_bytes)";
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

std::string refusal_response(const FramingError& error, bool head) {
  const auto body = Json{{"error", error.code}, {"detail", error.detail}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
  std::string out = "HTTP/1.1 " + std::to_string(error.status) + " " +
                    std::string(reason_phrase(error.status)) +
                    "\r\nContent-Type: application/json\r\n";
  // RFC 9110 §12.5.3: a 415 for a content coding says which codings are accepted.
  if (error.status == 415) out += "Accept-Encoding: identity\r\n";
  out += "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  // RFC 9110 §9.3.2: a response to HEAD has no content, only the length it would have had.
  return head ? out : out + body;
}

std::size_t RequestReader::take(std::string_view bytes) {
  std::size_t used = 0;
  while (used < bytes.size() && (m_state == State::head || m_state == State::body)) {
    const auto rest = bytes.substr(used);
    if (m_state == State::head) {
      used += take_head(rest);
    } else {
      const auto n = m_body_kind == Body::length ? take_length_body(rest) : take_chunked_body(rest);
      m_body_taken += n;
      used += n;
      // Chunk sizes, extensions and trailers cost bytes that decode to nothing: bound them too,
      // or a stream of 1-byte chunks with 4 KiB extensions sends gigabytes within the limit.
      if (m_body_kind == Body::chunked && m_state == State::body &&
          m_body_taken > max_chunked_wire_bytes(m_limits)) {
        refuse(413, "payload_too_large",
               "the chunked body's framing (chunk sizes, extensions, trailers) exceeds " +
                   std::to_string(max_chunked_wire_bytes(m_limits)) +
                   " bytes on the wire; send larger chunks");
      }
    }
  }
  m_taken += used;
  return used;
}

bool RequestReader::collect_line(std::string_view bytes, std::size_t& used, std::size_t limit,
                                 const FramingError& too_long) {
  const auto lf = bytes.find('\n');
  const auto n = lf == std::string_view::npos ? bytes.size() : lf + 1;
  if (m_line.size() + n > limit) {
    refuse(too_long.status, too_long.code, too_long.detail);
    return false;
  }
  m_line.append(bytes.substr(0, n));
  used += n;
  return lf != std::string_view::npos;
}

std::size_t RequestReader::take_head(std::string_view bytes) {
  std::size_t used = 0;
  const bool first = m_method.empty();
  const FramingError too_long =
      first ? FramingError{414, "uri_too_long",
                           "the request line is longer than " +
                               std::to_string(m_limits.max_request_line) + " bytes"}
            : FramingError{431, "header_too_large",
                           "a header field line is longer than " +
                               std::to_string(m_limits.max_field_line) + " bytes"};
  if (collect_line(bytes, used, first ? m_limits.max_request_line : m_limits.max_field_line,
                   too_long)) {
    const std::string line = std::move(m_line);
    m_line.clear();
    head_line(line);
  }
  return used;
}

void RequestReader::head_line(std::string_view line) {
  // `line` ends with LF. RFC 9112 §2.2: CRLF ends a line; we refuse a bare LF, and a bare CR.
  if (line.size() < 2 || line[line.size() - 2] != '\r') {
    return refuse(400, "bad_request", "a line of the request ends with LF alone, not CRLF");
  }
  line.remove_suffix(2);
  if (line.find('\r') != std::string_view::npos) {
    return refuse(400, "bad_request", "a line of the request holds a bare CR");
  }
  if (m_method.empty()) {
    if (!line.empty()) return request_line(line);
    if (++m_empty_lines > k_max_empty_lines) {
      refuse(400, "bad_request", "empty lines where the request line belongs");
    }
    return;
  }
  if (line.empty()) return end_of_head();
  field_line(line, false);
}

void RequestReader::request_line(std::string_view line) {
  // method SP request-target SP HTTP-version, one space each (RFC 9112 §3).
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  const auto bad = [&] {
    refuse(400, "bad_request_line",
           "the request line must be METHOD SP TARGET SP HTTP/1.1, got " + in_quotes(line));
  };
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return bad();
  }
  const auto method = line.substr(0, sp1);
  const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = line.substr(sp2 + 1);
  const bool target_ok = !target.empty() && std::all_of(target.begin(), target.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7f;
  });
  const bool version_ok = version.size() == 8 && version.starts_with("HTTP/") &&
                          std::isdigit(static_cast<unsigned char>(version[5])) != 0 &&
                          version[6] == '.' &&
                          std::isdigit(static_cast<unsigned char>(version[7])) != 0;
  if (!is_token(method) || !target_ok || !version_ok) return bad();
  auto origin = origin_form(target);
  if (!origin) return bad();
  // RFC 9110 §9.1: 501 for a method the server does not recognize. These are the ones
  // cpp-httplib parses; a known one that a path does not take is a 405 (make_http_server).
  static constexpr std::string_view k_methods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                   "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  if (std::find(std::begin(k_methods), std::end(k_methods), method) == std::end(k_methods)) {
    return refuse(501, "method_not_implemented",
                  "method " + in_quotes(method) + " is not implemented by this server");
  }
  if (version[5] != '1') {
    return refuse(505, "http_version_not_supported",
                  "this server speaks HTTP/1.1 and HTTP/1.0, not " + std::string(version));
  }
  m_method = method;
  m_target = std::move(*origin);
  // A later HTTP/1.x is answered as HTTP/1.1 (RFC 9110 §6.2).
  m_version = version[7] == '0' ? "HTTP/1.0" : "HTTP/1.1";
}

void RequestReader::field_line(std::string_view line, bool trailer) {
  if (is_ows(line.front())) {
    return refuse(400, "bad_header",
                  "a header field line begins with whitespace (obs-fold is not accepted)");
  }
  const auto colon = line.find(':');
  const auto name = line.substr(0, colon);
  if (colon == std::string_view::npos || !is_token(name)) {
    return refuse(400, "bad_header",
                  "a header field must be NAME: VALUE with no whitespace before the colon, got " +
                      in_quotes(line));
  }
  const auto value = trim_ows(line.substr(colon + 1));
  if (!is_field_text(value)) {
    return refuse(400, "bad_header", "header " + in_quotes(name) + " holds a control character");
  }
  if (m_fields.size() + m_trailers >= m_limits.max_headers) {
    return refuse(431, "too_many_headers",
                  "more than " + std::to_string(m_limits.max_headers) +
                      " request headers (trailer fields included)");
  }
  if (trailer) {
    ++m_trailers;  // RFC 9112 §7.1.2: trailer fields may be dropped
  } else {
    m_fields.emplace_back(name, value);
  }
}

void RequestReader::end_of_head() {
  std::size_t hosts = 0;
  bool has_te = false, has_cl = false;
  std::vector<std::string_view> codings, lengths, content_codings;
  std::vector<std::string_view> expectations;
  for (const auto& [name, value] : m_fields) {
    if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "transfer-encoding")) {
      has_te = true;
      split_list(value, codings);
    } else if (iequals(name, "content-length")) {
      has_cl = true;
      // An empty value is refused below, not skipped.
      if (trim_ows(value).empty()) lengths.emplace_back();
      split_list(value, lengths);
    } else if (iequals(name, "content-encoding")) {
      split_list(value, content_codings);
    } else if (iequals(name, "expect")) {
      expectations.push_back(value);
    }
  }

  // RFC 9112 §3.2: a server MUST answer 400 to HTTP/1.1 without Host, and to any request
  // with more than one.
  if (hosts > 1 || (hosts == 0 && m_version == "HTTP/1.1")) {
    return refuse(
        400, "bad_host",
        hosts > 1 ? "more than one Host header" : "an HTTP/1.1 request needs a Host header");
  }

  if (has_te && has_cl) {
    return refuse(400, "ambiguous_length",
                  "both Content-Length and Transfer-Encoding: the body's length is ambiguous");
  }
  if (has_te) {
    if (m_version == "HTTP/1.0") {
      return refuse(400, "bad_transfer_encoding", "Transfer-Encoding is not part of HTTP/1.0");
    }
    if (codings.empty() || !iequals(codings.back(), "chunked")) {
      return refuse(400, "bad_transfer_encoding",
                    "the last transfer coding must be chunked, or the body's length is unknown; "
                    "got " +
                        in_quotes(codings.empty() ? std::string_view() : codings.back()));
    }
    for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
      if (iequals(codings[i], "chunked")) {
        return refuse(400, "bad_transfer_encoding", "chunked is applied more than once");
      }
    }
    if (codings.size() > 1) {
      return refuse(501, "unsupported_transfer_encoding",
                    "transfer coding " + in_quotes(codings.front()) +
                        " is not supported: send the body as it is, chunked or with "
                        "Content-Length");
    }
    m_body_kind = Body::chunked;
  }
  if (has_cl) {
    std::string_view length;
    for (auto v : lengths) {
      if (v.empty() ||
          !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return refuse(400, "bad_content_length",
                      "Content-Length must be decimal digits, got " + in_quotes(v));
      }
      while (v.size() > 1 && v.front() == '0')
        v.remove_prefix(1);
      if (!length.empty() && v != length) {
        return refuse(400, "ambiguous_length",
                      "Content-Length values differ: the body's length is ambiguous");
      }
      length = v;
    }
    if (length.empty()) return refuse(400, "bad_content_length", "Content-Length is empty");
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if (ec != std::errc() || end != length.data() + length.size() || n > m_limits.max_body_bytes) {
      return refuse(413, "payload_too_large", too_large_detail(m_limits.max_body_bytes));
    }
    m_length = n;
    if (n > 0) m_body_kind = Body::length;
  }

  if (m_body_kind != Body::none) {
    for (auto c : content_codings) {
      if (!iequals(c, "identity")) {
        return refuse(
            415, "unsupported_content_encoding",
            "content coding " + in_quotes(c) + " is not accepted: send the body as it is");
      }
    }
  }
  for (auto e : expectations) {
    if (!iequals(e, "100-continue")) {
      return refuse(417, "expectation_failed",
                    "the only expectation understood is 100-continue, got " + in_quotes(e));
    }
    m_expects_continue = m_version == "HTTP/1.1";
  }

  if (m_body_kind == Body::none) return complete();
  if (m_body_kind == Body::length) m_body.reserve(m_length);
  m_state = State::body;
}

std::size_t RequestReader::take_length_body(std::string_view bytes) {
  const auto n = std::min(bytes.size(), m_length - m_body.size());
  m_body.append(bytes.substr(0, n));
  if (m_body.size() == m_length) complete();
  return n;
}

std::size_t RequestReader::take_chunked_body(std::string_view bytes) {
  std::size_t used = 0;
  switch (m_chunk) {
    case Chunk::size_line:
      if (collect_line(bytes, used, m_limits.max_chunk_line,
                       {400, "bad_chunk",
                        "a chunk-size line is longer than " +
                            std::to_string(m_limits.max_chunk_line) + " bytes"})) {
        const std::string line = std::move(m_line);
        m_line.clear();
        chunk_size_line(line);
      }
      return used;
    case Chunk::data: {
      const auto n = std::min(bytes.size(), m_chunk_left);
      m_body.append(bytes.substr(0, n));
      m_chunk_left -= n;
      if (m_chunk_left == 0) {
        m_chunk = Chunk::data_end;
        m_chunk_end = 0;
      }
      return n;
    }
    case Chunk::data_end:
      if (bytes.front() != (m_chunk_end == 0 ? '\r' : '\n')) {
        refuse(400, "bad_chunk", "a chunk's data does not end with CRLF where its size says");
        return 0;
      }
      if (++m_chunk_end == 2) m_chunk = Chunk::size_line;
      return 1;
    case Chunk::trailers:
      if (collect_line(bytes, used, m_limits.max_field_line,
                       {431, "header_too_large",
                        "a trailer field line is longer than " +
                            std::to_string(m_limits.max_field_line) + " bytes"})) {
        std::string_view line = m_line;
        if (line.size() < 2 || line[line.size() - 2] != '\r' ||
            line.substr(0, line.size() - 2).find('\r') != std::string_view::npos) {
          refuse(400, "bad_chunk", "a trailer line does not end with CRLF");
        } else if (line.size() == 2) {
          complete();
        } else {
          field_line(line.substr(0, line.size() - 2), true);
        }
        m_line.clear();
      }
      return used;
  }
  return used;
}

void RequestReader::chunk_size_line(std::string_view line) {
  // chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1); extensions are ignored.
  if (line.size() < 2 || line[line.size() - 2] != '\r') {
    return refuse(400, "bad_chunk", "a chunk-size line ends with LF alone, not CRLF");
  }
  line.remove_suffix(2);
  const auto digits = std::min(line.find_first_not_of("0123456789abcdefABCDEF"), line.size());
  auto rest = line.substr(digits);
  while (!rest.empty() && is_ows(rest.front()))
    rest.remove_prefix(1);
  if (digits == 0 || (!rest.empty() && rest.front() != ';') || !is_field_text(rest)) {
    return refuse(400, "bad_chunk", "a chunk size must be hexadecimal, got " + in_quotes(line));
  }
  auto hex = line.substr(0, digits);
  while (hex.size() > 1 && hex.front() == '0')
    hex.remove_prefix(1);
  std::size_t size = 0;
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
  if (ec != std::errc() || end != hex.data() + hex.size() ||
      size > m_limits.max_body_bytes - m_body.size()) {
    return refuse(413, "payload_too_large", too_large_detail(m_limits.max_body_bytes));
  }
  if (size == 0) {
    m_chunk = Chunk::trailers;
  } else {
    m_chunk = Chunk::data;
    m_chunk_left = size;
  }
}

void RequestReader::complete() {
  m_normalized = m_method + " " + m_target + " " + m_version + "\r\n";
  bool close = false, keep_alive = false;
  std::vector<std::string_view> options;
  for (const auto& [name, value] : m_fields) {
    // The framing is decoded here; cpp-httplib gets the one length that is true.
    if (iequals(name, "transfer-encoding") || iequals(name, "content-length") ||
        iequals(name, "expect")) {
      continue;
    }
    // cpp-httplib 0.11.4 would answer a Range with every range asked for, each a copy of the
    // response (two thousand copies fit in one field line); RFC 9110 §14.2 lets a server
    // ignore Range, and no route of ours has a use for it.
    if (iequals(name, "range") || iequals(name, "if-range")) continue;
    // cpp-httplib matches Connection against "close" and "Keep-Alive" exactly; options are
    // case-insensitive and come in lists (RFC 9110 §7.6.1), so it gets the one that counts.
    if (iequals(name, "connection")) {
      options.clear();
      split_list(value, options);
      for (auto o : options) {
        close = close || iequals(o, "close");
        keep_alive = keep_alive || iequals(o, "keep-alive");
      }
      continue;
    }
    m_normalized += name + ": " + value + "\r\n";
  }
  if (close) {
    m_normalized += "Connection: close\r\n";
  } else if (keep_alive && m_version == "HTTP/1.0") {
    m_normalized += "Connection: Keep-Alive\r\n";
  }
  m_normalized += "Content-Length: " + std::to_string(m_body.size()) + "\r\n\r\n";
  m_state = State::complete;
}

void RequestReader::refuse(int status, std::string code, std::string detail) {
  m_error = FramingError{status, std::move(code), std::move(detail)};
  m_state = State::refused;
}

}  // namespace tocsin::http
