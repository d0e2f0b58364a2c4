#include "http/guarded_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/duration.hpp"
#include "core/json.hpp"
#include "http/elastic_pool.hpp"

namespace tocsin::http {

namespace {

using std::chrono::steady_clock;

// How long a refused connection is given to take the 503 before it is closed.
constexpr Duration k_refusal_linger = std::chrono::milliseconds(100);
constexpr std::size_t k_refusal_drain = 64 * 1024;
// The same for a request refused by its framing: the client may still be sending the body we
// will not read, and closing over unread bytes resets the connection, which can destroy the
// answer before the client reads it. Bounded; the poller drains, so no thread is held.
constexpr Duration k_rejection_linger = std::chrono::seconds(1);
constexpr std::size_t k_rejection_drain = 1024 * 1024;
// Threads kept when idle: enough for a burst of requests without starting threads.
constexpr std::size_t k_min_threads = 8;
// Connections the kernel completes while the accept loop is busy (capped by somaxconn).
constexpr int k_accept_backlog = 1024;

// Readiness events the poller takes in one epoll_wait.
constexpr int k_poll_batch = 256;

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

}  // namespace

// One client connection. Reads never wait: the poller waits for bytes (see GuardedServer).
// Writes wait, bounded twice: by the write timeout, as cpp-httplib's own stream is, and by the
// deadline of the response (or, for 100 Continue, of the request) in progress. Bytes received
// beyond the request being read stay buffered for the next one (pipelining).
class Connection {
 public:
  Connection(socket_t sock, PeerAddress peer, Duration request_timeout, Duration read_timeout,
             Duration write_timeout)
      : m_sock(sock),
        m_peer(std::move(peer)),
        m_deadline(request_timeout),
        m_read_timeout(read_timeout),
        m_write_timeout(write_timeout) {}

  // The bytes received and not yet taken by a request.
  std::string_view buffered() const {
    return m_buffer ? std::string_view(m_buffer->data() + m_begin, m_end - m_begin)
                    : std::string_view();
  }
  void consume(std::size_t n) { m_begin += std::min(n, m_end - m_begin); }
  // A connection parked with nothing buffered gives its buffer back: idle ones cost little.
  void release_buffer() {
    if (m_begin == m_end) m_buffer.reset();
  }

  enum class Received { data, would_block, closed };
  // Receives more bytes into the (empty) buffer, without waiting: `closed` at the end of the
  // stream or on an error.
  Received receive_now() {
    if (m_begin != m_end) return Received::data;
    m_begin = m_end = 0;
    if (!m_buffer) m_buffer = std::make_unique<std::array<char, 16 * 1024>>();
    for (;;) {
      const auto n = ::recv(m_sock, m_buffer->data(), m_buffer->size(), MSG_DONTWAIT);
      if (n > 0) {
        m_received += static_cast<std::size_t>(n);
        m_end = static_cast<std::size_t>(n);
        return Received::data;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Received::would_block;
      return Received::closed;
    }
  }

  bool is_writable() const { return wait_writable(false); }

  // Sends at once when the send buffer has room, as it almost always has for an answer: a
  // poll() before every send cost a system call per response. Never blocks: a full buffer
  // waits in wait_writable, bounded by the deadline and the write timeout.
  ssize_t write(const char* ptr, size_t size, bool interim = false) {
    for (;;) {
      if (!budget_left(interim)) return -1;
      const auto n = ::send(m_sock, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!wait_writable(interim)) return -1;
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
  // The address the client reached, asked of the socket once per connection rather than once
  // per request (cpp-httplib asks for every request; a keep-alive connection keeps it).
  const PeerAddress& local() const {
    if (!m_local) {
      PeerAddress local;
      if (const auto addr = name_of(m_sock, false)) {
        local.ip =
            numeric_host(reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr, local.port);
      }
      m_local = std::move(local);
    }
    return *m_local;
  }
  socket_t socket() const { return m_sock; }

  void start_request(MonoTime now) {
    m_deadline.request_started(now);
    m_started = now;
    m_received = m_end - m_begin;
  }
  void start_first_request(MonoTime accepted, MonoTime now) {
    m_deadline.first_request_started(accepted, now);
    m_started = accepted;
  }
  Duration read_budget(MonoTime now) const { return m_deadline.read_budget(now); }
  // Reading was cut: by the poller, or on finding the deadline passed.
  void cut_reading(CutReason reason) { m_read_cut = reason; }

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
  // The time writing may still take: what is left of the response's deadline (of the
  // request's, for an `interim` write). Nullopt when writing is over: cut before, or the
  // deadline found passed now (which records the cut).
  std::optional<Duration> budget_left(bool interim) const {
    if (m_write_cut) return std::nullopt;
    const auto now = steady_clock::now();
    const auto budget = interim ? m_deadline.read_budget(now) : m_deadline.write_budget(now);
    if (budget > Duration{0}) return budget;
    m_write_cut = CutReason::deadline;
    return std::nullopt;
  }

  // Waits until the socket takes bytes, within the response's deadline and the write
  // timeout; on expiry records the cut (once) and returns false. An `interim` write, within
  // the request's reading, shares the reading's deadline.
  bool wait_writable(bool interim) const {
    for (;;) {
      const auto budget = budget_left(interim);
      if (!budget) return false;
      const auto limit = std::min(*budget, m_write_timeout);
      pollfd p{m_sock, POLLOUT, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(limit.count()));
      if (ready > 0) return true;  // also POLLHUP/POLLERR: the send reports them
      if (ready < 0 && errno != EINTR) return false;
      if (ready == 0 && limit < *budget) {
        m_write_cut = CutReason::stalled;
        return false;
      }
      // Interrupted, or the deadline is (about to be) reached: look again.
    }
  }

  const socket_t m_sock;
  const PeerAddress m_peer;
  mutable std::optional<PeerAddress> m_local;  // local()
  // Mutable: httplib's is_writable() is const, and waiting starts deadlines and records cuts.
  mutable RequestDeadline m_deadline;
  const Duration m_read_timeout;   // silence that cuts a request before its deadline
  const Duration m_write_timeout;  // the same for a response the client does not read
  std::optional<CutReason> m_read_cut;
  mutable std::optional<CutReason> m_write_cut;
  MonoTime m_started{};
  std::size_t m_received = 0;                             // bytes of the request in progress
  std::unique_ptr<std::array<char, 16 * 1024>> m_buffer;  // allocated while needed
  std::size_t m_begin = 0, m_end = 0;
};

// Connection is outside the anonymous namespace because ServedConnection (declared in the
// header, so not file-local) holds one.
namespace {

// What cpp-httplib reads and writes for one request: it reads the request's normalized head
// (see http/http_framing.hpp), never the socket, so it cannot frame a request on its own;
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
  // cpp-httplib writes a response's head and body separately: they are gathered here and sent
  // together by flush(), one send() instead of two. Past k_gather bytes (a large answer)
  // they go out as they come.
  ssize_t write(const char* ptr, size_t size) override {
    if (m_failed) return -1;
    m_out.append(ptr, size);
    if (m_out.size() >= k_gather && !flush()) return -1;
    return static_cast<ssize_t>(size);
  }

  // Sends what was gathered; false when the connection could not take it (the cut says why).
  bool flush() {
    if (m_failed) return false;
    if (m_out.empty()) return true;
    m_failed = !m_connection.write_all(m_out);
    m_out.clear();
    return !m_failed;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = m_connection.peer().ip;
    port = m_connection.peer().port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    const PeerAddress& local = m_connection.local();
    ip = local.ip;
    port = local.port;
  }
  socket_t socket() const override { return m_connection.socket(); }

 private:
  static constexpr std::size_t k_gather = 16 * 1024;

  Connection& m_connection;
  const std::string& m_head;
  std::size_t m_read = 0;
  std::string m_out;
  bool m_failed = false;
};

Duration duration_of(time_t sec, time_t usec) {
  return std::chrono::ceil<Duration>(std::chrono::seconds(sec) + std::chrono::microseconds(usec));
}

void log_cut(const ListenerLog& log, const PeerAddress& peer, CutReason reason,
             const Connection& c) {
  const auto line = log.admit("http: cut connection");
  if (!line) return;
  const auto who = fmt::format("{}:{}", peer.ip, peer.port);
  if (reason == CutReason::deadline && c.cut_while_writing()) {
    spdlog::warn(
        "http: cut connection from {}: response not taken within {} "
        "(server.request_timeout){}",
        who, format_duration(c.request_timeout()), line.suffix());
  } else if (reason == CutReason::deadline) {
    spdlog::warn(
        "http: cut connection from {}: request not complete within {} "
        "(server.request_timeout); {} bytes received{}",
        who, format_duration(c.request_timeout()), c.received(), line.suffix());
  } else if (c.cut_while_writing()) {
    spdlog::warn("http: cut connection from {}: response not read for {}{}", who,
                 format_duration(c.write_timeout()), line.suffix());
  } else {
    spdlog::warn(
        "http: cut connection from {}: nothing received for {} in the middle of a "
        "request, after {}; {} bytes received{}",
        who, format_duration(c.read_timeout()), format_duration(c.since_start()), c.received(),
        line.suffix());
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

// One connection from its accept to its close. At any moment it is owned by exactly one of:
// the accept thread, the poller (parked), or a worker (or a task queued for one); the socket
// is closed, and the peer's place under its cap given back, when the last owner lets go.
struct ServedConnection {
  ServedConnection(GuardedServer& server, socket_t sock, PeerAddress peer,
                   std::optional<ConnectionGuard::Lease> lease_, Duration request_timeout,
                   Duration read_timeout, Duration write_timeout, std::size_t max_requests)
      : m_server(server),
        connection(sock, std::move(peer), request_timeout, read_timeout, write_timeout),
        lease(std::move(lease_)),
        left(max_requests) {
    m_server.connection_opened();
  }
  ~ServedConnection() {
    ::shutdown(connection.socket(), SHUT_RDWR);
    ::close(connection.socket());
    lease.reset();
    m_server.connection_closed();
  }
  ServedConnection(const ServedConnection&) = delete;
  ServedConnection& operator=(const ServedConnection&) = delete;

  socket_t socket() const { return connection.socket(); }

 private:
  GuardedServer& m_server;

 public:
  Connection connection;
  std::optional<ConnectionGuard::Lease> lease;  // empty for a connection refused with 503
  MonoTime accepted = steady_clock::now();
  std::size_t left;                     // requests it may still make (keep_alive_max_count)
  bool first = true;                    // its first request is not served yet
  bool taken = false;                   // a worker has taken it up once (its first deadline is set)
  std::optional<RequestReader> reader;  // the request being read, kept while parked
  bool continued = false;               // 100 Continue was sent for that request
  // It has another request ready after one was served: it goes to the back of the workers'
  // queue rather than keep its worker (see advance()).
  bool requeue = false;

  // What it waits for while parked, and until when.
  enum class Waiting {
    request,   // the first byte of a request (the first one, or the next on a kept-alive one)
    reading,   // the rest of a request that has begun
    draining,  // a refused one: its client's last bytes, taken and dropped, until it closes
  };
  Waiting waiting = Waiting::request;
  MonoTime expires{};
  std::size_t drain_left = 0;  // draining: bytes still taken before closing anyway
};

// Connections on their way to the poller thread, handed over from any thread, until the
// poller exits.
class Inbox {
 public:
  using Arrivals = std::vector<std::shared_ptr<ServedConnection>>;

  // Adds one. True when the poller is to be woken: the inbox was empty (the poller takes it
  // whole, so one signal for the first arrival is enough). False and dropped (closed, outside
  // the lock) once the poller exits.
  bool put(std::shared_ptr<ServedConnection> c) EXCLUDES(m_mutex) {
    MutexLock lock(m_mutex);
    if (m_exit) return false;
    const bool was_empty = m_arrived.empty();
    m_arrived.push_back(std::move(c));
    return was_empty;
  }

  // On the poller thread: everything that arrived since, or nullopt once it is to exit.
  std::optional<Arrivals> take() EXCLUDES(m_mutex) {
    MutexLock lock(m_mutex);
    if (m_exit) return std::nullopt;
    Arrivals arrived;
    arrived.swap(m_arrived);
    return arrived;
  }

  // The poller is to exit; later arrivals are dropped.
  void exit() EXCLUDES(m_mutex) {
    MutexLock lock(m_mutex);
    m_exit = true;
  }

 private:
  Mutex m_mutex;
  Arrivals m_arrived GUARDED_BY(m_mutex);
  bool m_exit GUARDED_BY(m_mutex) = false;
};

// The poller thread's side: every parked connection by socket, and their deadlines in order.
// Connections arrive through the inbox from any thread.
struct Parking {
  int epoll = -1;
  int wake = -1;  // an eventfd: the inbox has arrivals, or the server stops

  Inbox inbox;

  // The poller thread's own.
  std::unordered_map<socket_t, std::shared_ptr<ServedConnection>> parked;
  std::set<std::pair<MonoTime, socket_t>> deadlines;

  ~Parking() {
    if (epoll >= 0) ::close(epoll);
    if (wake >= 0) ::close(wake);
  }

  void signal() const {
    const std::uint64_t one = 1;
    (void)!::write(wake, &one, sizeof one);
  }

  // Takes a connection off epoll and the deadlines; it leaves the map last, so that it is
  // not destroyed (closed) while still registered.
  std::shared_ptr<ServedConnection> unpark(socket_t sock) {
    const auto it = parked.find(sock);
    if (it == parked.end()) return nullptr;
    auto c = std::move(it->second);
    ::epoll_ctl(epoll, EPOLL_CTL_DEL, sock, nullptr);
    deadlines.erase({c->expires, sock});
    parked.erase(it);
    return c;
  }
};

// cpp-httplib's task queue for accepted sockets: runs each task at once, on the accept
// thread. The task is process_and_close_socket(), which never waits: it admits the connection
// and parks it, so accepting never waits for a thread.
class AcceptQueue final : public httplib::TaskQueue {
 public:
  explicit AcceptQueue(GuardedServer& server) : m_server(server) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { m_server.stop_connections(); }

 private:
  GuardedServer& m_server;
};

namespace {

std::string refusal_503(const std::string& detail) {
  const auto body = Json{{"error", "too_many_connections"}, {"detail", detail}}.dump();
  return "HTTP/1.1 503 Service Unavailable\r\n"
         "Content-Type: application/json\r\n"
         "Retry-After: 5\r\n"
         "Connection: close\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Takes and drops what a refused client still sends, without waiting. False once it is done:
// the client closed, or the allowance is used up.
bool drain_now(ServedConnection& c) {
  std::array<char, 16 * 1024> discard{};
  while (c.drain_left > 0) {
    const auto n =
        ::recv(c.socket(), discard.data(), std::min(discard.size(), c.drain_left), MSG_DONTWAIT);
    if (n > 0) {
      c.drain_left -= std::min(c.drain_left, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return false;
}

}  // namespace

GuardedServer::GuardedServer(ConnectionLimits limits, ListenerEvents events, ListenerLog log)
    : m_limits(limits),
      m_events(std::move(events)),
      m_log(log),
      m_guard(limits.max_connections_per_ip, limits.max_connections) {
  new_task_queue = [this] {
    // listen_after_bind() calls this once bound, just before its accept loop (the accept
    // backlog was widened before: see widen_accept_backlog).
    start();
    return new AcceptQueue(*this);
  };
  // cpp-httplib never reads a body (see RequestStream); its own bound is only a backstop.
  set_payload_max_length(limits.framing.max_body_bytes);
  m_refusal = refusal_503("more than " + std::to_string(limits.max_connections_per_ip) +
                          " open connections from one address; retry later");
  m_refusal_total = refusal_503("the server has " + std::to_string(limits.max_connections) +
                                " connections open; retry later");
}

GuardedServer::~GuardedServer() {
  if (m_poller.joinable()) {
    m_parking->inbox.exit();
    m_parking->signal();
    m_poller.join();
  }
  if (m_pool) m_pool->shutdown();
}

void GuardedServer::start() {
  if (m_poller.joinable()) return;
  m_parking = std::make_unique<Parking>();
  m_parking->epoll = ::epoll_create1(EPOLL_CLOEXEC);
  m_parking->wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (m_parking->epoll < 0 || m_parking->wake < 0) {
    throw std::system_error(errno, std::generic_category(), "http: cannot create the poller");
  }
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.fd = m_parking->wake;
  ::epoll_ctl(m_parking->epoll, EPOLL_CTL_ADD, m_parking->wake, &wake);
  const auto threads = m_limits.worker_threads;
  m_pool = std::make_unique<ElasticThreadPool>(std::min(k_min_threads, threads), threads, m_log);
  m_stopping = false;
  m_poller = std::thread([this] { poll_loop(); });
}

bool GuardedServer::stopping() const {
  return m_stopping || svr_sock_ == INVALID_SOCKET;
}

void GuardedServer::connection_opened() {
  MutexLock lock(m_open_mutex);
  ++m_open;
}

void GuardedServer::connection_closed() {
  MutexLock lock(m_open_mutex);
  if (--m_open == 0) m_none_open.notify_all();
}

void GuardedServer::stop_connections() {
  m_stopping = true;
  m_parking->signal();  // closes the connections waiting for a request
  {
    // Requests in progress finish; a parked one that is slow is cut at its deadline.
    MutexLock lock(m_open_mutex);
    while (m_open != 0)
      m_none_open.wait(m_open_mutex);
  }
  m_parking->inbox.exit();
  m_parking->signal();
  m_poller.join();
  m_pool->shutdown();
}

bool GuardedServer::widen_accept_backlog() {
  // On a listening socket, listen() again only changes the backlog.
  return svr_sock_ != INVALID_SOCKET && ::listen(svr_sock_, k_accept_backlog) == 0;
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  const auto addr = name_of(sock, true);
  if (!addr) {  // the peer is already gone
    ::close(sock);
    return false;
  }
  try {
    PeerAddress peer = peer_address(*addr);
    auto admission = m_guard.admit(peer.key);
    const bool admitted = admission.lease.has_value();
    auto c = std::make_shared<ServedConnection>(
        *this, sock, std::move(peer), std::move(admission.lease), m_limits.request_timeout,
        duration_of(read_timeout_sec_, read_timeout_usec_),
        duration_of(write_timeout_sec_, write_timeout_usec_), keep_alive_max_count_);
    if (!admitted) {
      refuse(std::move(c), admission.refusal, admission.first_refusal);
      return false;
    }
    // The first request's deadline runs from the accept (see first_request_started).
    c->connection.start_first_request(c->accepted, c->accepted);
    c->waiting = ServedConnection::Waiting::request;
    c->expires = c->accepted + m_limits.request_timeout;
    park(std::move(c));
    return true;
  } catch (const std::exception& e) {
    // The connection, if made, closed the socket as it went.
    if (const auto line = m_log.admit("http: cannot take a connection")) {
      spdlog::error("http: cannot take a connection: {}{}", e.what(), line.suffix());
    }
    return false;
  }
}

void GuardedServer::refuse(std::shared_ptr<ServedConnection> c, CutReason reason, bool log) {
  if (m_events.connection_cut) m_events.connection_cut(reason);
  const bool total = reason == CutReason::max_connections;
  // Once until one of them closes, and at most once a minute: many peers, or one whose
  // connections come and go, would otherwise write a line each.
  if (log && total) {
    if (const auto line = m_log.admit("http: refusing connections over server.max_connections")) {
      spdlog::warn(
          "http: refusing connections with 503: {} already open in all "
          "(server.max_connections); logged once until one of them closes{}",
          m_guard.max_total(), line.suffix());
    }
  } else if (log) {
    if (const auto line =
            m_log.admit("http: refusing connections over server.max_connections_per_ip")) {
      spdlog::warn(
          "http: refusing connections from {} with 503: {} already open "
          "(server.max_connections_per_ip); logged once until one of them closes{}",
          c->connection.peer().key, m_guard.max_per_peer(), line.suffix());
    }
  }
  // Never blocks: a peer that does not read loses only the courtesy of the answer.
  const auto& answer = total ? m_refusal_total : m_refusal;
  (void)::send(c->socket(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  // Then its last bytes are taken for a moment, so that the close does not reset the
  // connection over the answer.
  ::shutdown(c->socket(), SHUT_WR);
  c->waiting = ServedConnection::Waiting::draining;
  c->drain_left = k_refusal_drain;
  c->expires = steady_clock::now() + k_refusal_linger;
  park(std::move(c));
}

void GuardedServer::park(std::shared_ptr<ServedConnection> c) {
  // Once stopped, the connection is closed as it goes.
  if (m_parking->inbox.put(std::move(c))) m_parking->signal();
}

void GuardedServer::poll_loop() {
  auto& p = *m_parking;
  std::array<epoll_event, k_poll_batch> events{};
  bool closed_idle = false;  // on stopping, the connections waiting for a request
  for (;;) {
    auto taken = p.inbox.take();
    if (!taken) break;
    auto arrived = std::move(*taken);
    const bool stop = stopping();
    if (stop && !closed_idle) {
      closed_idle = true;
      std::vector<socket_t> idle;
      for (const auto& [sock, c] : p.parked) {
        if (c->waiting == ServedConnection::Waiting::request) idle.push_back(sock);
      }
      for (const auto sock : idle)
        p.unpark(sock);  // and closed
    }
    for (auto& c : arrived) {
      if (stop && c->waiting == ServedConnection::Waiting::request) continue;  // closed
      const auto sock = c->socket();
      epoll_event e{};
      e.events = EPOLLIN | EPOLLRDHUP;
      e.data.fd = sock;
      if (::epoll_ctl(p.epoll, EPOLL_CTL_ADD, sock, &e) != 0) {
        const int error = errno;
        if (const auto line = m_log.admit("http: cannot watch a connection")) {
          spdlog::error("http: cannot watch a connection from {}:{}: {}{}", c->connection.peer().ip,
                        c->connection.peer().port, std::strerror(error), line.suffix());
        }
        continue;  // closed
      }
      p.deadlines.emplace(c->expires, sock);
      p.parked.emplace(sock, std::move(c));
    }
    arrived.clear();

    int timeout = -1;
    if (!p.deadlines.empty()) {
      const auto left = p.deadlines.begin()->first - steady_clock::now();
      timeout = static_cast<int>(
          std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(left).count()));
    }
    const int n = ::epoll_wait(p.epoll, events.data(), k_poll_batch, timeout);
    if (n < 0 && errno != EINTR) {
      const int error = errno;
      if (const auto line = m_log.admit("http: the connection poller failed")) {
        spdlog::error("http: the connection poller failed: {}{}", std::strerror(error),
                      line.suffix());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (int i = 0; i < n; ++i) {
      const auto sock = events[static_cast<std::size_t>(i)].data.fd;
      if (sock == p.wake) {
        std::uint64_t count = 0;
        (void)!::read(p.wake, &count, sizeof count);
        continue;
      }
      const auto it = p.parked.find(sock);
      if (it == p.parked.end()) continue;
      if (it->second->waiting == ServedConnection::Waiting::draining) {
        if (!drain_now(*it->second)) p.unpark(sock);  // and closed
        continue;
      }
      auto c = p.unpark(sock);
      m_pool->enqueue([this, c = std::move(c)] { serve(c); });
    }
    const auto now = steady_clock::now();
    while (!p.deadlines.empty() && p.deadlines.begin()->first <= now) {
      if (auto c = p.unpark(p.deadlines.begin()->second)) expire(*c);
    }
  }
  p.parked.clear();
  p.deadlines.clear();
}

void GuardedServer::expire(ServedConnection& c) {
  switch (c.waiting) {
    case ServedConnection::Waiting::request:
      // Between requests on a kept-alive connection: closed quietly, as any HTTP server does.
      // Before the first: it said nothing within request_timeout of its accept.
      if (c.first) {
        c.connection.cut_reading(CutReason::deadline);
        report_cut(c, false);
      }
      return;
    case ServedConnection::Waiting::reading: {
      const bool late = c.connection.read_budget(steady_clock::now()) <= Duration{0};
      c.connection.cut_reading(late ? CutReason::deadline : CutReason::stalled);
      report_cut(c, true);
      return;
    }
    case ServedConnection::Waiting::draining:
      return;
  }
}

void GuardedServer::report_cut(ServedConnection& s, bool in_request) {
  auto& c = s.connection;
  const auto reason = c.cut();
  if (!reason) return;
  if (m_events.connection_cut) m_events.connection_cut(*reason);
  log_cut(m_log, c.peer(), *reason, c);
  if (in_request && !c.cut_while_writing()) {
    // The request had begun: say why it ends, as a 408. Never waits: the client was too slow
    // to be sending anything, and the answer fits an empty send buffer.
    const auto answer =
        refusal_response({408, "request_timeout",
                          "the request arrived too slowly: it must arrive in full within " +
                              format_duration(m_limits.request_timeout) + ", without a pause of " +
                              format_duration(c.read_timeout())},
                         s.reader && s.reader->head_request());
    (void)::send(s.socket(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
}

void GuardedServer::serve(const std::shared_ptr<ServedConnection>& s) {
  try {
    if (!advance(*s)) return;
    if (!s->requeue) return park(s);
    s->requeue = false;
    m_pool->enqueue([this, s] { serve(s); });
  } catch (const std::exception& e) {
    if (const auto line = m_log.admit("http: connection failed")) {
      spdlog::error("http: connection from {}:{} failed: {}{}", s->connection.peer().ip,
                    s->connection.peer().port, e.what(), line.suffix());
    }
  }
}

bool GuardedServer::advance(ServedConnection& s) {
  using Received = Connection::Received;
  using Waiting = ServedConnection::Waiting;
  auto& c = s.connection;
  if (!s.taken) {
    // Taken up by a worker for the first time: however long it waited for one, it has at
    // least a moment to deliver what arrived meanwhile (see first_request_started).
    s.taken = true;
    c.start_first_request(s.accepted, steady_clock::now());
  }
  bool served = false;  // a request was served in this turn
  for (;;) {
    if (!s.reader) {
      // Between requests: the next one begins with its first byte.
      if (c.buffered().empty()) {
        if (stopping()) return false;
        switch (c.receive_now()) {
          case Received::closed:
            return false;
          case Received::would_block: {
            const auto now = steady_clock::now();
            s.waiting = Waiting::request;
            s.expires =
                s.first ? now + c.read_budget(now) : now + duration_of(keep_alive_timeout_sec_, 0);
            c.release_buffer();
            return true;
          }
          case Received::data:
            break;
        }
      }
      if (served) {
        // Pipelined requests: one per turn, so a client that pipelines thousands and reads
        // them slowly holds a worker no longer than one response before the others' turn.
        s.requeue = true;
        return true;
      }
      if (!s.first) c.start_request(steady_clock::now());
      s.reader.emplace(m_limits.framing);
      s.continued = false;
    }

    auto& reader = *s.reader;
    c.consume(reader.take(c.buffered()));
    if (reader.state() == RequestReader::State::refused) {
      // Answered, then the connection ends: nothing after a refused request can be trusted to
      // begin the next one. The client may still be sending what we will not read (a body
      // over the limit, pipelined requests): the poller takes it for a moment first, so that
      // the close does not reset the connection over the answer.
      const auto& error = reader.error();
      if (const auto line = m_log.admit("http: refused a request")) {
        spdlog::warn("http: refused a request from {}:{} with {} {}: {}{}", c.peer().ip,
                     c.peer().port, error.status, error.code, error.detail, line.suffix());
      }
      if (!c.write_all(refusal_response(error, reader.head_request()))) return false;
      ::shutdown(s.socket(), SHUT_WR);
      s.waiting = Waiting::draining;
      s.drain_left = k_rejection_drain;
      s.expires = steady_clock::now() + k_rejection_linger;
      return true;
    }
    if (reader.state() == RequestReader::State::complete) {
      std::string body = reader.take_body();
      RequestStream stream(c, reader.normalized_head());
      bool closed = false;
      // Stopping: this response says the connection closes, and no later request is served.
      const bool last = s.left == 1 || stopping();
      const bool handled = process_request(
          stream, last, closed, [&body](httplib::Request& req) { req.body = std::move(body); });
      const bool ok = stream.flush() && handled;  // whatever was answered goes out
      s.reader.reset();
      s.first = false;
      --s.left;
      if (c.cut()) {
        report_cut(s, false);
        return false;
      }
      if (!ok || closed || last) return false;
      served = true;
      continue;  // the next request, pipelined or not
    }

    // The request has begun and is not complete.
    if (reader.wants_continue() && !s.continued) {
      s.continued = true;
      if (!c.write_all(k_continue, true)) {
        report_cut(s, true);
        return false;
      }
    }
    switch (c.receive_now()) {
      case Received::data:
        continue;
      case Received::closed:
        return false;
      case Received::would_block: {
        const auto now = steady_clock::now();
        const auto budget = c.read_budget(now);
        if (budget <= Duration{0}) {
          c.cut_reading(CutReason::deadline);
          report_cut(s, true);
          return false;
        }
        // Parked with the partial request: a slow client holds no thread either.
        s.waiting = Waiting::reading;
        s.expires = now + std::min(budget, c.read_timeout());
        return true;
      }
    }
  }
}

}  // namespace tocsin::http
