#include "delivery/format.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "core/duration.hpp"
#include "core/json.hpp"
#include "delivery/digest.hpp"
#include "delivery/redact.hpp"
#include "rules/lifecycle.hpp"

namespace tocsin::delivery {
namespace {

using rules::Channel;
using rules::EnvLookup;
using rules::NotifyAction;

using Result = Expected<HttpRequest, std::string>;

// Field limits of the receiving APIs (docs/formats.md §5). Counted in bytes, which
// never exceeds the characters the APIs count, so a cut text is always accepted.
constexpr std::size_t k_opsgenie_message_max = 130;
constexpr std::size_t k_opsgenie_description_max = 15000;
constexpr std::size_t k_opsgenie_tag_max = 50;
constexpr std::size_t k_pagerduty_summary_max = 1024;
constexpr std::size_t k_slack_header_max = 150;
constexpr std::size_t k_slack_section_max = 3000;
// Digests: alerts listed in a Slack message (more would bury the top of the list), the part
// of an alert's summary shown on its line, and the bytes of alert entries in PagerDuty's
// custom_details (the whole event must stay under 512 KB).
constexpr std::size_t k_slack_digest_alerts_max = 20;
constexpr std::size_t k_digest_title_max = 200;
constexpr std::size_t k_pagerduty_digest_alerts_bytes_max = 400000;

constexpr std::string_view k_ellipsis = "\xE2\x80\xA6";  // U+2026, 3 bytes
constexpr std::string_view k_source = "tocsin";  // OpsGenie's `source`, PagerDuty's fallback
constexpr std::string_view k_client = "Tocsin";  // PagerDuty's `client`, shown as the origin

std::optional<NotifyAction> parse_action(std::string_view s) {
  for (auto a : {NotifyAction::trigger, NotifyAction::resolve, NotifyAction::acknowledge,
                 NotifyAction::escalate, NotifyAction::reminder, NotifyAction::digest}) {
    if (rules::to_string(a) == s) return a;
  }
  return std::nullopt;
}

// Actions that open or re-announce (everything but the two that end a page).
bool announces(NotifyAction a) {
  return a != NotifyAction::acknowledge && a != NotifyAction::resolve;
}

// At most `max_bytes` bytes of `text`, ending with an ellipsis when cut. The cut never splits
// a UTF-8 sequence (a receiver would reject the whole request as invalid JSON or UTF-8).
std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes >= k_ellipsis.size() ? max_bytes - k_ellipsis.size() : 0;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  std::string out(text.substr(0, cut));
  out += k_ellipsis;
  return out;
}

// RFC 3986 path segment: everything but the unreserved characters is percent-encoded, so an
// alias holding '/', '?', '#', '%' or spaces stays one segment (docs/formats.md §5.1). A segment
// that is all dots is encoded too: "." and ".." would be removed as dot-segments on the way.
std::string percent_encode_segment(std::string_view s) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  const bool dots_only = s == "." || s == "..";
  std::string out;
  out.reserve(s.size() * 3);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '~' ||
                            (c == '.' && !dots_only);
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(k_hex[c >> 4]);
      out.push_back(k_hex[c & 0xF]);
    }
  }
  return out;
}

std::string to_hex(const unsigned char* bytes, std::size_t length) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (std::size_t i = 0; i < length; ++i) {
    out.push_back(k_hex[bytes[i] >> 4]);
    out.push_back(k_hex[bytes[i] & 0xF]);
  }
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
           &length) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed (OpenSSL HMAC)");
  }
  return to_hex(digest, length);
}

// Slack mrkdwn treats &, < and > as control characters (links, mentions); text from alerts
// must show as written and must not ping @channel.
std::string mrkdwn_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Escaped and cut to `max_bytes`, never inside an escape (a cut "&am" would show as text).
std::string mrkdwn_truncated(std::string_view escaped, std::size_t max_bytes) {
  std::string out = truncate_utf8(escaped, max_bytes);
  if (out.size() == escaped.size()) return out;
  const auto amp = out.rfind('&');
  if (amp != std::string::npos && out.find(';', amp) == std::string::npos) {
    out.erase(amp);
    out += k_ellipsis;
  }
  return out;
}

std::string priority_text(Priority p) {
  return "P" + std::to_string(std::clamp(p.level, 1, 5));
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

// How long the episode has been open at `now`, readably: seconds under an hour, minutes above.
std::optional<std::string> age_text(const Message& m, TimePoint now) {
  if (!m.episode_opened_at) return std::nullopt;
  auto age = std::max(Duration{0}, now - *m.episode_opened_at);
  if (age >= std::chrono::hours(1)) {
    age = std::chrono::floor<std::chrono::minutes>(age);
  } else {
    age = std::chrono::floor<std::chrono::seconds>(age);
  }
  return format_duration(age);
}

Json json_or_null(const std::optional<double>& v) {
  return v ? Json(*v) : Json(nullptr);
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

// "[critical] queue old — 2 notifications (…), noise 25, last escalate"
std::string digest_plain_line(const DigestAlert& a) {
  std::string out;
  if (!a.severity.empty()) out += "[" + a.severity + "] ";
  return out + digest_line_title(a) + digest_line_tail(a);
}

// The same line in mrkdwn, every part from the list escaped.
std::string digest_mrkdwn_line(const DigestAlert& a) {
  std::string out = "\xE2\x80\xA2 ";  // U+2022 bullet
  if (!a.severity.empty()) out += "*" + mrkdwn_escape(a.severity) + "* ";
  return out + mrkdwn_escape(digest_line_title(a)) + mrkdwn_escape(digest_line_tail(a));
}

// ---- OpsGenie Alert API v2 (also JSM Ops, through the base URL) -------------------------

Json opsgenie_details(const Message& m, NotifyAction a) {
  const auto& n = m.notification;
  Json details = Json::object();
  details["fingerprint"] = n.fingerprint;
  if (n.episode) details["episode"] = std::to_string(*n.episode);
  details["level"] = std::to_string(n.level);
  details["action"] = std::string(rules::to_string(a));
  if (!n.why.empty()) details["why"] = n.why;
  if (n.noise) details["noise"] = noise_text(*n.noise);
  if (auto link = alert_link(m)) details["tocsin_url"] = *link;
  // Labels under their own names, as OpsGenie users filter on them; one that collides with a
  // key above keeps its value under "label:<name>".
  for (const auto& [key, value] : m.alert.labels) {
    details[details.contains(key) ? "label:" + key : key] = value;
  }
  return details;
}

Json opsgenie_tags(const Message& m) {
  Json tags = Json::array({"tocsin"});
  auto add = [&](const std::string& tag) {
    tags.push_back(truncate_utf8(tag, k_opsgenie_tag_max));
  };
  if (has_alert(m)) add(std::string(to_string(m.alert.source)));
  add("severity:" + std::string(to_string(m.notification.severity)));
  if (!m.alert.account.empty()) add("account:" + m.alert.account);
  if (!m.alert.region.empty()) add("region:" + m.alert.region);
  return tags;
}

// One line per alert, as many as fit OpsGenie's description, then how many did not.
std::string opsgenie_digest_description(const Digest& d) {
  // Room kept for the closing "… and N more" line.
  const std::size_t room = k_opsgenie_description_max - 64;
  std::string out;
  std::size_t listed = 0;
  for (const auto& alert : d.alerts) {
    std::string line = digest_plain_line(alert);
    if (out.size() + 1 + line.size() > room) break;
    if (!out.empty()) out += "\n";
    out += line;
    ++listed;
  }
  if (listed < d.alerts.size())
    out += (out.empty() ? "" : "\n") + more_text(d.alerts.size() - listed);
  return truncate_utf8(out, k_opsgenie_description_max);
}

Json opsgenie_digest_details(const Message& m, const Digest& d) {
  const auto& n = m.notification;
  Json details = Json::object();
  details["action"] = std::string(rules::to_string(NotifyAction::digest));
  details["channel"] = n.channel;
  if (d.since) details["since"] = format_timestamp(*d.since);
  if (d.until) details["until"] = format_timestamp(*d.until);
  details["notifications"] = std::to_string(d.notifications);
  details["alerts"] = std::to_string(d.alerts.size());
  if (auto totals = action_breakdown(action_totals(d)); !totals.empty()) {
    details["actions"] = totals;
  }
  if (n.noise) details["noise"] = noise_text(*n.noise);
  if (!n.why.empty()) details["why"] = n.why;
  return details;
}

Result format_opsgenie(const Channel& c, const Message& m, NotifyAction a, const EnvLookup& env) {
  auto base = channel_url(c, env);
  if (!base) return unexpected(base.error());
  auto key = secret(c, c.api_key_env, "api_key_env", env);
  if (!key) return unexpected(key.error());

  const auto& n = m.notification;
  HttpRequest r;
  r.headers = {{"Authorization", "GenieKey " + *key}, {"Content-Type", "application/json"}};
  const std::string alerts = without_trailing_slash(*base) + "/v2/alerts";
  Json body;
  if (const auto digest = digest_of(m, a)) {
    r.url = alerts;
    body["message"] = truncate_utf8(digest_headline(*digest), k_opsgenie_message_max);
    if (!n.alias.empty()) body["alias"] = n.alias;
    body["description"] = opsgenie_digest_description(*digest);
    body["priority"] = priority_text(n.priority);
    body["tags"] = opsgenie_tags(m);
    body["tags"].push_back("digest");
    body["details"] = opsgenie_digest_details(m, *digest);
  } else if (announces(a)) {
    r.url = alerts;
    body["message"] = truncate_utf8(headline(m, a), k_opsgenie_message_max);
    if (!n.alias.empty()) body["alias"] = n.alias;
    if (auto text = body_text(m, a); !text.empty()) {
      body["description"] = truncate_utf8(text, k_opsgenie_description_max);
    }
    body["priority"] = priority_text(n.priority);
    body["tags"] = opsgenie_tags(m);
    body["details"] = opsgenie_details(m, a);
  } else {
    // Acknowledge and close address the alert by alias: without one they would hit nothing.
    if (n.alias.empty()) {
      return unexpected(where(c) + "notification " + std::to_string(n.id) + " has no alias to " +
                        std::string(rules::to_string(a)));
    }
    r.url = alerts + "/" + percent_encode_segment(n.alias) +
            (a == NotifyAction::acknowledge ? "/acknowledge" : "/close") + "?identifierType=alias";
  }
  body["source"] = k_source;
  body["user"] = k_opsgenie_user;
  if (!n.why.empty()) body["note"] = n.why;
  r.body = dump(body);
  return r;
}

// ---- PagerDuty Events API v2 ------------------------------------------------------------

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
  details["action"] = std::string(rules::to_string(a));
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
  details["action"] = std::string(rules::to_string(NotifyAction::digest));
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

Result format_pagerduty(const Channel& c, const Message& m, NotifyAction a, const EnvLookup& env) {
  auto url = channel_url(c, env);
  if (!url) return unexpected(url.error());
  auto routing_key = secret(c, c.routing_key_env, "routing_key_env", env);
  if (!routing_key) return unexpected(routing_key.error());

  const auto& n = m.notification;
  if (n.alias.empty() && !announces(a)) {
    return unexpected(where(c) + "notification " + std::to_string(n.id) + " has no alias to " +
                      std::string(rules::to_string(a)));
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

  HttpRequest r;
  r.url = std::move(*url);
  r.headers = {{"Content-Type", "application/json"}};
  r.body = dump(body);
  return r;
}

// ---- Slack incoming webhook -------------------------------------------------------------

// The first word people see, so an acknowledgement or a resolve cannot be mistaken for a page.
std::string_view slack_status(NotifyAction a) {
  switch (a) {
    case NotifyAction::trigger:
      return "FIRING";
    case NotifyAction::escalate:
      return "ESCALATED";
    case NotifyAction::reminder:
      return "REMINDER";
    case NotifyAction::acknowledge:
      return "ACKNOWLEDGED";
    case NotifyAction::resolve:
      return "RESOLVED";
    case NotifyAction::digest:
      return "DIGEST";
  }
  return "FIRING";
}

std::string_view slack_emoji(NotifyAction a, Severity s) {
  switch (a) {
    case NotifyAction::acknowledge:
      return ":eyes:";
    case NotifyAction::resolve:
      return ":white_check_mark:";
    case NotifyAction::reminder:
      return ":repeat:";
    case NotifyAction::digest:
      return ":newspaper:";
    case NotifyAction::trigger:
    case NotifyAction::escalate:
      break;
  }
  switch (s) {
    case Severity::critical:
    case Severity::high:
      return ":rotating_light:";
    case Severity::warning:
      return ":warning:";
    case Severity::info:
      return ":information_source:";
  }
  return ":warning:";
}

Json mrkdwn(std::string text) {
  return Json{{"type", "mrkdwn"}, {"text", std::move(text)}};
}

Json slack_field(std::string_view label, std::string_view escaped_value) {
  return mrkdwn("*" + std::string(label) + "*\n" + std::string(escaped_value));
}

// The headline, then one line per alert (at most k_slack_digest_alerts_max), in `text` for
// clients without blocks and as blocks: a header, the lines packed into sections within
// Slack's section limit, "… and N more", and the alias.
Json slack_digest_body(const Message& m, const Digest& d) {
  const std::string headline = digest_headline(d);
  const std::size_t listed = std::min(d.alerts.size(), k_slack_digest_alerts_max);
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < listed; ++i)
    lines.push_back(mrkdwn_truncated(digest_mrkdwn_line(d.alerts[i]), k_slack_section_max));
  const std::optional<std::string> more =
      listed < d.alerts.size() ? std::optional(more_text(d.alerts.size() - listed)) : std::nullopt;

  Json blocks = Json::array();
  blocks.push_back({{"type", "header"},
                    {"text",
                     {{"type", "plain_text"},
                      {"text", truncate_utf8(headline, k_slack_header_max)},
                      {"emoji", true}}}});
  std::string section;
  for (const auto& line : lines) {
    if (!section.empty() && section.size() + 1 + line.size() > k_slack_section_max) {
      blocks.push_back({{"type", "section"}, {"text", mrkdwn(std::move(section))}});
      section.clear();
    }
    if (!section.empty()) section += "\n";
    section += line;
  }
  if (!section.empty()) blocks.push_back({{"type", "section"}, {"text", mrkdwn(section)}});
  if (more) blocks.push_back({{"type", "context"}, {"elements", Json::array({mrkdwn(*more)})}});
  std::string context = "Tocsin";
  if (!m.notification.alias.empty())
    context += " | alias `" + mrkdwn_escape(m.notification.alias) + "`";
  blocks.push_back({{"type", "context"}, {"elements", Json::array({mrkdwn(context)})}});

  std::string text =
      std::string(slack_emoji(NotifyAction::digest, m.notification.severity)) + " " + headline;
  for (const auto& line : lines)
    text += "\n" + line;
  if (more) text += "\n" + *more;

  Json body;
  body["text"] = std::move(text);
  body["blocks"] = std::move(blocks);
  return body;
}

Result format_slack(const Channel& c, const Message& m, NotifyAction a, TimePoint now,
                    const EnvLookup& env) {
  auto url = channel_url(c, env);
  if (!url) return unexpected(url.error());
  if (const auto digest = digest_of(m, a)) {
    HttpRequest r;
    r.url = std::move(*url);
    r.headers = {{"Content-Type", "application/json"}};
    r.body = dump(slack_digest_body(m, *digest));
    return r;
  }

  const auto& n = m.notification;
  const std::string status(slack_status(a));
  const std::string severity(to_string(n.severity));
  const std::string priority = priority_text(n.priority);

  Json blocks = Json::array();
  blocks.push_back({{"type", "header"},
                    {"text",
                     {{"type", "plain_text"},
                      {"text", truncate_utf8(status + ": " + subject(m, a), k_slack_header_max)},
                      {"emoji", true}}}});

  std::string section = mrkdwn_escape(body_text(m, a));
  if (a != NotifyAction::digest && !n.why.empty()) {
    if (!section.empty()) section += "\n";
    section += "*Why:* " + mrkdwn_escape(n.why);
  }
  if (!section.empty()) {
    blocks.push_back(
        {{"type", "section"}, {"text", mrkdwn(mrkdwn_truncated(section, k_slack_section_max))}});
  }

  Json fields = Json::array();
  fields.push_back(slack_field("Severity", severity));
  fields.push_back(slack_field("Priority", priority));
  if (n.episode) fields.push_back(slack_field("Episode", std::to_string(*n.episode)));
  fields.push_back(slack_field("Level", std::to_string(n.level)));
  if (auto age = age_text(m, now)) fields.push_back(slack_field("Age", *age));
  if (n.noise) fields.push_back(slack_field("Noise", noise_text(*n.noise)));
  if (!m.alert.account.empty())
    fields.push_back(slack_field("Account", mrkdwn_escape(m.alert.account)));
  if (!m.alert.region.empty())
    fields.push_back(slack_field("Region", mrkdwn_escape(m.alert.region)));
  blocks.push_back({{"type", "section"}, {"fields", std::move(fields)}});

  std::string context = "Tocsin";
  if (!n.alias.empty()) context += " | alias `" + mrkdwn_escape(n.alias) + "`";
  if (auto link = alert_link(m)) {
    context += " | <" + mrkdwn_escape(*link) + "|alert " + std::to_string(*alert_id(m)) + ">";
  }
  blocks.push_back({{"type", "context"}, {"elements", Json::array({mrkdwn(context)})}});

  Json body;
  // The notification text (phone banners, clients without blocks) says it all on one line.
  body["text"] = std::string(slack_emoji(a, n.severity)) + " " + status + ": " +
                 mrkdwn_escape(headline(m, a)) + " (" + severity + ", " + priority + ")";
  body["blocks"] = std::move(blocks);

  HttpRequest r;
  r.url = std::move(*url);
  r.headers = {{"Content-Type", "application/json"}};
  r.body = dump(body);
  return r;
}

// ---- generic webhook --------------------------------------------------------------------

Json webhook_body(const Message& m, NotifyAction a) {
  const auto& n = m.notification;
  const auto& alert = m.alert;
  const auto id = alert_id(m);
  const auto link = alert_link(m);
  return Json{
      {"schema", "tocsin.notification/v1"},
      {"id", n.id},
      {"action", rules::to_string(a)},
      {"channel", n.channel},
      {"alias", n.alias},
      {"fingerprint", n.fingerprint},
      {"episode", n.episode ? Json(*n.episode) : Json(nullptr)},
      {"level", n.level},
      {"severity", to_string(n.severity)},
      {"priority", priority_text(n.priority)},
      {"noise", json_or_null(n.noise)},
      {"why", n.why},
      {"at", format_timestamp(n.created_at)},
      {"alert",
       {{"id", id ? Json(*id) : Json(nullptr)},
        {"source", has_alert(m) ? Json(to_string(alert.source)) : Json(nullptr)},
        {"name", alert.name},
        {"account", alert.account},
        {"region", alert.region},
        {"metric", alert.metric},
        {"namespace", alert.namespace_},
        {"labels", labels_json(alert.labels)},
        {"summary", alert.summary},
        {"description", alert.description},
        {"url", link ? Json(*link) : Json(nullptr)}}},
  };
}

Result format_webhook(const Channel& c, const Message& m, NotifyAction a, TimePoint now,
                      const EnvLookup& env) {
  auto url = channel_url(c, env);
  if (!url) return unexpected(url.error());
  // Signing configured but the secret missing: fail rather than send unsigned, which the
  // receiver would (rightly) refuse or, worse, accept.
  std::optional<std::string> signing_key;
  if (c.secret_env) {
    auto key = from_env(c, *c.secret_env, env);
    if (!key) return unexpected(key.error());
    signing_key = std::move(*key);
  }

  Json body = webhook_body(m, a);
  if (a == NotifyAction::digest) {
    const auto digest = digest_of(m, a);
    body["digest"] = digest ? digest->json : Json(nullptr);
  }

  HttpRequest r;
  r.url = std::move(*url);
  r.body = dump(body);
  r.headers = {{"Content-Type", "application/json"},
               {"X-Tocsin-Event-Id", std::to_string(m.notification.id)}};
  if (signing_key) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
    const std::string timestamp = std::to_string(seconds);
    r.headers.emplace_back("X-Tocsin-Timestamp", timestamp);
    r.headers.emplace_back("X-Tocsin-Signature",
                           "sha256=" + hmac_sha256_hex(*signing_key, timestamp + "." + r.body));
  }
  return r;
}

}  // namespace

Result format_request(const Channel& channel, const Message& m, const EnvLookup& env,
                      TimePoint now) {
  const auto action = parse_action(m.notification.action);
  if (!action) {
    return unexpected(where(channel) + "unknown action \"" + m.notification.action + "\"");
  }
  Result r = unexpected(where(channel) + "unknown channel type");
  switch (channel.type) {
    case rules::ChannelType::opsgenie:
      r = format_opsgenie(channel, m, *action, env);
      break;
    case rules::ChannelType::pagerduty:
      r = format_pagerduty(channel, m, *action, env);
      break;
    case rules::ChannelType::slack:
      r = format_slack(channel, m, *action, now, env);
      break;
    case rules::ChannelType::webhook:
      r = format_webhook(channel, m, *action, now, env);
      break;
  }
  if (r) {
    // The same URLs secret_values treats as secrets as a whole.
    const bool from_env = !channel.url || channel.url->empty();
    r->shown_url = shown_url(r->url, from_env || channel.type == rules::ChannelType::slack);
  }
  return r;
}

}  // namespace tocsin::delivery
