#include "cli/client.hpp"

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/api_client.hpp"
#include "cli/commands.hpp"
#include "core/duration.hpp"
#include "core/redact.hpp"
#include "core/text.hpp"

namespace tocsin::cli {

namespace {

// The flags every client command takes: where the server is and how long to wait for it.
struct Connection {
  std::string server;
  std::string token_file;
  std::string timeout = "10s";
  bool json = false;
};

void add_connection(CLI::App* cmd, Connection& c, bool json_flag = true) {
  cmd->add_option("--server", c.server,
                  "Server URL, http:// or https:// (env TOCSIN_URL; default "
                  "http://127.0.0.1:8080)");
  cmd->add_option("--token-file", c.token_file,
                  "Read the API token from this file (its first line) instead of TOCSIN_TOKEN");
  cmd->add_option("--timeout", c.timeout, "How long to wait for the server (default 10s)");
  if (json_flag) cmd->add_flag("--json", c.json, "Print the API's JSON answer instead of a table");
}

// The settings, or the exit status of a usage error (reported on stderr). The token is never
// written anywhere: not in a message, not in a log.
std::optional<ServerSettings> settings(const Connection& c) {
  ServerSettings s;
  s.url = resolve(c.server, "TOCSIN_URL", "http://127.0.0.1:8080");
  if (auto problem = server_url_problem(s.url)) {
    std::cerr << "tocsin: " << *problem << " (--server or TOCSIN_URL)\n";
    return std::nullopt;
  }
  auto timeout = parse_duration(c.timeout);
  if (!timeout || timeout->count() <= 0) {
    std::cerr << "tocsin: --timeout must be a positive duration like 10s or 1m, got \""
              << shown(c.timeout) << "\"\n";
    return std::nullopt;
  }
  s.timeout = *timeout;
  if (!c.token_file.empty()) {
    std::ifstream in(c.token_file);
    if (!in || !std::getline(in, s.token)) {
      std::cerr << "tocsin: cannot read the token file " << shown(c.token_file) << '\n';
      return std::nullopt;
    }
    while (!s.token.empty() && (s.token.back() == '\r' || s.token.back() == ' '))
      s.token.pop_back();
  } else if (const char* token = std::getenv("TOCSIN_TOKEN")) {
    s.token = token;
  }
  return s;
}

constexpr int k_usage = static_cast<int>(ClientExit::usage);

int fail(const ClientFailure& f) {
  std::cerr << f.message << '\n';
  return static_cast<int>(f.exit);
}

void print_json(const Json& j) {
  // Valid JSON either way; the characters that could drive a terminal as \uNNNN.
  std::cout << escape_json_controls(j.dump(2, ' ', false, Json::error_handler_t::replace)) << '\n';
}

TimePoint now() {
  return SystemClock().now();
}

// `?a=1&b=2` from the pairs whose value is not empty.
std::string query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    q += (q.empty() ? "?" : "&") + name + "=" + query_escape(value);
  }
  return q;
}

// An id argument: digits only, so it cannot change the path it is put in.
bool valid_id(const std::string& id, const char* what) {
  const bool ok =
      !id.empty() && id.size() <= 18 && id.find_first_not_of("0123456789") == std::string::npos;
  if (!ok) {
    std::cerr << "tocsin: " << what << " must be a number (the id the list shows), got \""
              << shown(id) << "\"\n";
  }
  return ok;
}

Subcommand add_alerts(CLI::App& cli) {
  struct Options {
    Connection c;
    std::string status, severity, source, text, limit, offset;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(
      "alerts", "List alerts from a running server (GET /api/v1/alerts), last seen first");
  add_connection(cmd, opt->c);
  cmd->add_option("--status", opt->status,
                  "open, acknowledged, resolved, expired, superseded or none");
  cmd->add_option("--severity", opt->severity, "critical, high, warning or info");
  cmd->add_option("--source", opt->source,
                  "cloudwatch, opsgenie, alertmanager, grafana, generic or heartbeat");
  cmd->add_option("-q,--query", opt->text, "Text in the fingerprint, name or summary");
  cmd->add_option("--limit", opt->limit, "At most this many (1-500; default 50)");
  cmd->add_option("--offset", opt->offset, "Skip this many (paging)");
  return {cmd, [opt] {
            auto s = settings(opt->c);
            if (!s) return k_usage;
            ApiClient api(*s);
            auto page = api.get("/alerts" + query({{"status", opt->status},
                                                   {"severity", opt->severity},
                                                   {"source", opt->source},
                                                   {"q", opt->text},
                                                   {"limit", opt->limit},
                                                   {"offset", opt->offset}}));
            if (!page) return fail(page.error());
            if (opt->c.json) {
              print_json(*page);
            } else {
              std::cout << alerts_view(*page, now());
            }
            return 0;
          }};
}

Subcommand add_show(CLI::App& cli) {
  struct Options {
    Connection c;
    std::string id;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(
      "show",
      "One alert from a running server: its episodes, pending escalation, the timeline of "
      "decisions with their reasons, its notifications");
  add_connection(cmd, opt->c);
  cmd->add_option("ID", opt->id, "The alert's id (tocsin alerts shows it)")->required();
  return {cmd, [opt] {
            if (!valid_id(opt->id, "the alert id")) return k_usage;
            auto s = settings(opt->c);
            if (!s) return k_usage;
            ApiClient api(*s);
            const std::string what = "alert " + opt->id;
            auto alert = api.get("/alerts/" + opt->id, what);
            if (!alert) return fail(alert.error());
            auto events = api.get("/alerts/" + opt->id + "/events?limit=500", what);
            if (!events) return fail(events.error());
            auto notifications = api.get("/notifications?limit=500&alert_id=" + opt->id, what);
            if (!notifications) return fail(notifications.error());
            if (opt->c.json) {
              print_json(Json{{"alert", *alert},
                              {"events", (*events)["events"]},
                              {"notifications", (*notifications)["notifications"]}});
            } else {
              std::cout << alert_view(*alert, *events, *notifications, now());
            }
            return 0;
          }};
}

// ack, unack, resolve: POST /api/v1/alerts/{id}/ACTION with {"by", "note"}.
Subcommand add_action(CLI::App& cli, const std::string& action, const std::string& help,
                      const std::string& done) {
  struct Options {
    Connection c;
    std::string id, by, note;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(action, help);
  add_connection(cmd, opt->c);
  cmd->add_option("ID", opt->id, "The alert's id (tocsin alerts shows it)")->required();
  cmd->add_option("--by", opt->by, "Who acts, recorded in the decision log (default: login name)");
  cmd->add_option("--note", opt->note, "Why, recorded with it");
  return {cmd, [opt, action, done] {
            if (!valid_id(opt->id, "the alert id")) return k_usage;
            auto s = settings(opt->c);
            if (!s) return k_usage;
            const std::string by = opt->by.empty() ? login_name() : opt->by;
            if (by.empty()) {
              std::cerr << "tocsin: who acts is not known (no login name, no $USER): give --by\n";
              return k_usage;
            }
            Json body{{"by", by}};
            if (!opt->note.empty()) body["note"] = opt->note;
            ApiClient api(*s);
            auto answer = api.post("/alerts/" + opt->id + "/" + action, body, "alert " + opt->id);
            if (!answer) return fail(answer.error());
            if (opt->c.json) {
              print_json(*answer);
            } else {
              std::cout << action_view(*answer, done, by);
            }
            return 0;
          }};
}

Subcommand add_notifications(CLI::App& cli) {
  struct Options {
    Connection c;
    std::string status, channel, alert, limit, before;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(
      "notifications", "The outbox of a running server (GET /api/v1/notifications), newest first");
  add_connection(cmd, opt->c);
  cmd->add_option("--status", opt->status, "pending, sent, failed or superseded");
  cmd->add_option("--channel", opt->channel, "Only this channel");
  cmd->add_option("--alert", opt->alert, "Only this alert's (its id)");
  cmd->add_option("--limit", opt->limit, "At most this many (1-500; default 50)");
  cmd->add_option("--before", opt->before, "Only ids below this one (paging)");
  return {cmd, [opt] {
            auto s = settings(opt->c);
            if (!s) return k_usage;
            ApiClient api(*s);
            auto page = api.get("/notifications" + query({{"status", opt->status},
                                                          {"channel", opt->channel},
                                                          {"alert_id", opt->alert},
                                                          {"limit", opt->limit},
                                                          {"before", opt->before}}));
            if (!page) return fail(page.error());
            if (opt->c.json) {
              print_json(*page);
            } else {
              std::cout << notifications_view(*page, now());
            }
            return 0;
          }};
}

Subcommand add_silence(CLI::App& cli) {
  struct Options {
    Connection c;
    SilenceMatchers matchers;
    std::string duration, until, starts, comment, by;
    std::string status, alert, limit;
    std::string id;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand("silence", "Add, list and expire silences on a running server");
  cmd->require_subcommand(1);

  auto* add =
      cmd->add_subcommand("add", "Quiet the matching alerts for a while (POST /api/v1/silences)");
  add_connection(add, opt->c);
  add->add_option("--match", opt->matchers.match,
                  "KEY=VALUE, repeatable: a rule's match keys (name, source, severity, metric, "
                  "namespace, account, region); exact, glob with *, or /regex/");
  add->add_option("--label", opt->matchers.labels, "NAME=VALUE label matcher, repeatable");
  add->add_option("--fingerprint", opt->matchers.fingerprint, "The alert's fingerprint, exactly");
  add->add_option("--duration", opt->duration, "How long: 2h, 90m (or give --until)");
  add->add_option("--until", opt->until, "When it ends, RFC 3339 (or give --duration)");
  add->add_option("--starts", opt->starts, "When it starts, RFC 3339 (default: now)");
  add->add_option("--comment", opt->comment, "Why; shown with every page it withholds")->required();
  add->add_option("--by", opt->by, "Who (default: login name)");

  auto* list = cmd->add_subcommand("list", "List silences (GET /api/v1/silences), newest first");
  add_connection(list, opt->c);
  list->add_option("--status", opt->status, "active, pending or expired");
  list->add_option("--alert", opt->alert, "Only those covering this alert (its id)");
  list->add_option("--limit", opt->limit, "At most this many (1-500; default 50)");

  auto* expire =
      cmd->add_subcommand("expire", "End a silence now (POST /api/v1/silences/{id}/expire)");
  add_connection(expire, opt->c);
  expire->add_option("ID", opt->id, "The silence's id")->required();
  expire->add_option("--by", opt->by, "Who (default: login name)");

  return {cmd, [opt, add, list] {
            auto s = settings(opt->c);
            if (!s) return k_usage;
            ApiClient api(*s);
            Expected<Json, ClientFailure> answer = Json();
            if (*add) {
              auto matchers = silence_matchers(opt->matchers);
              if (!matchers) {
                std::cerr << "tocsin silence add: " << matchers.error() << '\n';
                return k_usage;
              }
              if (opt->duration.empty() == opt->until.empty()) {
                std::cerr << "tocsin silence add: give one of --duration or --until\n";
                return k_usage;
              }
              Json body{{"matchers", *matchers}, {"comment", opt->comment}};
              const std::string by = opt->by.empty() ? login_name() : opt->by;
              if (by.empty()) {
                std::cerr << "tocsin silence add: who silences is not known (no login name, no "
                             "$USER): give --by\n";
                return k_usage;
              }
              body["by"] = by;
              if (!opt->duration.empty()) body["duration"] = opt->duration;
              if (!opt->until.empty()) body["ends_at"] = opt->until;
              if (!opt->starts.empty()) body["starts_at"] = opt->starts;
              answer = api.post("/silences", body);
            } else if (*list) {
              answer = api.get(
                  "/silences" +
                  query({{"status", opt->status}, {"alert", opt->alert}, {"limit", opt->limit}}));
            } else {
              if (!valid_id(opt->id, "the silence id")) return k_usage;
              Json body = Json::object();
              // Without one, the server records the token's name.
              if (const std::string by = opt->by.empty() ? login_name() : opt->by; !by.empty())
                body["by"] = by;
              answer = api.post("/silences/" + opt->id + "/expire", body, "silence " + opt->id);
            }
            if (!answer) return fail(answer.error());
            if (opt->c.json) {
              print_json(*answer);
            } else if (*list) {
              std::cout << silences_view(*answer, now());
            } else {
              std::cout << silence_line(*answer) << '\n';
            }
            return 0;
          }};
}

// tocsin subscriptions: GET /api/v1/subscriptions.
Subcommand add_subscriptions(CLI::App& cli) {
  auto c = std::make_shared<Connection>();
  auto* cmd = cli.add_subcommand(
      "subscriptions",
      "SNS subscription confirmations a running server received (GET /api/v1/subscriptions)");
  add_connection(cmd, *c);
  return {cmd, [c] {
            auto s = settings(*c);
            if (!s) return k_usage;
            ApiClient api(*s);
            auto list = api.get("/subscriptions");
            if (!list) return fail(list.error());
            if (c->json) {
              print_json(*list);
            } else {
              std::cout << subscriptions_view(*list, now());
            }
            return 0;
          }};
}

// tocsin subscription confirm|reject ID: POST /api/v1/subscriptions/{id}/ACTION with {"by",
// "note"} (docs/behaviour.md "SNS subscriptions").
Subcommand add_subscription(CLI::App& cli) {
  struct Options {
    Connection c;
    std::string id, by, note;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(
      "subscription", "Confirm or reject a pending SNS subscription on a running server");
  cmd->require_subcommand(1);
  auto* confirm = cmd->add_subcommand("confirm",
                                      "Confirm it: the server visits its checked SubscribeURL "
                                      "(POST /api/v1/subscriptions/{id}/confirm)");
  auto* reject = cmd->add_subcommand(
      "reject", "Reject it; nothing is sent to AWS (POST /api/v1/subscriptions/{id}/reject)");
  for (auto* sub : {confirm, reject}) {
    add_connection(sub, opt->c);
    sub->add_option("ID", opt->id, "The subscription's id (tocsin subscriptions shows it)")
        ->required();
    sub->add_option("--by", opt->by,
                    "Who acts, recorded in the decision log (default: login name)");
    sub->add_option("--note", opt->note, "Why, recorded with it");
  }
  return {cmd, [opt, confirm] {
            if (!valid_id(opt->id, "the subscription id")) return k_usage;
            auto s = settings(opt->c);
            if (!s) return k_usage;
            const std::string by = opt->by.empty() ? login_name() : opt->by;
            if (by.empty()) {
              std::cerr << "tocsin: who acts is not known (no login name, no $USER): give --by\n";
              return k_usage;
            }
            Json body{{"by", by}};
            if (!opt->note.empty()) body["note"] = opt->note;
            ApiClient api(*s);
            const std::string action = *confirm ? "confirm" : "reject";
            auto answer = api.post("/subscriptions/" + opt->id + "/" + action, body,
                                   "subscription " + opt->id);
            if (!answer) return fail(answer.error());
            if (opt->c.json) {
              print_json(*answer);
            } else {
              std::cout << subscription_line(*answer) << '\n';
            }
            return 0;
          }};
}

}  // namespace

std::vector<Subcommand> add_client(CLI::App& cli) {
  return {add_alerts(cli),
          add_show(cli),
          add_action(cli, "ack",
                     "Acknowledge an alert's episode on a running server: its escalation stops",
                     "acknowledged"),
          add_action(cli, "unack", "Unacknowledge an alert's episode: its escalation resumes",
                     "unacknowledged"),
          add_action(cli, "resolve", "Resolve an alert's episode by hand", "resolved"),
          add_notifications(cli),
          add_silence(cli),
          add_subscriptions(cli),
          add_subscription(cli)};
}

}  // namespace tocsin::cli
