#include "http/elastic_pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace tocsin::http {

namespace {

thread_local std::optional<std::chrono::steady_clock::time_point> t_task_enqueued;

}  // namespace

ElasticThreadPool::ElasticThreadPool(std::size_t min_threads, std::size_t max_threads,
                                     ListenerLog log, std::chrono::milliseconds idle_exit)
    : m_min_threads(min_threads),
      m_max_threads(std::max<std::size_t>({max_threads, min_threads, 1})),
      m_idle_exit(idle_exit),
      m_log(log) {}

ElasticThreadPool::~ElasticThreadPool() {
  shutdown();
}

void ElasticThreadPool::enqueue(std::function<void()> fn) {
  std::vector<std::thread> exited;
  std::function<void()> inline_task;
  bool wake = false;
  {
    MutexLock lock(m_mutex);
    exited.swap(m_exited);
    m_tasks.push_back({std::move(fn), std::chrono::steady_clock::now()});
    if (m_idle >= m_tasks.size()) {
      wake = true;
    } else if (m_running.size() < m_max_threads) {
      try {
        start_thread();
      } catch (const std::system_error& e) {
        // Out of threads (RLIMIT_NPROC, memory): the running ones will get to it; with none
        // running, the listener's thread serves it rather than leaving it queued forever.
        if (const auto line = m_log.admit("http: cannot start a worker thread")) {
          spdlog::error("http: cannot start a worker thread: {}{}", e.what(), line.suffix());
        }
        if (m_running.empty()) {
          inline_task = std::move(m_tasks.back().run);
          m_tasks.pop_back();
        }
      }
    } else if (!m_saturated) {
      m_saturated = true;
      if (const auto line = m_log.admit("http: all worker threads busy")) {
        spdlog::warn(
            "http: all {} worker threads are busy; requests wait for one to free up "
            "(slow handlers or clients slow to take responses? see server.worker_threads and "
            "server.request_timeout){}",
            m_max_threads, line.suffix());
      }
    }
  }
  // Woken after the lock is let go: a worker woken under it would only wake to wait for it.
  if (wake) m_work_or_stop.notify_one();
  for (auto& t : exited)
    t.join();
  if (inline_task) inline_task();
}

void ElasticThreadPool::shutdown() {
  std::vector<std::thread> exited;
  {
    MutexLock lock(m_mutex);
    if (m_stopped) return;
    m_stopping = true;
    m_work_or_stop.notify_all();
    while (!m_running.empty())
      m_all_exited.wait(m_mutex);
    m_stopped = true;
    exited.swap(m_exited);
  }
  for (auto& t : exited)
    t.join();
}

std::optional<std::chrono::steady_clock::time_point> ElasticThreadPool::current_task_enqueued() {
  return t_task_enqueued;
}

std::size_t ElasticThreadPool::threads() const {
  MutexLock lock(m_mutex);
  return m_running.size();
}

std::size_t ElasticThreadPool::peak_threads() const {
  MutexLock lock(m_mutex);
  return m_peak;
}

void ElasticThreadPool::start_thread() {
  std::thread t([this] { work(); });
  const auto id = t.get_id();
  m_running.emplace(id, std::move(t));
  m_peak = std::max(m_peak, m_running.size());
}

void ElasticThreadPool::work() {
  // Locked by hand: the lock is let go around each task.
  m_mutex.lock();
  for (;;) {
    if (m_tasks.empty()) m_saturated = false;
    ++m_idle;
    const auto idle_until = std::chrono::steady_clock::now() + m_idle_exit;
    while (m_tasks.empty() && !m_stopping && m_work_or_stop.wait_until(m_mutex, idle_until)) {
    }
    const bool woken = !m_tasks.empty() || m_stopping;
    --m_idle;
    if (!m_tasks.empty()) {
      auto task = std::move(m_tasks.front());
      m_tasks.pop_front();
      m_mutex.unlock();
      t_task_enqueued = task.enqueued;
      task.run();
      t_task_enqueued.reset();
      task.run = nullptr;  // its captures are destroyed outside the lock too
      m_mutex.lock();
      continue;
    }
    if (m_stopping) break;
    if (!woken && m_running.size() > m_min_threads) break;  // idle for m_idle_exit
  }
  // The next enqueue() or shutdown() joins this thread; it no longer needs the lock, which
  // is released as it returns.
  const auto self = m_running.find(std::this_thread::get_id());
  m_exited.push_back(std::move(self->second));
  m_running.erase(self);
  if (m_running.empty()) m_all_exited.notify_all();
  m_mutex.unlock();
}

}  // namespace tocsin::http
