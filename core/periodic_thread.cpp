#include "core/periodic_thread.hpp"

#include <chrono>

namespace tocsin {

PeriodicThread::PeriodicThread(std::function<Duration()> task)
    : m_task(std::move(task)), m_thread([this] { run(); }) {}

PeriodicThread::~PeriodicThread() {
  stop();
}

void PeriodicThread::stop() {
  {
    MutexLock lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

void PeriodicThread::run() {
  for (;;) {
    {
      MutexLock lock(m_mutex);
      if (m_stopping) return;
    }
    const Duration wait = m_task();
    const auto deadline = std::chrono::steady_clock::now() + wait;
    MutexLock lock(m_mutex);
    while (!m_stopping && m_wake.wait_until(m_mutex, deadline)) {
    }
    if (m_stopping) return;
  }
}

}  // namespace tocsin
