#include "server/retention_loop.hpp"

#include <spdlog/spdlog.h>

namespace tocsin {

storage::PruneRun run_retention(App& app) {
  const auto started = std::chrono::steady_clock::now();
  const auto rules = app.rules.get()->rules;
  const auto policy = storage::retention_policy(*rules, app.clock.now());
  storage::PruneRun run = storage::prune(app.writer, policy);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  app.metrics.observe_prune(run, app.clock.now(), seconds);
  std::int64_t total = 0;
  for (const auto& [table, n] : run.deleted)
    total += n;
  if (!run.ok) {
    spdlog::error("retention: a batch could not commit, the next run retries: {}", run.error);
  } else if (total > 0) {
    spdlog::info("retention: pruned {} row(s) older than {} in {} batch(es), {:.2f}s", total,
                 format_timestamp(policy.cutoff), run.batches, seconds);
  }
  return run;
}

RetentionLoop::RetentionLoop(App& app, std::chrono::milliseconds interval)
    : m_app(app), m_interval(interval) {
  m_thread = std::thread([this] { run(); });
}

RetentionLoop::~RetentionLoop() {
  stop();
}

void RetentionLoop::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

void RetentionLoop::run() {
  for (;;) {
    try {
      run_retention(m_app);
    } catch (const std::exception& e) {
      spdlog::error("retention: {}", e.what());
    }
    std::unique_lock lock(m_mutex);
    m_wake.wait_for(lock, m_interval, [this] { return m_stopping; });
    if (m_stopping) return;
  }
}

}  // namespace tocsin
