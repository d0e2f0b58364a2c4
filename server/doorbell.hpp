#pragma once
// A doorbell between the engine and the delivery worker: the engine rings it after a commit
// that queued notifications, and idle sending threads wait on it, so a notification leaves at
// once rather than at the worker's next poll, and an idle worker need not poll often.

#include <chrono>
#include <cstdint>

#include "core/thread_annotations.hpp"

namespace tocsin::server {

class Doorbell {
 public:
  void ring() {
    {
      MutexLock lock(m_mutex);
      ++m_rings;
    }
    m_cv.notify_all();
  }
  std::uint64_t rings() const {
    MutexLock lock(m_mutex);
    return m_rings;
  }
  // Until it rings after `seen` (a value of rings()) or `deadline` passes.
  void wait(std::uint64_t seen, std::chrono::steady_clock::time_point deadline) const {
    MutexLock lock(m_mutex);
    while (m_rings == seen && m_cv.wait_until(m_mutex, deadline)) {
    }
  }

 private:
  mutable Mutex m_mutex;
  mutable CondVar m_cv;
  std::uint64_t m_rings GUARDED_BY(m_mutex) = 0;
};

}  // namespace tocsin::server
