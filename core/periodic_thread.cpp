#include "core/periodic_thread.hpp"

namespace tocsin {

PeriodicThread::PeriodicThread(std::function<Duration()> task)
    : m_task(std::move(task)), m_thread([this] { run(); }) {}

PeriodicThread::~PeriodicThread() {
  stop();
}

void PeriodicThread::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

void PeriodicThread::run() {
  for (;;) {
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) return;
    }
    const Duration wait = m_task();
    std::unique_lock lock(m_mutex);
    m_wake.wait_for(lock, wait, [this] { return m_stopping; });
    if (m_stopping) return;
  }
}

}  // namespace tocsin
