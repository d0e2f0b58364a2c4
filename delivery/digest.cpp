#include "delivery/digest.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <vector>

#include "core/text.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::delivery {
namespace {

// Actions in the order an episode goes through them, so a breakdown reads like its history.
constexpr std::array<std::string_view, 5> k_lifecycle = {"trigger", "escalate", "reminder",
                                                         "acknowledge", "resolve"};

void sort_by_lifecycle(ActionCounts& actions) {
  auto rank = [](std::string_view action) {
    return std::find(k_lifecycle.begin(), k_lifecycle.end(), action) - k_lifecycle.begin();
  };
  std::sort(actions.begin(), actions.end(), [&](const auto& x, const auto& y) {
    const auto rx = rank(x.first), ry = rank(y.first);
    return rx != ry ? rx < ry : x.first < y.first;
  });
}

std::string text_field(const Json& object, const char* key) {
  const std::string* value = string_field(object, key);
  return value ? *value : std::string();
}

std::optional<std::int64_t> count_field(const Json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

std::optional<TimePoint> time_field(const Json& object, const char* key) {
  const std::string* value = string_field(object, key);
  if (!value) return std::nullopt;
  return parse_timestamp(*value);
}

DigestAlert read_alert(const Json& entry) {
  DigestAlert a;
  a.fingerprint = text_field(entry, "fingerprint");
  a.summary = text_field(entry, "summary");
  a.alias = text_field(entry, "alias");
  a.severity = text_field(entry, "severity");
  a.priority = text_field(entry, "priority");
  a.last_action = text_field(entry, "last_action");
  if (const auto noise = entry.find("noise"); noise != entry.end() && noise->is_number()) {
    a.noise = noise->get<double>();
  }
  if (const auto actions = entry.find("actions"); actions != entry.end() && actions->is_object()) {
    for (const auto& [action, count] : actions->items()) {
      if (count.is_number_integer()) a.actions.emplace_back(action, count.get<std::int64_t>());
    }
    sort_by_lifecycle(a.actions);
  }
  std::int64_t listed = 0;
  for (const auto& [action, count] : a.actions)
    listed += count;
  a.notifications = count_field(entry, "notifications").value_or(listed);
  a.json = entry;
  return a;
}

std::string counted(std::int64_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

// "13:00–14:00 UTC", or with dates when the interval spans midnight.
std::string interval_text(TimePoint since, TimePoint until) {
  const std::string a = format_timestamp(since);
  const std::string b = format_timestamp(until);
  if (a.size() < 16 || b.size() < 16) return {};
  const std::string dash = "\xE2\x80\x93";  // U+2013 en dash
  if (a.compare(0, 10, b, 0, 10) == 0) return a.substr(11, 5) + dash + b.substr(11, 5) + " UTC";
  return a.substr(0, 10) + " " + a.substr(11, 5) + dash + b.substr(0, 10) + " " + b.substr(11, 5) +
         " UTC";
}

}  // namespace

std::optional<Digest> read_digest(std::string_view text) {
  if (text.empty()) return std::nullopt;
  auto parsed = parse_json_strict(text);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  const auto alerts = parsed->find("alerts");
  if (alerts == parsed->end() || !alerts->is_array() || alerts->empty()) return std::nullopt;

  Digest d;
  std::int64_t listed = 0;
  for (const auto& entry : *alerts) {
    if (!entry.is_object()) return std::nullopt;
    d.alerts.push_back(read_alert(entry));
    listed += d.alerts.back().notifications;
  }
  d.since = time_field(*parsed, "since");
  d.until = time_field(*parsed, "until");
  d.notifications = count_field(*parsed, "notifications").value_or(listed);
  d.json = std::move(*parsed);
  return d;
}

std::string digest_headline(const Digest& d) {
  std::string out = "Tocsin digest: " + counted(d.notifications, "notification") + " about " +
                    counted(static_cast<std::int64_t>(d.alerts.size()), "alert");
  if (d.since && d.until) {
    if (auto interval = interval_text(*d.since, *d.until); !interval.empty()) {
      out += ", " + interval;
    }
  }
  return out;
}

ActionCounts action_totals(const Digest& d) {
  std::map<std::string, std::int64_t> totals;
  for (const auto& alert : d.alerts) {
    for (const auto& [action, count] : alert.actions)
      totals[action] += count;
  }
  ActionCounts out(totals.begin(), totals.end());
  sort_by_lifecycle(out);
  return out;
}

std::string action_breakdown(const ActionCounts& actions) {
  std::vector<std::string> parts;
  for (const auto& [action, count] : actions)
    parts.push_back(std::to_string(count) + " " + action);
  return join(parts);
}

std::string digest_alert_title(const DigestAlert& a) {
  if (!a.summary.empty()) return a.summary;
  if (!a.fingerprint.empty()) return a.fingerprint;
  return "(unnamed alert)";
}

// ---- writing: build_digest ---------------------------------------------------------------

namespace {

using OrderedJson = nlohmann::ordered_json;

struct AlertLine {
  const storage::DigestItem* first = nullptr;
  const storage::DigestItem* last = nullptr;
  std::map<std::string, int> actions;
  int count = 0;
  Severity severity = Severity::info;
  std::optional<double> noise;
};

}  // namespace

storage::OutboxRecord build_digest(const std::string& channel, std::int64_t number,
                                   const std::vector<storage::DigestItem>& items, TimePoint now) {
  std::map<std::string, AlertLine> by_alert;
  storage::OutboxRecord out;
  out.severity = Severity::info;
  out.priority = Priority{5};
  for (const auto& item : items) {
    const auto& n = item.notification;
    AlertLine& line = by_alert[n.fingerprint];
    if (!line.first) line.first = &item;
    line.last = &item;
    ++line.actions[std::string(storage::to_text(n.action))];
    ++line.count;
    line.severity = std::max(line.severity, n.severity);
    if (n.noise) line.noise = n.noise;
    out.severity = std::max(out.severity, n.severity);
    out.priority = Priority{std::min(out.priority.level, n.priority.level)};
    if (n.noise && (!out.noise || *n.noise > *out.noise)) out.noise = n.noise;
  }

  std::vector<std::pair<const std::string*, const AlertLine*>> order;
  for (const auto& [fingerprint, line] : by_alert)
    order.emplace_back(&fingerprint, &line);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    if (a.second->severity != b.second->severity) return a.second->severity > b.second->severity;
    if (a.second->count != b.second->count) return a.second->count > b.second->count;
    return *a.first < *b.first;
  });

  OrderedJson alerts = OrderedJson::array();
  for (const auto& [fingerprint, line] : order) {
    const auto& last = line->last->notification;
    OrderedJson a;
    a["fingerprint"] = *fingerprint;
    a["summary"] = line->last->summary;
    a["episode"] = last.episode ? OrderedJson(*last.episode) : OrderedJson(nullptr);
    a["alias"] = last.alias;
    a["severity"] = std::string(to_string(line->severity));
    a["priority"] = priority_name(last.priority);
    a["noise"] = line->noise ? OrderedJson(*line->noise) : OrderedJson(nullptr);
    a["notifications"] = line->count;
    OrderedJson actions = OrderedJson::object();
    for (const auto& [action, n] : line->actions)
      actions[action] = n;
    a["actions"] = std::move(actions);
    a["last_action"] = std::string(storage::to_text(last.action));
    a["first_at"] = format_timestamp(line->first->notification.created_at);
    a["last_at"] = format_timestamp(last.created_at);
    alerts.push_back(std::move(a));
  }

  const TimePoint since = items.front().notification.created_at;
  OrderedJson digest;
  digest["channel"] = channel;
  digest["since"] = format_timestamp(since);
  digest["until"] = format_timestamp(now);
  digest["notifications"] = items.size();
  digest["alerts"] = std::move(alerts);

  out.created_at = out.due_at = now;
  out.channel = channel;
  out.action = rules::NotifyAction::digest;
  out.alias = "digest:" + channel + ":" + std::to_string(number);
  out.level = 0;
  out.why = "digest of " + std::to_string(items.size()) + " notification" +
            (items.size() == 1 ? "" : "s") + " about " + std::to_string(by_alert.size()) +
            " alert" + (by_alert.size() == 1 ? "" : "s") + " since " + format_timestamp(since);
  out.digest = digest.dump();
  return out;
}

}  // namespace tocsin::delivery
