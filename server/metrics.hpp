#pragma once
// Process metrics in the Prometheus text format (GET /metrics). Hand-rolled: a few counters
// and two histograms do not justify a client library.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/thread_annotations.hpp"
#include "http/connection_guard.hpp"
#include "storage/reader.hpp"
#include "storage/retention.hpp"
#include "storage/writer.hpp"

namespace tocsin::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends `name_bucket{le=...}`, `name_sum`, `name_count` lines.
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> m_bounds;
  std::vector<std::uint64_t> m_counts;  // one per bound, plus +Inf
  double m_sum = 0;
  std::uint64_t m_count = 0;
};

class Metrics {
 public:
  Metrics();

  void count_event(std::string_view source, std::string_view outcome);
  // A request refused before anything was stored (400/401/403/413/503).
  void count_rejected(std::string_view hook, int status, std::string_view code);
  void observe_group(const storage::WriterStats& s);
  void count_rules_reload(bool ok);
  // Decisions beyond an event's outcome (escalated, stale, acknowledged, ...).
  void count_decision(std::string_view decision);
  // Noise routing (docs/behaviour.md "Noise"): `demoted`, `held` or `dropped` (a held episode that
  // ended).
  void count_noise(std::string_view decision);
  // Notifications written to the outbox, by channel and action.
  void count_queued(std::string_view channel, std::string_view action);
  // Delivery attempts by channel and result (sent, retry, failed).
  void count_delivery(std::string_view channel, std::string_view result);
  void set_outbox(std::int64_t pending, double oldest_pending_seconds);
  // The circuit breaker (docs/behaviour.md "Delivery"): each channel's state and backlog, and
  // its transitions ("down", "up").
  void set_channels(const std::vector<storage::ChannelStatus>& channels, TimePoint now);
  void count_channel_transition(std::string_view channel, std::string_view to);
  void count_watchdog(std::string_view result);
  // A connection the HTTP listener cut or refused itself (http/guarded_server.cpp).
  void count_connection_cut(http::CutReason reason);

  // Where render() reads the database's health (tocsin_database_healthy): the writer's.
  void watch_database(std::function<storage::DatabaseHealth()> health);
  // A retention run (storage/retention.hpp) that ended at `finished` after `seconds`.
  void observe_prune(const storage::PruneRun& run, TimePoint finished, double seconds);
  // Where render() reads the database's size and oldest event from, on every scrape (a read
  // connection: never waits for the writer). Unset: those gauges are left out.
  void set_storage_source(std::function<storage::StorageStats()> source);
  // Where render() counts the silences in force (tocsin_silences_active), on every scrape, from
  // the database (docs/behaviour.md "Silences"). Unset: the gauge is left out.
  void set_silences_source(std::function<std::int64_t()> source);

  std::string render() const;

 private:
  std::function<storage::DatabaseHealth()> m_database_health;  // set once, before serving
  mutable Mutex m_mutex;
  std::map<std::pair<std::string, std::string>, std::uint64_t> m_events
      GUARDED_BY(m_mutex);  // (source, outcome)
  std::map<std::tuple<std::string, int, std::string>, std::uint64_t> m_rejected GUARDED_BY(m_mutex);
  std::map<std::string, std::uint64_t> m_decisions GUARDED_BY(m_mutex);
  std::map<std::string, std::uint64_t> m_noise GUARDED_BY(m_mutex){
      {"demoted", 0}, {"held", 0}, {"dropped", 0}};
  std::map<std::pair<std::string, std::string>, std::uint64_t> m_queued
      GUARDED_BY(m_mutex);  // (channel, action)
  std::map<std::pair<std::string, std::string>, std::uint64_t> m_deliveries
      GUARDED_BY(m_mutex);  // (channel, result)
  struct ChannelGauges {
    bool up = true;
    std::int64_t pending = 0;
    double oldest_pending_seconds = 0;
  };
  std::map<std::string, ChannelGauges> m_channels GUARDED_BY(m_mutex);
  std::map<std::pair<std::string, std::string>, std::uint64_t> m_channel_transitions
      GUARDED_BY(m_mutex);
  std::map<std::string, std::uint64_t> m_watchdog GUARDED_BY(m_mutex);
  std::int64_t m_outbox_pending GUARDED_BY(m_mutex) = 0;
  double m_outbox_oldest_seconds GUARDED_BY(m_mutex) = 0;
  std::uint64_t m_commit_failures GUARDED_BY(m_mutex) = 0;
  std::uint64_t m_reloads_ok GUARDED_BY(m_mutex) = 0;
  std::uint64_t m_reloads_failed GUARDED_BY(m_mutex) = 0;
  std::map<http::CutReason, std::uint64_t> m_connections_cut GUARDED_BY(m_mutex);
  std::map<std::string, std::uint64_t> m_pruned GUARDED_BY(m_mutex);  // rows by table
  std::uint64_t m_prune_runs_ok GUARDED_BY(m_mutex) = 0;
  std::uint64_t m_prune_runs_failed GUARDED_BY(m_mutex) = 0;
  double m_last_prune_at GUARDED_BY(m_mutex) = 0;  // unix seconds; 0: no run yet
  double m_last_prune_seconds GUARDED_BY(m_mutex) = 0;
  std::function<storage::StorageStats()> m_storage_source;  // set once, before serving
  std::function<std::int64_t()> m_silences_source;          // set once, before serving
  Histogram m_commit_seconds GUARDED_BY(m_mutex);
  Histogram m_group_size GUARDED_BY(m_mutex);
};

}  // namespace tocsin::server
