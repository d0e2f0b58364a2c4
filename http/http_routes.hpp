#pragma once
// The listener's routes, registered through one table so that the listener knows, before any
// handler runs, which methods each path takes: a known path asked with another method is
// answered 405 with Allow (RFC 9110 §15.5.6), an unknown path 404 (see make_http_server).

#include <httplib.h>

#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace tocsin::http {

class Routes {
 public:
  using Handler = httplib::Server::Handler;

  explicit Routes(httplib::Server& server) : m_server(server) {}
  Routes(const Routes&) = delete;
  Routes& operator=(const Routes&) = delete;

  // GET, and HEAD, which cpp-httplib answers from the GET route without the body.
  void get(const std::string& pattern, Handler handler);

  // POST. The handler finds the body in req.body, as the bytes sent whatever the Content-Type,
  // up to max_body_bytes: the listener (GuardedServer) has read and decoded it already, and the
  // route is a content-reader route, so cpp-httplib neither reads it again nor parses a form
  // (its 8 KiB form limit, form fields mixed into the query parameters) or multipart body,
  // nor expands a Content-Encoding.
  void post(const std::string& pattern, Handler handler);

  // Whether `method` is taken on `path`.
  bool takes(std::string_view method, const std::string& path) const;

  // The methods `path` takes, as an Allow value ("GET, HEAD, POST"); empty for an unknown path.
  std::string allowed(const std::string& path) const;

  // Every route as registered, in order: what the OpenAPI document must describe (its test
  // compares the two).
  struct Registered {
    std::string method;   // GET (which also takes HEAD) or POST
    std::string pattern;  // the path or regex given to get/post
  };
  std::vector<Registered> registered() const;

 private:
  struct Route {
    std::regex pattern;
    std::string method;  // GET (which also takes HEAD) or POST
    std::string spelled;
  };

  httplib::Server& m_server;
  std::vector<Route> m_routes;
};

}  // namespace tocsin::http
