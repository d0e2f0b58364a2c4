#include "server/guarded_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>

#include "core/duration.hpp"
#include "core/json.hpp"
#include "server/elastic_pool.hpp"

namespace tocsin {

namespace {

using std::chrono::steady_clock;

// How often a connection waiting for its next request checks whether the server stops.
constexpr Duration k_stop_check_interval = std::chrono::milliseconds(100);
// How long a refused connection is given to take the 503 before it is closed.
constexpr Duration k_refusal_linger = std::chrono::milliseconds(100);
constexpr std::size_t k_refusal_drain = 64 * 1024;
// The same for a request refused by its framing: the client may still be sending the body we
// will not read, and closing over unread bytes resets the connection, which can destroy the
// answer before the client reads it. Bounded, so a refused client holds its thread little.
constexpr Duration k_rejection_linger = std::chrono::seconds(1);
constexpr std::size_t k_rejection_drain = 1024 * 1024;
// Threads kept when idle: enough for a burst of requests without starting threads.
constexpr std::size_t k_min_threads = 8;
// Connections the kernel completes while the accept loop is busy (capped by somaxconn).
constexpr int k_accept_backlog = 1024;

constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string numeric_host(const sockaddr* addr, socklen_t length, int& port) {
  std::array<char, NI_MAXHOST> host{};
  std::array<char, NI_MAXSERV> service{};
  if (getnameinfo(addr, length, host.data(), host.size(), service.data(), service.size(),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    port = 0;
    return "unknown";
  }
  port = std::atoi(service.data());
  return host.data();
}

std::optional<sockaddr_storage> name_of(socket_t sock, bool peer) {
  sockaddr_storage addr{};
  socklen_t length = sizeof addr;
  auto* raw = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? getpeername(sock, raw, &length) : getsockname(sock, raw, &length)) != 0) {
    return std::nullopt;
  }
  return addr;
}

// One client connection, whose every wait is bounded twice: by the read (or write) timeout, as
// cpp-httplib's own stream is, and by the deadline of the request in progress. Bytes received
// beyond the request being read stay buffered for the next one (pipelining).
class Connection {
 public:
  Connection(socket_t sock, const PeerAddress& peer, Duration request_timeout,
             Duration read_timeout, Duration write_timeout)
      : m_sock(sock),
        m_peer(peer),
        m_deadline(request_timeout),
        m_read_timeout(read_timeout),
        m_write_timeout(write_timeout) {}

  // The bytes received and not yet taken by a request.
  std::string_view buffered() const { return {m_buffer.data() + m_begin, m_end - m_begin}; }
  void consume(std::size_t n) { m_begin += std::min(n, m_end - m_begin); }

  // Receives more bytes into the (empty) buffer, waiting within the deadline. False at the
  // end of the stream, on an error, or when the wait was cut (see cut()).
  bool receive_more() {
    if (m_begin != m_end) return true;
    m_begin = m_end = 0;
    for (;;) {
      if (m_read_cut || !wait(POLLIN)) return false;
      const auto n = ::recv(m_sock, m_buffer.data(), m_buffer.size(), MSG_DONTWAIT);
      if (n > 0) {
        m_received += static_cast<std::size_t>(n);
        m_end = static_cast<std::size_t>(n);
        return true;
      }
      if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) return false;
    }
  }

  bool is_writable() const { return wait(POLLOUT); }

  ssize_t write(const char* ptr, size_t size, bool interim = false) {
    for (;;) {
      if (m_write_cut || !wait(POLLOUT, interim)) return -1;
      // Never blocks: poll() waits, bounded; a full send buffer just means wait again.
      const auto n = ::send(m_sock, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    }
  }

  // Writes all of `bytes`. An interim response (100 Continue) is part of reading the request:
  // it is bounded by the request's deadline and does not start the response's.
  bool write_all(std::string_view bytes, bool interim = false) {
    while (!bytes.empty()) {
      const auto n = write(bytes.data(), bytes.size(), interim);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  const PeerAddress& peer() const { return m_peer; }
  socket_t socket() const { return m_sock; }

  enum class Wait { request, idle, stopping };

  // Waits up to `idle` for the first byte of the next request (or the peer closing, which
  // reading the request then finds), checking `stopping` as it goes.
  Wait wait_for_request(Duration idle, const std::function<bool()>& stopping) {
    if (m_begin != m_end) return Wait::request;  // pipelined
    const auto until = steady_clock::now() + idle;
    for (;;) {
      if (stopping()) return Wait::stopping;
      const auto now = steady_clock::now();
      if (now >= until) return Wait::idle;
      const auto slice = std::min(k_stop_check_interval, std::chrono::ceil<Duration>(until - now));
      pollfd p{m_sock, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(slice.count()));
      if (ready > 0) return Wait::request;
      if (ready < 0 && errno != EINTR) return Wait::request;  // let the read report it
    }
  }

  void start_request(MonoTime now) {
    m_deadline.request_started(now);
    m_started = now;
    m_received = m_end - m_begin;
  }
  void start_first_request(MonoTime accepted, MonoTime now) {
    m_deadline.first_request_started(accepted, now);
    m_started = accepted;
  }
  Duration read_budget() const { return m_deadline.read_budget(steady_clock::now()); }
  // The request did not even begin within its deadline.
  void cut_before_request() { m_read_cut = CutReason::deadline; }

  std::optional<CutReason> cut() const { return m_read_cut ? m_read_cut : m_write_cut; }
  bool cut_while_writing() const { return !m_read_cut && m_write_cut; }
  std::size_t received() const { return m_received; }
  Duration since_start() const {
    return std::chrono::ceil<Duration>(steady_clock::now() - m_started);
  }
  Duration request_timeout() const { return m_deadline.timeout(); }
  Duration read_timeout() const { return m_read_timeout; }
  Duration write_timeout() const { return m_write_timeout; }

 private:
  // Waits until the socket is ready for `events`, within the request's deadline and the read
  // (write) timeout; on expiry records the cut (once) and returns false. A write within the
  // request's reading (`interim`) shares the reading's deadline.
  bool wait(short events, bool interim = false) const {
    const bool reading = events == POLLIN;
    auto& cut = reading ? m_read_cut : m_write_cut;
    const auto stall = reading ? m_read_timeout : m_write_timeout;
    if (cut) return false;
    for (;;) {
      const auto now = steady_clock::now();
      const auto budget =
          reading || interim ? m_deadline.read_budget(now) : m_deadline.write_budget(now);
      if (budget <= Duration{0}) {
        cut = CutReason::deadline;
        return false;
      }
      const auto limit = std::min(budget, stall);
      pollfd p{m_sock, events, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(limit.count()));
      if (ready > 0) return true;  // also POLLHUP/POLLERR: the recv/send reports them
      if (ready < 0 && errno != EINTR) return false;
      if (ready == 0 && limit < budget) {
        cut = CutReason::stalled;
        return false;
      }
      // Interrupted, or the deadline is (about to be) reached: look again.
    }
  }

  const socket_t m_sock;
  const PeerAddress& m_peer;
  // Mutable: httplib's is_writable() is const, and waiting starts deadlines and records cuts.
  mutable RequestDeadline m_deadline;
  const Duration m_read_timeout;   // silence that cuts a request before its deadline
  const Duration m_write_timeout;  // the same for a response the client does not read
  mutable std::optional<CutReason> m_read_cut;
  mutable std::optional<CutReason> m_write_cut;
  MonoTime m_started{};
  std::size_t m_received = 0;  // bytes of the request in progress
  std::array<char, 16 * 1024> m_buffer{};
  std::size_t m_begin = 0, m_end = 0;
};

// What cpp-httplib reads and writes for one request: it reads the request's normalized head
// (see server/http_framing.hpp), never the socket, so it cannot frame a request on its own;
// it writes the response to the connection.
class RequestStream final : public httplib::Stream {
 public:
  RequestStream(Connection& connection, const std::string& head)
      : m_connection(connection), m_head(head) {}

  bool is_readable() const override { return m_read < m_head.size(); }
  bool is_writable() const override { return m_connection.is_writable(); }

  ssize_t read(char* ptr, size_t size) override {
    const auto n = std::min(size, m_head.size() - m_read);
    std::memcpy(ptr, m_head.data() + m_read, n);
    m_read += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override { return m_connection.write(ptr, size); }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = m_connection.peer().ip;
    port = m_connection.peer().port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    const auto addr = name_of(m_connection.socket(), false);
    ip = addr ? numeric_host(reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr, port) : "";
    if (!addr) port = 0;
  }
  socket_t socket() const override { return m_connection.socket(); }

 private:
  Connection& m_connection;
  const std::string& m_head;
  std::size_t m_read = 0;
};

// The owner closes: shutdown then close, as cpp-httplib does, whichever way serving ends.
class SocketCloser {
 public:
  explicit SocketCloser(socket_t sock) : m_sock(sock) {}
  ~SocketCloser() {
    ::shutdown(m_sock, SHUT_RDWR);
    ::close(m_sock);
  }
  SocketCloser(const SocketCloser&) = delete;
  SocketCloser& operator=(const SocketCloser&) = delete;

 private:
  socket_t m_sock;
};

// After a last answer: ends our side, then takes what the client still sends for a moment,
// until it closes its side, so that the close does not reset the connection over the answer.
void drain_before_close(socket_t sock, Duration linger, std::size_t max_bytes) {
  ::shutdown(sock, SHUT_WR);
  const auto until = steady_clock::now() + linger;
  std::array<char, 16 * 1024> discard{};
  std::size_t drained = 0;
  while (drained < max_bytes) {
    const auto now = steady_clock::now();
    if (now >= until) break;
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::ceil<Duration>(until - now).count())) <= 0) {
      break;
    }
    const auto n = ::recv(sock, discard.data(), discard.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
  }
}

Duration duration_of(time_t sec, time_t usec) {
  return std::chrono::ceil<Duration>(std::chrono::seconds(sec) + std::chrono::microseconds(usec));
}

void log_cut(const PeerAddress& peer, CutReason reason, const Connection& c) {
  const auto who = fmt::format("{}:{}", peer.ip, peer.port);
  if (reason == CutReason::deadline && c.cut_while_writing()) {
    spdlog::warn(
        "http: cut connection from {}: response not taken within {} "
        "(server.request_timeout)",
        who, format_duration(c.request_timeout()));
  } else if (reason == CutReason::deadline) {
    spdlog::warn(
        "http: cut connection from {}: request not complete within {} "
        "(server.request_timeout); {} bytes received",
        who, format_duration(c.request_timeout()), c.received());
  } else if (c.cut_while_writing()) {
    spdlog::warn("http: cut connection from {}: response not read for {}", who,
                 format_duration(c.write_timeout()));
  } else {
    spdlog::warn(
        "http: cut connection from {}: nothing received for {} in the middle of a "
        "request, after {}; {} bytes received",
        who, format_duration(c.read_timeout()), format_duration(c.since_start()), c.received());
  }
}

// How reading one request ended.
enum class Read {
  complete,  // the reader holds a whole request
  refused,   // the reader refused it (see its error())
  cut,       // the deadline or the read timeout cut it (see Connection::cut())
  gone,      // the client closed, or the socket failed
};

// Reads one request from the connection into `reader`, answering "100 Continue" when the
// request asks for it.
Read read_request(Connection& c, RequestReader& reader) {
  bool continued = false;
  for (;;) {
    c.consume(reader.take(c.buffered()));
    switch (reader.state()) {
      case RequestReader::State::complete:
        return Read::complete;
      case RequestReader::State::refused:
        return Read::refused;
      default:
        break;
    }
    if (reader.wants_continue() && !continued) {
      continued = true;
      if (!c.write_all(k_continue, true)) return c.cut() ? Read::cut : Read::gone;
    }
    if (!c.receive_more()) return c.cut() ? Read::cut : Read::gone;
  }
}

// Answers a request refused before cpp-httplib saw it, then ends the connection: nothing
// after a refused request can be trusted to begin the next one. The client may still be
// sending what we will not read (a body over the limit, pipelined requests): take it for a
// moment first, so that the close does not reset the connection over the answer.
void reject(Connection& c, const FramingError& error, bool head) {
  spdlog::warn("http: refused a request from {}:{} with {} {}: {}", c.peer().ip, c.peer().port,
               error.status, error.code, error.detail);
  if (c.write_all(refusal_response(error, head))) {
    drain_before_close(c.socket(), k_rejection_linger, k_rejection_drain);
  }
}

}  // namespace

PeerAddress peer_address(const sockaddr_storage& addr) {
  PeerAddress peer;
  if (addr.ss_family == AF_INET6) {
    sockaddr_in6 v6{};
    std::memcpy(&v6, &addr, sizeof v6);
    if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
      // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d: count them as IPv4.
      sockaddr_in v4{};
      v4.sin_family = AF_INET;
      v4.sin_port = v6.sin6_port;
      std::memcpy(&v4.sin_addr, v6.sin6_addr.s6_addr + 12, 4);
      peer.ip = numeric_host(reinterpret_cast<const sockaddr*>(&v4), sizeof v4, peer.port);
      peer.key = peer.ip;
      return peer;
    }
    peer.ip = numeric_host(reinterpret_cast<const sockaddr*>(&v6), sizeof v6, peer.port);
    in6_addr prefix = v6.sin6_addr;
    std::memset(prefix.s6_addr + 8, 0, 8);
    std::array<char, INET6_ADDRSTRLEN> text{};
    inet_ntop(AF_INET6, &prefix, text.data(), text.size());
    peer.key = std::string(text.data()) + "/64";
    return peer;
  }
  if (addr.ss_family == AF_INET) {
    peer.ip =
        numeric_host(reinterpret_cast<const sockaddr*>(&addr), sizeof(sockaddr_in), peer.port);
    peer.key = peer.ip;
    return peer;
  }
  peer.ip = peer.key = "local";  // a Unix socket, should one ever be used
  return peer;
}

GuardedServer::GuardedServer(ConnectionLimits limits, Metrics& metrics)
    : m_limits(limits), m_metrics(metrics), m_guard(limits.max_connections_per_ip) {
  const auto threads = m_limits.worker_threads;
  new_task_queue = [threads] {
    return new ElasticThreadPool(std::min(k_min_threads, threads), threads);
  };
  // cpp-httplib never reads a body (see RequestStream); its own bound is only a backstop.
  set_payload_max_length(limits.framing.max_body_bytes);
  const auto body = Json{{"error", "too_many_connections"},
                         {"detail", "more than " + std::to_string(limits.max_connections_per_ip) +
                                        " open connections from one address; retry later"}}
                        .dump();
  m_refusal =
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: application/json\r\n"
      "Retry-After: 5\r\n"
      "Connection: close\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
}

bool GuardedServer::widen_accept_backlog() {
  // On a listening socket, listen() again only changes the backlog.
  return svr_sock_ != INVALID_SOCKET && ::listen(svr_sock_, k_accept_backlog) == 0;
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  SocketCloser closer(sock);
  const auto addr = name_of(sock, true);
  if (!addr) return false;  // the peer is already gone
  const PeerAddress peer = peer_address(*addr);
  auto admission = m_guard.admit(peer.key);
  if (!admission.lease) {
    refuse(sock, peer, admission.first_refusal);
    return false;
  }
  try {
    return serve(sock, peer);
  } catch (const std::exception& e) {
    spdlog::error("http: connection from {}:{} failed: {}", peer.ip, peer.port, e.what());
    return false;
  }
}

bool GuardedServer::serve(socket_t sock, const PeerAddress& peer) {
  const auto read_timeout = duration_of(read_timeout_sec_, read_timeout_usec_);
  Connection connection(sock, peer, m_limits.request_timeout, read_timeout,
                        duration_of(write_timeout_sec_, write_timeout_usec_));
  const auto stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
  const auto keep_alive = duration_of(keep_alive_timeout_sec_, 0);

  // The first request's deadline runs from the accept (see first_request_started).
  const auto now = steady_clock::now();
  connection.start_first_request(ElasticThreadPool::current_task_enqueued().value_or(now), now);
  bool ok = false;
  bool in_request = false;  // cut while a request was being read
  bool head = false;        // and that request was a HEAD
  for (auto left = keep_alive_max_count_; left > 0; --left) {
    const bool first = left == keep_alive_max_count_;
    const auto wait =
        connection.wait_for_request(first ? connection.read_budget() : keep_alive, stopping);
    if (wait == Connection::Wait::stopping) break;
    if (wait == Connection::Wait::idle) {
      if (first) connection.cut_before_request();
      break;
    }
    if (!first) connection.start_request(steady_clock::now());

    RequestReader reader(m_limits.framing);
    const auto read = read_request(connection, reader);
    in_request = read == Read::cut && reader.started();
    head = reader.head_request();
    if (read == Read::refused) {
      reject(connection, reader.error(), head);
      break;
    }
    if (read != Read::complete) break;

    std::string body = reader.take_body();
    RequestStream stream(connection, reader.normalized_head());
    bool closed = false;
    ok = process_request(stream, left == 1, closed,
                         [&body](httplib::Request& req) { req.body = std::move(body); });
    if (!ok || closed || connection.cut()) break;
  }
  if (const auto reason = connection.cut()) {
    m_metrics.count_connection_cut(*reason);
    log_cut(peer, *reason, connection);
    if (in_request && !connection.cut_while_writing()) {
      // The request had begun: say why it ends, as a 408 (no body is drained: the client was
      // too slow to be sending one).
      (void)connection.write_all(
          refusal_response({408, "request_timeout",
                            "the request arrived too slowly: it must arrive in full within " +
                                format_duration(m_limits.request_timeout) +
                                ", without a pause of " + format_duration(read_timeout)},
                           head));
    }
  }
  return ok;
}

void GuardedServer::refuse(socket_t sock, const PeerAddress& peer, bool log) {
  m_metrics.count_connection_cut(CutReason::per_ip_limit);
  if (log) {
    spdlog::warn(
        "http: refusing connections from {} with 503: {} already open "
        "(server.max_connections_per_ip); logged once until one of them closes",
        peer.key, m_guard.max_per_peer());
  }
  // Never blocks: a peer that does not read loses only the courtesy of the answer.
  (void)::send(sock, m_refusal.data(), m_refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  drain_before_close(sock, k_refusal_linger, k_refusal_drain);
}

}  // namespace tocsin
