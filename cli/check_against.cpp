#include "cli/check_against.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>
#include <vector>

#include "cli/export.hpp"
#include "cli/replay.hpp"
#include "rules/lifecycle.hpp"
#include "rules/loader.hpp"
#include "server/app.hpp"
#include "storage/database.hpp"

namespace tocsin::cli {

namespace {

using OrderedJson = nlohmann::ordered_json;

// The suffix the engine gives the reason of an event no rule matched (engine/engine.cpp).
constexpr std::string_view k_no_rule = ";no_rule_matched";
// Alerts listed per section and per channel in the text output; the JSON lists them all.
constexpr std::size_t k_shown = 20;

// What routing turned down for one alert: the decisions that keep a page from someone.
struct Suppressed {
  std::map<std::string, std::size_t> kinds;  // demoted, held, dropped, silenced -> decisions
  std::string rule;                          // the alert's rule then
};

// What one replay did, as the comparison needs it. Every alert is named by its fingerprint,
// the one thing the two runs share (their alert ids are each database's own).
struct Run {
  // channel -> fingerprint -> notifications that page (rules::pages: trigger, escalate,
  // reminder).
  std::map<std::string, std::map<std::string, std::size_t>> pages;
  std::map<std::string, std::size_t> unrouted;  // fingerprint -> events no rule matched
  std::map<std::string, std::string> rule;      // fingerprint -> the rule that matched last
  std::map<std::string, Suppressed> suppressed;
  std::map<std::string, std::int64_t> alert_id;  // fingerprint -> its id in this run

  void add(const engine::Journal& journal) {
    for (const auto& entry : journal) {
      if (const auto* d = std::get_if<storage::DecisionRecord>(&entry)) {
        if (d->fingerprint.empty()) continue;
        if (d->alert_id) alert_id[d->fingerprint] = *d->alert_id;
        if (d->kind == storage::DecisionKind::event) {
          if (d->reason.ends_with(k_no_rule)) {
            ++unrouted[d->fingerprint];
          } else if (!d->rule.empty()) {
            rule[d->fingerprint] = d->rule;
          }
          continue;
        }
        if (!d->note) continue;
        const char* kind = nullptr;
        switch (*d->note) {
          case rules::NoteKind::demoted:
            kind = "demoted";
            break;
          case rules::NoteKind::held:
            kind = "held";
            break;
          case rules::NoteKind::dropped_by_rule:
          case rules::NoteKind::dropped_while_held:
            kind = "dropped";
            break;
          // A silence that does not name it exactly quiets a never_suppress alert no more
          // (docs/behaviour.md "Silences"): a candidate without the flag lets it.
          case rules::NoteKind::silenced:
            kind = "silenced";
            break;
          default:
            break;
        }
        if (!kind) continue;
        auto& s = suppressed[d->fingerprint];
        ++s.kinds[kind];
        s.rule = d->rule;
      } else if (const auto* n = std::get_if<storage::OutboxRecord>(&entry)) {
        if (rules::pages(n->action)) ++pages[n->channel][n->fingerprint];
      }
    }
  }

  std::string rule_of(const std::string& fingerprint) const {
    auto it = rule.find(fingerprint);
    return it == rule.end() ? std::string() : it->second;
  }
};

struct ChannelChange {
  std::string channel;
  std::size_t before = 0, after = 0, gained = 0, lost = 0;
  // fingerprint -> pages more (gained) or fewer (lost), most first.
  std::vector<std::pair<std::string, std::size_t>> gained_alerts, lost_alerts;
};

std::size_t total(const std::map<std::string, std::size_t>& counts) {
  std::size_t n = 0;
  for (const auto& [_, c] : counts)
    n += c;
  return n;
}

void most_first(std::vector<std::pair<std::string, std::size_t>>& v) {
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
}

std::vector<ChannelChange> channel_changes(const Run& before, const Run& after) {
  std::set<std::string> channels;
  for (const auto& [c, _] : before.pages)
    channels.insert(c);
  for (const auto& [c, _] : after.pages)
    channels.insert(c);
  static const std::map<std::string, std::size_t> k_none;
  std::vector<ChannelChange> out;
  for (const auto& channel : channels) {
    auto b = before.pages.find(channel);
    auto a = after.pages.find(channel);
    const auto& old_pages = b == before.pages.end() ? k_none : b->second;
    const auto& new_pages = a == after.pages.end() ? k_none : a->second;
    ChannelChange c;
    c.channel = channel;
    c.before = total(old_pages);
    c.after = total(new_pages);
    std::set<std::string> fingerprints;
    for (const auto& [f, _] : old_pages)
      fingerprints.insert(f);
    for (const auto& [f, _] : new_pages)
      fingerprints.insert(f);
    for (const auto& f : fingerprints) {
      const auto o = old_pages.contains(f) ? old_pages.at(f) : 0;
      const auto n = new_pages.contains(f) ? new_pages.at(f) : 0;
      if (n > o) c.gained_alerts.emplace_back(f, n - o);
      if (o > n) c.lost_alerts.emplace_back(f, o - n);
    }
    most_first(c.gained_alerts);
    most_first(c.lost_alerts);
    for (const auto& [_, n] : c.gained_alerts)
      c.gained += n;
    for (const auto& [_, n] : c.lost_alerts)
      c.lost += n;
    out.push_back(std::move(c));
  }
  return out;
}

// An alert the candidate leaves to no rule.
struct Unrouted {
  std::string fingerprint, name;
  std::size_t events = 0;
  std::string rule_before;  // empty: no rule matched it before either
};

// An error: an alert a baseline rule made never_suppress that the candidate would keep from
// paging.
struct Demotion {
  std::string fingerprint, name, rule;  // the rule it has under the candidate
  std::map<std::string, std::size_t> kinds;
  std::string note;  // why, when the kinds do not say it
};

// The alert's pages over every channel.
std::size_t pages_of(const Run& run, const std::string& fingerprint) {
  std::size_t n = 0;
  for (const auto& [_, by_alert] : run.pages) {
    if (auto it = by_alert.find(fingerprint); it != by_alert.end()) n += it->second;
  }
  return n;
}

std::string describe(const std::map<std::string, std::size_t>& kinds) {
  std::string text;
  for (const auto& [kind, n] : kinds) {
    if (!text.empty()) text += ", ";
    text += kind + " " + std::to_string(n) + "x";
  }
  return text;
}

// The alert's name in a run's database (empty when it is not there).
std::string name_in(server::App& app, const Run& run, const std::string& fingerprint) {
  auto id = run.alert_id.find(fingerprint);
  if (id == run.alert_id.end()) return {};
  auto detail = app.reader.get_alert(id->second);
  return detail ? detail->view.alert.name : std::string();
}

// Whether the engine made any episode of the alert never_suppress in the run's database.
bool never_suppressed_in(server::App& app, const Run& run, const std::string& fingerprint) {
  auto id = run.alert_id.find(fingerprint);
  if (id == run.alert_id.end()) return false;
  auto detail = app.reader.get_alert(id->second);
  if (!detail) return false;
  if (detail->view.current && detail->view.current->episode.never_suppress) return true;
  return std::any_of(detail->episodes.begin(), detail->episodes.end(),
                     [](const storage::EpisodeRecord& e) { return e.episode.never_suppress; });
}

// Reads a string in place: both replays read the one copy of the traffic.
class StringReader : public std::streambuf {
 public:
  explicit StringReader(const std::string& text) {
    char* begin = const_cast<char*>(text.data());  // only ever read: no put area is set
    setg(begin, begin, begin + text.size());
  }
};

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

OrderedJson counts_json(const std::vector<std::pair<std::string, std::size_t>>& v) {
  OrderedJson out = OrderedJson::array();
  for (const auto& [f, n] : v)
    out.push_back({{"fingerprint", f}, {"pages", n}});
  return out;
}

OrderedJson text_or_null(const std::string& s) {
  return s.empty() ? OrderedJson(nullptr) : OrderedJson(s);
}

}  // namespace

int run_check_against(const AgainstOptions& options, TimePoint now, std::ostream& out,
                      std::ostream& err) {
  const char* who = "tocsin check --against-db";
  // The baseline is judged like the candidate, offline (as replay loads it): an unusable one
  // is a usage problem, not a finding about the candidate.
  const rules::LoadOptions offline{.env = nullptr, .serving = false};
  rules::LoadResult baseline = rules::load_rules_file(options.baseline_path, offline);
  if (!baseline.ok()) {
    for (const auto& d : baseline.diagnostics) {
      if (d.level == rules::Diagnostic::Level::error) err << d.format() << '\n';
    }
    err << who << ": the baseline " << options.baseline_path
        << (baseline.unreadable ? " cannot be read" : " is not a valid rules file")
        << "; nothing compared\n";
    return 2;
  }
  rules::LoadResult candidate = rules::load_rules_file(options.rules_path, offline);
  if (!candidate.ok()) {
    err << who << ": " << options.rules_path << " is not valid without the environment\n";
    return 1;
  }

  // The stored traffic, as `tocsin export` gives it, held once for both runs.
  std::ostringstream exported;
  ExportOptions ex;
  ex.db_path = options.db_path;
  ex.since = options.since;
  ex.max_lines = options.limit;
  ex.command = who;
  if (int status = run_export(ex, now, exported, err); status != 0) return 2;
  const std::string traffic = std::move(exported).str();
  const std::size_t lines = count_lines(traffic);

  std::ostream discard(nullptr);
  auto replay = [&](const std::string& rules_path, Run& run, std::ostream& warnings,
                    std::function<void(server::App&)> inspect) {
    StringReader buffer(traffic);
    std::istream in(&buffer);
    ReplayOptions r;
    r.rules_path = rules_path;
    r.events_path = storage::display_location(options.db_path) + " (exported)";
    r.events_stream = &in;
    r.until = now;  // timers due after the last line fire too, as `tocsin replay --until now`
    r.print_lines = false;
    r.observe = [&run](const engine::Journal& j) { run.add(j); };
    r.inspect = std::move(inspect);
    return run_replay(r, discard, warnings);
  };

  // The candidate first: what it turns down is what the baseline's database is asked about.
  // Its warnings (a request it would refuse) are shown; the baseline's were the server's own.
  Run before, after;
  std::vector<Unrouted> unrouted;
  std::vector<Demotion> errors;
  std::map<std::string, std::string> names;  // fingerprint -> alert name, for the listing
  int status = replay(options.rules_path, after, err, [&](server::App& app) {
    for (const auto& [f, n] : after.unrouted)
      names[f] = name_in(app, after, f);
    for (const auto& [f, _] : after.suppressed)
      names[f] = name_in(app, after, f);
  });
  if (status != 0) {
    err << who << ": the replay with " << options.rules_path << " failed; nothing compared\n";
    return 2;
  }
  status = replay(options.baseline_path, before, discard, [&](server::App& app) {
    for (const auto& [f, s] : after.suppressed) {
      // Only what the candidate adds: a baseline that already dropped it changed nothing.
      const auto was = before.suppressed.find(f);
      const bool more = std::any_of(s.kinds.begin(), s.kinds.end(), [&](const auto& k) {
        if (was == before.suppressed.end()) return true;
        const auto it = was->second.kinds.find(k.first);
        return it == was->second.kinds.end() || it->second < k.second;
      });
      if (more && never_suppressed_in(app, before, f)) {
        Demotion d{f, names[f], s.rule, s.kinds, {}};
        if (d.name.empty()) d.name = name_in(app, before, f);
        errors.push_back(std::move(d));
      }
    }
    // A never_suppress alert that paged under the baseline and pages nobody under the
    // candidate, whatever the cause: left to no rule, ignored, or named otherwise (a changed
    // dedup_key gives its events another fingerprint, so the demotions above cannot see it).
    for (const auto& seen : before.alert_id) {
      // A name, not a structured binding: lambdas may not capture those before C++20's fix.
      const std::string& f = seen.first;
      const std::size_t paged = pages_of(before, f);
      if (paged == 0 || pages_of(after, f) > 0) continue;
      if (std::any_of(errors.begin(), errors.end(),
                      [&](const Demotion& e) { return e.fingerprint == f; })) {
        continue;
      }
      if (!never_suppressed_in(app, before, f)) continue;
      Demotion d{f, name_in(app, before, f), after.rule_of(f), {}, {}};
      d.note = std::to_string(paged) + " page(s) under the baseline";
      if (!after.alert_id.contains(f)) {
        d.note += "; its events make no alert of this fingerprint (a changed dedup_key?)";
      } else if (after.unrouted.contains(f)) {
        d.note += "; no rule matches it";
      }
      errors.push_back(std::move(d));
    }
  });
  if (status != 0) {
    err << who << ": the replay with the baseline " << options.baseline_path
        << " failed; nothing compared\n";
    return 2;
  }

  for (const auto& [f, n] : after.unrouted) {
    Unrouted u{f, names[f], n, before.rule_of(f)};
    unrouted.push_back(std::move(u));
  }
  // Newly unrouted first (they lost their rule), then by events.
  std::stable_sort(unrouted.begin(), unrouted.end(), [](const Unrouted& a, const Unrouted& b) {
    if (a.rule_before.empty() != b.rule_before.empty()) return !a.rule_before.empty();
    return a.events > b.events;
  });
  const auto channels = channel_changes(before, after);
  auto same_suppression = [&] {
    if (before.suppressed.size() != after.suppressed.size()) return false;
    for (const auto& [f, s] : after.suppressed) {
      auto it = before.suppressed.find(f);
      if (it == before.suppressed.end() || it->second.kinds != s.kinds) return false;
    }
    return true;
  };
  const bool changed =
      before.pages != after.pages || before.unrouted != after.unrouted || !same_suppression();
  const std::string db = storage::display_location(options.db_path);

  if (options.json) {
    OrderedJson j;
    j["rules"] = {{"path", options.rules_path}, {"sha256", candidate.rules->hash}};
    j["baseline"] = {{"path", options.baseline_path}, {"sha256", baseline.rules->hash}};
    j["database"] = db;
    j["since"] = options.since;
    j["lines"] = lines;
    j["changed"] = changed;
    OrderedJson cs = OrderedJson::array();
    for (const auto& c : channels) {
      cs.push_back({{"channel", c.channel},
                    {"pages_before", c.before},
                    {"pages_after", c.after},
                    {"gained", c.gained},
                    {"lost", c.lost},
                    {"gained_alerts", counts_json(c.gained_alerts)},
                    {"lost_alerts", counts_json(c.lost_alerts)}});
    }
    j["channels"] = std::move(cs);
    OrderedJson us = OrderedJson::array();
    for (const auto& u : unrouted) {
      us.push_back({{"fingerprint", u.fingerprint},
                    {"name", u.name},
                    {"events", u.events},
                    {"rule_before", text_or_null(u.rule_before)}});
    }
    j["unrouted"] = std::move(us);
    OrderedJson es = OrderedJson::array();
    for (const auto& e : errors) {
      OrderedJson kinds = OrderedJson::object();
      for (const auto& [k, n] : e.kinds)
        kinds[k] = n;
      es.push_back({{"fingerprint", e.fingerprint},
                    {"name", e.name},
                    {"rule_before", text_or_null(before.rule_of(e.fingerprint))},
                    {"rule", text_or_null(e.rule)},
                    {"decisions", std::move(kinds)},
                    {"note", text_or_null(e.note)}});
    }
    j["errors"] = std::move(es);
    out << j.dump(2, ' ', false, OrderedJson::error_handler_t::replace) << '\n';
    return errors.empty() ? 0 : 1;
  }

  out << options.rules_path << " against " << db << ": " << lines << " stored line(s) of the last "
      << options.since << " replayed with the baseline " << options.baseline_path << " (sha256 "
      << baseline.rules->hash.substr(0, 12) << ") and with " << options.rules_path << " (sha256 "
      << candidate.rules->hash.substr(0, 12) << ")\n";
  if (!changed) {
    out << "no change: the same pages on every channel, the same alerts unrouted, demoted, held, "
           "dropped and silenced\n";
    return 0;
  }
  auto list = [&](const char* label, const std::vector<std::pair<std::string, std::size_t>>& v) {
    if (v.empty()) return;
    out << "      " << label << ":";
    for (std::size_t i = 0; i < v.size() && i < k_shown; ++i)
      out << (i ? ", " : " ") << v[i].first << " " << v[i].second;
    if (v.size() > k_shown) out << ", ... and " << v.size() - k_shown << " more";
    out << '\n';
  };
  out << "pages by channel (baseline -> new):\n";
  for (const auto& c : channels) {
    out << "  " << c.channel << ": " << c.before << " -> " << c.after;
    if (c.gained == 0 && c.lost == 0) {
      out << " (unchanged)\n";
      continue;
    }
    out << " (" << c.gained << " gained, " << c.lost << " lost)\n";
    list("gained", c.gained_alerts);
    list("lost", c.lost_alerts);
  }
  if (channels.empty()) out << "  none in either run\n";
  if (!unrouted.empty()) {
    out << "alerts that would match no rule (" << unrouted.size() << "):\n";
    for (std::size_t i = 0; i < unrouted.size() && i < k_shown; ++i) {
      const auto& u = unrouted[i];
      out << "  " << u.fingerprint << " (" << (u.name.empty() ? "?" : u.name) << "): " << u.events
          << " event(s); "
          << (u.rule_before.empty() ? "matched no rule before either"
                                    : "rule " + u.rule_before + " before")
          << '\n';
    }
    if (unrouted.size() > k_shown) out << "  ... and " << unrouted.size() - k_shown << " more\n";
  }
  for (const auto& e : errors) {
    const std::string rule_before = before.rule_of(e.fingerprint);
    out << "error: " << e.fingerprint << " (" << (e.name.empty() ? "?" : e.name)
        << ") is never_suppress under the baseline"
        << (rule_before.empty() ? "" : " (rule " + rule_before + ")") << " but would "
        << (e.note.empty() ? "be " + describe(e.kinds) : "page nobody") << " under "
        << options.rules_path << (e.rule.empty() ? "" : " (rule " + e.rule + ")")
        << (e.note.empty() ? "" : ": " + e.note) << '\n';
  }
  if (!errors.empty()) {
    out << options.rules_path << ": " << errors.size()
        << " never_suppress alert(s) would no longer page as they did\n";
    return 1;
  }
  return 0;
}

}  // namespace tocsin::cli
