#include "core/mapping.hpp"

#include "core/json.hpp"

namespace tocsin::mapping {

namespace {

// "0" or a decimal without leading zeros that fits below `size`.
std::optional<std::size_t> array_index(const std::string& token, std::size_t size) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  std::size_t index = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<std::size_t>(c - '0');
  }
  if (index >= size) return std::nullopt;
  return index;
}

}  // namespace

Expected<JsonPointer, CompileError> JsonPointer::parse(std::string_view spelled) {
  JsonPointer p;
  p.m_spelled = std::string(spelled);
  if (spelled.empty()) return p;
  if (spelled.front() != '/') {
    return unexpected(
        CompileError{"a JSON Pointer starts with \"/\" (or is empty for the whole "
                     "value)",
                     0});
  }
  std::string token;
  for (std::size_t i = 1; i <= spelled.size(); ++i) {
    if (i == spelled.size() || spelled[i] == '/') {
      if (p.m_tokens.size() == k_max_pointer_tokens) {
        return unexpected(CompileError{
            "a JSON Pointer may have at most " + std::to_string(k_max_pointer_tokens) + " tokens",
            i});
      }
      p.m_tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    const char c = spelled[i];
    if (c != '~') {
      token += c;
      continue;
    }
    if (i + 1 < spelled.size() && (spelled[i + 1] == '0' || spelled[i + 1] == '1')) {
      token += spelled[i + 1] == '0' ? '~' : '/';
      ++i;
      continue;
    }
    return unexpected(
        CompileError{"\"~\" in a JSON Pointer must be written ~0 (and \"/\" in a key ~1)", i});
  }
  return p;
}

const Json* JsonPointer::resolve(const Json& document) const {
  const Json* at = &document;
  for (const auto& token : m_tokens) {
    if (at->is_object()) {
      auto it = at->find(token);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      const auto index = array_index(token, at->size());
      if (!index) return nullptr;
      at = &(*at)[*index];
    } else {
      return nullptr;
    }
  }
  return at;
}

std::optional<std::string> scalar_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number()) return value.dump();
  return std::nullopt;
}

Expected<Template, CompileError> Template::parse(std::string_view spelled) {
  if (spelled.size() > k_max_template_bytes) {
    return unexpected(CompileError{
        "a template may be at most " + std::to_string(k_max_template_bytes) + " bytes long",
        k_max_template_bytes});
  }
  Template t;
  t.m_spelled = std::string(spelled);
  std::string literal;
  std::size_t i = 0;
  while (i < spelled.size()) {
    const char c = spelled[i];
    if (c == '}') {
      if (i + 1 < spelled.size() && spelled[i + 1] == '}') {
        literal += '}';
        i += 2;
        continue;
      }
      return unexpected(CompileError{"a literal \"}\" is written \"}}\"", i});
    }
    if (c != '{') {
      literal += c;
      ++i;
      continue;
    }
    if (i + 1 < spelled.size() && spelled[i + 1] == '{') {
      literal += '{';
      i += 2;
      continue;
    }
    const auto close = spelled.find_first_of("{}", i + 1);
    if (close == std::string_view::npos || spelled[close] != '}') {
      return unexpected(CompileError{
          "a placeholder opened here is not closed with \"}\" (a literal \"{\" is written "
          "\"{{\")",
          i});
    }
    const auto inner = spelled.substr(i + 1, close - i - 1);
    if (inner.empty() || inner.front() != '/') {
      return unexpected(CompileError{"a placeholder holds a JSON Pointer such as {/alert/id}", i});
    }
    auto pointer = JsonPointer::parse(inner);
    if (!pointer) {
      return unexpected(CompileError{pointer.error().message, i + 1 + pointer.error().offset});
    }
    if (t.m_parts.size() == k_max_template_placeholders) {
      return unexpected(CompileError{"a template may have at most " +
                                         std::to_string(k_max_template_placeholders) +
                                         " placeholders",
                                     i});
    }
    t.m_parts.push_back(Part{std::move(literal), std::move(*pointer)});
    literal.clear();
    i = close + 1;
  }
  t.m_parts.push_back(Part{std::move(literal), std::nullopt});
  return t;
}

}  // namespace tocsin::mapping
