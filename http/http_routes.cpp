#include "http/http_routes.hpp"

#include <set>

#include "core/text.hpp"

namespace tocsin::http {

void Routes::get(const std::string& pattern, Handler handler) {
  m_routes.push_back({std::regex(pattern), "GET", pattern});
  m_server.Get(pattern, std::move(handler));
}

void Routes::post(const std::string& pattern, Handler handler) {
  m_routes.push_back({std::regex(pattern), "POST", pattern});
  m_server.Post(pattern, httplib::Server::HandlerWithContentReader(
                             [handler = std::move(handler)](
                                 const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader&) { handler(req, res); }));
}

bool Routes::takes(std::string_view method, const std::string& path) const {
  const std::string_view route_method = method == "HEAD" ? "GET" : method;
  for (const auto& r : m_routes) {
    if (r.method == route_method && std::regex_match(path, r.pattern)) return true;
  }
  return false;
}

std::string Routes::allowed(const std::string& path) const {
  std::set<std::string> methods;  // sorted: GET, HEAD, POST
  for (const auto& r : m_routes) {
    if (!std::regex_match(path, r.pattern)) continue;
    methods.insert(r.method);
    if (r.method == "GET") methods.insert("HEAD");
  }
  return join(methods);
}

std::vector<Routes::Registered> Routes::registered() const {
  std::vector<Registered> out;
  out.reserve(m_routes.size());
  for (const auto& r : m_routes)
    out.push_back({r.method, r.spelled});
  return out;
}

}  // namespace tocsin::http
