#pragma once
// Drives retention (storage/retention.hpp) in the background: one run at start, then one
// every `interval`. Each run's batches are writer jobs, so ingest interleaves with them.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/app.hpp"

namespace tocsin {

// One run with the current rules at the app's clock's now; counted in app.metrics. Returns
// what it deleted. Used by the loop, and by tests on an injected clock.
storage::PruneRun run_retention(App& app);

class RetentionLoop {
 public:
  RetentionLoop(App& app, std::chrono::milliseconds interval);
  ~RetentionLoop();
  RetentionLoop(const RetentionLoop&) = delete;
  RetentionLoop& operator=(const RetentionLoop&) = delete;

  // Stops after the batch in hand. Idempotent.
  void stop();

 private:
  void run();

  App& m_app;
  std::chrono::milliseconds m_interval;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;  // GUARDED_BY(m_mutex)
  std::thread m_thread;
};

}  // namespace tocsin
