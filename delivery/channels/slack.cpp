// Slack incoming webhook: docs/formats.md §5.2 and §11.2.
#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/duration.hpp"
#include "delivery/channels/channel.hpp"

namespace tocsin::delivery::channels {
namespace {

// Block Kit limits (docs/formats.md §5), counted in bytes, which never exceeds the characters
// Slack counts, so a cut text is always accepted; and the alerts listed in a digest (more
// would bury the top of the list).
constexpr std::size_t k_slack_header_max = 150;
constexpr std::size_t k_slack_section_max = 3000;
constexpr std::size_t k_slack_digest_alerts_max = 20;

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

// The same line in mrkdwn, every part from the list escaped.
std::string digest_mrkdwn_line(const DigestAlert& a) {
  std::string out = "\xE2\x80\xA2 ";  // U+2022 bullet
  if (!a.severity.empty()) out += "*" + mrkdwn_escape(a.severity) + "* ";
  return out + mrkdwn_escape(digest_line_title(a)) + mrkdwn_escape(digest_line_tail(a));
}

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

}  // namespace

Result format_slack(const Channel& c, const Message& m, NotifyAction a, TimePoint now,
                    const EnvLookup& env) {
  auto url = channel_url(c, env);
  if (!url) return unexpected(url.error());
  if (const auto digest = digest_of(m, a)) {
    return json_post(std::move(*url), slack_digest_body(m, *digest));
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

  return json_post(std::move(*url), body);
}

}  // namespace tocsin::delivery::channels
