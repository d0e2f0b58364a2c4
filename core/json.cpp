#include "core/json.hpp"

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

}  // namespace

Expected<Json, JsonError> parse_json_strict(std::string_view text, int max_depth) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return unexpected(JsonError{"empty_body", "the request body is empty"});
  }
  // RFC 8259 forbids a byte order mark in JSON sent over a network; nlohmann would skip it.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    return unexpected(JsonError{"invalid_json", "a UTF-8 byte order mark precedes the JSON"});
  }
  // nlohmann's lexer stops at a NUL byte, so whatever follows one would be silently dropped.
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    return unexpected(
        JsonError{"invalid_json", "a NUL byte at byte " + std::to_string(nul) + " is not JSON"});
  }
  std::size_t bad = 0;
  if (!is_valid_utf8(text, &bad)) {
    return unexpected(JsonError{"invalid_utf8", "invalid UTF-8 at byte " + std::to_string(bad)});
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

const std::string* string_field(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

}  // namespace tocsin
