#include "http/connection_guard.hpp"

#include <algorithm>
#include <utility>

namespace tocsin::http {

std::string_view to_string(CutReason r) {
  switch (r) {
    case CutReason::deadline:
      return "deadline";
    case CutReason::stalled:
      return "stalled";
    case CutReason::per_ip_limit:
      return "per_ip_limit";
    case CutReason::max_connections:
      return "max_connections";
  }
  return "unknown";
}

namespace {

Duration remaining(MonoTime deadline, MonoTime now) {
  if (now >= deadline) return Duration{0};
  // Rounded up: a budget of 0.4 ms is not yet an expired deadline.
  return std::chrono::ceil<Duration>(deadline - now);
}

}  // namespace

void RequestDeadline::request_started(MonoTime now) {
  m_read_by = now + m_timeout;
  m_write_by.reset();
}

void RequestDeadline::first_request_started(MonoTime accepted, MonoTime now) {
  m_read_by = std::max(accepted + m_timeout, now + k_min_first_budget);
  m_write_by.reset();
}

Duration RequestDeadline::read_budget(MonoTime now) const {
  return m_read_by ? remaining(*m_read_by, now) : m_timeout;
}

Duration RequestDeadline::write_budget(MonoTime now) {
  if (!m_write_by) m_write_by = now + m_timeout;
  return remaining(*m_write_by, now);
}

ConnectionGuard::Lease::Lease(Lease&& other) noexcept
    : m_guard(std::exchange(other.m_guard, nullptr)), m_peer(std::move(other.m_peer)) {}

ConnectionGuard::Lease::~Lease() {
  if (m_guard != nullptr) m_guard->release(m_peer);
}

ConnectionGuard::Admission ConnectionGuard::admit(const std::string& peer) {
  MutexLock lock(m_mutex);
  if (m_open >= m_max_total) {
    const bool first = !std::exchange(m_refusing, true);
    return {std::nullopt, CutReason::max_connections, first};
  }
  auto& state = m_peers[peer];
  if (state.open >= m_max_per_peer) {
    const bool first = !std::exchange(state.refusing, true);
    return {std::nullopt, CutReason::per_ip_limit, first};
  }
  ++state.open;
  ++m_open;
  return {Lease(*this, peer), CutReason::per_ip_limit, false};
}

void ConnectionGuard::release(const std::string& peer) {
  MutexLock lock(m_mutex);
  const auto it = m_peers.find(peer);
  if (it == m_peers.end() || it->second.open == 0) return;  // not admitted here: a bug
  --m_open;
  m_refusing = false;
  if (--it->second.open == 0) {
    m_peers.erase(it);
  } else {
    it->second.refusing = false;
  }
}

std::size_t ConnectionGuard::open(const std::string& peer) const {
  MutexLock lock(m_mutex);
  const auto it = m_peers.find(peer);
  return it == m_peers.end() ? 0 : it->second.open;
}

std::size_t ConnectionGuard::open() const {
  MutexLock lock(m_mutex);
  return m_open;
}

}  // namespace tocsin::http
