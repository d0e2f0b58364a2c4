#pragma once
// The decisions that keep slow or greedy clients from pinning the HTTP listener's worker
// threads (README "HTTP limits"; the Ingestion issue's "slow clients cannot pin all
// server threads"). Free of sockets and of clock reads, so they are tested from tables:
//
//  - ConnectionGuard: how many connections are open, in all and from each peer address, and
//    whether one more is admitted (`server.max_connections`, `server.max_connections_per_ip`);
//  - RequestDeadline: by when the request in progress must have been read, and its response
//    taken by the client (`server.request_timeout`).
//
// http/guarded_server.cpp applies them to sockets.

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/thread_annotations.hpp"
#include "core/time.hpp"

namespace tocsin::http {

// Deadlines run on the monotonic clock: a step of the wall clock must neither cut a request
// nor spare one.
using MonoTime = std::chrono::steady_clock::time_point;

// Why the listener ended a connection itself: the `reason` label of
// tocsin_http_connections_cut_total.
enum class CutReason {
  deadline,      // the request was not read in full, or its response not taken, in request_timeout
  stalled,       // nothing moved for the read timeout in the middle of a request
  per_ip_limit,  // refused with 503: the peer already had max_connections_per_ip open
  max_connections,  // refused with 503: max_connections were open in all
};
inline constexpr CutReason k_cut_reasons[] = {CutReason::deadline, CutReason::stalled,
                                              CutReason::per_ip_limit, CutReason::max_connections};
std::string_view to_string(CutReason r);

// The deadlines of the request in progress on one connection. A request's line, headers and
// body must arrive within `timeout` of its start; its response gets `timeout` again from its
// first byte written, so the time our handler takes is not charged to the client (the handler
// bounds its own work). Not thread-safe: one connection is served by one thread at a time (it
// passes between the poller and the workers through locked queues).
class RequestDeadline {
 public:
  explicit RequestDeadline(Duration timeout) : m_timeout(timeout) {}

  // A request starts: on a kept-alive connection when its first byte arrives.
  void request_started(MonoTime now);

  // The first request of a connection accepted at `accepted`, taken up by a worker thread at
  // `now`. Its deadline runs from the accept, so a client that connects and says nothing is
  // bounded too, and waiting for a worker earns no fresh deadline; but it leaves at least
  // k_min_first_budget from `now`, time enough to read what arrived meanwhile.
  void first_request_started(MonoTime accepted, MonoTime now);
  static constexpr Duration k_min_first_budget = std::chrono::seconds(1);

  // How long a read may wait at `now`: zero once the request's deadline has passed. The full
  // timeout when no request has started.
  Duration read_budget(MonoTime now) const;

  // How long a write may wait at `now`: the first write of a response starts its deadline,
  // later writes of the same response share it; zero once it has passed.
  Duration write_budget(MonoTime now);

  Duration timeout() const { return m_timeout; }

 private:
  Duration m_timeout;
  std::optional<MonoTime> m_read_by;
  std::optional<MonoTime> m_write_by;
};

// Open connections, in all and per peer. Thread-safe: connections are admitted on the accept
// thread and released wherever they end. A connection holds its Lease from its accept to its
// close, whichever thread (or none) serves it meanwhile.
class ConnectionGuard {
 public:
  explicit ConnectionGuard(std::size_t max_per_peer,
                           std::size_t max_total = static_cast<std::size_t>(-1))
      : m_max_per_peer(max_per_peer), m_max_total(max_total) {}
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // One admitted connection: holds its peer's place until destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    const std::string& peer() const { return m_peer; }

   private:
    friend class ConnectionGuard;
    Lease(ConnectionGuard& guard, std::string peer) : m_guard(&guard), m_peer(std::move(peer)) {}
    ConnectionGuard* m_guard;  // null once moved from
    std::string m_peer;
  };

  struct Admission {
    std::optional<Lease> lease;  // empty: refused, at a cap
    // Why it was refused: per_ip_limit (the peer is at its cap) or max_connections (the
    // server is at its total, checked first).
    CutReason refusal = CutReason::per_ip_limit;
    // Refused, and the first refusal since that cap was reached: log only this one, so a
    // flood of refused connections does not become a flood of log lines too.
    bool first_refusal = false;
  };

  // `peer` is the key the cap counts by (see peer_key in guarded_server.cpp).
  Admission admit(const std::string& peer);

  std::size_t open(const std::string& peer) const;
  std::size_t open() const;
  std::size_t max_per_peer() const { return m_max_per_peer; }
  std::size_t max_total() const { return m_max_total; }

 private:
  void release(const std::string& peer);

  struct Peer {
    std::size_t open = 0;
    bool refusing = false;  // refused since it reached the cap; reset when one of its closes
  };

  const std::size_t m_max_per_peer;
  const std::size_t m_max_total;
  mutable Mutex m_mutex;
  std::map<std::string, Peer, std::less<>> m_peers GUARDED_BY(m_mutex);  // peers with open > 0
  std::size_t m_open GUARDED_BY(m_mutex) = 0;
  bool m_refusing GUARDED_BY(m_mutex) = false;  // refused at max_total, until one closes
};

}  // namespace tocsin::http
