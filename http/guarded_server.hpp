#pragma once
// cpp-httplib's Server with the connection limits it lacks (README "HTTP limits"): a deadline
// for each request, a cap on concurrent connections per peer address, an elastic worker pool,
// and request framing by RFC 9112 (README "Request framing").
//
// Why a subclass, and why it serves the connection itself: Debian ships cpp-httplib 0.11.4
// precompiled (libcpp-httplib.so), so its code cannot change. Its read timeout applies to
// each recv(), so a client trickling one header byte every few seconds holds a worker thread
// forever, and a few dozen such clients hold them all. The per-connection entry point,
// Server::process_and_close_socket(sock), is a private virtual: a subclass may override it
// (access does not affect overriding), and the accept loop calls it through the vtable. The
// override cannot hand the socket back to the base version: naming that private member takes
// the explicit-instantiation access loophole, and even then a call through a pointer to a
// virtual member dispatches to the override again. So the override does what the base version
// does, which is small: a keep-alive loop around the protected Server::process_request(),
// over a stream. The base version, as read from libcpp-httplib.so.0.11.4 (objdump -d):
//
//   for (count = keep_alive_max_count_; svr_sock_ != INVALID_SOCKET && count > 0 &&
//        detail::keep_alive(sock, keep_alive_timeout_sec_); --count) {
//     detail::SocketStream strm(sock, read timeout, write timeout);  // per recv()/send()
//     bool closed = false;
//     if (!process_request(strm, count == 1, closed, nullptr) || closed) break;
//   }
//   shutdown(sock, SHUT_RDWR); close(sock);
//
// Ours differs in three ways. No thread waits for a connection that has nothing to read: the
// accept thread admits each connection and parks it with one poller thread (epoll), which hands
// it to the worker pool only once bytes arrive, and takes it back whenever the next read would
// block: between requests (keep-alive), and in the middle of a request that trickles in, with
// the partly read request kept. The poller closes a parked connection at its deadline: the
// first request's (request_timeout from the accept), the keep-alive timeout between requests,
// the request's deadline or the read timeout in the middle of one. So 2,000 silent or idle
// connections cost file descriptors and a little memory, not 2,000 threads, and a legitimate
// request still finds a thread at once. Every wait of a worker on the socket (writing a response,
// Connection in guarded_server.cpp) is bounded by the request's deadline (RequestDeadline) as
// well as by the write timeout. And cpp-httplib never reads
// the socket: a RequestReader (http/http_framing.hpp) reads each request first, by RFC 9112
// and within max_body_bytes and max_headers, answers what it refuses itself and closes the
// connection, and process_request() gets a stream that replays the request's normalized head,
// with the decoded body handed over through its setup_request hook (routes that take a body
// are content-reader routes, so cpp-httplib does not read or parse one; see
// http/http_routes.hpp). Every e2e test goes through it.
//
// cpp-httplib's accept loop hands each accepted socket to its task queue; ours (AcceptQueue)
// runs that task at once on the accept thread, which only admits and parks the connection.

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_annotations.hpp"
#include "core/time.hpp"
#include "http/connection_guard.hpp"
#include "http/http_framing.hpp"
#include "http/listener_log.hpp"

namespace tocsin::http {

struct ConnectionLimits {
  Duration request_timeout = std::chrono::seconds(30);
  std::size_t max_connections_per_ip = 32;
  std::size_t max_connections = 10000;  // open at once, in all; more are refused with 503
  std::size_t worker_threads = 512;     // the pool's bound: requests served at once
  FramingLimits framing;                // bodies and headers of each request
};

// Who is at the other end of a connection.
struct PeerAddress {
  std::string ip;  // for logs; an IPv4-mapped IPv6 address is shown as IPv4
  int port = 0;
  // What max_connections_per_ip counts by: the IPv4 address, or the /64 prefix of an IPv6
  // address (one host is routinely given a whole /64).
  std::string key;
};
PeerAddress peer_address(const sockaddr_storage& addr);

// What the listener tells its owner as it happens, so the owner can count it (Tocsin's
// server/metrics.hpp) without the listener knowing metrics. A hook left empty is not called.
struct ListenerEvents {
  // A connection the listener cut (deadline, stalled) or refused with 503 (per_ip_limit,
  // max_connections), once per connection; on whichever thread cut it, so it must be
  // thread-safe.
  std::function<void(CutReason)> connection_cut;
};

class ElasticThreadPool;
struct ServedConnection;  // one connection from its accept to its close (guarded_server.cpp)
struct Parking;           // the poller thread's connections and their deadlines

class GuardedServer final : public httplib::Server {
 public:
  // The warnings a peer can set off (cut connections, refused requests and connections) go
  // through `log`, whose limiter the owner flushes.
  GuardedServer(ConnectionLimits limits, ListenerEvents events, ListenerLog log);
  ~GuardedServer() override;
  GuardedServer(const GuardedServer&) = delete;
  GuardedServer& operator=(const GuardedServer&) = delete;

  const ConnectionGuard& guard() const { return m_guard; }

  // Widens the accept backlog, which cpp-httplib 0.11.4 fixes at listen(sock, 5): with 5, a
  // burst of connections while the accept thread waits for a CPU loses SYNs, and each lost
  // one costs its client a 1 s retransmission. REQUIRES: bound, and no thread can call stop()
  // yet (stop() closes the socket; a listen() racing it could reach a reused descriptor).
  bool widen_accept_backlog();

 private:
  friend class AcceptQueue;
  friend struct ServedConnection;

  // On the accept thread: admits the connection and parks it, or refuses it with 503.
  bool process_and_close_socket(socket_t sock) override;
  // The listener starts (once): the poller thread and the worker pool.
  void start();
  // The accept loop ended (stop()): closes the connections waiting for a request, lets every
  // request in progress finish, then stops the poller and the pool.
  void stop_connections();
  bool stopping() const;

  // Hands a connection to the poller; any thread.
  void park(std::shared_ptr<ServedConnection> connection);
  void poll_loop();
  // On a worker: reads and serves requests while bytes are at hand. True when the
  // connection is to be parked again (how is set in it), false when it is to be closed.
  bool advance(ServedConnection& connection);
  void serve(const std::shared_ptr<ServedConnection>& connection);
  // A parked connection's deadline passed (on the poller thread).
  void expire(ServedConnection& connection);
  // Counts, logs and, for a request that had begun, answers 408 to a cut connection.
  void report_cut(ServedConnection& connection, bool in_request);
  // Answers 503 to a peer over a cap, before reading anything, and parks it to drain.
  void refuse(std::shared_ptr<ServedConnection> connection, CutReason reason, bool log);

  void connection_opened();
  void connection_closed();

  const ConnectionLimits m_limits;
  const ListenerEvents m_events;
  const ListenerLog m_log;
  ConnectionGuard m_guard;
  std::string m_refusal;        // the whole 503 response to a peer over its cap
  std::string m_refusal_total;  // the same over max_connections

  std::unique_ptr<ElasticThreadPool> m_pool;
  std::unique_ptr<Parking> m_parking;
  std::thread m_poller;
  std::atomic<bool> m_stopping{false};

  Mutex m_open_mutex;
  CondVar m_none_open;
  std::size_t m_open GUARDED_BY(m_open_mutex) = 0;  // ServedConnections alive
};
}  // namespace tocsin::http
