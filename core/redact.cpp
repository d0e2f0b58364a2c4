#include "core/redact.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/json.hpp"

namespace tocsin {

namespace {

// The length of the valid UTF-8 sequence (RFC 3629) starting `text` and its code point in
// `cp`; 0 when the first byte does not start one.
std::size_t decode_utf8(std::string_view text, char32_t& cp) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(0);
  std::size_t length = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    length = 2, cp = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    length = 3, cp = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return length;
}

// Non-C0 code points that change how a line is shown rather than what it says.
bool is_hidden_control(char32_t cp) {
  return cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

std::string hex_escape(const char* format, unsigned value) {
  char buf[8];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

// Calls piece(escaped_text) for each character of `text` in order; stops when it returns false.
template <typename Piece>
void for_each_escaped(std::string_view text, Piece piece) {
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    std::string out;
    std::size_t used = 1;
    if (c == '\n') {
      out = "\\n";
    } else if (c == '\r') {
      out = "\\r";
    } else if (c == '\t') {
      out = "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out = hex_escape("\\x%02x", c);
    } else if (c < 0x80) {
      out.assign(1, static_cast<char>(c));
    } else {
      char32_t cp = 0;
      used = decode_utf8(text.substr(i), cp);
      if (used == 0) {
        used = 1;
        out = hex_escape("\\x%02x", c);
      } else if (is_hidden_control(cp)) {
        out = hex_escape("\\u%04x", static_cast<unsigned>(cp));
      } else {
        out.assign(text.substr(i, used));
      }
    }
    if (!piece(out)) return;
    i += used;
  }
}

std::string percent_encoded(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += hex_escape("%%%02X", c);
    }
  }
  return out;
}

}  // namespace

Redactor::Redactor(const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < k_min_secret_bytes) continue;
    m_secrets.push_back(s);
    std::string json = Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
    m_secrets.push_back(json.substr(1, json.size() - 2));
    m_secrets.push_back(percent_encoded(s));
  }
  std::sort(m_secrets.begin(), m_secrets.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  m_secrets.erase(std::unique(m_secrets.begin(), m_secrets.end()), m_secrets.end());
}

std::string Redactor::redact(std::string_view text) const {
  if (m_secrets.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    bool replaced = false;
    for (const auto& s : m_secrets) {  // longest first
      if (text.compare(i, s.size(), s) == 0) {
        out += k_redacted;
        i += s.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

std::string printable_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for_each_escaped(text, [&](const std::string& piece) {
    out += piece;
    return true;
  });
  return out;
}

std::string printable_excerpt(std::string_view text, std::size_t max_bytes) {
  std::string out;
  bool cut = false;
  for_each_escaped(text, [&](const std::string& piece) {
    if (out.size() + piece.size() > max_bytes) {
      cut = true;
      return false;
    }
    out += piece;
    return true;
  });
  if (cut) out += "\u2026";
  return out;
}

std::string escape_json_controls(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  std::size_t i = 0;
  while (i < json.size()) {
    char32_t cp = 0;
    std::size_t used = decode_utf8(json.substr(i), cp);
    const bool valid = used > 0;
    if (!valid) used = 1;  // not expected from a serializer; kept as is
    if (valid && is_hidden_control(cp)) {
      out += hex_escape("\\u%04x", static_cast<unsigned>(cp));
    } else {
      out.append(json.substr(i, used));
    }
    i += used;
  }
  return out;
}

}  // namespace tocsin
