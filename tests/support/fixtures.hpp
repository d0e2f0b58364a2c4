#pragma once
// Access to the fixture files in tests/fixtures (a copy of the shared wire-format fixtures).

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

namespace tocsin::testing {

inline std::string fixture_path(const std::string& relative) {
  return std::string(TOCSIN_FIXTURES_DIR) + "/" + relative;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string fixture(const std::string& relative) {
  return read_file(fixture_path(relative));
}

// A JSON fixture with the value at the JSON `pointer` replaced, or removed when `value` is
// discarded (nlohmann::json::value_t::discarded): one fixture, many malformed variants.
inline std::string mutated_fixture(const std::string& relative, const char* pointer,
                                   const nlohmann::json& value) {
  nlohmann::json payload = nlohmann::json::parse(fixture(relative));
  nlohmann::json::json_pointer p(pointer);
  if (value.is_discarded()) {
    payload.at(p.parent_pointer()).erase(p.back());
  } else {
    payload[p] = value;
  }
  return payload.dump();
}

}  // namespace tocsin::testing
