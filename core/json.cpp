#include "core/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace tocsin {

bool is_valid_utf8(std::string_view s, std::size_t* bad_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  auto fail = [&](std::size_t at) {
    if (bad_offset) *bad_offset = at;
    return false;
  };
  while (i < n) {
    // Eight ASCII bytes at a time: most of any payload is ASCII.
    if (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, p + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = 3;
    } else if (c == 0xED) {
      len = 3, hi = 0x9F;  // excludes UTF-16 surrogates
    } else if (c == 0xF0) {
      len = 4, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4, hi = 0x8F;
    } else {
      return fail(i);
    }
    if (i + len > n) return fail(i);
    if (p[i + 1] < lo || p[i + 1] > hi) return fail(i);
    for (std::size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return fail(i);
    }
    i += len;
  }
  return true;
}

namespace {

// RFC 8259's insignificant whitespace.
bool is_json_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Builds the DOM like nlohmann's own SAX DOM parser, but refuses duplicate keys and nesting
// deeper than the limit. Stopping early (returning false) is what keeps a 10,000-level
// document from ever being built.
class StrictSaxBuilder : public nlohmann::json_sax<Json> {
 public:
  StrictSaxBuilder(Json& root, int max_depth) : m_root(root), m_max_depth(max_depth) {}

  bool null() override { return add(nullptr); }
  bool boolean(bool v) override { return add(v); }
  bool number_integer(number_integer_t v) override { return add(v); }
  bool number_unsigned(number_unsigned_t v) override { return add(v); }
  bool number_float(number_float_t v, const string_t&) override { return add(v); }
  bool string(string_t& v) override { return add(std::move(v)); }
  bool binary(binary_t&) override { return fail("invalid_json", "binary values are not JSON"); }

  bool start_object(std::size_t) override { return open(Json::object()); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Json::array()); }
  bool end_array() override { return close(); }

  bool key(string_t& k) override {
    // parse_json_strict refuses a NUL byte in the body; an escaped one (\u0000) decodes to the
    // same byte. A key is a name (a label, a field) with no use for one, and a NUL there would
    // let two different names print alike in logs, fingerprints and any C-string consumer.
    // String values keep theirs: text such as an OpsGenie note may carry one
    // (tests/fixtures/edge/README.md), and is escaped again on output.
    if (k.find('\0') != string_t::npos) {
      return fail("invalid_json", "an object key contains NUL (\\u0000)");
    }
    Json& object = *m_stack.back();
    if (object.contains(k)) {
      return fail("duplicate_key", "duplicate object key \"" + k + "\"");
    }
    m_key = std::move(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    if (m_error.code.empty()) {
      m_error = {"invalid_json", "not valid JSON at byte " + std::to_string(position) + ": " +
                                     strip_prefix(ex.what())};
    }
    return false;
  }

  const JsonError& error() const { return m_error; }

 private:
  static std::string strip_prefix(const std::string& what) {
    // nlohmann messages start with "[json.exception.parse_error.101] parse error at ...: ".
    auto colon = what.rfind("; ");
    return colon == std::string::npos ? what : what.substr(colon + 2);
  }

  bool fail(std::string code, std::string detail) {
    if (m_error.code.empty()) m_error = {std::move(code), std::move(detail)};
    return false;
  }

  // Places `v` in the current container (or as the root) and returns where it went.
  Json* place(Json&& v) {
    if (m_stack.empty()) {
      m_root = std::move(v);
      return &m_root;
    }
    Json& parent = *m_stack.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    Json& slot = parent[m_key];
    slot = std::move(v);
    return &slot;
  }

  template <typename T>
  bool add(T&& v) {
    place(Json(std::forward<T>(v)));
    return true;
  }

  bool open(Json&& container) {
    if (static_cast<int>(m_stack.size()) >= m_max_depth) {
      return fail("json_too_deep",
                  "JSON nesting deeper than " + std::to_string(m_max_depth) + " levels");
    }
    m_stack.push_back(place(std::move(container)));
    return true;
  }

  bool close() {
    m_stack.pop_back();
    return true;
  }

  Json& m_root;
  int m_max_depth;
  std::vector<Json*> m_stack;
  std::string m_key;
  JsonError m_error;
};

// The fast path of parse_json_strict: a recursive-descent parser for well-formed input that
// builds the same DOM nlohmann's SAX parser would (unsigned for a non-negative integer, signed
// for a negative one, a double past either range or with a fraction or exponent). It accepts
// only what it is sure of: at anything it does not take (an error of any kind, a duplicate
// key, a key holding NUL, nesting past the limit, a number from_chars will not give exactly),
// it gives up and the nlohmann path decides and words the error, so both paths accept the
// same documents and refuse them in the same words. The text has already been checked for
// NUL bytes and valid UTF-8. It exists for speed: nlohmann's lexer reads a byte at a time
// through its input adapter and was 30 % of the user-space instructions of ingest.
class FastParser {
 public:
  FastParser(std::string_view text, int max_depth)
      : m_p(text.data()), m_end(text.data() + text.size()), m_max_depth(max_depth) {}

  // The document, or nullopt to hand over to the nlohmann path.
  std::optional<Json> parse() {
    Json root;
    skip_space();
    if (!value(root, 0)) return std::nullopt;
    skip_space();
    if (m_p != m_end) return std::nullopt;
    return root;
  }

 private:
  void skip_space() {
    while (m_p != m_end && is_json_space(*m_p)) ++m_p;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(m_end - m_p) < word.size() ||
        std::string_view(m_p, word.size()) != word) {
      return false;
    }
    m_p += word.size();
    return true;
  }

  bool value(Json& out, int depth) {
    if (m_p == m_end) return false;
    switch (*m_p) {
      case '{':
        return object(out, depth);
      case '[':
        return array(out, depth);
      case '"': {
        std::string text;
        if (!string(text)) return false;
        out = std::move(text);
        return true;
      }
      case 't':
        out = true;
        return literal("true");
      case 'f':
        out = false;
        return literal("false");
      case 'n':
        out = nullptr;
        return literal("null");
      default:
        return number(out);
    }
  }

  bool object(Json& out, int depth) {
    if (depth >= m_max_depth) return false;
    ++m_p;  // {
    out = Json::object();
    auto& members = *out.get_ptr<Json::object_t*>();
    skip_space();
    if (m_p != m_end && *m_p == '}') {
      ++m_p;
      return true;
    }
    for (;;) {
      skip_space();
      if (m_p == m_end || *m_p != '"') return false;
      std::string key;
      if (!string(key) || key.find('\0') != std::string::npos) return false;
      skip_space();
      if (m_p == m_end || *m_p != ':') return false;
      ++m_p;
      skip_space();
      auto [slot, inserted] = members.try_emplace(std::move(key));
      if (!inserted || !value(slot->second, depth + 1)) return false;
      skip_space();
      if (m_p == m_end) return false;
      if (*m_p == '}') {
        ++m_p;
        return true;
      }
      if (*m_p++ != ',') return false;
    }
  }

  bool array(Json& out, int depth) {
    if (depth >= m_max_depth) return false;
    ++m_p;  // [
    out = Json::array();
    auto& items = *out.get_ptr<Json::array_t*>();
    skip_space();
    if (m_p != m_end && *m_p == ']') {
      ++m_p;
      return true;
    }
    for (;;) {
      skip_space();
      if (!value(items.emplace_back(), depth + 1)) return false;
      skip_space();
      if (m_p == m_end) return false;
      if (*m_p == ']') {
        ++m_p;
        return true;
      }
      if (*m_p++ != ',') return false;
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Four hex digits after "\u", or -1.
  long code_unit() {
    if (m_end - m_p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = hex(m_p[i]);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    m_p += 4;
    return v;
  }

  static void append_utf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  static constexpr std::uint64_t k_ones = 0x0101010101010101ULL;
  static constexpr std::uint64_t k_quotes = k_ones * '"';
  static constexpr std::uint64_t k_backslashes = k_ones * '\\';
  // Whether a byte of `word` is below `n` (n <= 128); exact, not just a hint.
  static bool has_byte_below(std::uint64_t word, std::uint64_t n) {
    return ((word - k_ones * n) & ~word & (k_ones * 0x80)) != 0;
  }

  bool string(std::string& out) {
    ++m_p;  // "
    for (;;) {
      // The run up to the next quote, backslash or control character is copied whole. It is
      // found eight bytes at a time while none of the eight is one of those (the classic
      // "has a zero byte" and "has a byte below n" word tests; a byte of 0x80 or more is plain
      // here), then byte by byte.
      const char* run = m_p;
      while (m_end - m_p >= 8) {
        std::uint64_t word;
        std::memcpy(&word, m_p, 8);
        if (has_byte_below(word ^ k_quotes, 1) || has_byte_below(word ^ k_backslashes, 1) ||
            has_byte_below(word, 0x20)) {
          break;
        }
        m_p += 8;
      }
      while (m_p != m_end && *m_p != '"' && *m_p != '\\' &&
             static_cast<unsigned char>(*m_p) >= 0x20) {
        ++m_p;
      }
      out.append(run, m_p);
      if (m_p == m_end || static_cast<unsigned char>(*m_p) < 0x20) return false;
      if (*m_p++ == '"') return true;
      if (m_p == m_end) return false;
      switch (*m_p++) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          long cp = code_unit();
          if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return false;  // a lone low surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (m_end - m_p < 2 || m_p[0] != '\\' || m_p[1] != 'u') return false;
            m_p += 2;
            const long low = code_unit();
            if (low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, static_cast<unsigned long>(cp));
          break;
        }
        default:
          return false;
      }
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  // RFC 8259's number grammar, then the same type nlohmann gives it.
  bool number(Json& out) {
    const char* start = m_p;
    const bool negative = *m_p == '-';
    if (negative) ++m_p;
    if (m_p == m_end || !digit(*m_p)) return false;
    if (*m_p == '0') {
      ++m_p;
    } else {
      while (m_p != m_end && digit(*m_p)) ++m_p;
    }
    bool integer = true;
    if (m_p != m_end && *m_p == '.') {
      integer = false;
      ++m_p;
      if (m_p == m_end || !digit(*m_p)) return false;
      while (m_p != m_end && digit(*m_p)) ++m_p;
    }
    if (m_p != m_end && (*m_p == 'e' || *m_p == 'E')) {
      integer = false;
      ++m_p;
      if (m_p != m_end && (*m_p == '+' || *m_p == '-')) ++m_p;
      if (m_p == m_end || !digit(*m_p)) return false;
      while (m_p != m_end && digit(*m_p)) ++m_p;
    }
    if (integer) {
      if (negative) {
        std::int64_t v = 0;
        if (auto r = std::from_chars(start, m_p, v); r.ec == std::errc() && r.ptr == m_p) {
          out = v;
          return true;
        }
      } else {
        std::uint64_t v = 0;
        if (auto r = std::from_chars(start, m_p, v); r.ec == std::errc() && r.ptr == m_p) {
          out = v;
          return true;
        }
      }
      // Past 64 bits nlohmann reads it as a double: so does the nlohmann path.
      return false;
    }
    double v = 0;
    // Out of range (overflow or underflow) is left to the nlohmann path, which decides.
    if (auto r = std::from_chars(start, m_p, v); r.ec == std::errc() && r.ptr == m_p &&
                                                  std::isfinite(v)) {
      out = v;
      return true;
    }
    return false;
  }

  const char* m_p;
  const char* const m_end;
  const int m_max_depth;
};

}  // namespace


namespace {

// What both parsers leave to this first look: the checks of the whole text.
std::optional<JsonError> precheck(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return JsonError{"empty_body", "the request body is empty"};
  }
  // RFC 8259 forbids a byte order mark in JSON sent over a network; nlohmann would skip it.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    return JsonError{"invalid_json", "a UTF-8 byte order mark precedes the JSON"};
  }
  // nlohmann's lexer stops at a NUL byte, so whatever follows one would be silently dropped.
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    return JsonError{"invalid_json", "a NUL byte at byte " + std::to_string(nul) + " is not JSON"};
  }
  std::size_t bad = 0;
  if (!is_valid_utf8(text, &bad)) {
    return JsonError{"invalid_utf8", "invalid UTF-8 at byte " + std::to_string(bad)};
  }
  return std::nullopt;
}

Expected<Json, JsonError> parse_json(std::string_view text, int max_depth, bool fast) {
  if (auto refused = precheck(text)) return unexpected(std::move(*refused));
  if (fast) {
    if (auto parsed = FastParser(text, max_depth).parse()) return std::move(*parsed);
  }
  Json root;
  StrictSaxBuilder builder(root, max_depth);
  // strict = true: trailing non-whitespace after the value is an error.
  bool ok = Json::sax_parse(text.begin(), text.end(), &builder, Json::input_format_t::json, true);
  if (!ok) {
    JsonError e = builder.error();
    if (e.code.empty()) e = {"invalid_json", "not valid JSON"};
    return unexpected(std::move(e));
  }
  return root;
}

}  // namespace

namespace detail {

std::optional<Json> parse_json_fast(std::string_view text, int max_depth) {
  if (precheck(text)) return std::nullopt;
  return FastParser(text, max_depth).parse();
}

}  // namespace detail

Expected<Json, JsonError> parse_json_strict(std::string_view text, int max_depth) {
  return parse_json(text, max_depth, true);
}

namespace detail {

Expected<Json, JsonError> parse_json_reference(std::string_view text, int max_depth) {
  return parse_json(text, max_depth, false);
}

}  // namespace detail

const std::string* string_field(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

std::string string_or_empty(const Json& object, const char* key) {
  const std::string* s = string_field(object, key);
  return s ? *s : std::string();
}

namespace {

// Scanning valid JSON text: the offset just past the string that opens at `i` (a quote).
// A quote ends it unless an odd number of backslashes precedes it (memchr: a message of
// kilobytes is skipped at memory speed).
std::size_t past_string(std::string_view t, std::size_t i) {
  for (++i; i < t.size();) {
    const void* quote = std::memchr(t.data() + i, '"', t.size() - i);
    if (!quote) break;
    const auto at = static_cast<std::size_t>(static_cast<const char*>(quote) - t.data());
    std::size_t backslashes = 0;
    while (at - backslashes > i && t[at - backslashes - 1] == '\\')
      ++backslashes;
    if (backslashes % 2 == 0) return at + 1;
    i = at + 1;
  }
  return t.size();
}

std::size_t past_space(std::string_view t, std::size_t i) {
  while (i < t.size() && is_json_space(t[i]))
    ++i;
  return i;
}

// The offset just past the value that begins at `i`.
std::size_t past_value(std::string_view t, std::size_t i) {
  if (i >= t.size()) return t.size();
  if (t[i] == '"') return past_string(t, i);
  if (t[i] != '{' && t[i] != '[') {
    // A number, true, false or null: up to the next delimiter.
    while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && !is_json_space(t[i]))
      ++i;
    return i;
  }
  int depth = 0;
  while (i < t.size()) {
    const char c = t[i];
    if (c == '"') {
      i = past_string(t, i);
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if ((c == '}' || c == ']') && --depth == 0) return i + 1;
    ++i;
  }
  return t.size();
}

}  // namespace

std::optional<std::string_view> raw_member(std::string_view t, std::string_view key) {
  std::size_t i = past_space(t, 0);
  if (i >= t.size() || t[i] != '{') return std::nullopt;
  i = past_space(t, i + 1);
  while (i < t.size() && t[i] == '"') {
    const std::size_t key_end = past_string(t, i);
    const bool wanted = key_end - i == key.size() + 2 && t.substr(i + 1, key.size()) == key;
    i = past_space(t, key_end);
    if (i >= t.size() || t[i] != ':') return std::nullopt;
    const std::size_t value = past_space(t, i + 1);
    const std::size_t value_end = past_value(t, value);
    if (wanted) return t.substr(value, value_end - value);
    i = past_space(t, value_end);
    if (i >= t.size() || t[i] != ',') return std::nullopt;
    i = past_space(t, i + 1);
  }
  return std::nullopt;
}

}  // namespace tocsin
