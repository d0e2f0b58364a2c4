#include "server/http_server.hpp"

#include <SQLiteCpp/Exception.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "core/duration.hpp"
#include "server/api.hpp"
#include "server/guarded_server.hpp"
#include "server/hooks.hpp"
#include "server/http_util.hpp"
#include "storage/database.hpp"

namespace tocsin {

namespace {

// The headers the client sent: httplib adds REMOTE_ADDR, REMOTE_PORT, LOCAL_ADDR and
// LOCAL_PORT to every request's headers.
std::size_t client_header_count(const httplib::Headers& headers) {
  std::size_t n = headers.size();
  for (const char* added : {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT"}) {
    if (headers.find(added) != headers.end()) --n;
  }
  return n;
}

}  // namespace

std::optional<ListenAddress> parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  const std::string port = text.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (ec != std::errc() || ptr != port.data() + port.size() || a.port < 0 || a.port > 65535) {
    return std::nullopt;
  }
  return a;
}

Limits limits_from(const rules::ServerLimits& file) {
  Limits limits;
  if (file.max_body_bytes) limits.max_body_bytes = *file.max_body_bytes;
  if (file.max_headers) limits.max_headers = *file.max_headers;
  if (file.request_timeout) limits.request_timeout = *file.request_timeout;
  if (file.max_connections_per_ip) limits.max_connections_per_ip = *file.max_connections_per_ip;
  return limits;
}

std::unique_ptr<GuardedServer> make_http_server(App& app) {
  const Limits& limits = app.limits;
  auto server = std::make_unique<GuardedServer>(
      ConnectionLimits{limits.request_timeout, limits.max_connections_per_ip,
                       limits.worker_threads},
      app.metrics);

  // Without TCP_NODELAY every small response waits for the peer's delayed ACK (~40 ms).
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(static_cast<std::size_t>(limits.keep_alive_max_requests));
  server->set_keep_alive_timeout(limits.keep_alive_seconds);
  server->set_read_timeout(limits.read_timeout_seconds, 0);
  server->set_write_timeout(limits.read_timeout_seconds, 0);
  server->set_payload_max_length(limits.max_body_bytes);

  // httplib bounds each header line but not their number; refuse floods before any handler.
  server->set_pre_routing_handler([&limits](const httplib::Request& req, httplib::Response& res) {
    if (client_header_count(req.headers) <= limits.max_headers)
      return httplib::Server::HandlerResponse::Unhandled;
    reply_error(res, 431, "too_many_headers",
                "more than " + std::to_string(limits.max_headers) + " request headers");
    return httplib::Server::HandlerResponse::Handled;
  });

  spdlog::info(
      "http limits: bodies up to {} bytes, {} headers, request_timeout {}, {} connections per "
      "address, up to {} worker threads",
      limits.max_body_bytes, limits.max_headers, format_duration(limits.request_timeout),
      limits.max_connections_per_ip, limits.worker_threads);

  register_hooks(*server, app);
  register_api(*server, app);

  // httplib answers some errors itself with an empty body (404, 413, 400 for a bad request
  // line); give them the JSON error shape of every other answer.
  server->set_error_handler([&limits](const httplib::Request& req, httplib::Response& res) {
    if (current_request_timed_out()) {
      // httplib answers a request it could not read in full with 400; say why instead.
      reply_error(res, 408, "request_timeout",
                  "the request arrived too slowly: it must arrive in full within " +
                      format_duration(limits.request_timeout) + ", without a pause of " +
                      std::to_string(limits.read_timeout_seconds) + "s");
      return;
    }
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404:
        reply_error(res, 404, "not_found", "no endpoint " + req.method + " " + req.path);
        break;
      case 405:
        reply_error(res, 405, "method_not_allowed", req.method + " is not allowed on " + req.path);
        break;
      case 413:
        reply_error(res, 413, "payload_too_large",
                    "request body exceeds the limit of " + std::to_string(limits.max_body_bytes) +
                        " bytes");
        break;
      default:
        reply_error(res, res.status, "bad_request", "the request could not be processed");
    }
  });

  // A read that fails because the database is busy or unavailable is our transient fault.
  server->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const SQLite::Exception& e) {
          spdlog::error("{} {}: database error: {}", req.method, req.path, e.what());
          if (storage::is_transient_sqlite_error(e.getErrorCode())) {
            return reply_unavailable(res, "database unavailable; retry later");
          }
          reply_error(res, 500, "internal_error", "database error");
        } catch (const std::exception& e) {
          spdlog::error("{} {}: unhandled error: {}", req.method, req.path, e.what());
          reply_error(res, 500, "internal_error", "unexpected error; see the server log");
        } catch (...) {
          reply_error(res, 500, "internal_error", "unexpected error; see the server log");
        }
      });
  return server;
}

}  // namespace tocsin
