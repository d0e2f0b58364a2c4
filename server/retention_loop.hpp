#pragma once
// Drives retention (storage/retention.hpp) in the background: one run at start, then one
// every `interval`. Each run's batches are writer jobs, so ingest interleaves with them.

#include <chrono>

#include "core/periodic_thread.hpp"
#include "server/app.hpp"

namespace tocsin::server {

// One run with the current rules at the app's clock's now; counted in app.metrics. Returns
// what it deleted. Used by the loop, and by tests on an injected clock.
storage::PruneRun run_retention(App& app);

class RetentionLoop {
 public:
  RetentionLoop(App& app, std::chrono::milliseconds interval);
  ~RetentionLoop();
  RetentionLoop(const RetentionLoop&) = delete;
  RetentionLoop& operator=(const RetentionLoop&) = delete;

  // Stops after the run in hand. Idempotent.
  void stop() { m_thread.stop(); }

 private:
  App& m_app;
  std::chrono::milliseconds m_interval;
  PeriodicThread m_thread;  // last: it starts running
};

}  // namespace tocsin::server
