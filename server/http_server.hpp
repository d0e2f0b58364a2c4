#pragma once
// The HTTP listener: cpp-httplib configured for a public webhook target.

#include <httplib.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/guarded_server.hpp"
#include "server/app.hpp"

namespace tocsin::server {

// Builds a server with every route and the limits in app.limits (a GuardedServer: request
// deadlines, per-address connection cap, elastic worker pool).
std::unique_ptr<http::GuardedServer> make_http_server(App& app);

// The limits to serve with: the built-in defaults, overridden by what the rules file's
// `server:` section sets. `serve` flags are applied on top by the caller.
Limits limits_from(const rules::ServerLimits& file);

struct ListenAddress {
  std::string host;
  int port = 0;
};

inline constexpr std::string_view k_loopback_host = "127.0.0.1";

// `HOST:PORT`, `[V6]:PORT`, or `:PORT` for 127.0.0.1:PORT; port 0 means any free port.
std::optional<ListenAddress> parse_listen_address(const std::string& text);

// Whether only this machine can connect to `host`: 127.0.0.0/8, ::1 or localhost.
bool is_loopback_host(std::string_view host);

}  // namespace tocsin::server
