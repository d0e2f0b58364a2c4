#include "server/cli.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>

#include "core/duration.hpp"
#include "rules/loader.hpp"
#include "server/app.hpp"
#include "server/delivery_worker.hpp"
#include "server/export.hpp"
#include "server/http_server.hpp"
#include "server/logging.hpp"
#include "server/receive.hpp"
#include "server/replay.hpp"
#include "server/report.hpp"
#include "server/retention_loop.hpp"
#include "server/timer_loop.hpp"
#include "server/watchdog.hpp"

namespace tocsin {

namespace {

// Flag > environment variable > built-in default (README "Running").
std::string resolve(const std::string& flag, const char* env_name, const char* fallback) {
  if (!flag.empty()) return flag;
  if (const char* v = std::getenv(env_name); v && *v) return v;
  return fallback;
}

struct ServeOptions {
  std::string rules, db, listen, public_url;
  std::string log_format = "text";
  std::string log_level = "info";
  std::optional<std::size_t> max_body_bytes;  // unset: the rules file's, or the default
};

struct CheckOptions {
  std::string path = "./rules.yaml";
  bool strict = false;  // a warning fails the check
  bool no_env = false;  // look at no environment variable (CI without the secrets)
};

// `tocsin check` (README "Running"): errors first, then warnings, then notes, each group in file
// order. Exit 0 valid, 1 invalid (or, with --strict, any warning), 2 unreadable.
int print_check(const CheckOptions& options) {
  rules::LoadOptions load;
  if (options.no_env) load.env = nullptr;
  rules::LoadResult result = rules::load_rules_file(options.path, load);
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                   [](const auto& a, const auto& b) { return a.level < b.level; });
  std::size_t errors = 0, warnings = 0;
  for (const auto& d : result.diagnostics) {
    std::cerr << d.format() << '\n';
    if (d.level == rules::Diagnostic::Level::error) ++errors;
    if (d.level == rules::Diagnostic::Level::warning) ++warnings;
  }
  if (result.unreadable) return 2;
  if (!result.ok()) {
    std::cerr << options.path << ": " << errors << " error(s), " << warnings << " warning(s)\n";
    return 1;
  }
  if (options.strict && warnings > 0) {
    std::cerr << options.path << ": " << warnings << " warning(s), which --strict refuses\n";
    return 1;
  }
  const auto& r = *result.rules;
  std::cout << options.path << ": ok (" << r.rules.size() << " rules, " << r.channels.size()
            << " channels, " << r.escalations.size() << " escalation policies, "
            << r.heartbeats.size() << " heartbeats; " << warnings << " warning(s); sha256 "
            << r.hash.substr(0, 12) << ")\n";
  return 0;
}

// `--until`: an RFC 3339 time, `now`, `now-DURATION`, or `+DURATION` (after the last input
// line). The error names the flag and every spelling.
bool parse_until(const std::string& text, TimePoint now, ReplayOptions& out) {
  // Longer would overflow the clock (a silent empty replay) or fire timers for days.
  constexpr Duration k_max_span = std::chrono::days(36524);  // 100 years
  if (text == "now") {
    out.until = now;
    return true;
  }
  if (text.starts_with("now-")) {
    const auto d = parse_duration(text.substr(4));
    if (d && d->count() > 0 && *d < k_max_span) {
      out.until = now - *d;
      return true;
    }
  } else if (text.starts_with("+")) {
    const auto d = parse_duration(text.substr(1));
    if (d && d->count() >= 0 && *d < k_max_span) {
      out.until_after_last = *d;
      return true;
    }
  } else if (auto t = parse_timestamp(text)) {
    out.until = *t;
    return true;
  }
  std::cerr << "tocsin replay: --until must be an RFC 3339 time (2026-11-02T09:00:00Z), now, "
               "now-DURATION (now-2h) or +DURATION (+2h: that long after the last input line), "
               "DURATION under 100 years, got \""
            << text << "\"\n";
  return false;
}

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

int serve(const ServeOptions& opt) {
  auto format = parse_log_format(opt.log_format);
  if (!format) {
    std::cerr << "tocsin serve: --log-format must be text or json\n";
    return 2;
  }
  setup_logging(*format, opt.log_level);

  const std::string rules_path = resolve(opt.rules, "TOCSIN_RULES", "./rules.yaml");
  const std::string db_path = resolve(opt.db, "TOCSIN_DB", "./tocsin.db");
  const std::string listen = resolve(opt.listen, "TOCSIN_LISTEN", "127.0.0.1:8080");
  auto address = parse_listen_address(listen);
  if (!address) {
    spdlog::critical("invalid listen address \"{}\"; expected HOST:PORT", listen);
    return 2;
  }

  rules::LoadResult loaded = rules::load_rules_file(rules_path);
  const bool loopback = is_loopback_host(address->host);
  for (const auto& d : loaded.diagnostics)
    log_diagnostic(d, "", loopback);
  if (!loaded.ok()) {
    spdlog::critical("cannot start: {} is invalid (run `tocsin check {}`)", rules_path, rules_path);
    return loaded.unreadable ? 2 : 1;
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

  install_sigbus_handler(db_path);
  // A corrupt database must not start as if healthy: every event would fail, or worse, be
  // misread. quick_check reads every page (README "Storage": how long it takes).
  if (loaded.rules->storage.startup_check == rules::StartupCheck::quick) {
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
  std::unique_ptr<App> app;
  try {
    app = std::make_unique<App>(rules_path, db_path, clock, loaded.rules);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
  // Flag > rules file > default; fixed for the life of the process.
  app->limits = limits_from(loaded.rules->server);
  if (opt.max_body_bytes) app->limits.max_body_bytes = *opt.max_body_bytes;
  auto server = make_http_server(*app);

  int port = address->port;
  if (port == 0) {
    port = server->bind_to_any_port(address->host);
    if (port < 0) port = -1;
  } else if (!server->bind_to_port(address->host, port)) {
    port = -1;
  }
  if (port < 0) {
    spdlog::critical("cannot listen on {}: address in use or not available", listen);
    return 1;
  }
  // Before the signal thread exists: it may stop() the server, which closes the socket.
  if (!server->widen_accept_backlog()) {
    spdlog::warn("cannot widen the accept backlog of {}: {}", listen, std::strerror(errno));
  }
  spdlog::info("tocsin listening on {}:{} (rules {} sha256 {}, database {})", address->host, port,
               rules_path, loaded.rules->hash.substr(0, 12), db_path);

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
        server->stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      return;
    }
  });

  // Escalation steps, sweeps and ack timeouts: stored timers, fired on the clock.
  TimerLoop timers(app->engine, std::chrono::seconds(1));
  // The outbox worker: notifications leave here, at least once.
  delivery::WorkerOptions delivery_options;
  delivery_options.public_url = resolve(opt.public_url, "TOCSIN_PUBLIC_URL", "");
  if (delivery_options.public_url.empty()) {
    delivery_options.public_url = "http://" + address->host + ":" + std::to_string(port);
  }
  delivery::Worker delivery(app->writer, app->reader, clock, app->rules, app->metrics,
                            delivery::send_http, delivery_options);
  delivery.start();
  Watchdog watchdog(app->rules, app->writer, app->metrics, post_watchdog);
  // storage.retain_events: old rows pruned in small batches between ingest jobs.
  RetentionLoop retention(*app, std::chrono::minutes(10));

  const bool listened = server->listen_after_bind();
  listener_done.store(true);
  // The listener may also end on its own (an accept error); wake the signal thread then.
  pthread_kill(signal_thread.native_handle(), SIGUSR1);
  signal_thread.join();
  retention.stop();
  watchdog.stop();
  delivery.stop();
  timers.stop();
  app->writer.stop();  // commits anything still queued
  spdlog::info("tocsin stopped");
  return listened ? 0 : 1;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App cli{"Tocsin: alert deduplication and escalation engine", "tocsin"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", "tocsin 0.1.0");

  ServeOptions serve_opt;
  auto* serve_cmd = cli.add_subcommand("serve", "Run the webhook receiver and REST API");
  serve_cmd->add_option("--rules", serve_opt.rules,
                        "Rules file (env TOCSIN_RULES; default ./rules.yaml)");
  serve_cmd->add_option("--public-url", serve_opt.public_url,
                        "Tocsin's URL as people reach it, for links in notifications (env "
                        "TOCSIN_PUBLIC_URL; default http://LISTEN)");
  serve_cmd->add_option("--db", serve_opt.db,
                        "SQLite database (env TOCSIN_DB; default ./tocsin.db)");
  serve_cmd->add_option("--listen", serve_opt.listen,
                        "HOST:PORT to listen on, or :PORT for 127.0.0.1:PORT; port 0 for any "
                        "free port (env TOCSIN_LISTEN; default 127.0.0.1:8080)");
  serve_cmd->add_option("--log-format", serve_opt.log_format, "Log format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  serve_cmd
      ->add_option("--log-level", serve_opt.log_level,
                   "Log level: trace, debug, info, warn, error, critical")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  serve_cmd
      ->add_option("--max-body-bytes", serve_opt.max_body_bytes,
                   "Largest request body accepted; larger ones get 413 (overrides "
                   "server.max_body_bytes of the rules file; default 1048576)")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{64} * 1024 * 1024));

  ReceiveOptions receive_opt;
  auto* receive_cmd = cli.add_subcommand(
      "receive",
      "A demo webhook receiver: print every notification POSTed to it (one line, then the "
      "JSON) and answer 200");
  receive_cmd->add_option("--listen", receive_opt.listen,
                          "HOST:PORT or :PORT to listen on (default 127.0.0.1:9099)");

  CheckOptions check_opt;
  auto* check_cmd = cli.add_subcommand(
      "check",
      "Validate a rules file; exit 0 valid, 1 invalid (or warnings with --strict), 2 usage or "
      "I/O error");
  check_cmd->add_option("PATH", check_opt.path, "Rules file (default ./rules.yaml)");
  check_cmd->add_flag("--strict", check_opt.strict, "Fail (exit 1) on warnings too");
  check_cmd->add_flag("--no-env", check_opt.no_env,
                      "Do not look at environment variables (for CI without the secrets)");

  ReplayOptions replay_opt;
  std::string replay_until;
  auto* replay_cmd = cli.add_subcommand(
      "replay",
      "Run recorded events through the engine on a virtual clock; print every decision and "
      "notification as JSON lines");
  replay_cmd->add_option("--rules", replay_opt.rules_path, "Rules file")->required();
  replay_cmd->add_option("--until", replay_until,
                         "Run the virtual clock on to this time, firing timers on the way: RFC "
                         "3339, now, now-2h, or +2h (after the last line); later lines are not "
                         "replayed");
  replay_cmd->add_option("--db", replay_opt.db_path,
                         "Keep the resulting database here (default: a temporary one)");
  replay_cmd->add_flag("--verify", replay_opt.verify, "Verify SNS signatures (off by default)");
  replay_cmd->add_flag("--summary", replay_opt.summary,
                       "After the run, print a what-if summary to stderr: pages and "
                       "notifications by channel, demotions, holds, drops");
  replay_cmd->add_option("EVENTS", replay_opt.events_path, "JSON-lines file, or - for stdin")
      ->required();

  ExportOptions export_opt;
  auto* export_cmd = cli.add_subcommand(
      "export",
      "Print the stored inbound events (and API actions) as replay input lines, to try a rules "
      "change on past traffic");
  export_cmd->add_option("--db", export_opt.db_path,
                         "SQLite database, opened read-only (env TOCSIN_DB; default ./tocsin.db)");
  export_cmd->add_option("--since", export_opt.since,
                         "How far back from now, as a duration: 7d, 36h, 90m (default 7d)");

  ReportOptions report_opt;
  std::string report_since = "7d";
  auto* report_cmd = cli.add_subcommand(
      "report",
      "Audit: noisiest alerts with fixes, stale open episodes, rules that never matched, "
      "alerts that notified nobody, failed deliveries");
  report_cmd->add_option("--rules", report_opt.rules_path,
                         "Rules file (env TOCSIN_RULES; default ./rules.yaml)");
  report_cmd->add_option("--db", report_opt.db_path,
                         "SQLite database, opened read-only (env TOCSIN_DB; default ./tocsin.db)");
  report_cmd->add_option("--since", report_since,
                         "Period looked at, back from now: 7d, 36h, 90m (default 7d; the noise "
                         "score keeps its own noise.window)");
  report_cmd->add_flag("--json", report_opt.json, "One JSON document instead of text");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    // CLI11 exits 0 for --help/--version; any real usage error is status 2 (README "Running").
    return code == 0 ? 0 : 2;
  }
  if (*serve_cmd) return serve(serve_opt);
  if (*check_cmd) return print_check(check_opt);
  if (*receive_cmd) return run_receive(receive_opt, std::cout, std::cerr);
  if (*replay_cmd) {
    if (!replay_until.empty() && !parse_until(replay_until, SystemClock().now(), replay_opt)) {
      return 2;
    }
    std::ios::sync_with_stdio(false);
    return run_replay(replay_opt, std::cout, std::cerr);
  }
  if (*export_cmd) {
    export_opt.db_path = resolve(export_opt.db_path, "TOCSIN_DB", "./tocsin.db");
    std::ios::sync_with_stdio(false);
    return run_export(export_opt, SystemClock().now(), std::cout, std::cerr);
  }
  if (*report_cmd) {
    auto since = parse_duration(report_since);
    if (!since || since->count() <= 0) {
      std::cerr << "tocsin report: --since must be a positive duration like 7d, 36h or 90m, got \""
                << report_since << "\"\n";
      return 2;
    }
    report_opt.since = *since;
    report_opt.rules_path = resolve(report_opt.rules_path, "TOCSIN_RULES", "./rules.yaml");
    report_opt.db_path = resolve(report_opt.db_path, "TOCSIN_DB", "./tocsin.db");
    SystemClock clock;
    return run_report(report_opt, clock, std::cout, std::cerr);
  }
  return 2;
}

}  // namespace tocsin
