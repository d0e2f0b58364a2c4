// `tocsin serve` (README "Running"): the webhook receiver and REST API, with the threads that
// run beside it (timers, delivery, watchdog, retention) and the signals that steer it.
#include <malloc.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "cli/commands.hpp"
#include "core/periodic_thread.hpp"
#include "engine/timer_loop.hpp"
#include "rules/loader.hpp"
#include "server/app.hpp"
#include "server/delivery_worker.hpp"
#include "server/http_server.hpp"
#include "server/logging.hpp"
#include "server/retention_loop.hpp"
#include "server/watchdog.hpp"
#include "storage/database.hpp"

namespace tocsin::cli {

namespace {

struct ServeOptions {
  std::string rules, db, listen, public_url;
  std::string log_format = "text";
  std::string log_level = "info";
  std::optional<std::size_t> max_body_bytes;  // unset: the rules file's, or the default
};

// Signals are taken synchronously by one thread (sigwait), so handlers never run inside
// arbitrary code: SIGHUP reloads the rules, SIGTERM/SIGINT stop the listener, which lets
// in-flight requests finish; SIGUSR1 only wakes the thread when the server stops by itself.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  return set;
}

// SQLite maps the -shm file into memory; when it is truncated under the running server the
// next access raises SIGBUS, which cannot be turned into a failed commit. Say what happened
// instead of dying silently. Written before the handler is installed, read only by it.
char g_sigbus_message[2048];
std::size_t g_sigbus_length = 0;

extern "C" void on_sigbus(int) {
  // Async-signal-safe only: write(2) and _exit(2).
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, g_sigbus_message, g_sigbus_length);
  ::_exit(1);
}

void install_sigbus_handler(const std::string& db_path) {
  const std::string message =
      "tocsin: fatal SIGBUS (bus error): a file mapped in memory became unreadable, most likely " +
      db_path + "-shm was truncated or removed (or the disk failed) while tocsin was running. " +
      "Everything committed before is in " + db_path + " and " + db_path +
      "-wal and is recovered at the next start: restart tocsin, and never edit, truncate or "
      "delete the -wal and -shm files while it runs.\n";
  g_sigbus_length = std::min(message.size(), sizeof g_sigbus_message);
  std::memcpy(g_sigbus_message, message.data(), g_sigbus_length);
  struct sigaction action {};
  action.sa_handler = on_sigbus;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, nullptr);
}

// glibc gives a thread arena's free top back to the kernel (madvise) whenever it exceeds
// M_TRIM_THRESHOLD, 128 KiB by default. The writer thread crosses that on almost every insert:
// SQLite opens and frees a temporary table for each `IN (...)` list of a CHECK constraint or a
// partial index. Under load that madvise was 12 % of the server's CPU (perf, c=32); keeping up
// to 16 MiB per arena removed it (CPU per event 232 -> 156 us, throughput +35 %, same run).
// Fixing the threshold also fixes the mmap threshold, which would otherwise grow on its own:
// blocks up to 1 MiB (request bodies) stay in the arenas.
void keep_freed_memory() {
  constexpr int k_trim_threshold = 16 << 20;
  constexpr int k_mmap_threshold = 1 << 20;
  mallopt(M_TRIM_THRESHOLD, k_trim_threshold);
  mallopt(M_MMAP_THRESHOLD, k_mmap_threshold);
}

int serve(const ServeOptions& opt) {
  auto format = server::parse_log_format(opt.log_format);
  if (!format) {
    std::cerr << "tocsin serve: --log-format must be text or json\n";
    return 2;
  }
  server::setup_logging(*format, opt.log_level);
  keep_freed_memory();

  const std::string rules_path = resolve(opt.rules, "TOCSIN_RULES", "./rules.yaml");
  const std::string listen = resolve(opt.listen, "TOCSIN_LISTEN", "127.0.0.1:8080");
  auto address = server::parse_listen_address(listen);
  if (!address) {
    spdlog::critical("invalid listen address \"{}\"; expected HOST:PORT", listen);
    return 2;
  }

  rules::LoadResult loaded = rules::load_rules_file(rules_path);
  const bool loopback = server::is_loopback_host(address->host);
  for (const auto& d : loaded.diagnostics)
    server::log_diagnostic(d, "", loopback);
  if (!loaded.ok()) {
    spdlog::critical("cannot start: {} is invalid (run `tocsin check {}`)", rules_path, rules_path);
    return loaded.unreadable ? 2 : 1;
  }
  // After the rules: storage.url_env comes third (README "Selecting the database").
  const std::string db_path = resolve_db(opt.db, loaded.rules->storage.url_env);
  const bool postgres = storage::is_postgres_location(db_path);
  // What the logs may show of it: a URI's password never.
  const std::string db_shown = storage::display_location(db_path);
  if (auto problem = storage::location_problem(db_path)) {
    spdlog::critical("cannot start: the database location {} {}", db_shown, *problem);
    return 2;
  }
  if (loaded.rules->api_tokens.empty()) {
    // On a loopback address only this machine can reach the API, which the shipped rules call
    // acceptable: said once, without alarming a first run (README "Quick start (Debian 12)").
    const auto level = loopback ? spdlog::level::info : spdlog::level::warn;
    spdlog::log(level,
                "no api.tokens configured: the REST API is open to anyone who can reach {}:{}",
                address->host, address->port);
  }

  // Block the handled signals before any thread starts, so every thread inherits the mask
  // and only the signal thread receives them.
  sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (!postgres) install_sigbus_handler(db_path);
  // A corrupt database must not start as if healthy: every event would fail, or worse, be
  // misread. quick_check reads every page (README "Storage": how long it takes). SQLite only:
  // a PostgreSQL server checks its own pages.
  if (!postgres && loaded.rules->storage.startup_check == rules::StartupCheck::quick) {
    const auto started = std::chrono::steady_clock::now();
    bool checked = false;
    try {
      checked = storage::check_integrity(db_path);
    } catch (const storage::DatabaseError& e) {
      spdlog::critical("cannot start: {}", e.what());
      return 1;
    }
    if (checked) {
      spdlog::info("database {} passed quick_check in {} ms", db_path,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count());
    }
  }

  SystemClock clock;
  std::unique_ptr<server::App> app;
  try {
    app = std::make_unique<server::App>(rules_path, db_path, clock, loaded.rules);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
  // Flag > rules file > default; fixed for the life of the process.
  app->limits = server::limits_from(loaded.rules->server);
  app->set_rules_warnings(loaded.diagnostics);
  if (opt.max_body_bytes) app->limits.max_body_bytes = *opt.max_body_bytes;
  auto listener = server::make_http_server(*app);

  int port = address->port;
  if (port == 0) {
    port = listener->bind_to_any_port(address->host);
    if (port < 0) port = -1;
  } else if (!listener->bind_to_port(address->host, port)) {
    port = -1;
  }
  if (port < 0) {
    spdlog::critical("cannot listen on {}: address in use or not available", listen);
    return 1;
  }
  // Before the signal thread exists: it may stop() the server, which closes the socket.
  if (!listener->widen_accept_backlog()) {
    spdlog::warn("cannot widen the accept backlog of {}: {}", listen, std::strerror(errno));
  }
  spdlog::info("tocsin listening on {}:{} (rules {} sha256 {}, database {})", address->host, port,
               rules_path, loaded.rules->hash.substr(0, 12), db_shown);

  std::atomic<bool> listener_done{false};
  std::thread signal_thread([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading rules from {}", rules_path);
        app->reload_rules();
        continue;
      }
      if (sig == SIGTERM || sig == SIGINT) {
        spdlog::info("{}: stopping; finishing in-flight requests",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
      }
      // stop() is a no-op until the listener is running; repeat until the listener returns,
      // so a signal that lands between bind and listen is not lost.
      while (!listener_done.load()) {
        listener->stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      return;
    }
  });

  // This instance in the registry of instances sharing the database, beating every 5 s.
  const std::string host = server::host_name();
  app->cluster = std::make_unique<server::Cluster>(app->writer, clock, app->rules,
                                                   server::new_instance_id(host, port), host,
                                                   address->host + ":" + std::to_string(port));
  spdlog::info("instance {}", app->cluster->id());
  app->cluster->beat();  // registered before the first request is served
  PeriodicThread cluster_beats([&app, first = true]() mutable {
    if (!first) app->cluster->beat();
    first = false;
    return server::Cluster::k_beat_every;
  });

  // Counts of repeated warnings not written (refused hooks, cut connections), told once their
  // minute is over even when the flood has stopped.
  PeriodicThread log_summaries([&app, &clock] {
    server::log_suppressed(app->log_limit, clock.now());
    return server::k_log_suppressed_every;
  });

  // Escalation steps, sweeps and ack timeouts: stored timers, fired on the clock.
  engine::TimerLoop timers(app->engine, std::chrono::seconds(1));
  // The outbox worker: notifications leave here, at least once.
  server::DeliveryWorkerOptions delivery_options;
  delivery_options.public_url = resolve(opt.public_url, "TOCSIN_PUBLIC_URL", "");
  if (delivery_options.public_url.empty()) {
    delivery_options.public_url = "http://" + address->host + ":" + std::to_string(port);
  }
  delivery_options.instance = app->cluster->id();
  // Woken by the engine's commits that queue notifications: polling only finds retries that
  // fell due and another instance's work, and every poll reads past the backlog of a channel
  // held down (docs/behaviour.md "The circuit breaker and the catch-up").
  delivery_options.doorbell = &app->delivery_doorbell;
  delivery_options.poll = std::chrono::milliseconds(500);
  delivery_options.live_within = server::Cluster::k_live_within;
  server::DeliveryWorker delivery(app->writer, app->reader, clock, app->rules, app->metrics,
                                  server::send_http, delivery_options);
  delivery.start();
  server::Watchdog watchdog(app->rules, app->writer, app->metrics, server::post_watchdog);
  // storage.retain_events: old rows pruned in small batches between ingest jobs.
  server::RetentionLoop retention(*app, std::chrono::minutes(10));

  const bool listened = listener->listen_after_bind();
  listener_done.store(true);
  // The listener may also end on its own (an accept error); wake the signal thread then.
  pthread_kill(signal_thread.native_handle(), SIGUSR1);
  signal_thread.join();
  retention.stop();
  watchdog.stop();
  delivery.stop();
  timers.stop();
  log_summaries.stop();
  server::log_suppressed(app->log_limit, clock.now(), true);
  cluster_beats.stop();
  app->cluster->leave();
  app->writer.stop();  // commits anything still queued
  spdlog::info("tocsin stopped");
  return listened ? 0 : 1;
}

}  // namespace

Subcommand add_serve(CLI::App& cli) {
  auto opt = std::make_shared<ServeOptions>();
  auto* cmd = cli.add_subcommand("serve", "Run the webhook receiver and REST API");
  cmd->add_option("--rules", opt->rules, "Rules file (env TOCSIN_RULES; default ./rules.yaml)");
  cmd->add_option("--public-url", opt->public_url,
                  "Tocsin's URL as people reach it, for links in notifications (env "
                  "TOCSIN_PUBLIC_URL; default http://LISTEN)");
  cmd->add_option("--db", opt->db,
                  "SQLite database file, or a postgresql:// URI (env TOCSIN_DB, then the "
                  "variable storage.url_env names; default ./tocsin.db)");
  cmd->add_option("--listen", opt->listen,
                  "HOST:PORT to listen on, or :PORT for 127.0.0.1:PORT; port 0 for any "
                  "free port (env TOCSIN_LISTEN; default 127.0.0.1:8080)");
  cmd->add_option("--log-format", opt->log_format, "Log format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--log-level", opt->log_level,
                  "Log level: trace, debug, info, warn, error, critical")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  cmd->add_option("--max-body-bytes", opt->max_body_bytes,
                  "Largest request body accepted; larger ones get 413 (overrides "
                  "server.max_body_bytes of the rules file; default 1048576)")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{64} * 1024 * 1024));
  return {cmd, [opt] { return serve(*opt); }};
}

}  // namespace tocsin::cli
