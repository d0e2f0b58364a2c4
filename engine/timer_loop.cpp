#include "engine/timer_loop.hpp"

#include <spdlog/spdlog.h>

namespace tocsin::engine {

TimerLoop::TimerLoop(Engine& engine, std::chrono::milliseconds interval)
    : m_engine(engine), m_interval(interval), m_thread([this] {
        tick();
        return m_interval;
      }) {}

TimerLoop::~TimerLoop() {
  stop();
}

void TimerLoop::tick() {
  if (!m_armed) {
    m_armed = true;
    if (auto armed = m_engine.arm_missing_sweeps(); armed && *armed > 0) {
      spdlog::info("armed {} timer(s) missing from before timers existed (sweeps, heartbeats)",
                   *armed);
    }
  }
  auto fired = m_engine.fire_due_timers();
  if (!fired) {
    // Transient (database busy, disk full): the timers stay stored and fire on a later tick.
    // A database fault is logged by the writer when it starts and once a minute.
    if (!m_failing && fired.error().fault == storage::DatabaseFault::none) {
      spdlog::error("timers: cannot commit, will retry: {}", fired.error().message);
    }
    m_failing = true;
  } else if (m_failing) {
    spdlog::info("timers: committing again");
    m_failing = false;
  }
}

}  // namespace tocsin::engine
