#pragma once
// Drives the engine's stored timers on the real clock: a thread that fires every due timer,
// then sleeps a short interval. Timers due while the server was down fire once, at start.

#include <chrono>

#include "core/periodic_thread.hpp"
#include "engine/engine.hpp"

namespace tocsin::engine {

class TimerLoop {
 public:
  TimerLoop(Engine& engine, std::chrono::milliseconds interval);
  ~TimerLoop();
  TimerLoop(const TimerLoop&) = delete;
  TimerLoop& operator=(const TimerLoop&) = delete;

  // Finishes the timers in hand and stops. Idempotent.
  void stop() { m_thread.stop(); }

 private:
  // One tick: fires every due timer (on the first, arms the timers missing from old data).
  void tick();

  Engine& m_engine;
  std::chrono::milliseconds m_interval;
  bool m_armed = false;     // the loop thread only
  bool m_failing = false;   // the loop thread only: the last tick could not commit
  PeriodicThread m_thread;  // last: it starts ticking
};

}  // namespace tocsin::engine
