#include "server/http_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <charconv>

#include "core/duration.hpp"
#include "http/guarded_server.hpp"
#include "http/http_routes.hpp"
#include "server/api.hpp"
#include "server/console.hpp"
#include "server/hooks.hpp"
#include "server/http_util.hpp"
#include "storage/database.hpp"

namespace tocsin::server {

std::optional<ListenAddress> parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  ListenAddress a;
  // A bare `:PORT` is the loopback address: every interface is something one asks for by
  // name (`0.0.0.0:PORT`), never a shorthand's side effect.
  a.host = colon == 0 ? std::string(k_loopback_host) : text.substr(0, colon);
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

bool is_loopback_host(std::string_view host) {
  return host.starts_with("127.") || host == "::1" || host == "localhost";
}

Limits limits_from(const rules::ServerLimits& file) {
  Limits limits;
  if (file.max_body_bytes) limits.max_body_bytes = *file.max_body_bytes;
  if (file.max_headers) limits.max_headers = *file.max_headers;
  if (file.request_timeout) limits.request_timeout = *file.request_timeout;
  if (file.max_connections_per_ip) limits.max_connections_per_ip = *file.max_connections_per_ip;
  if (file.max_connections) limits.max_connections = *file.max_connections;
  if (file.worker_threads) limits.worker_threads = *file.worker_threads;
  return limits;
}

namespace {

// Every open connection is a file descriptor: raises the soft RLIMIT_NOFILE to the hard one,
// and warns when even that leaves no room for max_connections (accept() then fails with
// EMFILE, and cpp-httplib retries it every millisecond until a descriptor is free).
void raise_open_files_limit(std::size_t max_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const auto before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
  }
  if (limit.rlim_cur != before) {
    spdlog::info("open files: raised the limit (RLIMIT_NOFILE) from {} to {}", before,
                 limit.rlim_cur);
  } else {
    spdlog::info("open files: the limit (RLIMIT_NOFILE) is {}", limit.rlim_cur);
  }
  // Room for the database, the log and delivery connections besides.
  constexpr std::size_t k_other_files = 256;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < max_connections + k_other_files) {
    spdlog::warn(
        "open files: the limit {} is too low for server.max_connections {}; raise the hard "
        "limit (ulimit -Hn, LimitNOFILE=) or lower max_connections",
        limit.rlim_cur, max_connections);
  }
}

}  // namespace

std::unique_ptr<http::GuardedServer> make_http_server(App& app) {
  const Limits& limits = app.limits;
  raise_open_files_limit(limits.max_connections);
  http::FramingLimits framing;
  framing.max_body_bytes = limits.max_body_bytes;
  framing.max_headers = limits.max_headers;
  auto server = std::make_unique<http::GuardedServer>(
      http::ConnectionLimits{limits.request_timeout, limits.max_connections_per_ip,
                             limits.max_connections, limits.worker_threads, framing},
      http::ListenerEvents{[&metrics = app.metrics](http::CutReason reason) {
        metrics.count_connection_cut(reason);
      }},
      http::ListenerLog{app.log_limit, app.clock});

  // Without TCP_NODELAY every small response waits for the peer's delayed ACK (~40 ms).
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(static_cast<std::size_t>(limits.keep_alive_max_requests));
  server->set_keep_alive_timeout(limits.keep_alive_seconds);
  server->set_read_timeout(limits.read_timeout_seconds, 0);
  server->set_write_timeout(limits.read_timeout_seconds, 0);

  spdlog::info(
      "http limits: bodies up to {} bytes, {} headers, request_timeout {}, {} connections per "
      "address, {} in all, up to {} worker threads",
      limits.max_body_bytes, limits.max_headers, format_duration(limits.request_timeout),
      limits.max_connections_per_ip, limits.max_connections, limits.worker_threads);

  auto routes = std::make_shared<http::Routes>(*server);
  register_hooks(*routes, app);
  register_api(*routes, app);
  register_console(*routes);

  // Before any handler or body handling: an unknown path is 404, a method the path does not
  // take 405 with Allow (cpp-httplib itself would answer 404, or 400 for a method it lacks).
  server->set_pre_routing_handler([routes](const httplib::Request& req, httplib::Response& res) {
    if (routes->takes(req.method, req.path)) return httplib::Server::HandlerResponse::Unhandled;
    const auto allow = routes->allowed(req.path);
    if (allow.empty()) {
      reply_error(res, 404, "not_found", "no endpoint " + req.method + " " + req.path);
    } else {
      res.set_header("Allow", allow);
      reply_error(res, 405, "method_not_allowed",
                  req.method + " is not allowed on " + req.path + "; it takes " + allow);
    }
    return httplib::Server::HandlerResponse::Handled;
  });

  // httplib may still answer an error itself with an empty body; give it the JSON error shape
  // of every other answer. (Framing errors, 408, 413 and 431 are answered by the listener
  // before httplib sees the request: http/http_framing.hpp.)
  server->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404:
        reply_error(res, 404, "not_found", "no endpoint " + req.method + " " + req.path);
        break;
      case 405:
        reply_error(res, 405, "method_not_allowed", req.method + " is not allowed on " + req.path);
        break;
      case 413:
        // Not reached (no route lets httplib read a body); names no limit it did not apply.
        reply_error(res, 413, "payload_too_large", "the request body is too large");
        break;
      default:
        reply_error(res, res.status, "bad_request", "the request could not be processed");
    }
  });

  // A read that fails because the database is busy or unavailable is our transient fault.
  server->set_exception_handler(
      [&app](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const storage::ReadError& e) {
          spdlog::error("{} {}: database error: {}", req.method, req.path, e.what());
          // A corrupt page met by a read is the writer's problem too (/readyz, /metrics).
          app.writer.note_read_error(e.sqlite_code(), e.what());
          if (e.transient()) {
            return reply_unavailable(res, "database unavailable; retry later");
          }
          return reply_error(res, 500, "internal_error", "database error");
        } catch (const std::exception& e) {
          spdlog::error("{} {}: unhandled error: {}", req.method, req.path, e.what());
          reply_error(res, 500, "internal_error", "unexpected error; see the server log");
        } catch (...) {
          reply_error(res, 500, "internal_error", "unexpected error; see the server log");
        }
      });
  return server;
}

}  // namespace tocsin::server
