// The bookkeeping behind the HTTP listener's limits: per-request deadlines and the per-address
// connection cap, driven by explicit instants (no clock reads, no sleeps).

#include "http/connection_guard.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <string>
#include <vector>

#include "http/guarded_server.hpp"

namespace http_connection_guard_test {

using namespace std::chrono_literals;
using namespace tocsin;
using namespace tocsin::http;

namespace {

const MonoTime t0 = MonoTime{} + 1000h;  // an arbitrary instant

}  // namespace

TEST_CASE("RequestDeadline: what a read or a write may still wait") {
  // Each step happens at t0 + at; `op` is what happens, `expected` the budget it returns.
  enum class Op { start, read, write, first };  // first: accepted at 0, taken up at `at`
  struct Step {
    Op op;
    Duration at;
    Duration expected{0};  // for read and write
  };
  struct Case {
    const char* intent;
    std::vector<Step> steps;
    Duration timeout = 1000ms;
  };
  const Case cases[] = {
      {"before any request, a read may wait the whole timeout", {{Op::read, 0ms, 1000ms}}},
      {"a request's reads share one deadline from its start",
       {{Op::start, 0ms},
        {Op::read, 0ms, 1000ms},
        {Op::read, 400ms, 600ms},
        {Op::read, 999ms, 1ms}}},
      {"at and after the deadline a read may not wait",
       {{Op::start, 0ms}, {Op::read, 1000ms, 0ms}, {Op::read, 5000ms, 0ms}}},
      {"the response's deadline starts at its first write: the handler's time is not counted",
       {{Op::start, 0ms},
        {Op::write, 3000ms, 1000ms},
        {Op::write, 3500ms, 500ms},
        {Op::write, 4000ms, 0ms}}},
      {"a write after the read deadline passed still gets its own (the 408 goes out)",
       {{Op::start, 0ms}, {Op::read, 1200ms, 0ms}, {Op::write, 1200ms, 1000ms}}},
      {"a first request taken up at once runs from the accept",
       {{Op::first, 0ms}, {Op::read, 0ms, 1000ms}, {Op::read, 700ms, 300ms}}},
      {"waiting for a worker thread counts against the first request",
       {{Op::first, 3000ms}, {Op::read, 3000ms, 7000ms}},
       10000ms},
      {"but leaves at least a second to read what arrived meanwhile",
       {{Op::first, 9500ms}, {Op::read, 9500ms, 1000ms}, {Op::read, 10500ms, 0ms}},
       10000ms},
      {"even after the whole timeout went by in the queue",
       {{Op::first, 60000ms}, {Op::read, 60000ms, 1000ms}},
       10000ms},
      {"the next request on the connection starts both deadlines afresh",
       {{Op::start, 0ms},
        {Op::write, 100ms, 1000ms},
        {Op::start, 30000ms},
        {Op::read, 30500ms, 500ms},
        {Op::write, 30600ms, 1000ms}}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      RequestDeadline deadline(c.timeout);
      for (const auto& step : c.steps) {
        const auto now = t0 + step.at;
        CAPTURE(step.at.count());
        switch (step.op) {
          case Op::start:
            deadline.request_started(now);
            break;
          case Op::first:
            deadline.first_request_started(t0, now);
            break;
          case Op::read:
            CHECK(deadline.read_budget(now) == step.expected);
            break;
          case Op::write:
            CHECK(deadline.write_budget(now) == step.expected);
            break;
        }
      }
    }
  }
}

TEST_CASE("RequestDeadline: a budget under a millisecond is rounded up, not expired") {
  RequestDeadline deadline(1000ms);
  deadline.request_started(t0);
  CHECK(deadline.read_budget(t0 + 999ms + 600us) == 1ms);
  CHECK(deadline.read_budget(t0 + 1000ms) == 0ms);
}

TEST_CASE("ConnectionGuard: a total cap, checked before the peer's, and logged once") {
  ConnectionGuard guard(2, 3);
  std::list<ConnectionGuard::Lease> leases;
  for (const char* peer : {"a", "b", "c"}) {
    auto admitted = guard.admit(peer);
    REQUIRE(admitted.lease);
    leases.push_back(std::move(*admitted.lease));
  }
  auto over = guard.admit("d");  // a peer with room, but the server is full
  CHECK_FALSE(over.lease);
  CHECK(over.refusal == CutReason::max_connections);
  CHECK(over.first_refusal);
  auto again = guard.admit("a");
  CHECK_FALSE(again.lease);
  CHECK(again.refusal == CutReason::max_connections);
  CHECK_FALSE(again.first_refusal);
  CHECK(guard.open() == 3);

  leases.pop_front();  // "a" goes: room for one, and a new episode is logged again
  auto room = guard.admit("d");
  REQUIRE(room.lease);
  auto full = guard.admit("e");
  CHECK(full.refusal == CutReason::max_connections);
  CHECK(full.first_refusal);
}

TEST_CASE("ConnectionGuard: connections per peer, and when a refusal is logged") {
  // `admit` or `release` (of one earlier lease of `peer`), with what admit must answer.
  enum class Op { admit, release };
  enum class Expect { admitted, refused_logged, refused_quietly, none };
  struct Step {
    Op op;
    const char* peer;
    Expect expected = Expect::none;
  };
  struct Case {
    const char* intent;
    std::vector<Step> steps;
    std::size_t open_a, open_b, open_total;
  };
  const Case cases[] = {
      {"up to the cap is admitted",
       {{Op::admit, "a", Expect::admitted}, {Op::admit, "a", Expect::admitted}},
       2,
       0,
       2},
      {"one over the cap is refused, and logged",
       {{Op::admit, "a", Expect::admitted},
        {Op::admit, "a", Expect::admitted},
        {Op::admit, "a", Expect::refused_logged}},
       2,
       0,
       2},
      {"further refusals while at the cap are not logged again",
       {{Op::admit, "a", Expect::admitted},
        {Op::admit, "a", Expect::admitted},
        {Op::admit, "a", Expect::refused_logged},
        {Op::admit, "a", Expect::refused_quietly},
        {Op::admit, "a", Expect::refused_quietly}},
       2,
       0,
       2},
      {"peers are counted apart",
       {{Op::admit, "a", Expect::admitted},
        {Op::admit, "a", Expect::admitted},
        {Op::admit, "b", Expect::admitted},
        {Op::admit, "a", Expect::refused_logged}},
       2,
       1,
       3},
      {"a release makes room again, and a new episode of refusals is logged",
       {{Op::admit, "a", Expect::admitted},
        {Op::admit, "a", Expect::admitted},
        {Op::admit, "a", Expect::refused_logged},
        {Op::release, "a"},
        {Op::admit, "a", Expect::admitted},
        {Op::admit, "a", Expect::refused_logged}},
       2,
       0,
       2},
      {"a peer whose connections all closed is forgotten",
       {{Op::admit, "a", Expect::admitted}, {Op::release, "a"}, {Op::admit, "b", Expect::admitted}},
       0,
       1,
       1},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      ConnectionGuard guard(2);
      std::list<ConnectionGuard::Lease> leases;  // (a Lease is not assignable)
      for (const auto& step : c.steps) {
        CAPTURE(step.peer);
        if (step.op == Op::release) {
          const auto it = std::find_if(leases.begin(), leases.end(),
                                       [&](const auto& l) { return l.peer() == step.peer; });
          REQUIRE(it != leases.end());
          leases.erase(it);
          continue;
        }
        auto admission = guard.admit(step.peer);
        switch (step.expected) {
          case Expect::admitted:
            REQUIRE(admission.lease);
            CHECK_FALSE(admission.first_refusal);
            leases.push_back(std::move(*admission.lease));
            break;
          case Expect::refused_logged:
            CHECK_FALSE(admission.lease);
            CHECK(admission.first_refusal);
            break;
          case Expect::refused_quietly:
            CHECK_FALSE(admission.lease);
            CHECK_FALSE(admission.first_refusal);
            break;
          case Expect::none:
            break;
        }
      }
      CHECK(guard.open("a") == c.open_a);
      CHECK(guard.open("b") == c.open_b);
      CHECK(guard.open() == c.open_total);
    }
  }
}

TEST_CASE("ConnectionGuard: a lease releases its place once, wherever it was moved") {
  ConnectionGuard guard(1);
  {
    auto admission = guard.admit("a");
    REQUIRE(admission.lease);
    ConnectionGuard::Lease moved(std::move(*admission.lease));
    admission.lease.reset();  // the moved-from lease releases nothing
    CHECK(guard.open("a") == 1);
    CHECK_FALSE(guard.admit("a").lease);
  }
  CHECK(guard.open("a") == 0);
  CHECK(guard.open() == 0);
  CHECK(guard.admit("a").lease);
}

TEST_CASE("peer_address: who the cap counts") {
  const auto v4 = [](const char* ip, int port) {
    sockaddr_storage s{};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, ip, &a.sin_addr);
    std::memcpy(&s, &a, sizeof a);
    return s;
  };
  const auto v6 = [](const char* ip, int port) {
    sockaddr_storage s{};
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    std::memcpy(&s, &a, sizeof a);
    return s;
  };
  struct Case {
    const char* intent;
    sockaddr_storage addr;
    const char* ip;
    int port;
    const char* key;
  };
  const Case cases[] = {
      {"IPv4: the address", v4("203.0.113.7", 51234), "203.0.113.7", 51234, "203.0.113.7"},
      {"IPv4 seen by a dual-stack listener counts as IPv4", v6("::ffff:203.0.113.7", 80),
       "203.0.113.7", 80, "203.0.113.7"},
      {"IPv6: the /64 a host is given", v6("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 443),
       "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 443, "2001:db8:1:2::/64"},
      {"IPv6 loopback", v6("::1", 8080), "::1", 8080, "::/64"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto peer = peer_address(c.addr);
      CHECK(peer.ip == c.ip);
      CHECK(peer.port == c.port);
      CHECK(peer.key == c.key);
    }
  }
}

}  // namespace http_connection_guard_test
