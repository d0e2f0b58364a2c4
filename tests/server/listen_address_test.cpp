// `serve --listen` and `receive --listen` (README "Running"): HOST:PORT, [V6]:PORT, and a bare
// :PORT, which means the loopback address, never every interface.
#include <doctest/doctest.h>

#include "server/http_server.hpp"

namespace server_listen_address_test {

using namespace tocsin;
using namespace tocsin::server;

TEST_CASE("listen addresses: host and port, IPv6 in brackets, a bare :PORT on loopback") {
  struct Case {
    const char* intent;
    const char* text;
    std::optional<ListenAddress> expected;
  };
  const Case cases[] = {
      {"host and port", "127.0.0.1:8080", ListenAddress{"127.0.0.1", 8080}},
      {"every interface only when asked for", "0.0.0.0:9090", ListenAddress{"0.0.0.0", 9090}},
      {"IPv6 in brackets", "[::1]:8080", ListenAddress{"::1", 8080}},
      {"a bare port listens on loopback", ":9090", ListenAddress{"127.0.0.1", 9090}},
      {"port 0: any free port", ":0", ListenAddress{"127.0.0.1", 0}},
      {"no port", "127.0.0.1", std::nullopt},
      {"a colon alone", ":", std::nullopt},
      {"a port out of range", ":65536", std::nullopt},
      {"a port that is not a number", ":http", std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.intent);
    const auto parsed = parse_listen_address(c.text);
    REQUIRE(parsed.has_value() == c.expected.has_value());
    if (!parsed) continue;
    CHECK(parsed->host == c.expected->host);
    CHECK(parsed->port == c.expected->port);
  }
}

}  // namespace server_listen_address_test
