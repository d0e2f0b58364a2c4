// OpsGenie Alert API v2 (also JSM Ops, through the base URL): docs/formats.md §5.1 and §11.2.
#include <string>
#include <string_view>

#include "delivery/channels/channel.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::delivery::channels {
namespace {

// Field limits of the Alert API (docs/formats.md §5). Counted in bytes, which never exceeds
// the characters the API counts, so a cut text is always accepted.
constexpr std::size_t k_opsgenie_message_max = 130;
constexpr std::size_t k_opsgenie_description_max = 15000;
constexpr std::size_t k_opsgenie_tag_max = 50;

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

// "[critical] queue old — 2 notifications (…), noise 25, last escalate"
std::string digest_plain_line(const DigestAlert& a) {
  std::string out;
  if (!a.severity.empty()) out += "[" + a.severity + "] ";
  return out + digest_line_title(a) + digest_line_tail(a);
}

Json opsgenie_details(const Message& m, NotifyAction a) {
  const auto& n = m.notification;
  Json details = Json::object();
  details["fingerprint"] = n.fingerprint;
  if (n.episode) details["episode"] = std::to_string(*n.episode);
  details["level"] = std::to_string(n.level);
  details["action"] = std::string(storage::to_text(a));
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
  details["action"] = std::string(storage::to_text(NotifyAction::digest));
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

}  // namespace

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
                        std::string(storage::to_text(a)));
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

}  // namespace tocsin::delivery::channels
