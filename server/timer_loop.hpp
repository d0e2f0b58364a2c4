#pragma once
// Drives the engine's stored timers on the real clock: a thread that fires every due timer,
// then sleeps a short interval. Timers due while the server was down fire once, at start.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/engine.hpp"

namespace tocsin {

class TimerLoop {
 public:
  TimerLoop(Engine& engine, std::chrono::milliseconds interval);
  ~TimerLoop();
  TimerLoop(const TimerLoop&) = delete;
  TimerLoop& operator=(const TimerLoop&) = delete;

  // Finishes the timer in hand and stops. Idempotent.
  void stop();

 private:
  void run();

  Engine& m_engine;
  std::chrono::milliseconds m_interval;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;  // GUARDED_BY(m_mutex)
  std::thread m_thread;
};

}  // namespace tocsin
