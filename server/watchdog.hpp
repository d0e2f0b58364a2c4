#pragma once
// The watcher is watched (docs/behaviour.md "Heartbeats and the watchdog"): with
// `watchdog:` in the rules, Tocsin POSTs to an external dead-man's switch every interval, so the
// outside world notices when Tocsin itself stops. A ping is sent only while the database commits a
// real write and is healthy (storage::Writer::probe): a Tocsin that cannot record alerts should
// look dead.

#include <chrono>

#include "core/periodic_thread.hpp"
#include "delivery/policy.hpp"
#include "engine/rules_holder.hpp"
#include "server/metrics.hpp"
#include "storage/writer.hpp"

namespace tocsin::server {

class Watchdog {
 public:
  using Sender = std::function<delivery::AttemptResult(const std::string& url, Duration timeout)>;

  Watchdog(const engine::RulesHolder& rules, storage::Writer& writer, Metrics& metrics,
           Sender sender);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void stop() { m_thread.stop(); }

  // One ping now, if configured; returns whether it was sent and answered 2xx.
  bool ping_once();

 private:
  // One interval: pings if configured; returns how long until the next.
  Duration tick();

  const engine::RulesHolder& m_rules;
  storage::Writer& m_writer;
  Metrics& m_metrics;
  Sender m_sender;
  bool m_warned = false;    // the watchdog thread only
  PeriodicThread m_thread;  // last: it starts pinging
};

// The real sender: an empty-bodied POST through the delivery sender.
delivery::AttemptResult post_watchdog(const std::string& url, Duration timeout);

}  // namespace tocsin::server
