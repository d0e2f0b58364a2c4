// The parts every channel formatter shares (declared in delivery/channels/channel.hpp): what
// every channel says the same way, the channel's configuration read from the environment, and
// the digest lines.
#include "delivery/channels/channel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace tocsin::delivery::channels {
namespace {

// The part of an alert's summary shown on its line of a digest.
constexpr std::size_t k_digest_title_max = 200;

}  // namespace

// Actions that open or re-announce (everything but the two that end a page).
bool announces(NotifyAction a) {
  return a != NotifyAction::acknowledge && a != NotifyAction::resolve;
}

std::string priority_text(Priority p) {
  return priority_name(Priority{std::clamp(p.level, 1, 5)});
}

// A score as people read it: one decimal at most ("72.5", "40").
std::string noise_text(double score) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", std::round(score * 10) / 10);
  std::string out(buffer);
  if (out.size() > 2 && out.compare(out.size() - 2, 2, ".0") == 0) out.resize(out.size() - 2);
  return out;
}

// ---- configuration ----------------------------------------------------------------------

std::string where(const Channel& c) {
  return "channel \"" + c.name + "\": ";
}

// The value of a variable the channel needs. Unset and empty alike are errors, with the
// variable's name and never its value.
Expected<std::string, std::string> from_env(const Channel& c, const std::string& variable,
                                            const EnvLookup& env) {
  auto value = env(variable);
  if (!value) return unexpected(where(c) + "environment variable " + variable + " is not set");
  if (value->empty())
    return unexpected(where(c) + "environment variable " + variable + " is empty");
  return std::move(*value);
}

Expected<std::string, std::string> channel_url(const Channel& c, const EnvLookup& env) {
  if (c.url && !c.url->empty()) return *c.url;
  if (c.url_env) return from_env(c, *c.url_env, env);
  return unexpected(where(c) + "no \"url\" or \"url_env\" configured");
}

Expected<std::string, std::string> secret(const Channel& c, const std::optional<std::string>& key,
                                          std::string_view setting, const EnvLookup& env) {
  if (!key) return unexpected(where(c) + "no \"" + std::string(setting) + "\" configured");
  return from_env(c, *key, env);
}

std::string without_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  return url;
}

// ---- what every channel says ------------------------------------------------------------

bool has_alert(const Message& m) {
  return m.alert.id != 0 || !m.alert.fingerprint.empty();
}

std::optional<std::int64_t> alert_id(const Message& m) {
  if (m.notification.alert_id) return m.notification.alert_id;
  if (m.alert.id != 0) return m.alert.id;
  return std::nullopt;
}

// The alert's page in Tocsin's API, when Tocsin knows its own address.
std::optional<std::string> alert_link(const Message& m) {
  const auto id = alert_id(m);
  if (m.public_url.empty() || !id) return std::nullopt;
  return without_trailing_slash(m.public_url) + "/api/v1/alerts/" + std::to_string(*id);
}

// What the page is about, in a few words: the alert's name, else its fingerprint.
std::string subject(const Message& m, NotifyAction a) {
  if (!m.alert.name.empty()) return m.alert.name;
  const auto& fingerprint =
      m.alert.fingerprint.empty() ? m.notification.fingerprint : m.alert.fingerprint;
  if (!fingerprint.empty()) return fingerprint;
  if (a == NotifyAction::digest) return "Tocsin digest for " + m.notification.channel;
  return "Tocsin notification " + std::to_string(m.notification.id);
}

// One line: "name: summary" (the summary alone says little without the name).
std::string headline(const Message& m, NotifyAction a) {
  std::string out = subject(m, a);
  if (!m.alert.summary.empty() && m.alert.summary != out) out += ": " + m.alert.summary;
  return out;
}

// The longer text. A digest's content is its `why` (the digest is written by the worker).
std::string body_text(const Message& m, NotifyAction a) {
  if (a == NotifyAction::digest) return m.notification.why;
  const auto& summary = m.alert.summary;
  const auto& description = m.alert.description;
  if (description.empty() || description == summary) return summary;
  if (summary.empty()) return description;
  return summary + "\n\n" + description;
}

Json labels_json(const std::map<std::string, std::string>& labels) {
  Json out = Json::object();
  for (const auto& [key, value] : labels)
    out[key] = value;
  return out;
}

// Invalid UTF-8 (which storage should never hold) is replaced rather than thrown on: a
// notification must go out even when one field is odd.
std::string dump(const Json& body) {
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

HttpRequest json_post(std::string url, const Json& body) {
  HttpRequest r;
  r.url = std::move(url);
  r.headers = {{"Content-Type", "application/json"}};
  r.body = dump(body);
  return r;
}

// ---- digests ----------------------------------------------------------------------------
// A digest row lists its alerts (delivery/digest.hpp); each channel shows the list in its own
// way. A row whose list cannot be read is formatted from its `why`, like any other row.

std::optional<Digest> digest_of(const Message& m, NotifyAction a) {
  if (a != NotifyAction::digest) return std::nullopt;
  return read_digest(m.notification.digest);
}

std::string more_text(std::size_t not_listed) {
  return std::string(k_ellipsis) + " and " + std::to_string(not_listed) + " more";
}

// What an alert's line says after its severity and title, in plain text:
// " — 2 notifications (1 trigger, 1 escalate), noise 25, last escalate".
std::string digest_line_tail(const DigestAlert& a) {
  std::string out = " \xE2\x80\x94 " + std::to_string(a.notifications) + " notification" +
                    (a.notifications == 1 ? "" : "s");
  if (auto breakdown = action_breakdown(a.actions); !breakdown.empty())
    out += " (" + breakdown + ")";
  if (a.noise) out += ", noise " + noise_text(*a.noise);
  if (!a.last_action.empty()) out += ", last " + a.last_action;
  return out;
}

// A summary can be a paragraph; one line of a list shows its start.
std::string digest_line_title(const DigestAlert& a) {
  return truncate_utf8(digest_alert_title(a), k_digest_title_max);
}

}  // namespace tocsin::delivery::channels
