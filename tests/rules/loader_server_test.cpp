// The `server:` section of rules.yaml: the HTTP listener's limits, read strictly like every
// other section.

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "rules/loader.hpp"
#include "server/app.hpp"
#include "support/fixtures.hpp"

namespace rules_loader_server_test {

using namespace std::chrono_literals;
using namespace tocsin::rules;

namespace {

LoadResult load(std::string_view text) {
  return load_rules_text(std::string(text), "rules.yaml",
                         [](const std::string&) { return std::optional<std::string>("x"); });
}

std::string all_messages(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics)
    out += d.format() + "\n";
  return out;
}

constexpr std::size_t k_kib = 1024;
constexpr std::size_t k_mib = 1024 * 1024;

// (Designated initializers would do, but g++ 12 warns about the members they leave out.)
ServerLimits body_limit(std::size_t bytes) {
  ServerLimits s;
  s.max_body_bytes = bytes;
  return s;
}
ServerLimits timeout(tocsin::Duration d) {
  ServerLimits s;
  s.request_timeout = d;
  return s;
}
ServerLimits everything() {
  ServerLimits s;
  s.max_body_bytes = 256 * k_kib;
  s.max_headers = 50;
  s.request_timeout = 1s;
  s.max_connections_per_ip = 4;
  s.max_connections = 2000;
  s.worker_threads = 64;
  return s;
}

}  // namespace

TEST_CASE("server: every key, and sizes in bytes or binary units") {
  struct Case {
    const char* intent;
    const char* section;
    ServerLimits expected;
  };
  const Case cases[] = {
      {"absent: nothing set, the serve defaults apply", "", {}},
      {"empty: the same", "server:\n", {}},
      {"a size in MiB", "server: {max_body_bytes: 1MiB}\n", body_limit(k_mib)},
      {"a size in KiB", "server: {max_body_bytes: 512KiB}\n", body_limit(512 * k_kib)},
      {"plain bytes", "server: {max_body_bytes: 1048576}\n", body_limit(k_mib)},
      {"bytes with their unit", "server: {max_body_bytes: 2048B}\n", body_limit(2048)},
      {"one space before the unit", "server: {max_body_bytes: 2 MiB}\n", body_limit(2 * k_mib)},
      {"the smallest body limit", "server: {max_body_bytes: 1KiB}\n", body_limit(k_kib)},
      {"the largest body limit", "server: {max_body_bytes: 64MiB}\n", body_limit(64 * k_mib)},
      {"everything",
       "server:\n  max_body_bytes: 256KiB\n  max_headers: 50\n  request_timeout: 1s\n"
       "  max_connections_per_ip: 4\n  max_connections: 2000\n  worker_threads: 64\n",
       everything()},
      {"a compound request_timeout", "server: {request_timeout: 1m30s}\n", timeout(90s)},
      {"the longest request_timeout", "server: {request_timeout: 1h}\n", timeout(1h)},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto r = load(std::string("version: 1\n") + c.section);
      INFO(all_messages(r));
      REQUIRE(r.ok());
      CHECK(r.diagnostics.empty());
      CHECK(r.rules->server == c.expected);
    }
  }
}

TEST_CASE("server: bad values are errors at their line and column") {
  struct Case {
    const char* intent;
    const char* section;  // starts at line 2
    int line;
    int column;
    const char* message;
  };
  const Case cases[] = {
      {"an unknown key, with a hint", "server: {max_header: 10}\n", 2, 10,
       "unknown key \"max_header\" in server (did you mean \"max_headers\"?)"},
      {"an unknown key far from any", "server: {threads: 8}\n", 2, 10,
       "allowed keys: max_body_bytes, max_headers, request_timeout, max_connections_per_ip, "
       "max_connections, worker_threads"},
      {"a decimal unit is not guessed at", "server: {max_body_bytes: 1MB}\n", 2, 26,
       "expected a size like 1MiB, 512KiB or 1048576 (bytes) for \"max_body_bytes\", got "
       "\"1MB\" (the units are B, KiB, MiB and GiB)"},
      {"a fraction", "server: {max_body_bytes: 1.5MiB}\n", 2, 26,
       "got \"1.5MiB\" (the units are B, KiB, MiB and GiB)"},
      {"a negative size", "server: {max_body_bytes: -1}\n", 2, 26,
       "expected a size like 1MiB, 512KiB or 1048576 (bytes) for \"max_body_bytes\", got \"-1\""},
      {"a size in words", "server: {max_body_bytes: large}\n", 2, 26, "got \"large\""},
      {"two spaces before the unit", "server: {max_body_bytes: \"1  MiB\"}\n", 2, 26,
       "got \"1  MiB\""},
      {"a size that overflows", "server: {max_body_bytes: 99999999999999999999GiB}\n", 2, 26,
       "got \"99999999999999999999GiB\""},
      {"below the smallest body limit", "server: {max_body_bytes: 1023}\n", 2, 26,
       "\"max_body_bytes\" must be between 1KiB and 64MiB, got 1023"},
      {"above the largest body limit", "server: {max_body_bytes: 65MiB}\n", 2, 26,
       "\"max_body_bytes\" must be between 1KiB and 64MiB, got 65MiB"},
      {"a list where a size goes", "server: {max_body_bytes: [1]}\n", 2, 26,
       "expected a size like 1MiB, 512KiB or 1048576 (bytes) for \"max_body_bytes\", got a list"},
      {"max_headers in words", "server: {max_headers: many}\n", 2, 23,
       "expected a whole number for \"max_headers\", got \"many\""},
      {"max_headers zero", "server: {max_headers: 0}\n", 2, 23,
       "\"max_headers\" must be between 1 and 10000, got 0"},
      {"a bare number of seconds", "server: {request_timeout: 30}\n", 2, 27,
       "expected a duration like 30s, 5m, 2h, 7d for \"request_timeout\", got \"30\" (a bare "
       "number is ambiguous"},
      {"a zero request_timeout", "server: {request_timeout: 0s}\n", 2, 27,
       "\"request_timeout\" must be longer than 0s"},
      {"a request_timeout under a second", "server: {request_timeout: 500ms}\n", 2, 27,
       "\"request_timeout\" must be between 1s and 1h, got 500ms"},
      {"a request_timeout over an hour", "server: {request_timeout: 2h}\n", 2, 27,
       "\"request_timeout\" must be between 1s and 1h, got 2h"},
      {"no per-address cap is not an option", "server: {max_connections_per_ip: 0}\n", 2, 34,
       "\"max_connections_per_ip\" must be between 1 and 10000, got 0"},
      {"no total cap is not an option", "server: {max_connections: 0}\n", 2, 27,
       "\"max_connections\" must be between 1 and 1000000, got 0"},
      {"a worker pool has a thread", "server: {worker_threads: 0}\n", 2, 26,
       "\"worker_threads\" must be between 1 and 4096, got 0"},
      {"the section is a map", "server: [max_body_bytes]\n", 2, 9,
       "expected a map for server, got a list"},
      {"a duplicate key", "server:\n  max_headers: 10\n  max_headers: 20\n", 4, 3,
       "duplicate key \"max_headers\" in server (first set at line 3)"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto r = load(std::string("version: 1\n") + c.section);
      INFO(all_messages(r));
      CHECK_FALSE(r.ok());
      REQUIRE(r.diagnostics.size() == 1);
      const auto& d = r.diagnostics[0];
      CHECK(d.level == Diagnostic::Level::error);
      CHECK(d.line == c.line);
      CHECK(d.column == c.column);
      CHECK(d.message.find(c.message) != std::string::npos);
    }
  }
}

TEST_CASE("server: every bad key of the section is reported at once") {
  const auto r = load(
      "version: 1\n"
      "server:\n"
      "  max_body_bytes: 1MB\n"
      "  max_headers: -3\n"
      "  request_timeout: soon\n"
      "  max_connections_per_ip: lots\n");
  INFO(all_messages(r));
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 4);
  for (int i = 0; i < 4; ++i)
    CHECK(r.diagnostics[static_cast<std::size_t>(i)].line == 3 + i);
}

TEST_CASE("the shipped rules.yaml shows the server section, commented, with the real defaults") {
  // Uncommenting the block must give a valid file whose values are the built-in defaults, so
  // the example never drifts from what `serve` does without it.
  const auto shipped = tocsin::testing::read_file(std::string(TOCSIN_SOURCE_DIR) + "/rules.yaml");
  const auto start = shipped.find("\n# server:\n");
  REQUIRE(start != std::string::npos);
  std::string text = shipped.substr(0, start + 1);
  std::size_t line_start = start + 1;
  while (line_start < shipped.size()) {
    const auto end = shipped.find('\n', line_start);
    const auto line = shipped.substr(line_start, end - line_start);
    if (!line.starts_with("# server:") && !line.starts_with("#   ")) break;
    text += line.substr(2) + "\n";
    line_start = end == std::string::npos ? shipped.size() : end + 1;
  }
  const auto r = load(text);
  INFO(all_messages(r));
  REQUIRE(r.ok());
  const tocsin::server::Limits defaults;
  CHECK(r.rules->server.max_body_bytes == defaults.max_body_bytes);
  CHECK(r.rules->server.max_headers == defaults.max_headers);
  CHECK(r.rules->server.request_timeout == defaults.request_timeout);
  CHECK(r.rules->server.max_connections_per_ip == defaults.max_connections_per_ip);
  CHECK(r.rules->server.max_connections == defaults.max_connections);
  CHECK(r.rules->server.worker_threads == defaults.worker_threads);
}

}  // namespace rules_loader_server_test
