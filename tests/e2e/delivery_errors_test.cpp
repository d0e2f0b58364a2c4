// End-to-end delivery errors (docs/behaviour.md "Delivery"): a failed attempt says what failed and
// where — "connection refused: http://127.0.0.1:9000/fallback" — in the attempts log, last_error,
// the API and the server log, and never shows a URL that is itself a secret.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "core/json.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_delivery_errors_test {

using namespace tocsin::testing;
using tocsin::Json;
using namespace std::chrono_literals;

namespace {

// A loopback TCP socket bound to a free port. Listening: connections complete (the kernel's
// backlog accepts them) and then nothing is ever read or answered. Not listening: the port
// refuses connections while the socket holds it, so no other process takes it meanwhile.
class LoopbackPort {
 public:
  explicit LoopbackPort(bool listening) {
    m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(m_fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    m_port = ntohs(addr.sin_port);
    if (listening) REQUIRE(::listen(m_fd, 16) == 0);
  }
  ~LoopbackPort() { ::close(m_fd); }
  LoopbackPort(const LoopbackPort&) = delete;
  LoopbackPort& operator=(const LoopbackPort&) = delete;

  int port() const { return m_port; }
  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(m_port);
  }

 private:
  int m_fd = -1;
  int m_port = 0;
};

struct ErrorEnv {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  std::string db = dir.file("t.db");

  // A server whose only channel `target` is `channel_yaml`, with delivery.timeout `timeout`.
  void start(const std::string& channel_yaml, const std::string& timeout,
             std::vector<std::string> env = {}) {
    const std::string rules = dir.file("rules.yaml");
    std::ofstream(rules) << "version: 1\n"
                            "sources:\n"
                            "  generic: {token_env: TEST_GENERIC_TOKEN}\n"
                            "channels:\n"
                            "  target: "
                         << channel_yaml
                         << "\n"
                            "delivery: {timeout: "
                         << timeout
                         << ", max_attempts: 3, backoff_initial: 1h, backoff_max: 1h}\n"
                            "rules:\n"
                            "  - {name: all, match: {}, notify: [target]}\n";
    env.push_back("TEST_GENERIC_TOKEN=generic-secret");
    server = std::make_unique<ServerProcess>(
        dir.file("server.log"), std::vector<std::string>{"--rules", rules, "--db", db}, env);
  }

  // Fires one alert and returns the first attempt's error as the API shows it (attempts_log
  // and last_error must agree).
  std::string first_error() {
    httplib::Client c("127.0.0.1", server->port());
    auto posted = c.Post("/hooks/generic", {{"X-Tocsin-Token", "generic-secret"}},
                         R"({"key": "disk-full", "status": "firing"})", "application/json");
    REQUIRE(posted);
    REQUIRE(posted->status == 200);
    for (int i = 0; i < 1000; ++i) {  // bounded: the attempt is recorded when it ends
      auto list = c.Get("/api/v1/notifications");
      REQUIRE(list);
      const Json rows = Json::parse(list->body)["notifications"];
      if (!rows.empty() && !rows[0]["last_error"].get<std::string>().empty()) {
        auto detail = c.Get("/api/v1/notifications/" + std::to_string(rows[0]["id"].get<int>()));
        REQUIRE(detail);
        const Json log = Json::parse(detail->body)["attempts_log"];
        REQUIRE(log.size() == 1);
        CHECK(log[0]["http_status"].is_null());
        CHECK(log[0]["error"] == rows[0]["last_error"]);
        return rows[0]["last_error"];
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL("no attempt was recorded");
    return {};
  }
};

}  // namespace

TEST_CASE("delivery errors: a closed port is 'connection refused' and names the URL") {
  LoopbackPort closed(false);
  ErrorEnv env;
  env.start("{type: webhook, url: \"" + closed.url() + "/fallback\"}", "2s");
  const std::string expected = "connection refused: " + closed.url() + "/fallback";
  CHECK(env.first_error() == expected);
  CHECK(env.server->stop() == 0);
  CHECK(env.server->log().find(expected) != std::string::npos);
}

TEST_CASE("delivery errors: a receiver that never answers has 'timed out after' the timeout") {
  LoopbackPort silent(true);
  ErrorEnv env;
  env.start("{type: webhook, url: \"" + silent.url() + "/hook\"}", "1s");
  CHECK(env.first_error() == "timed out after 1s: " + silent.url() + "/hook");
  CHECK(env.server->stop() == 0);
}

TEST_CASE("delivery errors: https spoken to a plain HTTP port is a TLS error") {
  RecordingReceiver plain;
  ErrorEnv env;
  const std::string url = "https://127.0.0.1:" + std::to_string(plain.port()) + "/hook";
  env.start("{type: webhook, url: \"" + url + "\"}", "2s");
  const std::string error = env.first_error();
  INFO(error);
  // OpenSSL's reason in parentheses ("wrong version number": the answer is no TLS record).
  CHECK(error.rfind("TLS: handshake failed (", 0) == 0);
  CHECK(error.size() > url.size() + 2);
  CHECK(error.substr(error.size() - url.size() - 2) == ": " + url);
  CHECK(env.server->stop() == 0);
}

TEST_CASE("delivery errors: a secret URL from url_env is never stored, logged or shown") {
  LoopbackPort closed(false);
  const std::string token = "T0123ABCD/B0456EFGH/xoxbSecretWebhookToken42";
  const std::string secret_url = closed.url() + "/services/" + token;
  ErrorEnv env;
  env.start("{type: slack, url_env: TEST_SLACK_URL}", "2s", {"TEST_SLACK_URL=" + secret_url});
  const std::string error = env.first_error();
  // The cause and where, without the path that is the credential.
  CHECK(error == "connection refused: " + closed.url() + "/…");
  httplib::Client c("127.0.0.1", env.server->port());
  for (const char* path : {"/api/v1/notifications", "/api/v1/notifications/1"}) {
    auto res = c.Get(path);
    REQUIRE(res);
    CHECK(res->body.find("services") == std::string::npos);
    CHECK(res->body.find("xoxbSecret") == std::string::npos);
  }
  CHECK(env.server->stop() == 0);
  CHECK(env.server->log().find("services/") == std::string::npos);
  CHECK(env.server->log().find("xoxbSecret") == std::string::npos);
  SQLite::Database db(env.db, SQLite::OPEN_READONLY);
  SQLite::Statement q(
      db, "SELECT error FROM delivery_attempts UNION ALL SELECT last_error FROM outbox");
  int rows = 0;
  while (q.executeStep()) {
    ++rows;
    const std::string stored = q.getColumn(0).getString();
    CHECK(stored.find("services") == std::string::npos);
    CHECK(stored.find("xoxbSecret") == std::string::npos);
  }
  CHECK(rows == 2);
}

}  // namespace e2e_delivery_errors_test
