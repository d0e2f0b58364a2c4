#include "engine/digest.hpp"

#include <algorithm>
#include <map>

#include "core/json.hpp"

namespace tocsin::engine {

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
    ++line.actions[n.action];
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
    a["priority"] = "P" + std::to_string(last.priority.level);
    a["noise"] = line->noise ? OrderedJson(*line->noise) : OrderedJson(nullptr);
    a["notifications"] = line->count;
    OrderedJson actions = OrderedJson::object();
    for (const auto& [action, n] : line->actions)
      actions[action] = n;
    a["actions"] = std::move(actions);
    a["last_action"] = last.action;
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
  out.action = "digest";
  out.alias = "digest:" + channel + ":" + std::to_string(number);
  out.level = 0;
  out.why = "digest of " + std::to_string(items.size()) + " notification" +
            (items.size() == 1 ? "" : "s") + " about " + std::to_string(by_alert.size()) +
            " alert" + (by_alert.size() == 1 ? "" : "s") + " since " + format_timestamp(since);
  out.digest = digest.dump();
  return out;
}

}  // namespace tocsin::engine
