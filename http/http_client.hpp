#pragma once
// The one way Tocsin builds an outbound HTTP(S) client: the delivery worker's channels and the
// command-line client (`tocsin alerts`, `tocsin ack`, ...) both go through it, so an https URL,
// certificate checks and the socket options are the same everywhere.

#include <httplib.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace tocsin::http {

// `scheme://host[:port]` and the rest (path and query, "/" when none) of an absolute http or
// https URL; nullopt for anything else.
std::optional<std::pair<std::string, std::string>> split_url(const std::string& url);

// The host and port of `scheme://host[:port]` ("[::1]:8080" included; 80 or 443 by default),
// for diagnosing a connection that failed.
std::pair<std::string, int> host_and_port(const std::string& origin);

// A client for `origin` (`scheme://host[:port]`): redirects not followed, TCP_NODELAY, the
// server's certificate verified against the system CA bundle. Timeouts are the caller's.
std::unique_ptr<httplib::Client> make_client(const std::string& origin);

}  // namespace tocsin::http
