// The HTTP listener's worker pool: grows while tasks block, up to its bound, shrinks when
// idle. Real threads, so every wait is bounded.

#include "http/elastic_pool.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace http_elastic_pool_test {

using namespace std::chrono_literals;
using tocsin::http::ElasticThreadPool;

namespace {

// The pool's warnings (all threads busy) go through a limiter; these tests do not read them.
tocsin::LogLimiter g_log_limit;
tocsin::SystemClock g_clock;
const tocsin::http::ListenerLog k_log{g_log_limit, g_clock};

// Holds tasks until opened (or for 5 s at most, so a broken pool cannot hang the test run).
class Gate {
 public:
  void wait() {
    std::unique_lock lock(m_mutex);
    m_opened.wait_for(lock, 5s, [this] { return m_open; });
  }
  void open() {
    std::lock_guard lock(m_mutex);
    m_open = true;
    m_opened.notify_all();
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_opened;
  bool m_open = false;
};

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 3s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("ElasticThreadPool: one thread per blocked task up to the bound, then a queue") {
  ElasticThreadPool pool(1, 4, k_log, 100ms);
  Gate gate;
  std::atomic<int> started{0}, finished{0};
  for (int i = 0; i < 6; ++i) {
    pool.enqueue([&] {
      ++started;
      gate.wait();
      ++finished;
    });
  }
  REQUIRE(eventually([&] { return started == 4; }));
  CHECK(pool.threads() == 4);
  std::this_thread::sleep_for(20ms);
  CHECK(started == 4);  // the other two wait in the queue

  gate.open();
  REQUIRE(eventually([&] { return finished == 6; }));
  CHECK(pool.peak_threads() == 4);
  // Threads beyond the minimum exit after 100 ms without work.
  CHECK(eventually([&] { return pool.threads() == 1; }));
  pool.shutdown();
  CHECK(pool.threads() == 0);
}

TEST_CASE("ElasticThreadPool: an idle thread takes the next task, none is started for it") {
  ElasticThreadPool pool(1, 8, k_log, 10s);
  std::atomic<int> done{0};
  for (int i = 0; i < 20; ++i) {
    pool.enqueue([&] { ++done; });
    REQUIRE(eventually([&] { return done == i + 1; }));
    // done is counted inside the task: let its thread go back to waiting before the next.
    std::this_thread::sleep_for(1ms);
  }
  CHECK(pool.peak_threads() == 1);
}

TEST_CASE("ElasticThreadPool: shutdown runs every queued task, then joins") {
  ElasticThreadPool pool(1, 1, k_log, 10s);
  Gate gate;
  std::atomic<int> done{0};
  pool.enqueue([&] {
    gate.wait();
    ++done;
  });
  for (int i = 0; i < 5; ++i)
    pool.enqueue([&] { ++done; });
  std::thread opener([&] {
    std::this_thread::sleep_for(20ms);
    gate.open();
  });
  pool.shutdown();
  opener.join();
  CHECK(done == 6);
  CHECK(pool.threads() == 0);
  pool.shutdown();  // a second call is harmless (the destructor makes one too)
}

}  // namespace http_elastic_pool_test
