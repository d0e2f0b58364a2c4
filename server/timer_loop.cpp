#include "server/timer_loop.hpp"

#include <spdlog/spdlog.h>

namespace tocsin {

TimerLoop::TimerLoop(Engine& engine, std::chrono::milliseconds interval)
    : m_engine(engine), m_interval(interval) {
  m_thread = std::thread([this] { run(); });
}

TimerLoop::~TimerLoop() {
  stop();
}

void TimerLoop::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

void TimerLoop::run() {
  if (auto armed = m_engine.arm_missing_sweeps(); armed && *armed > 0) {
    spdlog::info("armed {} timer(s) missing from before timers existed (sweeps, heartbeats)",
                 *armed);
  }
  bool failing = false;
  for (;;) {
    {
      std::unique_lock lock(m_mutex);
      if (m_stopping) return;
    }
    auto fired = m_engine.fire_due_timers();
    if (!fired) {
      // Transient (database busy, disk full): the timers stay stored and fire on a later tick.
      // A database fault is logged by the writer when it starts and once a minute.
      if (!failing && fired.error().fault == storage::DatabaseFault::none) {
        spdlog::error("timers: cannot commit, will retry: {}", fired.error().message);
      }
      failing = true;
    } else if (failing) {
      spdlog::info("timers: committing again");
      failing = false;
    }
    std::unique_lock lock(m_mutex);
    m_wake.wait_for(lock, m_interval, [this] { return m_stopping; });
    if (m_stopping) return;
  }
}

}  // namespace tocsin
