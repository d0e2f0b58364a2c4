#include "server/retention_loop.hpp"

#include <spdlog/spdlog.h>

namespace tocsin::server {

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
  if (!run.ok && run.fault != storage::DatabaseFault::none) {
    // The writer logs a database fault when it starts and once a minute: not once per caller.
    spdlog::debug("retention: a batch could not commit, the next run retries: {}", run.error);
  } else if (!run.ok) {
    spdlog::error("retention: a batch could not commit, the next run retries: {}", run.error);
  } else if (total > 0) {
    spdlog::info("retention: pruned {} row(s) older than {} in {} batch(es), {:.2f}s", total,
                 format_timestamp(policy.cutoff), run.batches, seconds);
  }
  return run;
}

RetentionLoop::RetentionLoop(App& app, std::chrono::milliseconds interval)
    : m_app(app), m_interval(interval), m_thread([this] {
        try {
          run_retention(m_app);
        } catch (const std::exception& e) {
          spdlog::error("retention: {}", e.what());
        }
        return m_interval;
      }) {}

RetentionLoop::~RetentionLoop() {
  stop();
}

}  // namespace tocsin::server
