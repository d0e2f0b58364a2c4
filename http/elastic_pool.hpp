#pragma once
// The HTTP listener's worker threads. A worker serves a connection only while it has bytes
// to read or a response to write (the poller in http/guarded_server.cpp holds the idle
// ones), so a thread is busy for one request at a time. This pool starts a thread whenever a task
// arrives and no thread is idle, up to `max_threads`; threads beyond `min_threads` exit after
// `idle_exit` without work. Beyond the bound, tasks wait in the queue (logged once per saturation,
// and at most once a minute: see http/listener_log.hpp).

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "core/thread_annotations.hpp"
#include "http/listener_log.hpp"

namespace tocsin::http {

class ElasticThreadPool final : public httplib::TaskQueue {
 public:
  ElasticThreadPool(std::size_t min_threads, std::size_t max_threads, ListenerLog log,
                    std::chrono::milliseconds idle_exit = std::chrono::seconds(30));
  ElasticThreadPool(const ElasticThreadPool&) = delete;
  ElasticThreadPool& operator=(const ElasticThreadPool&) = delete;
  // Shuts down if shutdown() was not called.
  ~ElasticThreadPool() override;

  void enqueue(std::function<void()> fn) override;
  // Runs every queued task, then joins every thread. Called once, by the listener as it stops.
  void shutdown() override;

  std::size_t threads() const;       // alive now
  std::size_t peak_threads() const;  // most alive at once

  // When the task running on the calling thread was enqueued (for the listener: when its
  // connection was accepted, however long it then waited for a thread); nullopt on a thread
  // that is not running a task of a pool.
  static std::optional<std::chrono::steady_clock::time_point> current_task_enqueued();

 private:
  void work();
  void start_thread() REQUIRES(m_mutex);

  const std::size_t m_min_threads;
  const std::size_t m_max_threads;
  const std::chrono::milliseconds m_idle_exit;
  const ListenerLog m_log;

  mutable Mutex m_mutex;
  CondVar m_work_or_stop;
  CondVar m_all_exited;
  struct Task {
    std::function<void()> run;
    std::chrono::steady_clock::time_point enqueued;
  };
  std::deque<Task> m_tasks GUARDED_BY(m_mutex);
  std::map<std::thread::id, std::thread> m_running GUARDED_BY(m_mutex);
  std::vector<std::thread> m_exited GUARDED_BY(m_mutex);  // joined by the next call
  std::size_t m_idle GUARDED_BY(m_mutex) = 0;
  std::size_t m_peak GUARDED_BY(m_mutex) = 0;
  bool m_saturated GUARDED_BY(m_mutex) = false;  // logged, until a thread is idle again
  bool m_stopping GUARDED_BY(m_mutex) = false;
  bool m_stopped GUARDED_BY(m_mutex) = false;
};

}  // namespace tocsin::http
