// `tocsin route` (README "Rules as code").
#include "cli/route.hpp"

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "cli/commands.hpp"
#include "core/duration.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "engine/engine.hpp"
#include "engine/intake.hpp"
#include "engine/rules_holder.hpp"
#include "ingest/alertmanager.hpp"
#include "ingest/cloudwatch.hpp"
#include "ingest/generic.hpp"
#include "rules/ignored.hpp"
#include "rules/lifecycle.hpp"
#include "rules/loader.hpp"
#include "rules/noise.hpp"

namespace tocsin::cli {

namespace {

using OrderedJson = nlohmann::ordered_json;

// Alerts larger than this are not alerts (the server's own body limit is 1 MiB by default).
constexpr std::size_t k_max_alert_bytes = 4 * 1024 * 1024;

std::string ingest_problem(const ingest::IngestError& e) {
  return e.code + ": " + e.detail;
}

Expected<NormalizedEvent, std::string> one_event(
    Expected<std::vector<NormalizedEvent>, ingest::IngestError> events, const char* hook) {
  if (!events) return unexpected(ingest_problem(events.error()));
  if (events->size() != 1) {
    return unexpected("the payload holds " + std::to_string(events->size()) +
                      " alerts; give one at a time");
  }
  NormalizedEvent e = std::move(events->front());
  e.hook = hook;
  return e;
}

Expected<NormalizedEvent, std::string> cloudwatch_event(
    Expected<NormalizedEvent, ingest::IngestError> event, const char* hook) {
  if (!event) return unexpected(ingest_problem(event.error()));
  event->hook = hook;
  return std::move(*event);
}

// What a rule says about how the alert is quieted by silences (docs/behaviour.md "Silences").
std::string silence_note(bool never_suppress) {
  return never_suppress
             ? "never_suppress: only a silence naming this alert exactly (its name or "
               "fingerprint, no glob) quiets it; noise never demotes or holds it"
             : "a silence whose matchers fit this alert withholds its pages while it lasts";
}

struct Answer {
  const rules::Rules* rules = nullptr;
  NormalizedEvent event;
  // Every rule whose match fits, in file order, and whether it applies (Rules::matching).
  std::vector<std::pair<const rules::Rule*, bool>> matches;
  std::vector<const rules::Rule*> applied;
  std::string fingerprint;
  Severity severity = Severity::warning;
  bool severity_from_rule = false;
  Priority priority;
  rules::Routing routing;  // with noise routing applied, when a score was given
  bool never_suppress = false;
  std::optional<rules::NoiseScore> score;
  // The first applying rule with low_priority / hold_for (what noise_routing would use).
  const rules::Rule* low = nullptr;
  const rules::Rule* hold = nullptr;
  // The policy the engine decides under (the first applying rule's, else the defaults), and
  // why it would ignore the event whatever the alert's state (rules::ignored_by_policy), or
  // nullptr.
  const rules::AlertPolicy* policy = nullptr;
  const char* ignored = nullptr;
};

Answer route(const rules::Rules& rules, const NormalizedEvent& event, const RouteOptions& options) {
  Answer a;
  a.rules = &rules;
  a.event = event;
  a.applied = rules.matching(event);
  for (const auto& rule : rules.rules) {
    if (!rule.match.matches(event)) continue;
    const bool applies = std::find(a.applied.begin(), a.applied.end(), &rule) != a.applied.end();
    a.matches.emplace_back(&rule, applies);
  }
  const rules::Rule* rule = a.applied.empty() ? nullptr : a.applied.front();
  a.policy = rule ? &rule->policy : &rules.defaults;
  a.ignored = rules::ignored_by_policy(*a.policy, event);
  a.fingerprint = engine::alert_fingerprint(rule, event);
  a.severity = engine::effective_severity(rules, rule, event);
  a.severity_from_rule = rule && rule->sets_severity;
  a.priority = (rule ? rule->policy : rules.defaults).priority_given(a.severity);
  a.routing = engine::routing_for(rules, a.applied);
  a.never_suppress = rules::any_never_suppress(a.applied);
  for (const auto* r : a.applied) {
    if (!a.low && r->low_priority) a.low = r;
    if (!a.hold && r->hold_for) a.hold = r;
  }
  if (options.noise || options.transient) {
    rules::NoiseScore s;
    s.score = options.noise.value_or(0);
    if (options.transient) {
      s.transient_count = options.transient->first;
      s.ended = options.transient->second;
    }
    a.score = s;
    engine::noise_routing(rules, a.applied, s, a.routing);
  }
  return a;
}

std::string step_channels(const rules::EscalationStep& step) {
  std::string out;
  for (const auto& c : step.notify) {
    if (!out.empty()) out += ", ";
    out += c;
  }
  return out;
}

// Whose policy decides: "rule NAME says" or "the defaults say".
std::string policy_says(const Answer& a) {
  return a.applied.empty() ? std::string("the defaults say")
                           : "rule " + a.applied.front()->name + " says";
}

// What the source's own suppression or an INSUFFICIENT_DATA state makes of the event
// (docs/behaviour.md "Other hooks"), as one line; empty when neither applies.
std::string policy_note(const Answer& a) {
  const NormalizedEvent& e = a.event;
  const std::string suppressed =
      "the source suppressed its actions (actionsSuppressedBy " + e.actions_suppressed_by + ")";
  if (a.ignored && std::string_view(a.ignored) == rules::reason::k_actions_suppressed) {
    return "outcome: ignored (actions_suppressed): " + suppressed + " and " + policy_says(a) +
           " actions_suppressed: ignore: recorded, notifies nobody (actions_suppressed: "
           "firing would apply it as any firing event)";
  }
  if (a.ignored && std::string_view(a.ignored) == rules::reason::k_insufficient_data) {
    return "outcome: ignored (insufficient_data): the alarm is INSUFFICIENT_DATA and " +
           policy_says(a) + " insufficient_data: ignore: recorded, notifies nobody";
  }
  if (!e.actions_suppressed_by.empty() && e.state == SignalState::firing) {
    return "actions suppressed: " + suppressed + ", and " + policy_says(a) +
           " actions_suppressed: firing: applied as any firing event";
  }
  return {};
}

void print_text(const Answer& a, std::ostream& out) {
  const NormalizedEvent& e = a.event;
  out << "alert: " << to_string(e.source) << " \"" << e.name << "\"";
  if (!e.account.empty()) out << " account " << e.account;
  if (!e.region.empty()) out << " region " << e.region;
  if (!e.metric.empty()) out << " metric " << e.metric;
  if (!e.namespace_.empty()) out << " namespace " << e.namespace_;
  if (e.severity) out << " severity " << to_string(*e.severity);
  for (const auto& [k, v] : e.labels)
    out << " " << k << "=" << v;
  out << "\n";
  const std::string note = policy_note(a);
  if (a.matches.empty()) {
    out << "matching rules: none\n"
        << "no rule applies: the alert is recorded under " << a.fingerprint
        << " and notifies nobody\n";
    if (!note.empty()) out << note << "\n";
    return;
  }
  out << "matching rules, in file order:\n";
  const rules::Rule* previous_applied = nullptr;
  for (const auto& [rule, applies] : a.matches) {
    out << "  " << (applies ? "* " : "  ") << rule->name << " (" << a.rules->source_path << ":"
        << rule->line << ")";
    if (applies) {
      out << (previous_applied ? " applies too: the rule before it says continue: true"
                               : " applies: the first match");
      previous_applied = rule;
    } else {
      out << " matches, does not apply: an applying rule before it has no continue: true";
    }
    out << "\n";
  }
  const rules::Rule& first = *a.applied.front();
  out << "applies: " << first.name;
  for (std::size_t i = 1; i < a.applied.size(); ++i)
    out << ", " << a.applied[i]->name;
  out << "\n";
  out << "fingerprint: " << a.fingerprint;
  if (a.fingerprint != e.fingerprint) out << " (dedup_key of " << first.name << ")";
  out << "\n";
  out << "severity: " << to_string(a.severity)
      << (a.severity_from_rule ? " (set by the rule)"
          : e.severity         ? " (stated by the source)"
                               : " (the rule's default)")
      << "\npriority: " << priority_name(a.priority) << "\n";
  if (!note.empty()) out << note << "\n";
  if (a.ignored) {
    out << "escalation: none (ignored)\n";
    return;
  }
  if (a.routing.drop) {
    out << "drop: a matching rule says drop: true: recorded, never notified\n";
  } else if (a.routing.route.empty()) {
    out << "escalation: none (no applying rule notifies anyone)\n";
  } else if (a.routing.demote_to) {
    out << "escalation: demoted to " << *a.routing.demote_to << " only, at once\n";
  } else {
    out << "escalation:";
    for (const auto& name : a.routing.escalation)
      out << " " << name;
    out << "\n";
    for (std::size_t i = 0; i < a.routing.route.steps.size(); ++i) {
      const auto& step = a.routing.route.steps[i];
      out << "  step " << i << " after " << format_duration(step.after) << ": "
          << step_channels(step) << (i == 0 ? " (trigger)" : " (escalate)") << "\n";
    }
    if (a.routing.route.repeat_every) {
      out << "  then the last step again every " << format_duration(*a.routing.route.repeat_every)
          << " until acknowledged (reminder)\n";
    }
    out << "  acknowledging stops the steps not yet taken\n";
  }
  const auto& cfg = a.rules->noise;
  out << "noise routing:";
  if (a.routing.drop || a.routing.route.empty()) {
    out << " nothing to demote or hold\n";
  } else if (a.never_suppress) {
    out << " never demoted or held (never_suppress)\n";
  } else {
    if (!a.score) {
      out << " demoted to " << (a.low ? *a.low->low_priority : std::string("nothing")) << " above "
          << rules::format_score(cfg.demote_above)
          << (a.low ? "" : " (no applying rule has low_priority)") << "; pass --noise SCORE\n";
    } else if (a.routing.demote_to) {
      out << " " << a.routing.demote_reason << "\n";
    } else {
      out << " score " << rules::format_score(a.score->score) << ": not demoted ("
          << (a.low ? "not above demote_above " + rules::format_score(cfg.demote_above)
                    : std::string("no applying rule has low_priority"))
          << ")\n";
    }
    if (a.hold) {
      out << "hold:";
      if (a.routing.hold_for) {
        out << " " << a.routing.hold_reason << "\n";
      } else if (a.score && a.score->ended > 0) {
        out << " not held: " << a.score->transient_count << " of " << a.score->ended
            << " ended episodes transient is not historically transient\n";
      } else {
        out << " first notification held " << format_duration(*a.hold->hold_for) << " (rule "
            << a.hold->name
            << ") when historically transient (at least 2 episodes ended in the window, half "
               "of them transient); pass --transient N/M\n";
      }
    }
  }
  out << "silences: " << silence_note(a.never_suppress) << "\n";
}

void print_json(const Answer& a, std::ostream& out) {
  const NormalizedEvent& e = a.event;
  OrderedJson j;
  OrderedJson alert;
  alert["source"] = to_string(e.source);
  alert["name"] = e.name;
  alert["source_fingerprint"] = e.fingerprint;
  alert["account"] = e.account;
  alert["region"] = e.region;
  alert["metric"] = e.metric;
  alert["namespace"] = e.namespace_;
  alert["labels"] = e.labels;
  alert["severity"] = e.severity ? OrderedJson(to_string(*e.severity)) : OrderedJson();
  alert["actions_suppressed_by"] = e.actions_suppressed_by;
  j["alert"] = alert;
  j["matches"] = OrderedJson::array();
  for (const auto& [rule, applies] : a.matches) {
    j["matches"].push_back({{"rule", rule->name},
                            {"line", rule->line},
                            {"applies", applies},
                            {"continue", rule->continue_matching}});
  }
  j["applies"] = OrderedJson::array();
  for (const auto* r : a.applied)
    j["applies"].push_back(r->name);
  j["fingerprint"] = a.fingerprint;
  j["severity"] = to_string(a.severity);
  j["priority"] = priority_name(a.priority);
  // Ignored whatever the alert's state (rules::ignored_by_policy): no steps.
  j["ignored"] = a.ignored ? OrderedJson(a.ignored) : OrderedJson();
  j["actions_suppressed"] =
      e.actions_suppressed_by.empty()
          ? OrderedJson()
          : OrderedJson(a.policy->actions_suppressed == rules::ActionsSuppressedPolicy::firing
                            ? "firing"
                            : "ignore");
  j["drop"] = a.routing.drop;
  j["never_suppress"] = a.never_suppress;
  j["escalation"] = a.routing.escalation;
  OrderedJson steps = OrderedJson::array();
  if (!a.ignored && !a.routing.drop && !a.routing.demote_to) {
    for (const auto& s : a.routing.route.steps) {
      steps.push_back(
          {{"after", format_duration(s.after)},
           {"after_seconds", std::chrono::duration_cast<std::chrono::seconds>(s.after).count()},
           {"notify", s.notify}});
    }
  }
  j["steps"] = steps;
  j["repeat_every"] = a.routing.route.repeat_every && !a.routing.demote_to && !a.ignored
                          ? OrderedJson(format_duration(*a.routing.route.repeat_every))
                          : OrderedJson();
  OrderedJson noise;
  noise["score"] = a.score ? OrderedJson(a.score->score) : OrderedJson();
  noise["demote_above"] = a.rules->noise.demote_above;
  noise["low_priority"] = a.low ? OrderedJson(*a.low->low_priority) : OrderedJson();
  noise["demoted"] = a.routing.demote_to.has_value();
  noise["demote_to"] = a.routing.demote_to ? OrderedJson(*a.routing.demote_to) : OrderedJson();
  noise["hold_for"] = a.hold ? OrderedJson(format_duration(*a.hold->hold_for)) : OrderedJson();
  noise["held"] = a.routing.hold_for.has_value();
  noise["reason"] = a.routing.demote_to ? a.routing.demote_reason : a.routing.hold_reason;
  j["noise"] = noise;
  j["silences"] = silence_note(a.never_suppress);
  out << j.dump(2) << '\n';
}

Expected<std::string, std::string> read_all(const std::string& path, std::istream& in) {
  std::ifstream file;
  std::istream* from = &in;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return unexpected("cannot read " + path);
    from = &file;
  }
  std::string text;
  char buffer[65536];
  while (from->read(buffer, sizeof buffer) || from->gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(from->gcount()));
    if (text.size() > k_max_alert_bytes) {
      return unexpected((path == "-" ? std::string("standard input") : path) +
                        " is larger than 4 MiB; an alert is one JSON object");
    }
  }
  if (from->bad()) return unexpected("error reading " + path);
  return text;
}

}  // namespace

Expected<NormalizedEvent, std::string> alert_from_json(const std::string& text) {
  auto json = parse_json_strict(text);
  if (!json) return unexpected("not JSON: " + json.error().detail);
  if (!json->is_object()) return unexpected(std::string("expected a JSON object"));
  const Json& j = *json;
  // An SNS Notification carrying a CloudWatch alarm, as /hooks/sns receives it.
  if (const auto* type = string_field(j, "Type"); type && *type == "Notification") {
    const auto* message = string_field(j, "Message");
    if (!message) return unexpected(std::string("SNS Notification without a \"Message\" string"));
    const auto* topic = string_field(j, "TopicArn");
    return cloudwatch_event(ingest::parse_cloudwatch_alarm(*message, topic ? *topic : ""), "sns");
  }
  if (j.contains("AlarmName") || j.contains("NewStateValue"))
    return cloudwatch_event(ingest::cloudwatch_alarm_from_json(j), "sns");
  if (j.contains("alerts"))
    return one_event(ingest::parse_alertmanager_webhook(text), "alertmanager");
  if (j.contains("key")) return one_event(ingest::parse_generic_event(text), "generic");
  return unexpected(std::string(
      "not an alert Tocsin knows: expected a generic event ({\"key\": ..., \"status\": "
      "\"firing\"}), a CloudWatch alarm message (AlarmName, NewStateValue, ...), an SNS "
      "Notification carrying one, or an Alertmanager webhook with one alert"));
}

Expected<NormalizedEvent, std::string> alert_from_hook_body(const std::string& hook,
                                                            const std::string& body,
                                                            const rules::RulesSnapshot& rules) {
  if (!engine::is_event_hook(hook)) {
    return unexpected("--hook: unknown hook \"" + hook +
                      "\"; one of sns, sns-raw, eventbridge, alertmanager, grafana, generic, "
                      "opsgenie, mapped/NAME");
  }
  // As `tocsin replay` reads a hook line: the hook's own intake, signatures not checked.
  const TimePoint now = SystemClock().now();
  const engine::ActiveRules active{rules, now, nullptr};
  auto inbound = engine::intake(hook, {}, body, active, now,
                                engine::IntakeOptions{.verify_sns_signatures = false});
  if (!inbound) {
    const auto& e = inbound.error();
    return unexpected("/hooks/" + hook + " would answer " + std::to_string(e.status) + " " +
                      e.code + ": " + e.detail);
  }
  if (inbound->events.empty()) {
    return unexpected("/hooks/" + hook + " would accept it and act on nothing (" +
                      inbound->ignored_reason + ")");
  }
  if (inbound->events.size() != 1) {
    return unexpected("the payload holds " + std::to_string(inbound->events.size()) +
                      " alerts; give one at a time");
  }
  NormalizedEvent e = std::move(inbound->events.front());
  e.hook = hook;
  return e;
}

Expected<NormalizedEvent, std::string> alert_from_flags(const RouteOptions& o, TimePoint now) {
  if (o.name.empty()) return unexpected(std::string("--name must not be empty"));
  Json labels = Json::object();
  for (const auto& [k, v] : o.labels)
    labels[k] = v;
  if (o.source != "cloudwatch" &&
      (!o.account.empty() || !o.region.empty() || !o.metric.empty() || !o.namespace_.empty())) {
    return unexpected(
        std::string("--account, --region, --metric and --namespace need --source cloudwatch"));
  }
  if (o.source == "generic") {
    Json body = {{"key", o.name}, {"status", "firing"}, {"labels", labels}};
    if (!o.severity.empty()) body["severity"] = o.severity;
    return one_event(ingest::parse_generic_event(body.dump()), "generic");
  }
  if (o.source == "alertmanager") {
    labels["alertname"] = o.name;
    if (!o.severity.empty()) labels["severity"] = o.severity;
    Json body = {{"version", "4"},
                 {"status", "firing"},
                 {"alerts", Json::array({{{"status", "firing"},
                                          {"labels", labels},
                                          {"annotations", Json::object()},
                                          {"startsAt", format_timestamp(now)}}})}};
    return one_event(ingest::parse_alertmanager_webhook(body.dump()), "alertmanager");
  }
  if (o.source == "cloudwatch") {
    if (!o.severity.empty())
      return unexpected(std::string("--severity: CloudWatch alarms state no severity"));
    const std::string account = o.account.empty() ? "123456789012" : o.account;
    const std::string region = o.region.empty() ? "us-east-1" : o.region;
    Json dimensions = Json::array();
    for (const auto& [k, v] : o.labels)
      dimensions.push_back({{"name", k}, {"value", v}});
    Json alarm = {
        {"AlarmName", o.name},
        {"AWSAccountId", account},
        {"NewStateValue", "ALARM"},
        {"OldStateValue", "OK"},
        {"StateChangeTime", format_timestamp(now)},
        {"AlarmArn", "arn:aws:cloudwatch:" + region + ":" + account + ":alarm:" + o.name},
        {"Trigger",
         {{"MetricName", o.metric}, {"Namespace", o.namespace_}, {"Dimensions", dimensions}}}};
    return cloudwatch_event(ingest::cloudwatch_alarm_from_json(alarm), "sns");
  }
  return unexpected("--source must be generic, cloudwatch or alertmanager, got \"" + o.source +
                    "\"");
}

int run_route(const RouteOptions& options, std::istream& in, std::ostream& out, std::ostream& err) {
  if (!options.hook.empty() && !options.name.empty()) {
    err << "tocsin route: --hook reads ALERT as that hook's request body; --name builds the "
           "alert from flags: give one\n";
    return 2;
  }
  if (!options.name.empty() && !options.alert_path.empty()) {
    err << "tocsin route: give the alert as ALERT or as --name and flags, not both\n";
    return 2;
  }
  if (options.name.empty() &&
      (!options.labels.empty() || !options.severity.empty() || options.source != "generic")) {
    err << "tocsin route: --label, --source and --severity describe an alert given by --name\n";
    return 2;
  }
  if (options.noise && !(*options.noise >= 0 && *options.noise <= 100)) {
    err << "tocsin route: --noise must be a score from 0 to 100\n";
    return 2;
  }
  rules::LoadResult loaded = rules::load_rules_file(
      options.rules_path, rules::LoadOptions{.env = nullptr, .serving = false});
  bool errors = false;
  for (const auto& d : loaded.diagnostics) {
    if (d.level == rules::Diagnostic::Level::error) {
      err << d.format() << '\n';
      errors = true;
    }
  }
  if (!loaded.ok() || errors) {
    err << "tocsin route: " << options.rules_path << " is not a valid rules file\n";
    return 2;
  }

  Expected<NormalizedEvent, std::string> event = unexpected(std::string());
  if (!options.name.empty()) {
    event = alert_from_flags(options, SystemClock().now());
  } else {
    const std::string path = options.alert_path.empty() ? "-" : options.alert_path;
    auto text = read_all(path, in);
    if (!text) {
      err << "tocsin route: " << text.error() << '\n';
      return 2;
    }
    event = options.hook.empty() ? alert_from_json(*text)
                                 : alert_from_hook_body(options.hook, *text, loaded.rules);
    if (!event) {
      err << "tocsin route: " << (path == "-" ? std::string("standard input") : path) << ": "
          << event.error() << '\n';
      return 2;
    }
  }
  if (!event) {
    err << "tocsin route: " << event.error() << '\n';
    return 2;
  }
  const Answer answer = route(*loaded.rules, *event, options);
  if (options.json) {
    print_json(answer, out);
  } else {
    print_text(answer, out);
  }
  return answer.applied.empty() ? 1 : 0;
}

namespace {

bool parse_transient(const std::string& text, RouteOptions& o) {
  const auto slash = text.find('/');
  int n = -1, m = -1;
  if (slash != std::string::npos) {
    try {
      std::size_t used = 0;
      n = std::stoi(text.substr(0, slash), &used);
      if (used != slash) n = -1;
      const std::string rest = text.substr(slash + 1);
      m = std::stoi(rest, &used);
      if (used != rest.size()) m = -1;
    } catch (const std::exception&) {
      n = m = -1;
    }
  }
  if (n < 0 || m < 0 || n > m || m > 1000000) {
    std::cerr << "tocsin route: --transient must be N/M (N of the M episodes that ended in the "
                 "noise window were transient, N <= M), got \""
              << text << "\"\n";
    return false;
  }
  o.transient = std::make_pair(n, m);
  return true;
}

}  // namespace

Subcommand add_route(CLI::App& cli) {
  struct Options {
    RouteOptions route;
    std::vector<std::string> labels;
    std::string transient;
    double noise = -1;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(
      "route",
      "Show which rules an alert matches and how it would be routed; exit 0 a rule applies, 1 "
      "none does, 2 usage or input error");
  cmd->add_option("--rules", opt->route.rules_path, "Rules file")->required();
  cmd->add_option("ALERT", opt->route.alert_path,
                  "JSON file: a generic event, a CloudWatch alarm message, an SNS Notification "
                  "or an Alertmanager webhook with one alert; - or absent: standard input");
  cmd->add_option("--hook", opt->route.hook,
                  "ALERT is a request body for this hook (eventbridge, grafana, opsgenie, "
                  "mapped/NAME, ...), read as the server reads it");
  cmd->add_option("--name", opt->route.name, "Describe the alert by flags: its name");
  cmd->add_option("--label", opt->labels, "k=v, repeatable (CloudWatch: dimensions)");
  cmd->add_option("--source", opt->route.source, "generic (default), cloudwatch, alertmanager");
  cmd->add_option("--severity", opt->route.severity, "The severity the source states");
  cmd->add_option("--account", opt->route.account, "CloudWatch account id");
  cmd->add_option("--region", opt->route.region, "CloudWatch region code");
  cmd->add_option("--metric", opt->route.metric, "CloudWatch metric name");
  cmd->add_option("--namespace", opt->route.namespace_, "CloudWatch namespace");
  cmd->add_option("--noise", opt->noise, "The alert's noise score (0-100): demoted or not");
  cmd->add_option("--transient", opt->transient,
                  "N/M: N of the M episodes ended in the noise window were transient: held or not");
  cmd->add_flag("--json", opt->route.json, "Answer as one JSON object");
  return {cmd, [opt, cmd] {
            for (const auto& l : opt->labels) {
              const auto eq = l.find('=');
              if (eq == std::string::npos || eq == 0) {
                std::cerr << "tocsin route: --label must be k=v, got \"" << l << "\"\n";
                return 2;
              }
              opt->route.labels.emplace_back(l.substr(0, eq), l.substr(eq + 1));
            }
            if (cmd->count("--noise")) opt->route.noise = opt->noise;
            if (!opt->transient.empty() && !parse_transient(opt->transient, opt->route)) return 2;
            return run_route(opt->route, std::cin, std::cout, std::cerr);
          }};
}

}  // namespace tocsin::cli
