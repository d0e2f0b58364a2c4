#pragma once
// Access to the fixture files in tests/fixtures (a copy of the shared wire-format fixtures).

#include <fstream>
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

}  // namespace tocsin::testing
