#include "cli/api_client.hpp"

#include <openssl/err.h>
#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>

#include "core/duration.hpp"
#include "core/redact.hpp"
#include "http/http_client.hpp"
#include "http/http_failure.hpp"

namespace tocsin::cli {

namespace {

// The longest answer body quoted in a message when it is not the API's JSON error.
constexpr std::size_t k_quoted_body = 300;

// The API's error code and detail ({"error": ..., "detail": ...}); for any other body, the
// body itself, cut short and with control characters escaped.
std::pair<std::string, std::string> error_of(const std::string& body) {
  const Json j = Json::parse(body, nullptr, false);
  if (j.is_object()) {
    std::string code, detail;
    if (auto it = j.find("error"); it != j.end() && it->is_string()) code = it->get<std::string>();
    if (auto it = j.find("detail"); it != j.end() && it->is_string())
      detail = it->get<std::string>();
    if (!code.empty() || !detail.empty()) return {shown(code), shown(detail)};
  }
  return {"", printable_excerpt(body, k_quoted_body)};
}

std::string status_and_code(int status, const std::string& code) {
  return std::to_string(status) + (code.empty() ? "" : " " + code);
}

}  // namespace

// Why the server URL (--server, TOCSIN_URL) cannot be used, or nullopt. Never repeats a user
// name or password the URL holds: an error message is no place for a credential.
std::optional<std::string> server_url_problem(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto authority_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const auto authority_end = url.find_first_of("/?#", authority_start);
  const std::string authority = url.substr(authority_start, authority_end == std::string::npos
                                                                ? std::string::npos
                                                                : authority_end - authority_start);
  if (authority.find('@') != std::string::npos) {
    return "the server URL holds a user name or password, which tocsin never sends (the API "
           "takes a bearer token: TOCSIN_TOKEN or --token-file); give the URL without them";
  }
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    return "the server URL must start with http:// or https://, got \"" + shown(url) + "\"";
  }
  if (url.find_first_of("?#") != std::string::npos) {
    return "the server URL must not hold a query (?) or a fragment (#): give the server's "
           "address, e.g. https://tocsin.example:8080";
  }
  const auto bracket = authority.find(']');
  const auto colon = authority.rfind(':');
  const bool has_port =
      colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  const std::string host = has_port ? authority.substr(0, colon) : authority;
  if (host.empty() || host == "[]") return "the server URL has no host: \"" + shown(url) + "\"";
  if (has_port) {
    const std::string port = authority.substr(colon + 1);
    const bool digits = !port.empty() && port.size() <= 5 &&
                        port.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return "the server URL's port must be a number from 1 to 65535, got \"" + shown(port) + "\"";
    }
  }
  return std::nullopt;
}

ClientFailure answer_failure(int status, const std::string& body, const std::string& url,
                             bool write, const std::string& what) {
  const auto [code, detail] = error_of(body);
  const std::string scope = write ? "write" : "read";
  const std::string said = detail.empty() ? "" : ": " + detail;
  switch (status) {
    case 400:
      return {ClientExit::invalid, "tocsin: the server refused the request (" +
                                       status_and_code(status, code) + ")" + said};
    case 401:
    case 403:
      return {ClientExit::unauthorized,
              "tocsin: the server refused the token (" + status_and_code(status, code) + ")" +
                  said + "\nthis command needs a token with " + scope +
                  " scope (an api.tokens entry of the server's rules file) in TOCSIN_TOKEN or "
                  "--token-file"};
    case 404:
      // The API's detail names what is missing ("no alert 12", "no alert with id 12").
      if (!code.empty() && !detail.empty()) return {ClientExit::not_found, "tocsin: " + detail};
      return {ClientExit::not_found, "tocsin: " + (what.empty() ? url : what) + ": not found (" +
                                         status_and_code(status, code) + ")" + said};
    default:
      break;
  }
  if (status >= 500) {
    return {ClientExit::failed, "tocsin: the server at " + url + " failed (" +
                                    status_and_code(status, code) + ")" + said};
  }
  return {ClientExit::failed, "tocsin: refused (" + status_and_code(status, code) + ")" + said};
}

ApiClient::ApiClient(ServerSettings settings) : m_settings(std::move(settings)) {}

std::string ApiClient::url_of(const std::string& path) const {
  std::string base = m_settings.url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base + "/api/v1" + path;
}

Expected<Json, ClientFailure> ApiClient::get(const std::string& path, const std::string& what) {
  return request(false, path, nullptr, what);
}

Expected<Json, ClientFailure> ApiClient::post(const std::string& path, const Json& body,
                                              const std::string& what) {
  return request(true, path, &body, what);
}

Expected<Json, ClientFailure> ApiClient::request(bool write, const std::string& path,
                                                 const Json* body, const std::string& what) {
  if (auto problem = server_url_problem(m_settings.url)) {
    return unexpected(
        ClientFailure{ClientExit::usage, "tocsin: " + *problem + " (--server or TOCSIN_URL)"});
  }
  const std::string url = url_of(path);
  auto parts = http::split_url(url);
  if (!parts) {
    return unexpected(ClientFailure{
        ClientExit::usage, "tocsin: the server URL must start with http:// or https://, got \"" +
                               shown(m_settings.url) + "\" (--server or TOCSIN_URL)"});
  }
  auto client = http::make_client(parts->first);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(m_settings.timeout);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(m_settings.timeout - seconds);
  client->set_connection_timeout(seconds.count(), micros.count());
  client->set_read_timeout(seconds.count(), micros.count());
  client->set_write_timeout(seconds.count(), micros.count());
  httplib::Headers headers{{"Accept", "application/json"}};
  if (!m_settings.token.empty()) headers.emplace("Authorization", "Bearer " + m_settings.token);

  ERR_clear_error();  // OpenSSL says why a handshake failed in this thread's error queue
  const auto started = std::chrono::steady_clock::now();
  auto res =
      write ? client->Post(parts->second, headers, body ? body->dump() : "{}", "application/json")
            : client->Get(parts->second, headers);
  if (!res) {
    http::FailedRequest failed;
    std::tie(failed.host, failed.port) = http::host_and_port(parts->first);
    failed.timeout = m_settings.timeout;
    failed.elapsed =
        std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);
    failed.verify_result = client->get_openssl_verify_result();
    failed.openssl_error = ERR_peek_error();
    ERR_clear_error();
    const std::string cause = http::failure_cause(res.error(), failed);
    if (cause.find("timed out") != std::string::npos) {
      return unexpected(ClientFailure{
          ClientExit::timed_out,
          "tocsin: no answer from " + url + " (" + cause + "); a longer wait: --timeout"});
    }
    return unexpected(ClientFailure{ClientExit::unreachable,
                                    "tocsin: cannot reach the server at " + url + ": " + cause +
                                        "\nis `tocsin serve` running there? (the URL comes from "
                                        "--server, then TOCSIN_URL, then http://127.0.0.1:8080)"});
  }
  if (res->status < 200 || res->status > 299)
    return unexpected(answer_failure(res->status, res->body, url, write, what));
  Json answer = Json::parse(res->body, nullptr, false);
  // Every answer of the API is an object: the views read it by key, which throws on anything
  // else (an array would end the client with an uncaught exception).
  if (!answer.is_object()) {
    return unexpected(ClientFailure{
        ClientExit::failed,
        "tocsin: the answer from " + url +
            (answer.is_discarded() ? " is not JSON" : " is not a JSON object") +
            " (is that a tocsin server?): " + printable_excerpt(res->body, k_quoted_body)});
  }
  return answer;
}

std::string shown(std::string_view text) {
  return printable_line(text);
}

std::string query_escape(std::string_view text) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 15];
    }
  }
  return out;
}

std::string login_name() {
  if (const char* name = ::getlogin(); name && *name) return name;
  if (const char* user = std::getenv("USER"); user && *user) return user;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name && *pw->pw_name)
    return pw->pw_name;
  return "";
}

}  // namespace tocsin::cli
