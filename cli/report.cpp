#include "cli/report.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>

#include "cli/commands.hpp"
#include "core/duration.hpp"
#include "core/text.hpp"
#include "engine/engine.hpp"
#include "engine/noise_view.hpp"
#include "engine/silence_view.hpp"
#include "rules/loader.hpp"
#include "rules/silence.hpp"
#include "storage/database.hpp"
#include "storage/migrations.hpp"
#include "storage/postgres/schema.hpp"

namespace tocsin::cli {

namespace {

using OrderedJson = nlohmann::ordered_json;

constexpr std::size_t k_noisiest = 10;
constexpr int k_active_scan = 10'000;  // active episodes looked at for staleness
constexpr int k_listed = 200;          // alerts listed in no_rule and no_escalation
constexpr int k_aliases = 3;           // recent aliases shown per failed channel

bool matches_everything(const rules::Match& m) {
  return !m.source && !m.name && !m.severity && !m.metric && !m.namespace_ && !m.account &&
         !m.region && m.labels.empty();
}

// A YAML double-quoted scalar.
std::string yaml_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// --- Gathering -----------------------------------------------------------------------------

// How the alert's next episode is routed, judged by the rule that matched its last event.
void describe_routing(NoisyEntry& n, const rules::Rule* rule, const rules::Noise& cfg) {
  const bool above = n.score.score > cfg.demote_above;
  if (!rule) {
    n.routing = n.rule.rfind("heartbeat:", 0) == 0 ? "heartbeat route" : "no rule: nobody";
  } else if (rule->drop) {
    n.routing = "drop: recorded only";
  } else if (rule->escalation.empty()) {
    n.routing = "rule notifies nobody";
  } else if (rule->never_suppress) {
    n.routing = above ? "never_suppress: still pages" : "escalation";
  } else if (above && rule->low_priority) {
    n.demoted_to = *rule->low_priority;
    n.routing = "demoted to " + *rule->low_priority;
  } else {
    n.routing = above ? "escalation (no low_priority)" : "escalation";
  }
}

std::string stale_advice(const StaleEntry& s, TimePoint now) {
  const std::string age =
      "open " + format_age(now - s.opened_at) + ", idle " + format_age(now - s.last_activity_at);
  if (s.source == Source::heartbeat) {
    return age +
           ": the heartbeat has not pinged since; fix its pinger, or remove the heartbeat "
           "from the rules file";
  }
  if (s.status == EpisodeStatus::acknowledged) {
    return "acknowledged by " + (s.acknowledged_by.empty() ? "someone" : s.acknowledged_by) + ", " +
           age + ": resolve it once the work is done, or unacknowledge it so escalation resumes";
  }
  std::string hint;
  switch (s.source) {
    case Source::cloudwatch:
      hint = " (add the SNS topic to the alarm's OK actions)";
      break;
    case Source::alertmanager:
      hint = " (set send_resolved: true on the Alertmanager receiver)";
      break;
    case Source::grafana:
      hint = " (untick \"Disable resolved message\" on the Grafana contact point)";
      break;
    case Source::opsgenie:
      hint = " (close it in OpsGenie)";
      break;
    default:
      hint = " (have the sender post status resolved when it recovers)";
      break;
  }
  return age + ": resolve it or fix the alarm that never sends OK" + hint;
}

std::string unmatched_advice(const UnmatchedRule& u, Duration since) {
  if (u.shadowed_by) {
    return "can never match: rule " + *u.shadowed_by +
           " above it matches everything and does not continue; move this rule above it or "
           "delete it";
  }
  if (!u.after_continue.empty()) {
    return "never the first match in " + format_duration(since) +
           "; it may still have applied after " + join(u.after_continue, ", ") +
           " (continue: true), which is not recorded; if it should also match on its own, "
           "check its match keys";
  }
  return "no event matched it first in " + format_duration(since) +
         ": check its match keys against real alerts (tocsin export --since " +
         format_duration(since) +
         " | tocsin replay --rules ...), or delete it if its alarm is gone";
}

std::string silent_advice(const storage::SilentEpisodes& s, const rules::Rules& rules) {
  if (s.rule.rfind("heartbeat:", 0) == 0) {
    return "heartbeat " + s.rule.substr(10) +
           " notifies nobody when it goes quiet: give it notify: [...] or escalation:";
  }
  const rules::Rule* rule = rules.find_rule(s.rule);
  if (!rule) {
    return "rule " + s.rule +
           " is no longer in the rules file; check that a current rule routes this alert";
  }
  if (rule->drop) {
    return "rule " + s.rule + " now says drop: true; these episodes opened before that change";
  }
  if (!rule->escalation.empty()) {
    return "rule " + s.rule + " now notifies (" + rule->escalation +
           "); these episodes opened before that change";
  }
  return "rule " + s.rule +
         " matched it and notifies nobody: give it notify: [channel] or escalation:, or drop: "
         "true if recording it is all you want";
}

std::string failed_advice(const storage::FailedChannel& f, const rules::Rules& rules) {
  auto channel = rules.channels.find(f.channel);
  if (channel == rules.channels.end()) {
    return "channel " + f.channel + " is no longer in the rules file; nothing more is sent there";
  }
  std::string advice;
  const auto& c = channel->second;
  if (f.last_error.find("is not set") != std::string::npos) {
    advice = "set the environment variable it names for tocsin serve, then restart it";
  } else if (f.last_status == 401 || f.last_status == 403) {
    std::string credential = c.api_key_env       ? *c.api_key_env
                             : c.routing_key_env ? *c.routing_key_env
                             : c.url_env         ? *c.url_env
                                                 : std::string("url");
    advice = "the channel refused the credentials: check " + credential;
  } else if (f.last_status == 404 || f.last_status == 410) {
    advice = "the channel's URL is wrong or gone: check its url";
  } else if (f.last_status) {
    advice = "the channel answered " + std::to_string(*f.last_status) +
             ": see GET /api/v1/notifications?channel=" + f.channel + "&status=failed";
  } else {
    advice = "no answer (network error or timeout): check its URL, DNS and egress from this host";
  }
  if (rules.delivery.fallback && *rules.delivery.fallback == f.channel) {
    advice += "; this is the fallback channel, so these failures were announced nowhere";
  }
  return advice;
}

// Whether `silence` covers an alert seen while it was in force, up to `now`. never_suppress is
// decided by the current rules (a heartbeat's alert has no rule: false).
bool covered_anything(storage::Reader& reader, const rules::Rules& rules,
                      const rules::Silence& silence, TimePoint now) {
  const TimePoint to = std::min(silence.end(), now);
  for (const auto& seen : reader.alerts_seen_between(silence.starts_at, to)) {
    // As the engine and the API judge it (engine/silence_view.hpp).
    const NormalizedEvent view = engine::silence_view(seen.alert, seen.severity);
    if (rules::silence_covers(silence, view, engine::never_suppressed(rules, seen.alert, view)))
      return true;
  }
  return false;
}

std::vector<std::string> silence_advice(const SilenceEntry& e) {
  const auto& v = e.view;
  const auto& s = v.silence;
  std::vector<std::string> advice;
  if (e.active) {
    advice.push_back("in force until " + format_timestamp(s.end()) + "; withheld " +
                     std::to_string(v.withheld) + " episode(s) so far: POST /api/v1/silences/" +
                     std::to_string(s.id) + "/expire ends it early");
  }
  if (v.paged > 0) {
    advice.push_back(std::to_string(v.paged) + " of the " + std::to_string(v.withheld) +
                     " episode(s) it withheld were still firing at its end (" +
                     format_timestamp(s.end()) +
                     ") and paged then: the work outlasted the silence, or it hid a real outage");
  }
  if (e.matched_nothing) advice.push_back("matched no alert: check the matchers");
  return advice;
}

// --- Text ----------------------------------------------------------------------------------

// Display width: code points, not bytes (fingerprints may carry UTF-8).
std::size_t width(const std::string& s) {
  return utf8_length(s);
}

// Columns aligned to their widest cell, each row optionally followed by advice lines.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { row(std::move(header)); }
  void row(std::vector<std::string> cells) { m_rows.push_back(Row{std::move(cells), {}}); }
  void note(std::string line) { m_rows.back().notes.push_back(std::move(line)); }

  void render(std::ostream& out) const {
    std::vector<std::size_t> widths;
    for (const auto& r : m_rows) {
      if (widths.size() < r.cells.size()) widths.resize(r.cells.size(), 0);
      for (std::size_t i = 0; i < r.cells.size(); ++i)
        widths[i] = std::max(widths[i], width(r.cells[i]));
    }
    for (const auto& r : m_rows) {
      std::string line = "  ";
      for (std::size_t i = 0; i < r.cells.size(); ++i) {
        line += r.cells[i];
        if (i + 1 < r.cells.size()) line += std::string(widths[i] - width(r.cells[i]) + 2, ' ');
      }
      while (!line.empty() && line.back() == ' ')
        line.pop_back();
      out << line << '\n';
      for (const auto& n : r.notes)
        out << "    - " << n << '\n';
    }
  }

 private:
  struct Row {
    std::vector<std::string> cells;
    std::vector<std::string> notes;
  };
  std::vector<Row> m_rows;
};

void heading(std::ostream& out, const std::string& title, const std::string& subtitle) {
  out << '\n' << title << '\n';
  if (!subtitle.empty()) out << "  " << subtitle << '\n';
}

void nothing(std::ostream& out, const std::string& why) {
  out << "  nothing to report: " << why << '\n';
}

std::string status_text(const std::optional<EpisodeStatus>& s) {
  return s ? std::string(to_string(*s)) : std::string("-");
}

std::string factor(const std::string& value, double points) {
  return value + " (" + rules::format_score(points) + ")";
}

// --- JSON ----------------------------------------------------------------------------------

OrderedJson optional_string(const std::string& s) {
  return s.empty() ? OrderedJson(nullptr) : OrderedJson(s);
}

OrderedJson optional_time(const std::optional<TimePoint>& t) {
  return t ? OrderedJson(format_timestamp(*t)) : OrderedJson(nullptr);
}

OrderedJson optional_status(const std::optional<EpisodeStatus>& s) {
  return s ? OrderedJson(std::string(to_string(*s))) : OrderedJson(nullptr);
}

}  // namespace

std::string format_age(Duration d) {
  using namespace std::chrono;
  if (d < Duration{0}) d = Duration{0};
  if (d >= hours(24)) return format_duration(duration_cast<hours>(d));
  if (d >= hours(1)) return format_duration(duration_cast<minutes>(d));
  return format_duration(duration_cast<seconds>(d));
}

Report gather_report(storage::Reader& reader, const rules::Rules& rules, TimePoint now,
                     Duration since) {
  // A period reaching before 1970 is all of history (and `now - since` must not overflow).
  since = std::min(since, now.time_since_epoch());
  Report r;
  r.at = now;
  r.since = since;
  r.rules_hash = rules.hash;
  r.noise = rules.noise;
  const TimePoint cutoff = now - since;

  for (const auto& noisy : engine::noisiest(reader, rules, now, k_noisiest)) {
    const auto& a = noisy.view.alert;
    NoisyEntry n;
    n.alert_id = a.id;
    n.fingerprint = a.fingerprint;
    n.source = a.source;
    n.rule = a.rule;
    if (noisy.view.current) {
      n.episode = noisy.view.current->episode.number;
      n.status = noisy.view.current->episode.status;
    }
    n.score = noisy.score;
    describe_routing(n, rules.find_rule(a.rule), rules.noise);
    n.advice = engine::noise_advice(noisy, rules);
    r.noisiest.push_back(std::move(n));
  }

  for (const auto& v : reader.active_episodes(k_active_scan)) {
    if (!v.current) continue;
    const auto& e = v.current->episode;
    const Duration max_open_age = engine::policy_for(rules, v.alert.rule).max_open_age;
    // Flagged by the sweep and idle since: it stays stale until something happens.
    const bool flagged = e.flagged_stale_at && *e.flagged_stale_at >= e.last_activity_at;
    if (now - e.last_activity_at <= max_open_age && !flagged) continue;
    StaleEntry s;
    s.alert_id = v.alert.id;
    s.fingerprint = v.alert.fingerprint;
    s.source = v.alert.source;
    s.episode = e.number;
    s.alias = v.current->alias;
    s.status = e.status;
    s.rule = v.alert.rule;
    s.opened_at = e.opened_at;
    s.last_activity_at = e.last_activity_at;
    s.max_open_age = max_open_age;
    if (flagged) s.flagged_stale_at = e.flagged_stale_at;
    s.acknowledged_by = e.acknowledged_by;
    s.advice = stale_advice(s, now);
    r.stale.push_back(std::move(s));
  }

  const auto counts = reader.first_match_counts(cutoff);
  std::vector<std::string> continuing;
  std::optional<std::string> catch_all;
  for (const auto& rule : rules.rules) {
    if (!counts.contains(rule.name)) {
      UnmatchedRule u;
      u.name = rule.name;
      u.line = rule.line;
      u.after_continue = continuing;
      u.shadowed_by = catch_all;
      u.advice = unmatched_advice(u, since);
      r.unmatched_rules.push_back(std::move(u));
    }
    if (rule.continue_matching) {
      continuing.push_back(rule.name);
    } else if (!catch_all && matches_everything(rule.match)) {
      catch_all = rule.name;
    }
  }

  std::set<std::int64_t> unrouted;
  for (auto& a : reader.unrouted_alerts(cutoff, k_listed)) {
    unrouted.insert(a.alert_id);
    NoRuleEntry n;
    n.advice = "recorded, nobody notified: add a rule matching {source: " +
               std::string(to_string(a.source)) + ", name: " + yaml_quoted(a.name) + "}";
    n.alert = std::move(a);
    r.no_rule.push_back(std::move(n));
  }

  for (auto& s : reader.silent_episodes(cutoff, k_listed)) {
    // Matched no rule: already listed under no_rule.
    if (s.rule.empty() || unrouted.contains(s.alert_id)) continue;
    NoEscalationEntry n;
    n.advice = silent_advice(s, rules);
    n.episodes = std::move(s);
    r.no_escalation.push_back(std::move(n));
  }

  for (auto& f : reader.failed_deliveries(cutoff, k_aliases)) {
    FailedEntry n;
    n.advice = failed_advice(f, rules);
    n.channel = std::move(f);
    r.failed_deliveries.push_back(std::move(n));
  }

  for (auto& v : reader.list_silences(rules::SilenceStatus::active, now)) {
    SilenceEntry e;
    e.active = true;
    e.matched_nothing = v.withheld == 0 && !covered_anything(reader, rules, v.silence, now);
    e.view = std::move(v);
    e.advice = silence_advice(e);
    r.silences.push_back(std::move(e));
  }
  // list_silences is newest first.
  std::reverse(r.silences.begin(), r.silences.end());
  for (auto& v : reader.silences_between(cutoff, now)) {
    if (v.silence.end() > now) continue;  // active (listed above) or pending
    SilenceEntry e;
    e.matched_nothing = v.withheld == 0 && !covered_anything(reader, rules, v.silence, now);
    if (v.paged == 0 && !e.matched_nothing) continue;
    e.view = std::move(v);
    e.advice = silence_advice(e);
    r.silences.push_back(std::move(e));
  }
  return r;
}

std::string report_text(const Report& r) {
  std::ostringstream out;
  const std::string since = format_timestamp(r.at - r.since);
  const std::string period = "since " + since + " (" + format_duration(r.since) + ")";
  out << "tocsin report at " << format_timestamp(r.at) << '\n'
      << "period: " << period << "; rules sha256 " << r.rules_hash.substr(0, 12) << '\n';

  heading(out, "NOISIEST ALERTS",
          "score 0-100 over the noise window (" + format_duration(r.noise.window) +
              ", not --since); above demote_above " + rules::format_score(r.noise.demote_above) +
              " a rule's low_priority channel gets its episodes");
  if (r.noisiest.empty()) {
    nothing(out, "no alert has a noise score above 0");
  } else {
    Table t({"SCORE", "ALERT", "RULE", "FLAP", "RATE", "TRANSIENT", "IGNORED", "ROUTING"});
    for (const auto& n : r.noisiest) {
      const auto& s = n.score;
      t.row({rules::format_score(s.score), n.fingerprint, n.rule.empty() ? "-" : n.rule,
             factor(rules::format_score(s.flap.value) + "%" + (s.flapping ? " flapping" : ""),
                    s.flap.points),
             factor(rules::format_score(s.rate.value) + "/day", s.rate.points),
             factor(rules::format_share(s.transient.value), s.transient.points),
             factor(rules::format_share(s.ignored.value), s.ignored.points), n.routing});
      for (const auto& a : n.advice)
        t.note(a);
    }
    t.render(out);
  }

  heading(out, "STALE OPEN EPISODES",
          "open or acknowledged, idle longer than the rule's max_open_age or flagged stale; "
          "oldest first");
  if (r.stale.empty()) {
    nothing(out, "no active episode is idle past its max_open_age");
  } else {
    Table t(
        {"ALERT", "EPISODE", "STATUS", "OPENED", "AGE", "IDLE", "MAX_OPEN_AGE", "ACK BY", "ALIAS"});
    for (const auto& s : r.stale) {
      t.row({s.fingerprint, std::to_string(s.episode), std::string(to_string(s.status)),
             format_timestamp(s.opened_at), format_age(r.at - s.opened_at),
             format_age(r.at - s.last_activity_at), format_duration(s.max_open_age),
             s.acknowledged_by.empty() ? "-" : s.acknowledged_by, s.alias});
      t.note(s.advice);
    }
    t.render(out);
  }

  heading(out, "RULES NEVER THE FIRST MATCH",
          period +
              "; a rule that applied only after an earlier rule's continue: true is not "
              "recorded as a match");
  if (r.unmatched_rules.empty()) {
    nothing(out, "every rule was the first match of at least one event");
  } else {
    Table t({"RULE", "LINE"});
    for (const auto& u : r.unmatched_rules) {
      t.row({u.name, std::to_string(u.line)});
      t.note(u.advice);
    }
    t.render(out);
  }

  heading(out, "ALERTS THAT MATCHED NO RULE", period + "; recorded, nobody notified");
  if (r.no_rule.empty()) {
    nothing(out, "every event matched a rule");
  } else {
    Table t({"ALERT", "SOURCE", "EVENTS", "LAST SEEN", "STATUS"});
    for (const auto& n : r.no_rule) {
      const auto& a = n.alert;
      t.row({a.fingerprint, std::string(to_string(a.source)), std::to_string(a.events),
             format_timestamp(a.last_at), status_text(a.status)});
      t.note(n.advice);
    }
    t.render(out);
  }

  heading(out, "ALERTS WITH NO ESCALATION",
          period +
              "; a rule matched, but their episodes notified nobody (not demoted, not "
              "dropped)");
  if (r.no_escalation.empty()) {
    nothing(out, "every episode that opened notified someone, or was dropped on purpose");
  } else {
    Table t({"ALERT", "RULE", "EPISODES", "LAST OPENED"});
    for (const auto& n : r.no_escalation) {
      const auto& s = n.episodes;
      t.row(
          {s.fingerprint, s.rule, std::to_string(s.episodes), format_timestamp(s.last_opened_at)});
      t.note(n.advice);
    }
    t.render(out);
  }

  heading(out, "FAILED DELIVERIES", period + "; notifications that failed for good, per channel");
  if (r.failed_deliveries.empty()) {
    nothing(out, "no notification failed");
  } else {
    Table t({"CHANNEL", "FAILED", "LAST FAILED", "HTTP", "LAST ERROR"});
    for (const auto& n : r.failed_deliveries) {
      const auto& f = n.channel;
      t.row({f.channel, std::to_string(f.failed), format_timestamp(f.last_at),
             f.last_status ? std::to_string(*f.last_status) : "-",
             f.last_error.empty() ? "-" : f.last_error});
      if (!f.aliases.empty()) t.note("latest: " + join(f.aliases, ", "));
      t.note(n.advice);
    }
    t.render(out);
  }

  heading(out, "SILENCES",
          "in force now; and " + period +
              ", those whose withheld episodes were still firing at their end, and those that "
              "matched no alert");
  if (r.silences.empty()) {
    nothing(out,
            "no silence is in force, none ended with episodes still firing, none matched "
            "nothing");
  } else {
    Table t({"ID", "STATE", "BY", "UNTIL", "WITHHELD", "PAGED AT END", "MATCHERS", "COMMENT"});
    for (const auto& e : r.silences) {
      const auto& s = e.view.silence;
      t.row({std::to_string(s.id), e.active ? "active" : "ended", s.created_by,
             format_timestamp(s.end()), std::to_string(e.view.withheld),
             std::to_string(e.view.paged),
             s.spelled.dump(-1, ' ', false, Json::error_handler_t::replace), s.comment});
      for (const auto& a : e.advice)
        t.note(a);
    }
    t.render(out);
  }
  return out.str();
}

std::string report_json(const Report& r) {
  OrderedJson noisiest = OrderedJson::array();
  for (const auto& n : r.noisiest) {
    noisiest.push_back(OrderedJson{
        {"alert_id", n.alert_id},
        {"fingerprint", n.fingerprint},
        {"source", std::string(to_string(n.source))},
        {"rule", optional_string(n.rule)},
        {"episode", n.episode > 0 ? OrderedJson(n.episode) : OrderedJson(nullptr)},
        {"status", optional_status(n.status)},
        {"noise", OrderedJson(engine::noise_json(n.score, r.noise))},
        {"demoted", n.demoted_to.has_value()},
        {"demoted_to", n.demoted_to ? OrderedJson(*n.demoted_to) : OrderedJson(nullptr)},
        {"routing", n.routing},
        {"advice", n.advice},
    });
  }
  OrderedJson stale = OrderedJson::array();
  for (const auto& s : r.stale) {
    stale.push_back(OrderedJson{
        {"alert_id", s.alert_id},
        {"fingerprint", s.fingerprint},
        {"source", std::string(to_string(s.source))},
        {"episode", s.episode},
        {"alias", s.alias},
        {"status", std::string(to_string(s.status))},
        {"rule", optional_string(s.rule)},
        {"opened_at", format_timestamp(s.opened_at)},
        {"last_activity_at", format_timestamp(s.last_activity_at)},
        {"age", format_age(r.at - s.opened_at)},
        {"idle", format_age(r.at - s.last_activity_at)},
        {"max_open_age", format_duration(s.max_open_age)},
        {"flagged_stale_at", optional_time(s.flagged_stale_at)},
        {"acknowledged_by", optional_string(s.acknowledged_by)},
        {"advice", s.advice},
    });
  }
  OrderedJson unmatched = OrderedJson::array();
  for (const auto& u : r.unmatched_rules) {
    unmatched.push_back(OrderedJson{
        {"rule", u.name},
        {"line", u.line},
        {"after_continue", u.after_continue},
        {"shadowed_by", u.shadowed_by ? OrderedJson(*u.shadowed_by) : OrderedJson(nullptr)},
        {"advice", u.advice},
    });
  }
  OrderedJson no_rule = OrderedJson::array();
  for (const auto& n : r.no_rule) {
    const auto& a = n.alert;
    no_rule.push_back(OrderedJson{
        {"alert_id", a.alert_id},
        {"fingerprint", a.fingerprint},
        {"name", a.name},
        {"source", std::string(to_string(a.source))},
        {"events", a.events},
        {"last_seen", format_timestamp(a.last_at)},
        {"status", optional_status(a.status)},
        {"advice", n.advice},
    });
  }
  OrderedJson no_escalation = OrderedJson::array();
  for (const auto& n : r.no_escalation) {
    const auto& s = n.episodes;
    no_escalation.push_back(OrderedJson{
        {"alert_id", s.alert_id},
        {"fingerprint", s.fingerprint},
        {"name", s.name},
        {"source", std::string(to_string(s.source))},
        {"rule", s.rule},
        {"episodes", s.episodes},
        {"last_episode", s.last_episode},
        {"last_opened_at", format_timestamp(s.last_opened_at)},
        {"advice", n.advice},
    });
  }
  OrderedJson failed = OrderedJson::array();
  for (const auto& n : r.failed_deliveries) {
    const auto& f = n.channel;
    failed.push_back(OrderedJson{
        {"channel", f.channel},
        {"failed", f.failed},
        {"last_at", format_timestamp(f.last_at)},
        {"last_error", f.last_error},
        {"last_http_status", f.last_status ? OrderedJson(*f.last_status) : OrderedJson(nullptr)},
        {"aliases", f.aliases},
        {"advice", n.advice},
    });
  }
  OrderedJson silences = OrderedJson::array();
  for (const auto& e : r.silences) {
    const auto& s = e.view.silence;
    silences.push_back(OrderedJson{
        {"id", s.id},
        {"state", e.active ? "active" : "ended"},
        {"by", s.created_by},
        {"comment", s.comment},
        {"matchers", OrderedJson::parse(s.spelled.dump())},
        {"starts_at", format_timestamp(s.starts_at)},
        {"until", format_timestamp(s.end())},
        {"expired_by", s.expired_at ? OrderedJson(s.expired_by) : OrderedJson(nullptr)},
        {"withheld", e.view.withheld},
        {"paged_at_end", e.view.paged},
        {"matched_nothing", e.matched_nothing},
        {"advice", e.advice},
    });
  }
  OrderedJson doc{
      {"at", format_timestamp(r.at)},
      {"since", format_timestamp(r.at - r.since)},
      {"rules_hash", r.rules_hash},
      {"noisiest", std::move(noisiest)},
      {"stale", std::move(stale)},
      {"unmatched_rules", std::move(unmatched)},
      {"no_rule", std::move(no_rule)},
      {"no_escalation", std::move(no_escalation)},
      {"failed_deliveries", std::move(failed)},
      {"silences", std::move(silences)},
  };
  return doc.dump(2, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

int run_report(const ReportOptions& options, const Clock& clock, std::ostream& out,
               std::ostream& err) {
  rules::LoadResult loaded = rules::load_rules_file(options.rules_path);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics)
      err << d.format() << '\n';
    err << "tocsin report: " << options.rules_path << " is not a valid rules file (run `tocsin "
        << "check " << options.rules_path << "`)\n";
    return 2;
  }
  // --db, then TOCSIN_DB (the caller resolved those), then storage.url_env.
  const std::string db_path =
      options.db_path.empty() ? resolve_db("", loaded.rules->storage.url_env) : options.db_path;
  const std::string db_shown = storage::display_location(db_path);
  if (auto problem = storage::location_problem(db_path)) {
    err << "tocsin report: the database location " << db_shown << " " << *problem << "\n";
    return 2;
  }
  // Opened read-only: a report never creates or migrates a database.
  std::error_code ec;
  if (!storage::is_postgres_location(db_path) && !std::filesystem::is_regular_file(db_path, ec)) {
    err << "tocsin report: no database at " << db_shown
        << " (give --db or TOCSIN_DB; `tocsin serve` creates it)\n";
    return 2;
  }
  try {
    storage::Reader reader(db_path);
    const int version = reader.schema_version();
    // PostgreSQL's schema is versioned on its own (docs/postgres.md "Schema and versions").
    const int known = storage::is_postgres_location(db_path)
                          ? storage::postgres::current_schema_version()
                          : storage::current_schema_version();
    if (version == 0) {
      err << "tocsin report: " << db_shown << " is not a Tocsin database\n";
      return 2;
    }
    if (version > known) {
      err << "tocsin report: database " << db_shown << " has schema version " << version
          << ", newer than this build of tocsin knows (" << known << "); run the newer tocsin\n";
      return 2;
    }
    if (version < known) {
      err << "tocsin report: database " << db_shown << " has schema version " << version
          << ", older than this build's " << known
          << "; a report does not migrate it: run this tocsin's serve on it once\n";
      return 2;
    }
    const Report report = gather_report(reader, *loaded.rules, clock.now(), options.since);
    out << (options.json ? report_json(report) : report_text(report));
    out.flush();
    return 0;
  } catch (const std::exception& e) {
    err << "tocsin report: cannot read " << db_shown << ": " << e.what() << '\n';
    return 2;
  }
}

Subcommand add_report(CLI::App& cli) {
  struct Options {
    ReportOptions report;
    std::string since = "7d";
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(
      "report",
      "Audit: noisiest alerts with fixes, stale open episodes, rules that never matched, "
      "alerts that notified nobody, failed deliveries, silences");
  cmd->add_option("--rules", opt->report.rules_path,
                  "Rules file (env TOCSIN_RULES; default ./rules.yaml)");
  cmd->add_option("--db", opt->report.db_path,
                  "SQLite database file or postgresql:// URI, opened read-only (env "
                  "TOCSIN_DB, then the variable storage.url_env names; default ./tocsin.db)");
  cmd->add_option("--since", opt->since,
                  "Period looked at, back from now: 7d, 36h, 90m (default 7d; the noise "
                  "score keeps its own noise.window)");
  cmd->add_flag("--json", opt->report.json, "One JSON document instead of text");
  return {
      cmd, [opt] {
        auto since = parse_duration(opt->since);
        if (!since || since->count() <= 0) {
          std::cerr
              << "tocsin report: --since must be a positive duration like 7d, 36h or 90m, got \""
              << opt->since << "\"\n";
          return 2;
        }
        ReportOptions& report = opt->report;
        report.since = *since;
        report.rules_path = resolve(report.rules_path, "TOCSIN_RULES", "./rules.yaml");
        // Empty: run_report looks at storage.url_env, then ./tocsin.db.
        if (report.db_path.empty()) report.db_path = resolve("", "TOCSIN_DB", "");
        SystemClock clock;
        return run_report(report, clock, std::cout, std::cerr);
      }};
}

}  // namespace tocsin::cli
