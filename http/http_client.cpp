#include "http/http_client.hpp"

#include <cstdlib>

namespace tocsin::http {

std::optional<std::pair<std::string, std::string>> split_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return std::nullopt;
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return std::nullopt;
  const auto path_start = url.find('/', scheme_end + 3);
  if (path_start == std::string::npos) return std::make_pair(url, std::string("/"));
  return std::make_pair(url.substr(0, path_start), url.substr(path_start));
}

std::pair<std::string, int> host_and_port(const std::string& origin) {
  const bool tls = origin.rfind("https://", 0) == 0;
  std::string authority = origin.substr(origin.find("://") + 3);
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  int port = tls ? 443 : 80;
  std::string host = authority;
  const auto bracket = authority.find(']');
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    port = std::atoi(authority.c_str() + colon + 1);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, port};
}

std::unique_ptr<httplib::Client> make_client(const std::string& origin) {
  auto client = std::make_unique<httplib::Client>(origin);
  client->set_follow_location(false);
  // The headers and the body go out as separate writes: on a kept connection Nagle would hold
  // the body back until the receiver's delayed ACK (40 ms a request on Linux).
  client->set_tcp_nodelay(true);
  client->enable_server_certificate_verification(true);
  client->set_ca_cert_path("/etc/ssl/certs/ca-certificates.crt");
  return client;
}

}  // namespace tocsin::http
