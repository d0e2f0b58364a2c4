#pragma once
// The PostgreSQL the tests run against: the throwaway server scripts/test starts (scripts/postgres)
// and names in TOCSIN_TEST_PG_URI (docs/postgres.md "How the tests get their PostgreSQL").
// Tests share its one database and run in parallel, so each works in a ScratchSchema.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "storage/postgres/connection.hpp"

namespace tocsin::testing {

// The password scripts/postgres gives the role tocsin_password.
inline constexpr const char* k_test_postgres_password = "correct-horse-battery-staple";

// TOCSIN_TEST_PG_URI, or nullopt after printing why the calling test is skipped:
//   const auto uri = test_postgres_uri();
//   if (!uri) return;
// Under CI (CI=true) a missing URI fails the test instead: there the PostgreSQL tests must run.
inline std::optional<std::string> test_postgres_uri() {
  const char* uri = std::getenv("TOCSIN_TEST_PG_URI");
  if (uri != nullptr && *uri != '\0') return std::string(uri);
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true")
    FAIL_CHECK("TOCSIN_TEST_PG_URI is unset under CI: scripts/test starts the PostgreSQL");
  std::fprintf(stderr,
               "skipped: TOCSIN_TEST_PG_URI is unset (scripts/test sets it; by hand: export "
               "TOCSIN_TEST_PG_URI=$(scripts/postgres start DIR))\n");
  return std::nullopt;
}

// The port of a postgresql://user@127.0.0.1:PORT/db URI as scripts/postgres prints it.
inline std::string test_postgres_port(const std::string& uri) {
  const auto colon = uri.rfind(':');
  const auto slash = uri.find('/', colon);
  if (colon == std::string::npos || slash == std::string::npos)
    throw std::runtime_error("not a scripts/postgres URI: " + uri);
  return uri.substr(colon + 1, slash - colon - 1);
}

// A loopback port nothing answers on, released on destruction. Closed: bound (so nobody else
// takes it) but not listening, so a connection to it is refused at once. Silent: listening but
// never accepting nor answering, like a server that hangs (the kernel completes the handshake).
class ClosedPort {
 public:
  enum class Kind { closed, silent };
  explicit ClosedPort(Kind kind = Kind::closed) : m_fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("cannot reserve a loopback port");
    if (kind == Kind::silent && ::listen(m_fd, 16) != 0)
      throw std::runtime_error("cannot listen on a loopback port");
    m_port = std::to_string(ntohs(address.sin_port));
  }
  ~ClosedPort() { ::close(m_fd); }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;

  const std::string& port() const { return m_port; }

 private:
  int m_fd;
  std::string m_port;
};

// A schema of its own for one test, dropped with everything in it on destruction; its
// connections find their tables there.
class ScratchSchema {
 public:
  explicit ScratchSchema(std::string uri)
      : m_uri(std::move(uri)), m_admin(storage::postgres::Connection::open(m_uri)) {
    std::random_device random;
    m_name = "test_" + std::to_string(random()) + "_" + std::to_string(random());
    m_admin.exec("CREATE SCHEMA " + m_name);
  }
  ~ScratchSchema() {
    try {
      m_admin.exec("DROP SCHEMA " + m_name + " CASCADE");
    } catch (const storage::postgres::Error&) {
      // The server went away: it is thrown away with its data anyway.
    }
  }
  ScratchSchema(const ScratchSchema&) = delete;
  ScratchSchema& operator=(const ScratchSchema&) = delete;

  storage::postgres::Connection connect() const {
    auto connection = storage::postgres::Connection::open(m_uri);
    connection.exec("SET search_path TO " + m_name);
    return connection;
  }
  const std::string& name() const { return m_name; }
  // A location (a URI) whose connections find their tables in this schema: what a Writer or a
  // Reader is given. `uri` defaults to the one the schema was made with.
  std::string location(std::string uri = {}) const {
    if (uri.empty()) uri = m_uri;
    return uri + (uri.find('?') == std::string::npos ? "?" : "&") +
           "options=-csearch_path%3D" + m_name;
  }

 private:
  std::string m_uri;
  storage::postgres::Connection m_admin;
  std::string m_name;
};

// A PostgreSQL of the test's own, which it may halt and resume (scripts/postgres halt/resume)
// without disturbing the shared one (TOCSIN_TEST_PG_URI's). Removed on destruction.
class OwnServer {
 public:
  OwnServer() {
    std::random_device random;
    m_dir = "/tmp/tocsin-pg-writer-" + std::to_string(random()) + std::to_string(random());
    m_uri = script("start");
    while (!m_uri.empty() && (m_uri.back() == '\n' || m_uri.back() == ' ')) m_uri.pop_back();
  }
  ~OwnServer() { script("stop"); }
  OwnServer(const OwnServer&) = delete;
  OwnServer& operator=(const OwnServer&) = delete;

  void halt() { script("halt"); }
  void resume() { script("resume"); }
  const std::string& uri() const { return m_uri; }

 private:
  std::string script(const std::string& command) {
    const std::string line =
        std::string(TOCSIN_SOURCE_DIR) + "/scripts/postgres " + command + " " + m_dir;
    std::string out;
    FILE* pipe = ::popen(line.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("cannot run " + line);
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr)
      out += buffer;
    if (::pclose(pipe) != 0 && command != "stop") throw std::runtime_error(line + " failed");
    return out;
  }

  std::string m_dir;
  std::string m_uri;
};


}  // namespace tocsin::testing
