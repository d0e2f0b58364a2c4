#pragma once
// The shape of every background loop of the server (the timer loop, the watchdog, retention):
// a thread that runs a task, waits as long as the task asks, and runs it again, until stopped.
// stop() wakes the wait at once and returns once the task in hand has finished; the task is
// never started after stop().

#include <functional>
#include <thread>

#include "core/thread_annotations.hpp"
#include "core/time.hpp"

namespace tocsin {

class PeriodicThread {
 public:
  // `task` runs on the new thread, first at once, and returns how long to wait before its next
  // run. REQUIRES: everything `task` uses is constructed before this (declare it last).
  explicit PeriodicThread(std::function<Duration()> task);
  ~PeriodicThread();
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Idempotent.
  void stop();

 private:
  void run();

  std::function<Duration()> m_task;
  Mutex m_mutex;
  CondVar m_wake;
  bool m_stopping GUARDED_BY(m_mutex) = false;
  std::thread m_thread;     // last: it starts running m_task
};

}  // namespace tocsin
