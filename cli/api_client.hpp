#pragma once
// The REST API of a running `tocsin serve`, as the command-line client sees it
// (README "Command-line client"): one request at a time, with the token as a bearer header, and
// every way a request can fail turned into a message a person can act on and an exit status a
// script can test.

#include <optional>
#include <string>
#include <string_view>

#include "core/expected.hpp"
#include "core/json.hpp"
#include "core/time.hpp"

namespace tocsin::cli {

// The exit statuses of the client commands (README "Command-line client"). 2 is a usage error,
// as for every tocsin command.
enum class ClientExit : int {
  ok = 0,
  failed = 1,        // any other refusal: 409 (already acknowledged, ...), 5xx, a garbled answer
  usage = 2,         // a bad flag or value, caught before any request
  unreachable = 3,   // no connection: refused, unreachable, name not resolved, TLS failed
  timed_out = 4,     // no answer within --timeout
  unauthorized = 5,  // 401 or 403: no token, a wrong one, or one without the scope needed
  not_found = 6,     // 404: no such alert or silence
  invalid = 7,       // 400: the API refused the request; its detail says why
};

struct ClientFailure {
  ClientExit exit = ClientExit::failed;
  std::string message;  // one or more lines, no trailing newline; never the token
};

// Where the server is and how to talk to it.
struct ServerSettings {
  std::string url = "http://127.0.0.1:8080";  // http or https, with an optional path prefix
  std::string token;                          // empty: none sent
  Duration timeout = std::chrono::seconds(10);
};

// The failure an answer that is not 2xx stands for. `url` is the request's (for the message);
// `write` tells whether it needed the write scope; `what` names the thing looked up, for a 404
// ("alert 12"; empty: the API's detail). Pure, so every status is tested from a table.
ClientFailure answer_failure(int status, const std::string& body, const std::string& url,
                             bool write, const std::string& what);

// Why the server URL (--server, TOCSIN_URL) cannot be used, or nullopt: not http(s), a user
// name or password in it (never repeated in the message), a query or fragment, no host, a port
// that is not 1-65535.
std::optional<std::string> server_url_problem(const std::string& url);

class ApiClient {
 public:
  explicit ApiClient(ServerSettings settings);

  // GET (read scope) and POST (write scope) of a path under /api/v1 ("/alerts?status=open").
  // A 2xx answer's JSON body, or why there is none. `what` as for answer_failure.
  Expected<Json, ClientFailure> get(const std::string& path, const std::string& what = "");
  Expected<Json, ClientFailure> post(const std::string& path, const Json& body,
                                     const std::string& what = "");

  // The URL a path is requested at, as messages show it.
  std::string url_of(const std::string& path) const;

 private:
  Expected<Json, ClientFailure> request(bool write, const std::string& path, const Json* body,
                                        const std::string& what);

  ServerSettings m_settings;
};

// Text from the server or the command line as the client writes it to a terminal: on one
// line, with no character that could drive the terminal (C0 and C1 controls, bidirectional
// overrides, invalid UTF-8 escaped as core/redact.hpp's printable_line does).
std::string shown(std::string_view text);

// `text` percent-encoded for a query value.
std::string query_escape(std::string_view text);

// Who acts, when --by is not given: the login name (getlogin), then $USER, then the password
// entry of the effective user; "" when none is known.
std::string login_name();

}  // namespace tocsin::cli
