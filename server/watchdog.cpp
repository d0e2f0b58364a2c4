#include "server/watchdog.hpp"

#include <spdlog/spdlog.h>

#include "rules/loader.hpp"
#include "server/delivery_worker.hpp"

namespace tocsin::server {

delivery::AttemptResult post_watchdog(const std::string& url, Duration timeout) {
  delivery::HttpRequest request;
  request.url = url;
  request.headers = {{"Content-Type", "text/plain"}};
  request.body = "tocsin alive";
  return send_http(request, timeout);
}

Watchdog::Watchdog(const engine::RulesHolder& rules, storage::Writer& writer, Metrics& metrics,
                   Sender sender)
    : m_rules(rules),
      m_writer(writer),
      m_metrics(metrics),
      m_sender(std::move(sender)),
      m_thread([this] { return tick(); }) {}

Watchdog::~Watchdog() {
  stop();
}

bool Watchdog::ping_once() {
  const auto active = m_rules.get();
  const auto& config = active->rules->watchdog;
  if (!config) return false;
  std::optional<std::string> url = config->url;
  if (!url && config->url_env) url = rules::process_env()(*config->url_env);
  if (!url || url->empty()) {
    m_metrics.count_watchdog("not_configured");
    if (!m_warned) {  // once, not every interval
      spdlog::error("watchdog: {} is not set; the dead-man's switch is not being pinged",
                    config->url_env.value_or("watchdog.url"));
      m_warned = true;
    }
    return false;
  }
  m_warned = false;
  // Alive means able to record alerts: the ping waits for a real write to commit (an empty
  // transaction commits on a full disk or a deleted file), and for a database not known to be
  // corrupt or replaced.
  if (auto err = m_writer.probe(std::chrono::seconds(5))) {
    m_metrics.count_watchdog("skipped_unhealthy");
    spdlog::error("watchdog: not pinging the dead-man's switch: {}", err->message);
    return false;
  }
  auto result = m_sender(*url, active->rules->delivery.timeout);
  const bool ok = result.http_status && *result.http_status >= 200 && *result.http_status < 300;
  m_metrics.count_watchdog(ok ? "ok" : "failed");
  // The URL is often a secret (a ping token in the path): never log it.
  if (!ok) spdlog::warn("watchdog: ping failed: {}", result.error);
  return ok;
}

Duration Watchdog::tick() {
  const auto active = m_rules.get();  // held: a reload may swap the rules meanwhile
  const auto& config = active->rules->watchdog;
  if (!config) return std::chrono::minutes(1);  // look again: a reload may configure it
  ping_once();
  return config->every;
}

}  // namespace tocsin::server
