// docs/rules.schema.json, the JSON Schema editors use for the rules file, against the loader's
// own tables of keys (docs/behaviour.md "The rules file"): a key the loader accepts must be in
// the schema, and a key in the schema must be one the loader accepts, in every map. That the
// shipped files are valid under the schema is scripts/check-rules-schema's (a real validator).
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rules/accepted_keys.hpp"

namespace rules_rules_schema_test {

using namespace tocsin::rules;
using nlohmann::json;

namespace {

const std::string k_schema_path = TOCSIN_SOURCE_DIR "/docs/rules.schema.json";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

json load_schema() {
  const auto text = read_file(k_schema_path);
  REQUIRE_MESSAGE(!text.empty(), "cannot read " << k_schema_path);
  return json::parse(text);
}

// The schema a local "$ref" (#/definitions/X, #/$defs/X, any JSON Pointer) points at.
const json& resolve(const json& root, const json& node) {
  if (!node.is_object() || !node.contains("$ref")) return node;
  const auto ref = node["$ref"].get<std::string>();
  REQUIRE_MESSAGE(ref.starts_with("#"), "only local $refs are followed, got " << ref);
  return resolve(root, root.at(json::json_pointer(ref.substr(1))));
}

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Every map of the schema that lists its keys (has "properties"), by the path accepted_keys()
// spells: properties, additionalProperties (`*`) and items (`[]`) are followed; the
// conditions (allOf, oneOf, if/then/else, not) restate keys, they declare none.
void collect_maps(const json& root, const json& schema, const std::string& path,
                  std::map<std::string, const json*>& out) {
  const auto& node = resolve(root, schema);
  if (!node.is_object()) return;
  if (node.contains("properties")) {
    out[path] = &node;
    for (const auto& [key, value] : node["properties"].items())
      collect_maps(root, value, join(path, key), out);
  }
  if (node.contains("additionalProperties") && node["additionalProperties"].is_object()) {
    collect_maps(root, node["additionalProperties"], join(path, "*"), out);
  }
  if (node.contains("items") && node["items"].is_object()) {
    collect_maps(root, node["items"], path + "[]", out);
  }
}

std::map<std::string, const json*> schema_maps(const json& root) {
  std::map<std::string, const json*> maps;
  collect_maps(root, root, "", maps);
  return maps;
}

std::string first_line(const std::string& path) {
  const auto text = read_file(path);
  return text.substr(0, text.find('\n'));
}

}  // namespace

TEST_CASE("the rules file schema lists exactly the keys the loader accepts, map by map") {
  const auto root = load_schema();
  const auto maps = schema_maps(root);
  const auto accepted = accepted_keys();
  REQUIRE(accepted.size() > 20);

  for (const auto& section : accepted) {
    const auto where = section.path.empty() ? std::string("the top level") : section.path;
    CAPTURE(where);
    const auto it = maps.find(section.path);
    if (it == maps.end()) {
      FAIL_CHECK("docs/rules.schema.json has no map with \"properties\" at " << where
                                                                             << ", which the "
                                                                                "loader reads");
      continue;
    }
    const auto& node = *it->second;
    std::set<std::string> loader(section.keys.begin(), section.keys.end());
    std::set<std::string> schema;
    for (const auto& [key, value] : node["properties"].items())
      schema.insert(key);
    for (const auto& key : loader) {
      CHECK_MESSAGE(schema.contains(key), "the loader accepts \"" << key << "\" in " << where
                                                                  << " but the schema lacks it");
    }
    for (const auto& key : schema) {
      CHECK_MESSAGE(loader.contains(key), "the schema has \"" << key << "\" in " << where
                                                              << " but the loader refuses it");
    }
    // The loader refuses every other key, so must the schema.
    CHECK_MESSAGE(node.value("additionalProperties", json(true)) == json(false),
                  where << " must say \"additionalProperties\": false");
  }
}

TEST_CASE("the rules file schema has no map the loader does not read") {
  const auto root = load_schema();
  std::set<std::string> loader;
  for (const auto& section : accepted_keys())
    loader.insert(section.path);
  for (const auto& [path, node] : schema_maps(root)) {
    CHECK_MESSAGE(loader.contains(path), "docs/rules.schema.json describes keys at \""
                                             << path
                                             << "\", a map rules::accepted_keys() does not list");
  }
}

TEST_CASE("every key of the rules file schema has a description and examples") {
  const auto root = load_schema();
  int keys = 0;
  for (const auto& [path, node] : schema_maps(root)) {
    for (const auto& [key, value] : (*node)["properties"].items()) {
      const auto& property = resolve(root, value);
      CAPTURE(join(path, key));
      ++keys;
      CHECK(property.contains("description"));
      CHECK(property.value("description", json("")).get<std::string>().size() > 10);
      CHECK(property.contains("examples"));
      CHECK(property.value("examples", json::array()).is_array());
      CHECK(!property.value("examples", json::array()).empty());
    }
  }
  CHECK(keys > 100);
}

TEST_CASE("the shipped rules files point editors at the schema on their first line") {
  for (const std::string file : {"rules.yaml", "rules.demo.yaml"}) {
    CAPTURE(file);
    const auto line = first_line(TOCSIN_SOURCE_DIR "/" + file);
    const std::string prefix = "# yaml-language-server: $schema=";
    REQUIRE(line.starts_with(prefix));
    // Relative to the file, as yaml-language-server resolves it.
    const auto target = std::string(TOCSIN_SOURCE_DIR) + "/" + line.substr(prefix.size());
    CHECK_MESSAGE(!read_file(target).empty(), target << " does not exist");
  }
}

}  // namespace rules_rules_schema_test
