#include "storage/postgres/redact.hpp"

#include <cctype>
#include <functional>

#include "core/redact.hpp"

namespace tocsin::storage::postgres {

namespace {

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// Where a URI ends in running text: at whitespace or a quote around it.
bool ends_uri(char c) {
  return is_space(c) || c == '"' || c == '\'';
}

bool starts_with_at(std::string_view text, std::size_t i, std::string_view prefix) {
  return text.substr(i, prefix.size()) == prefix;
}

// A password value found in text: [begin, end) of the value.
struct Span {
  std::size_t begin;
  std::size_t end;
};

// Calls found(span) for each password value in `text`, in order, non-overlapping.
void for_each_password(std::string_view text, const std::function<void(Span)>& found) {
  std::size_t i = 0;
  while (i < text.size()) {
    // URI: the userinfo before the last '@' of the authority. The authority is bounded by '?'
    // rather than '/', so that a password holding an unencoded '/' is still found.
    for (std::string_view scheme : {"postgresql://", "postgres://"}) {
      if (!starts_with_at(text, i, scheme)) continue;
      const std::size_t start = i + scheme.size();
      std::size_t end = start;
      while (end < text.size() && !ends_uri(text[end]) && text[end] != '?')
        ++end;
      const std::size_t at = text.substr(start, end - start).rfind('@');
      if (at != std::string_view::npos) {
        const std::size_t colon = text.substr(start, at).find(':');
        if (colon != std::string_view::npos) found({start + colon + 1, start + at});
      }
      i = at == std::string_view::npos ? start : start + at;
      break;
    }
    // Keyword form (`password=`, after whitespace or at the start) and URI query parameter
    // form (`?password=`, `&password=`), with `sslpassword` for both.
    const bool in_query = i > 0 && (text[i - 1] == '?' || text[i - 1] == '&');
    const bool keyword_start = i == 0 || is_space(text[i - 1]);
    if (in_query || keyword_start) {
      std::size_t k = i;
      if (starts_with_at(text, k, "ssl")) k += 3;
      if (starts_with_at(text, k, "password")) {
        k += 8;
        if (!in_query)
          while (k < text.size() && is_space(text[k]))
            ++k;
        if (k < text.size() && text[k] == '=') {
          ++k;
          if (in_query) {
            std::size_t end = k;
            while (end < text.size() && text[end] != '&' && text[end] != '#' &&
                   !ends_uri(text[end]))
              ++end;
            found({k, end});
            i = end;
            continue;
          }
          while (k < text.size() && is_space(text[k]))
            ++k;
          std::size_t end = k;
          if (k < text.size() && text[k] == '\'') {
            // libpq's quoting: backslash escapes the next character; an unclosed quote runs to
            // the end (the whole rest is hidden rather than guessed at).
            end = k + 1;
            while (end < text.size() && text[end] != '\'')
              end += text[end] == '\\' ? std::size_t{2} : std::size_t{1};
            end = std::min(end + 1, text.size());
          } else {
            while (end < text.size() && !is_space(text[end]))
              ++end;
          }
          found({k, end});
          i = end;
          continue;
        }
      }
    }
    ++i;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// A quoted keyword value as libpq reads it: quotes removed, backslash escapes resolved.
std::string unquoted(std::string_view value) {
  if (value.empty() || value.front() != '\'') return std::string(value);
  std::string out;
  for (std::size_t i = 1; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) {
      out += value[++i];
    } else if (value[i] == '\'') {
      break;
    } else {
      out += value[i];
    }
  }
  return out;
}

}  // namespace

std::string redacted(std::string_view text) {
  std::string out;
  std::size_t copied = 0;
  for_each_password(text, [&](Span span) {
    out.append(text.substr(copied, span.begin - copied));
    out.append(k_redacted);
    copied = span.end;
  });
  out.append(text.substr(copied));
  return out;
}

std::vector<std::string> passwords_in(std::string_view conninfo) {
  std::vector<std::string> found;
  for_each_password(conninfo, [&](Span span) {
    const std::string_view value = conninfo.substr(span.begin, span.end - span.begin);
    if (value.empty()) return;
    found.emplace_back(value);
    found.push_back(percent_decoded(value));
    found.push_back(unquoted(value));
  });
  return found;
}

}  // namespace tocsin::storage::postgres
