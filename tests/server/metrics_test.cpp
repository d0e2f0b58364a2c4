// What /metrics exports of the HTTP listener's counts (server/metrics.hpp).

#include "server/metrics.hpp"

#include <doctest/doctest.h>

#include <string>

namespace server_metrics_test {

using namespace tocsin::server;
using tocsin::http::CutReason;

TEST_CASE("every cut reason is exported to /metrics, from zero") {
  Metrics metrics;
  metrics.count_connection_cut(CutReason::per_ip_limit);
  metrics.count_connection_cut(CutReason::per_ip_limit);
  const auto text = metrics.render();
  CHECK(text.find("tocsin_http_connections_cut_total{reason=\"deadline\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("tocsin_http_connections_cut_total{reason=\"stalled\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("tocsin_http_connections_cut_total{reason=\"per_ip_limit\"} 2\n") !=
        std::string::npos);
}

}  // namespace server_metrics_test
