#pragma once
// The ready-made mappings the README ships (examples/mappings/*.yaml), each a YAML fragment to
// put under `sources.mapped`, as rules files the tests load.

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace tocsin::testing {

inline std::filesystem::path mappings_dir() {
  return std::filesystem::path(TOCSIN_SOURCE_DIR) / "examples" / "mappings";
}

// The names of the shipped mappings (their file names without .yaml), sorted.
inline std::vector<std::string> shipped_mappings() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(mappings_dir())) {
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string shipped_mapping_text(const std::string& name) {
  return read_file((mappings_dir() / (name + ".yaml")).string());
}

// A rules file enabling the shipped mapping `name` (and, with `extra`, more YAML after
// `sources:`'s block, e.g. rules:).
inline std::string rules_with_mapping(const std::string& name, const std::string& extra = "") {
  std::string out = "version: 1\nsources:\n  mapped:\n";
  const auto text = shipped_mapping_text(name);
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    out += line.empty() ? "\n" : "    " + line + "\n";
    start = end + 1;
  }
  return out + extra;
}

// A rules file enabling every mapping of `names` (then `extra`).
inline std::string rules_with_mappings(const std::vector<std::string>& names,
                                       const std::string& extra = "") {
  std::string out = "version: 1\nsources:\n  mapped:\n";
  for (const auto& name : names) {
    const auto one = rules_with_mapping(name);
    out += one.substr(std::string("version: 1\nsources:\n  mapped:\n").size());
  }
  return out + extra;
}

}  // namespace tocsin::testing
