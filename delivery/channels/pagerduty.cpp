// PagerDuty Events API v2: docs/formats.md §5.3 and §11.2.
#include <string>
#include <string_view>
#include <utility>

#include "delivery/channels/channel.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::delivery::channels {
namespace {

// The summary's limit (docs/formats.md §5), counted in bytes, which never exceeds the
// characters PagerDuty counts; and the bytes of alert entries in a digest's custom_details
// (the whole event must stay under 512 KB).
constexpr std::size_t k_pagerduty_summary_max = 1024;
constexpr std::size_t k_pagerduty_digest_alerts_bytes_max = 400000;

constexpr std::string_view k_client = "Tocsin";  // PagerDuty's `client`, shown as the origin

std::string_view pagerduty_severity(Severity s) {
  switch (s) {
    case Severity::critical:
      return "critical";
    case Severity::high:
      return "error";
    case Severity::warning:
      return "warning";
    case Severity::info:
      return "info";
  }
  return "warning";
}

// PagerDuty's `source` is where the problem is: the monitoring source, narrowed by the
// account and region when the alert has them (`cloudwatch:123456789012:us-east-1`).
std::string pagerduty_source(const Message& m) {
  if (!has_alert(m)) return std::string(k_source);
  std::string out(to_string(m.alert.source));
  if (!m.alert.account.empty()) out += ":" + m.alert.account;
  if (!m.alert.region.empty()) out += ":" + m.alert.region;
  return out;
}

Json pagerduty_details(const Message& m, NotifyAction a) {
  const auto& n = m.notification;
  const auto& alert = m.alert;
  Json details = Json::object();
  details["fingerprint"] = n.fingerprint;
  if (n.episode) details["episode"] = *n.episode;
  details["level"] = n.level;
  details["action"] = std::string(storage::to_text(a));
  details["priority"] = priority_text(n.priority);
  if (!n.why.empty()) details["why"] = n.why;
  if (n.noise) details["noise"] = *n.noise;
  for (const auto& [key, value] : {std::pair{"name", &alert.name},
                                   {"account", &alert.account},
                                   {"region", &alert.region},
                                   {"metric", &alert.metric},
                                   {"namespace", &alert.namespace_}}) {
    if (!value->empty()) details[key] = *value;
  }
  if (auto text = body_text(m, a); !text.empty()) details["description"] = text;
  if (!alert.labels.empty()) details["labels"] = labels_json(alert.labels);
  if (auto link = alert_link(m)) details["tocsin_url"] = *link;
  return details;
}

// The listed alerts as stored, as many as keep the event well under PagerDuty's 512 KB.
Json pagerduty_digest_details(const Message& m, const Digest& d) {
  const auto& n = m.notification;
  Json details = Json::object();
  details["action"] = std::string(storage::to_text(NotifyAction::digest));
  details["channel"] = n.channel;
  details["priority"] = priority_text(n.priority);
  if (!n.why.empty()) details["why"] = n.why;
  if (n.noise) details["noise"] = *n.noise;
  if (d.since) details["since"] = format_timestamp(*d.since);
  if (d.until) details["until"] = format_timestamp(*d.until);
  details["notifications"] = d.notifications;
  Json alerts = Json::array();
  std::size_t bytes = 0;
  for (const auto& alert : d.alerts) {
    bytes += dump(alert.json).size();
    if (bytes > k_pagerduty_digest_alerts_bytes_max) break;
    alerts.push_back(alert.json);
  }
  if (alerts.size() < d.alerts.size())
    details["alerts_not_listed"] = d.alerts.size() - alerts.size();
  details["alerts"] = std::move(alerts);
  return details;
}

}  // namespace

Result format_pagerduty(const Channel& c, const Message& m, NotifyAction a, const EnvLookup& env) {
  auto url = channel_url(c, env);
  if (!url) return unexpected(url.error());
  auto routing_key = secret(c, c.routing_key_env, "routing_key_env", env);
  if (!routing_key) return unexpected(routing_key.error());

  const auto& n = m.notification;
  if (n.alias.empty() && !announces(a)) {
    return unexpected(where(c) + "notification " + std::to_string(n.id) + " has no alias to " +
                      std::string(storage::to_text(a)));
  }
  Json body;
  body["routing_key"] = *routing_key;
  body["event_action"] = a == NotifyAction::acknowledge ? "acknowledge"
                         : a == NotifyAction::resolve   ? "resolve"
                                                        : "trigger";
  if (!n.alias.empty()) body["dedup_key"] = n.alias;
  if (announces(a)) {
    const auto digest = digest_of(m, a);
    Json payload;
    payload["summary"] =
        truncate_utf8(digest ? digest_headline(*digest) : headline(m, a), k_pagerduty_summary_max);
    payload["source"] = pagerduty_source(m);
    payload["severity"] = pagerduty_severity(n.severity);
    payload["timestamp"] = format_timestamp(n.created_at);
    if (!m.alert.namespace_.empty()) payload["group"] = m.alert.namespace_;
    if (!m.alert.metric.empty()) payload["class"] = m.alert.metric;
    payload["custom_details"] =
        digest ? pagerduty_digest_details(m, *digest) : pagerduty_details(m, a);
    body["payload"] = std::move(payload);
    body["client"] = k_client;
    if (auto link = alert_link(m)) body["client_url"] = *link;
  }

  return json_post(std::move(*url), body);
}

}  // namespace tocsin::delivery::channels
