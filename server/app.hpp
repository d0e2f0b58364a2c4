#pragma once
// Everything a running server holds, wired once at startup. Handlers receive an App& and
// use only what they need.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/log_limit.hpp"
#include "core/time.hpp"
#include "engine/engine.hpp"
#include "engine/rules_holder.hpp"
#include "rules/loader.hpp"
#include "server/cluster.hpp"
#include "server/doorbell.hpp"
#include "server/metrics.hpp"
#include "storage/reader.hpp"
#include "storage/writer.hpp"

namespace tocsin::server {

// The HTTP listener's limits: built-in defaults, then the rules file's `server:` section,
// then `serve` flags (limits_from in server/http_server.hpp). Fixed at startup.
struct Limits {
  // docs/behaviour.md "Inbound endpoints": 413 above max_body_bytes, 431 above max_headers.
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_headers = 100;
  // A request (line, headers, body) must arrive within this from its start (the accept, for
  // a connection's first request), and its response must be taken within this from its
  // first byte written: a slow client cannot hold a worker thread longer (time spent in our
  // handler is not counted).
  Duration request_timeout = std::chrono::seconds(30);
  // Concurrent connections from one peer address; more are refused with 503.
  std::size_t max_connections_per_ip = 32;
  // Concurrent connections in all; more are refused with 503. Each costs a file descriptor
  // (RLIMIT_NOFILE is raised to its hard limit at startup) and a little memory, no thread.
  std::size_t max_connections = 10000;
  // Requests served at once: a worker thread serves a connection only while it has bytes to
  // read or a response to write (one poller thread watches the idle ones). The pool grows on
  // demand up to this and shrinks when idle.
  std::size_t worker_threads = 512;
  int read_timeout_seconds = 10;  // silence within a request cuts it before request_timeout
  int keep_alive_seconds = 30;    // idle keep-alive connections are closed after this
  int keep_alive_max_requests = 10000;
};

struct App {
  std::string rules_path;
  std::string db_path;
  const Clock& clock;
  Metrics metrics;
  engine::RulesHolder rules;
  // Rung after each commit that queued notifications, for the delivery worker.
  Doorbell delivery_doorbell;
  storage::Writer writer;
  storage::Reader reader;
  engine::Engine engine;
  Limits limits;
  // The warnings an outsider can repeat (refused hooks, cut connections): at most one line of a
  // kind a minute, with a count of the others; `serve` tells the counts (log_suppressed).
  LogLimiter log_limit;
  // This instance in the registry (server/cluster.hpp); set by `serve` once it listens, before
  // it serves a request. None for the commands that only replay.
  std::unique_ptr<Cluster> cluster;

  // `durability` overrides storage.synchronous (replay's throwaway database uses `off`).
  App(std::string rules_path_, std::string db_path_, const Clock& clock_,
      rules::RulesSnapshot initial_rules,
      std::optional<storage::Durability> durability = std::nullopt);

  // Loads the rules file again and swaps it in if it is valid (and supported by this build);
  // otherwise keeps the old rules. Returns the diagnostics either way.
  rules::LoadResult reload_rules();

  // The warnings and notes of the rules in force (`PATH:LINE:COL: warning: ...`), as loaded at
  // startup (`serve` sets them) or by the last accepted reload: GET /api/v1/rules shows them.
  void set_rules_warnings(const std::vector<rules::Diagnostic>& diagnostics);
  std::shared_ptr<const std::vector<std::string>> rules_warnings() const {
    return m_rules_warnings.load();
  }

 private:
  std::atomic<std::shared_ptr<const std::vector<std::string>>> m_rules_warnings{
      std::make_shared<const std::vector<std::string>>()};
};

// What a valid rules snapshot needs to run (the SNS certificate source); an error says why
// it cannot be used (e.g. an unreadable cert_dir).
Expected<engine::ActiveRules, std::string> activate(rules::RulesSnapshot snapshot,
                                                    const Clock& clock);

// Logs a rules file diagnostic at its level: errors as errors, warnings as warnings. Notes (an
// open hook) are warnings too, so they stand out in the startup log, unless `quiet_notes`: a
// server listening on loopback only, where an open hook is reachable from this machine alone
// (the demo's first run must start without a warning). `prefix` says when ("rules reload: ").
void log_diagnostic(const rules::Diagnostic& d, std::string_view prefix = "",
                    bool quiet_notes = false);

}  // namespace tocsin::server
