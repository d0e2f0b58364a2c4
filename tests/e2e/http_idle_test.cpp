// End-to-end: connections with nothing to read hold no worker thread (README "HTTP limits").
// More connections than the pool has threads (512) sit silent or idle in keep-alive, from
// several loopback addresses, while a legitimate client posts. Every wait is bounded, so a
// listener that gives each connection a thread fails these tests instead of hanging them.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/raw_client.hpp"
#include "support/rules_server.hpp"
#include "support/temp_dir.hpp"

namespace e2e_http_idle_test {

using namespace std::chrono_literals;
using namespace tocsin::testing;
using Clock = std::chrono::steady_clock;

namespace {

// Over the pool's 512 threads, so a listener that gives each connection a thread cannot
// serve them all at once.
constexpr int k_idle = 600;
constexpr int k_addresses = 3;  // per kind: 127.0.0.2-4 silent, 127.0.0.5-7 kept alive

// A server with this `server:` section and one catch-all rule.
struct IdleServer : RulesServer {
  explicit IdleServer(const std::string& server_section)
      : RulesServer(with_sections(server_section)) {}
};

bool can_bind(const char* address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, address, &from.sin_addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0;
  ::close(fd);
  return ok;
}

// Room for this many more open files in this process (both ends live on this host, but the
// server has its own limit).
bool can_open(rlim_t files) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= files) return true;
  limit.rlim_cur = std::min(files, limit.rlim_max);
  return setrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur >= files;
}

double seconds_since(Clock::time_point from) {
  return std::chrono::duration<double>(Clock::now() - from).count();
}

const std::string k_alert = R"({"key": "legit", "status": "firing", "summary": "still answered"})";

}  // namespace

TEST_CASE("idle and silent connections beyond the worker threads do not delay a request") {
  if (!can_bind("127.0.0.7") || !can_open(2 * k_idle + 200)) {
    MESSAGE("loopback aliases or enough open files are not available here; skipping");
    return;
  }
  IdleServer s("server: {max_connections_per_ip: 250}\n");

  // Kept alive: each sends one request, takes its answer, then says nothing more.
  std::vector<std::unique_ptr<RawClient>> kept;
  for (int i = 0; i < k_idle; ++i) {
    const auto source = "127.0.0." + std::to_string(5 + i % k_addresses);
    kept.push_back(std::make_unique<RawClient>(s.port(), source.c_str()));
    REQUIRE(kept.back()->connected());
    REQUIRE(kept.back()->send("GET /healthz HTTP/1.1\r\nHost: tocsin\r\n\r\n"));
  }
  int answered = 0;
  const auto answers_by = Clock::now() + 5s;
  for (auto& c : kept) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(answers_by - Clock::now());
    answered += c->wait_received("HTTP/1.1 200 OK", std::max(left, 0ms)) ? 1 : 0;
  }
  CHECK(answered == k_idle);  // a thread per idle connection runs out before this

  // Silent: connected, never a byte.
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < k_idle; ++i) {
    const auto source = "127.0.0." + std::to_string(2 + i % k_addresses);
    silent.push_back(std::make_unique<RawClient>(s.port(), source.c_str()));
    REQUIRE(silent.back()->connected());
  }

  const auto start = Clock::now();
  auto posted = s.client().Post("/hooks/generic", k_alert, "application/json");
  const double took = seconds_since(start);
  REQUIRE(posted);
  CHECK(posted->status == 200);
  CHECK(took < 1.0);

  // Nothing was cut or refused: the idle ones are within their timeouts and caps.
  CHECK(s.cuts("deadline") == 0);
  CHECK(s.cuts("per_ip_limit") == 0);
  for (auto& c : kept)
    CHECK_FALSE(c->closed());

  // Stopping closes the idle connections at once; it does not wait out their timeouts.
  const auto stop = Clock::now();
  CHECK(s.server->stop() == 0);
  CHECK(seconds_since(stop) < 3.0);
  int closed = 0;
  for (auto& c : silent)
    closed += c->wait_closed(1s) ? 1 : 0;
  CHECK(closed == k_idle);
}

TEST_CASE("over max_connections in all, a connection is answered 503 and closed") {
  IdleServer s("server: {max_connections: 4}\n");
  std::vector<std::unique_ptr<RawClient>> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(std::make_unique<RawClient>(s.port()));
    REQUIRE(open.back()->connected());
  }
  // The four are admitted before the fifth: each is taken in turn by the one accept loop.
  RawClient over(s.port());
  REQUIRE(over.connected());
  REQUIRE(over.wait_closed(2s));
  INFO("answer: " << over.received());
  CHECK(over.received().starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
  CHECK(over.received().find(R"("error":"too_many_connections")") != std::string::npos);
  for (auto& c : open)
    CHECK_FALSE(c->answered());

  // One of the four goes: there is room again.
  open.pop_back();
  const auto until = Clock::now() + 2s;
  std::optional<httplib::Result> health;
  while (Clock::now() < until) {
    auto r = s.client().Get("/healthz");
    if (r && r->status == 200) {
      health.emplace(std::move(r));
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  CHECK(health.has_value());
  open.clear();  // room for the metrics request, once the server has seen them go
  long refused = -1;
  for (const auto by = Clock::now() + 2s; refused < 1 && Clock::now() < by;) {
    refused = s.cuts("max_connections");
    if (refused < 1) std::this_thread::sleep_for(20ms);
  }
  CHECK(refused >= 1);
  const auto log = s.server->log();
  INFO(log);
  CHECK(log.find("(server.max_connections)") != std::string::npos);
}

TEST_CASE("a client pipelining many requests without reading does not keep the only worker") {
  IdleServer s("server: {worker_threads: 1}\n");
  // Thousands of requests in one go, and never a byte read: its responses fill the socket's
  // buffers, and a worker serving them back to back would wait on it until the write stall.
  RawClient greedy(s.port());
  REQUIRE(greedy.connected());
  std::string pipelined;
  for (int i = 0; i < 3000; ++i)
    pipelined += "GET /metrics HTTP/1.1\r\nHost: tocsin\r\n\r\n";
  REQUIRE(greedy.send(pipelined));
  // Ask as soon as the greedy client's first turn has begun (its first response arrived), long
  // before its responses fill the socket buffers: once full (3,000 responses are ~18 MB, a few
  // MB fit on loopback) the worker writing its turn waits for the write stall whatever the
  // turns, which is not what this case is about. A fixed pause was too long once responses went
  // out faster (a send without a poll() first).
  REQUIRE(greedy.wait_readable(5000ms));

  const auto started = Clock::now();
  auto r = s.client().Get("/healthz");
  const double took = std::chrono::duration<double>(Clock::now() - started).count();
  INFO("the other client waited " << took << " s");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(took < 2.0);  // a turn is one response, not 3,000 (the write stall is 10 s)
}

}  // namespace e2e_http_idle_test
