#include "support/openapi.hpp"

#include <regex>
#include <set>

#include "server/openapi.hpp"

namespace tocsin::testing {

namespace {

// "/api/v1/alerts/{id}/ack" and "/api/v1/alerts/([^/]+)/ack" both become
// "/api/v1/alerts/{}/ack".
std::string template_of_path(const std::string& path) {
  static const std::regex k_parameter(R"(\{[^}/]+\})");
  return std::regex_replace(path, k_parameter, "{}");
}

std::optional<std::string> template_of_route(const std::string& pattern) {
  std::string out;
  constexpr std::string_view k_group = "([^/]+)";
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern.compare(i, k_group.size(), k_group) == 0) {
      out += "{}";
      i += k_group.size();
      continue;
    }
    if (pattern.compare(i, 2, "\\.") == 0) {  // an escaped dot is a dot
      out += '.';
      i += 2;
      continue;
    }
    if (std::string_view("()[]{}*+?.|^$\\").find(pattern[i]) != std::string_view::npos) {
      return std::nullopt;
    }
    out += pattern[i++];
  }
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const Json& resolve(const Json& document, const Json& node) {
  const Json* at = &node;
  for (int depth = 0; at->is_object() && at->contains("$ref"); ++depth) {
    if (depth > 32) throw std::runtime_error("a $ref loop");
    const std::string ref = (*at)["$ref"].get<std::string>();
    if (!ref.starts_with("#/")) throw std::runtime_error("an external $ref: " + ref);
    at = &document.at(Json::json_pointer(ref.substr(1)));
  }
  return *at;
}

bool has_type(const Json& value, const std::string& type) {
  if (type == "null") return value.is_null();
  if (type == "boolean") return value.is_boolean();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "string") return value.is_string();
  if (type == "array") return value.is_array();
  if (type == "object") return value.is_object();
  return false;
}

class Checker {
 public:
  explicit Checker(const Json& document) : m_document(document) {}

  void check(const Json& schema_node, const Json& value, const std::string& where) {
    const Json& schema = resolve(m_document, schema_node);
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) fail(where, "no value is allowed here");
      return;
    }
    static const std::set<std::string> k_annotations = {
        "description", "title",      "format",   "default",   "examples",
        "example",     "deprecated", "readOnly", "writeOnly", "summary"};
    static const std::set<std::string> k_checked = {"$ref",
                                                    "type",
                                                    "enum",
                                                    "const",
                                                    "properties",
                                                    "required",
                                                    "items",
                                                    "allOf",
                                                    "anyOf",
                                                    "oneOf",
                                                    "minimum",
                                                    "maximum",
                                                    "minLength",
                                                    "maxLength",
                                                    "minItems",
                                                    "maxItems",
                                                    "pattern",
                                                    "minProperties",
                                                    "additionalProperties",
                                                    "unevaluatedProperties"};
    for (auto it = schema.begin(); it != schema.end(); ++it) {
      if (!k_annotations.contains(it.key()) && !k_checked.contains(it.key()))
        fail(where, "the schema uses \"" + it.key() + "\", which this check does not know");
    }
    if (schema.contains("type")) {
      const Json& type = schema["type"];
      bool fits = false;
      if (type.is_string()) {
        fits = has_type(value, type.get<std::string>());
      } else {
        for (const auto& t : type)
          fits |= has_type(value, t.get<std::string>());
      }
      if (!fits) return fail(where, "is " + value.dump() + ", not of type " + type.dump());
    }
    if (schema.contains("enum")) {
      bool listed = false;
      for (const auto& v : schema["enum"])
        listed |= v == value;
      if (!listed) fail(where, value.dump() + " is not one of " + schema["enum"].dump());
    }
    if (schema.contains("const") && schema["const"] != value)
      fail(where, value.dump() + " is not " + schema["const"].dump());
    if (value.is_number()) {
      const double v = value.get<double>();
      if (schema.contains("minimum") && v < schema["minimum"].get<double>())
        fail(where, value.dump() + " is below the minimum");
      if (schema.contains("maximum") && v > schema["maximum"].get<double>())
        fail(where, value.dump() + " is above the maximum");
    }
    if (value.is_string()) {
      const auto& s = value.get_ref<const std::string&>();
      if (schema.contains("minLength") && s.size() < schema["minLength"].get<std::size_t>())
        fail(where, "is shorter than minLength");
      if (schema.contains("maxLength") && s.size() > schema["maxLength"].get<std::size_t>())
        fail(where, "is longer than maxLength");
      if (schema.contains("pattern") &&
          !std::regex_search(s, std::regex(schema["pattern"].get<std::string>())))
        fail(where, value.dump() + " does not match " + schema["pattern"].dump());
    }
    if (value.is_array()) {
      if (schema.contains("minItems") && value.size() < schema["minItems"].get<std::size_t>())
        fail(where, "has fewer items than minItems");
      if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<std::size_t>())
        fail(where, "has more items than maxItems");
      if (schema.contains("items")) {
        for (std::size_t i = 0; i < value.size(); ++i)
          check(schema["items"], value[i], where + "[" + std::to_string(i) + "]");
      }
    }
    if (value.is_object()) check_object(schema, value, where);
    if (schema.contains("allOf")) {
      for (const auto& part : schema["allOf"])
        check(part, value, where);
    }
    if (schema.contains("anyOf") && fitting(schema["anyOf"], value) == 0)
      fail(where, value.dump().substr(0, 200) + " fits none of anyOf");
    if (schema.contains("oneOf") && fitting(schema["oneOf"], value) != 1)
      fail(where, value.dump().substr(0, 200) + " does not fit exactly one of oneOf");
  }

  std::vector<std::string> problems() && { return std::move(m_problems); }

 private:
  void fail(const std::string& where, const std::string& what) {
    m_problems.push_back((where.empty() ? "(top)" : where) + ": " + what);
  }

  // How many of `schemas` the value fits, each checked apart.
  int fitting(const Json& schemas, const Json& value) const {
    int n = 0;
    for (const auto& s : schemas) {
      Checker alone(m_document);
      alone.check(s, value, "");
      n += alone.m_problems.empty() ? 1 : 0;
    }
    return n;
  }

  // The property names a schema and its allOf parts declare: what unevaluatedProperties
  // leaves alone.
  void declared(const Json& schema_node, std::set<std::string>& names) const {
    const Json& schema = resolve(m_document, schema_node);
    if (!schema.is_object()) return;
    if (schema.contains("properties")) {
      for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it)
        names.insert(it.key());
    }
    if (schema.contains("allOf")) {
      for (const auto& part : schema["allOf"])
        declared(part, names);
    }
  }

  void check_object(const Json& schema, const Json& value, const std::string& where) {
    if (schema.contains("required")) {
      for (const auto& name : schema["required"]) {
        if (!value.contains(name.get<std::string>()))
          fail(where, "lacks the required \"" + name.get<std::string>() + "\"");
      }
    }
    if (schema.contains("minProperties") &&
        value.size() < schema["minProperties"].get<std::size_t>())
      fail(where, "has fewer properties than minProperties");
    const Json no_properties = Json::object();
    const Json& properties = schema.contains("properties") ? schema["properties"] : no_properties;
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string at = where + "." + it.key();
      if (properties.contains(it.key())) {
        check(properties[it.key()], it.value(), at);
      } else if (schema.contains("additionalProperties")) {
        check(schema["additionalProperties"], it.value(), at);
      }
    }
    if (schema.contains("unevaluatedProperties")) {
      if (schema["unevaluatedProperties"] != false || schema.contains("anyOf") ||
          schema.contains("oneOf")) {
        return fail(where, "only unevaluatedProperties: false beside allOf is checked");
      }
      std::set<std::string> names;
      declared(schema, names);
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!names.contains(it.key()))
          fail(where, "has \"" + it.key() + "\", which the schema does not declare");
      }
    }
  }

  const Json& m_document;
  std::vector<std::string> m_problems;
};

}  // namespace

bool outside_the_api(const std::string& pattern) {
  for (const char* prefix : {"/api/", "/hooks/"}) {
    if (pattern.starts_with(prefix)) return false;
  }
  return pattern != "/healthz" && pattern != "/readyz" && pattern != "/metrics";
}

std::vector<std::string> compare_routes(const Json& document,
                                        const std::vector<http::Routes::Registered>& routes) {
  std::vector<std::string> problems;
  std::set<std::string> served;  // "GET /api/v1/alerts/{}"
  for (const auto& r : routes) {
    if (outside_the_api(r.pattern)) continue;
    const auto path = template_of_route(r.pattern);
    if (!path) {
      problems.push_back(r.method + " " + r.pattern +
                         " is a regex the document cannot name (only ([^/]+) maps to {name})");
      continue;
    }
    served.insert(r.method + " " + *path);
  }
  std::set<std::string> documented;
  for (auto path = document["paths"].begin(); path != document["paths"].end(); ++path) {
    for (auto op = path.value().begin(); op != path.value().end(); ++op) {
      if (op.key() == "parameters" || op.key() == "summary" || op.key() == "description") continue;
      documented.insert(upper(op.key()) + " " + template_of_path(path.key()));
    }
  }
  for (const auto& s : served) {
    if (!documented.contains(s)) problems.push_back(s + " is served but not documented");
  }
  for (const auto& d : documented) {
    if (!served.contains(d)) problems.push_back(d + " is documented but not served");
  }
  return problems;
}

std::optional<std::string> find_operation(const Json& document, const std::string& method,
                                          const std::string& path) {
  std::string lower = method;
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::regex k_parameter(R"(\\\{[^}/]+\\\})");
  for (auto it = document["paths"].begin(); it != document["paths"].end(); ++it) {
    if (!it.value().contains(lower)) continue;
    // The template as a regex: its text escaped, each {name} one segment.
    std::string pattern;
    for (char c : it.key()) {
      if (std::string_view(".+*?^$()[]{}|\\").find(c) != std::string_view::npos) pattern += '\\';
      pattern += c;
    }
    pattern = std::regex_replace(pattern, k_parameter, "[^/]+");
    if (std::regex_match(path, std::regex(pattern))) return it.key();
  }
  return std::nullopt;
}

std::optional<Json> response_schema(const Json& document, const std::string& method,
                                    const std::string& path, int status) {
  const auto found = find_operation(document, method, path);
  if (!found) return std::nullopt;
  std::string lower = method;
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const Json& responses = document["paths"][*found][lower]["responses"];
  const std::string code = std::to_string(status);
  if (!responses.contains(code)) return std::nullopt;
  const Json& response = resolve(document, responses[code]);
  return response.at("content").at("application/json").at("schema");
}

std::vector<std::string> schema_problems(const Json& document, const Json& schema,
                                         const Json& value) {
  Checker checker(document);
  checker.check(schema, value, "");
  return std::move(checker).problems();
}

const Json& served_document() {
  static const Json document = Json::parse(server::openapi_document());
  return document;
}

}  // namespace tocsin::testing
