#include "server/metrics.hpp"

#include <cstdio>
#include <optional>
#include <tuple>

namespace tocsin::server {

namespace {

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Label values escaped per the exposition format: backslash, quote, newline.
std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : m_bounds(std::move(bounds)), m_counts(m_bounds.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < m_bounds.size() && v > m_bounds[i])
    ++i;
  ++m_counts[i];
  m_sum += v;
  ++m_count;
}

void Histogram::render(std::string& out, const std::string& name) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < m_bounds.size(); ++i) {
    cumulative += m_counts[i];
    out += name + "_bucket{le=\"" + format_number(m_bounds[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(m_count) + "\n";
  out += name + "_sum " + format_number(m_sum) + "\n";
  out += name + "_count " + std::to_string(m_count) + "\n";
}

Metrics::Metrics()
    : m_commit_seconds({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      m_group_size({1, 2, 4, 8, 16, 32, 64, 128, 256, 512}) {}

void Metrics::count_event(std::string_view source, std::string_view outcome) {
  MutexLock lock(m_mutex);
  ++m_events[{std::string(source), std::string(outcome)}];
}

void Metrics::count_decision(std::string_view decision) {
  MutexLock lock(m_mutex);
  ++m_decisions[std::string(decision)];
}

void Metrics::count_noise(std::string_view decision) {
  MutexLock lock(m_mutex);
  ++m_noise[std::string(decision)];
}

void Metrics::count_queued(std::string_view channel, std::string_view action) {
  MutexLock lock(m_mutex);
  ++m_queued[{std::string(channel), std::string(action)}];
}

void Metrics::count_delivery(std::string_view channel, std::string_view result) {
  MutexLock lock(m_mutex);
  ++m_deliveries[{std::string(channel), std::string(result)}];
}

void Metrics::set_channels(const std::vector<storage::ChannelStatus>& channels, TimePoint now) {
  std::map<std::string, ChannelGauges> gauges;
  for (const auto& c : channels) {
    auto& g = gauges[c.channel];
    g.up = !c.health || !c.health->down();
    g.pending = c.pending;
    g.oldest_pending_seconds =
        c.oldest_pending
            ? std::max(0.0, std::chrono::duration<double>(now - *c.oldest_pending).count())
            : 0.0;
  }
  MutexLock lock(m_mutex);
  m_channels = std::move(gauges);
}

void Metrics::count_channel_transition(std::string_view channel, std::string_view to) {
  MutexLock lock(m_mutex);
  ++m_channel_transitions[{std::string(channel), std::string(to)}];
}

void Metrics::set_outbox(std::int64_t pending, double oldest_pending_seconds) {
  MutexLock lock(m_mutex);
  m_outbox_pending = pending;
  m_outbox_oldest_seconds = oldest_pending_seconds;
}

void Metrics::count_watchdog(std::string_view result) {
  MutexLock lock(m_mutex);
  ++m_watchdog[std::string(result)];
}

void Metrics::count_rejected(std::string_view hook, int status, std::string_view code) {
  MutexLock lock(m_mutex);
  ++m_rejected[{std::string(hook), status, std::string(code)}];
}

void Metrics::observe_group(const storage::WriterStats& s) {
  MutexLock lock(m_mutex);
  m_commit_seconds.observe(s.commit_seconds);
  m_group_size.observe(static_cast<double>(s.group_size));
  if (!s.ok) ++m_commit_failures;
}

void Metrics::count_rules_reload(bool ok) {
  MutexLock lock(m_mutex);
  ++(ok ? m_reloads_ok : m_reloads_failed);
}

void Metrics::count_connection_cut(http::CutReason reason) {
  MutexLock lock(m_mutex);
  ++m_connections_cut[reason];
}

void Metrics::watch_database(std::function<storage::DatabaseHealth()> health) {
  m_database_health = std::move(health);
}

void Metrics::observe_prune(const storage::PruneRun& run, TimePoint finished, double seconds) {
  MutexLock lock(m_mutex);
  for (const auto& [table, n] : run.deleted)
    m_pruned[table] += static_cast<std::uint64_t>(n);
  ++(run.ok ? m_prune_runs_ok : m_prune_runs_failed);
  m_last_prune_at = static_cast<double>(to_unix_ms(finished)) / 1000.0;
  m_last_prune_seconds = seconds;
}

void Metrics::set_storage_source(std::function<storage::StorageStats()> source) {
  MutexLock lock(m_mutex);
  m_storage_source = std::move(source);
}

void Metrics::set_silences_source(std::function<std::int64_t()> source) {
  MutexLock lock(m_mutex);
  m_silences_source = std::move(source);
}

std::string Metrics::render() const {
  // Read before taking m_mutex: the writer reports groups to observe_group() under its own
  // locks, never the other way round.
  const std::optional<storage::DatabaseHealth> database =
      m_database_health ? std::optional(m_database_health()) : std::nullopt;
  std::function<storage::StorageStats()> source;
  std::function<std::int64_t()> silences_source;
  {
    MutexLock lock(m_mutex);
    source = m_storage_source;
    silences_source = m_silences_source;
  }
  std::optional<storage::StorageStats> storage;
  std::optional<std::int64_t> silences_active;
  try {
    if (source) storage = source();
    if (silences_source) silences_active = silences_source();
  } catch (const std::exception&) {
    // The database cannot be read right now: leave the gauges it did not give out of this scrape.
  }
  MutexLock lock(m_mutex);
  std::string out;
  if (database) {
    header(out, "tocsin_database_healthy", "gauge",
           "1 while the database takes writes; 0 with the fault as reason: busy, disk_full, "
           "read_only, io_error, corrupt, file_replaced (README, Troubleshooting).");
    out += "tocsin_database_healthy{reason=\"" + std::string(storage::to_string(database->fault)) +
           "\"} " + (database->healthy() ? "1" : "0") + "\n";
  }
  if (storage) {
    header(out, "tocsin_database_bytes", "gauge",
           "Size of the database: page_count * page_size of the main file.");
    out += "tocsin_database_bytes " + std::to_string(storage->database_bytes) + "\n";
    header(out, "tocsin_database_wal_bytes", "gauge", "Size of the write-ahead log beside it.");
    out += "tocsin_database_wal_bytes " + std::to_string(storage->wal_bytes) + "\n";
    header(out, "tocsin_oldest_event_timestamp_seconds", "gauge",
           "Receive time of the oldest stored inbound request (unix seconds; 0: none).");
    out += "tocsin_oldest_event_timestamp_seconds " +
           format_number(storage->oldest_event
                             ? static_cast<double>(to_unix_ms(*storage->oldest_event)) / 1000.0
                             : 0.0) +
           "\n";
  }
  if (silences_active) {
    header(out, "tocsin_silences_active", "gauge",
           "Silences in force now: started, not ended, not expired by hand.");
    out += "tocsin_silences_active " + std::to_string(*silences_active) + "\n";
  }
  header(out, "tocsin_retention_pruned_rows_total", "counter",
         "Rows deleted by retention (storage.retain_events), by table.");
  for (const auto& [table, n] : m_pruned) {
    out += "tocsin_retention_pruned_rows_total{table=\"" + escape_label(table) + "\"} " +
           std::to_string(n) + "\n";
  }
  header(out, "tocsin_retention_runs_total", "counter",
         "Retention runs by result (failed: a batch could not commit; the next run retries).");
  out += "tocsin_retention_runs_total{result=\"ok\"} " + std::to_string(m_prune_runs_ok) + "\n";
  out += "tocsin_retention_runs_total{result=\"failed\"} " + std::to_string(m_prune_runs_failed) +
         "\n";
  header(out, "tocsin_retention_last_run_timestamp_seconds", "gauge",
         "When the last retention run ended (unix seconds; 0: none yet).");
  out += "tocsin_retention_last_run_timestamp_seconds " + format_number(m_last_prune_at) + "\n";
  header(out, "tocsin_retention_last_run_seconds", "gauge",
         "How long the last retention run took.");
  out += "tocsin_retention_last_run_seconds " + format_number(m_last_prune_seconds) + "\n";
  header(out, "tocsin_events_total", "counter", "Inbound events by source and outcome.");
  for (const auto& [key, n] : m_events) {
    out += "tocsin_events_total{source=\"" + escape_label(key.first) + "\",outcome=\"" +
           escape_label(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  header(out, "tocsin_decisions_total", "counter",
         "Decisions about episodes besides event outcomes: escalated, stale, expired, "
         "acknowledged, ...");
  for (const auto& [decision, n] : m_decisions) {
    out += "tocsin_decisions_total{decision=\"" + escape_label(decision) + "\"} " +
           std::to_string(n) + "\n";
  }
  header(out, "tocsin_noise_routing_total", "counter",
         "Episodes routed by their alert's noise score: demoted to a low-priority channel, held "
         "before the first notification, dropped because they ended while held.");
  for (const auto& [decision, n] : m_noise) {
    out += "tocsin_noise_routing_total{decision=\"" + escape_label(decision) + "\"} " +
           std::to_string(n) + "\n";
  }
  header(out, "tocsin_notifications_queued_total", "counter",
         "Notifications written to the outbox, by channel and action.");
  for (const auto& [key, n] : m_queued) {
    out += "tocsin_notifications_queued_total{channel=\"" + escape_label(key.first) +
           "\",action=\"" + escape_label(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  header(out, "tocsin_notifications_total", "counter",
         "Delivery attempts by channel and result (sent, retry, failed).");
  for (const auto& [key, n] : m_deliveries) {
    out += "tocsin_notifications_total{channel=\"" + escape_label(key.first) + "\",result=\"" +
           escape_label(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  header(out, "tocsin_channel_up", "gauge",
         "1 while the channel's receiver answers, 0 while the circuit breaker holds it down "
         "(channels that ever failed or have notifications waiting).");
  for (const auto& [channel, g] : m_channels) {
    out +=
        "tocsin_channel_up{channel=\"" + escape_label(channel) + "\"} " + (g.up ? "1" : "0") + "\n";
  }
  header(out, "tocsin_channel_pending", "gauge", "Notifications waiting, by channel.");
  for (const auto& [channel, g] : m_channels) {
    out += "tocsin_channel_pending{channel=\"" + escape_label(channel) + "\"} " +
           std::to_string(g.pending) + "\n";
  }
  header(out, "tocsin_channel_oldest_pending_seconds", "gauge",
         "Age of the channel's oldest notification waiting to be delivered.");
  for (const auto& [channel, g] : m_channels) {
    out += "tocsin_channel_oldest_pending_seconds{channel=\"" + escape_label(channel) + "\"} " +
           format_number(g.oldest_pending_seconds) + "\n";
  }
  header(out, "tocsin_channel_transitions_total", "counter",
         "Circuit breaker transitions by channel and new state (down, up).");
  for (const auto& [key, n] : m_channel_transitions) {
    out += "tocsin_channel_transitions_total{channel=\"" + escape_label(key.first) + "\",to=\"" +
           escape_label(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  header(out, "tocsin_watchdog_pings_total", "counter",
         "Pings of the external dead-man's switch by result.");
  for (const auto& [result, n] : m_watchdog) {
    out += "tocsin_watchdog_pings_total{result=\"" + escape_label(result) + "\"} " +
           std::to_string(n) + "\n";
  }
  header(out, "tocsin_outbox_pending", "gauge", "Notifications waiting to be delivered.");
  out += "tocsin_outbox_pending " + std::to_string(m_outbox_pending) + "\n";
  header(out, "tocsin_outbox_oldest_pending_seconds", "gauge",
         "Age of the oldest notification waiting to be delivered.");
  out += "tocsin_outbox_oldest_pending_seconds " + format_number(m_outbox_oldest_seconds) + "\n";
  header(out, "tocsin_requests_rejected_total", "counter",
         "Inbound requests refused before anything was stored, by hook, status and error code.");
  for (const auto& [key, n] : m_rejected) {
    const auto& [hook, status, code] = key;
    out += "tocsin_requests_rejected_total{hook=\"" + escape_label(hook) + "\",status=\"" +
           std::to_string(status) + "\",error=\"" + escape_label(code) + "\"} " +
           std::to_string(n) + "\n";
  }
  header(out, "tocsin_commit_seconds", "histogram",
         "Time from BEGIN to COMMIT of one group of writes.");
  m_commit_seconds.render(out, "tocsin_commit_seconds");
  header(out, "tocsin_commit_group_size", "histogram", "Write requests committed per group.");
  m_group_size.render(out, "tocsin_commit_group_size");
  header(out, "tocsin_commit_failures_total", "counter", "Groups whose commit failed.");
  out += "tocsin_commit_failures_total " + std::to_string(m_commit_failures) + "\n";
  header(out, "tocsin_rules_reloads_total", "counter", "Rules reloads by result.");
  out += "tocsin_rules_reloads_total{result=\"ok\"} " + std::to_string(m_reloads_ok) + "\n";
  out +=
      "tocsin_rules_reloads_total{result=\"rejected\"} " + std::to_string(m_reloads_failed) + "\n";
  header(out, "tocsin_http_connections_cut_total", "counter",
         "Connections the HTTP listener cut (request_timeout, stalled) or refused with 503 "
         "(max_connections_per_ip, max_connections), by reason.");
  for (const auto reason : http::k_cut_reasons) {
    const auto it = m_connections_cut.find(reason);
    out += "tocsin_http_connections_cut_total{reason=\"" + std::string(to_string(reason)) + "\"} " +
           std::to_string(it == m_connections_cut.end() ? 0 : it->second) + "\n";
  }
  return out;
}

}  // namespace tocsin::server
