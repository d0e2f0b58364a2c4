#include <algorithm>
#include <sstream>

#include "cli/api_client.hpp"
#include "cli/client.hpp"
#include "cli/report.hpp"
#include "core/text.hpp"

namespace tocsin::cli {

namespace {

// A string field, or `fallback` when missing, null or not a string.
std::string str(const Json& j, const char* key, const std::string& fallback = "-") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    return s.empty() ? fallback : shown(s);
  }
  return shown(it->dump());
}

// Time since an RFC 3339 field ("3m12s" as format_age writes it), or "-".
std::string age_since(const Json& j, const char* key, TimePoint now) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "-";
  auto t = parse_timestamp(j[key].get<std::string>());
  return t ? format_age(now - *t) : "-";
}

// "in 19m", "2m ago".
std::string relative(const Json& j, const char* key, TimePoint now) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "-";
  auto t = parse_timestamp(j[key].get<std::string>());
  if (!t) return "-";
  return *t >= now ? "in " + format_age(*t - now) : format_age(now - *t) + " ago";
}

// Columns left-aligned, two spaces apart; the column `flexible` is cut (with "…") so a line
// fits k_client_width, the others keep their width.
class TextTable {
 public:
  TextTable(std::vector<std::string> headers, std::size_t flexible)
      : m_headers(std::move(headers)), m_flexible(flexible) {}

  void row(std::vector<std::string> cells) { m_rows.push_back(std::move(cells)); }
  bool empty() const { return m_rows.empty(); }

  void render(std::ostream& out) const {
    std::vector<std::size_t> width(m_headers.size());
    auto measure = [&](const std::vector<std::string>& cells) {
      for (std::size_t i = 0; i < cells.size() && i < width.size(); ++i)
        width[i] = std::max(width[i], utf8_length(cells[i]));
    };
    measure(m_headers);
    for (const auto& r : m_rows)
      measure(r);
    std::size_t fixed = 2 * (width.size() - 1);
    for (std::size_t i = 0; i < width.size(); ++i) {
      if (i != m_flexible) fixed += width[i];
    }
    const std::size_t room = fixed < k_client_width ? k_client_width - fixed : 8;
    width[m_flexible] = std::max<std::size_t>(std::min(width[m_flexible], room), 4);
    auto line = [&](const std::vector<std::string>& cells) {
      std::string text;
      for (std::size_t i = 0; i < cells.size() && i < width.size(); ++i) {
        std::string cell = cells[i];
        if (utf8_length(cell) > width[i]) cell = cut(cell, width[i]);
        text += cell;
        if (i + 1 < cells.size()) text += std::string(width[i] - utf8_length(cell) + 2, ' ');
      }
      out << text << '\n';
    };
    line(m_headers);
    for (const auto& r : m_rows)
      line(r);
  }

 private:
  // The first `columns - 1` code points and "…".
  static std::string cut(const std::string& cell, std::size_t columns) {
    std::string out;
    std::size_t n = 0;
    for (std::size_t i = 0; i < cell.size(); ++i) {
      const auto c = static_cast<unsigned char>(cell[i]);
      if ((c & 0xC0) != 0x80) {
        if (n + 1 == columns) break;
        ++n;
      }
      out += cell[i];
    }
    return out + "\u2026";
  }

  std::vector<std::string> m_headers;
  std::size_t m_flexible;
  std::vector<std::vector<std::string>> m_rows;
};

// A list of names ("page, cto"), or "-".
std::string names(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "-";
  const Json& list = j[key];
  if (!list.is_array()) return str(j, key);
  std::vector<std::string> out;
  for (const auto& n : list)
    out.push_back(n.is_string() ? shown(n.get<std::string>()) : shown(n.dump()));
  return out.empty() ? "-" : join(out, ", ");
}

std::string number(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "-";
  return j[key].dump();
}

// Its name, or its fingerprint when it has none.
std::string alert_name(const Json& a) {
  const std::string name = str(a, "name", "");
  return name.empty() ? str(a, "fingerprint") : name;
}

}  // namespace

std::string action_view(const Json& answer, const std::string& done, const std::string& by) {
  return "alert " + number(answer, "alert_id") + " (" + str(answer, "fingerprint") + ") episode " +
         number(answer, "episode") + ": " + done + " by " + shown(by) + "; now " +
         str(answer, "status") + "\n";
}

std::string alerts_view(const Json& page, TimePoint now) {
  std::ostringstream out;
  const Json& alerts = page.value("alerts", Json::array());
  if (alerts.empty()) {
    out << "no alerts match\n";
    return out.str();
  }
  TextTable t({"ID", "STATUS", "SEVERITY", "LVL", "NAME", "AGE", "ACK BY"}, 4);
  for (const auto& a : alerts) {
    const Json& e = a.contains("episode") ? a["episode"] : Json();
    t.row({number(a, "alert_id"), str(a, "status"), str(a, "severity"), number(e, "level"),
           alert_name(a), age_since(e, "opened_at", now), str(e, "acknowledged_by")});
  }
  t.render(out);
  // A count the page gives, or 0 when it has none or another type (value() would throw).
  auto count = [&page](const char* key) -> std::int64_t {
    auto it = page.find(key);
    return it != page.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  const std::int64_t offset = count("offset");
  out << "alerts " << offset + 1 << "-" << offset + static_cast<std::int64_t>(alerts.size())
      << " of " << count("total");
  if (page.contains("next_offset") && page["next_offset"].is_number())
    out << "; next page: --offset " << page["next_offset"].dump();
  out << '\n';
  return out.str();
}

std::string alert_view(const Json& a, const Json& events, const Json& notifications,
                       TimePoint now) {
  std::ostringstream out;
  out << "alert " << number(a, "alert_id") << "  " << str(a, "fingerprint") << '\n';
  out << "  name " << alert_name(a) << ", source " << str(a, "source") << ", rule "
      << str(a, "rule") << '\n';
  if (const std::string summary = str(a, "summary", ""); !summary.empty())
    out << "  summary: " << summary << '\n';
  const Json& e = a.contains("episode") ? a["episode"] : Json();
  if (e.is_object()) {
    out << "  now: " << str(a, "status") << ", " << str(e, "severity") << ", level "
        << number(e, "level") << " of escalation " << names(e, "escalation") << ", episode "
        << number(e, "number") << " (" << str(e, "alias") << "), opened "
        << age_since(e, "opened_at", now) << " ago";
    if (e.contains("acknowledged_by") && e["acknowledged_by"].is_string())
      out << ", acknowledged by " << str(e, "acknowledged_by") << " "
          << relative(e, "acknowledged_at", now);
    out << '\n';
    if (e.contains("demoted_to") && e["demoted_to"].is_string())
      out << "  demoted to " << str(e, "demoted_to") << '\n';
    if (e.contains("held_until") && e["held_until"].is_string())
      out << "  held until " << str(e, "held_until") << '\n';
  } else {
    out << "  no episode\n";
  }
  if (a.contains("noise") && a["noise"].is_object())
    out << "  noise score " << number(a["noise"], "score") << '\n';

  out << "\nEPISODES\n";
  TextTable episodes({"#", "STATUS", "SEVERITY", "OPENED", "CLOSED", "EVENTS", "LVL", "ACK BY"}, 7);
  for (const auto& ep : a.value("episodes", Json::array())) {
    episodes.row({number(ep, "number"), str(ep, "status"), str(ep, "severity"),
                  str(ep, "opened_at"), str(ep, "closed_at"), number(ep, "event_count"),
                  number(ep, "level"), str(ep, "acknowledged_by")});
  }
  episodes.render(out);

  out << "\nPENDING (what the clock does next)\n";
  TextTable timers({"KIND", "EPISODE", "STEP", "DUE", "WHEN"}, 0);
  for (const auto& t : a.value("timers", Json::array()))
    timers.row({str(t, "kind"), number(t, "episode"), number(t, "step"), str(t, "due_at"),
                relative(t, "due_at", now)});
  if (timers.empty()) {
    out << "  nothing pending\n";
  } else {
    timers.render(out);
  }

  const Json& silences = a.value("silences", Json::array());
  if (!silences.empty()) {
    out << "\nSILENCES COVERING IT\n";
    for (const auto& s : silences)
      out << "  " << silence_line(s) << '\n';
  }

  out << "\nTIMELINE (oldest first)\n";
  TextTable timeline({"AT", "EP", "TYPE", "OUTCOME", "REASON"}, 4);
  const Json& list = events.value("events", Json::array());
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    const Json& d = *it;
    timeline.row(
        {str(d, "at"), number(d, "episode"), str(d, "type"), str(d, "outcome"), str(d, "reason")});
  }
  if (timeline.empty()) {
    out << "  no decisions\n";
  } else {
    timeline.render(out);
  }
  if (events.contains("next_before") && events["next_before"].is_number())
    out << "  (older decisions not shown: GET /api/v1/alerts/" << number(a, "alert_id")
        << "/events?before=" << events["next_before"].dump() << ")\n";

  out << "\nNOTIFICATIONS (newest first)\n";
  const Json& sent = notifications.value("notifications", Json::array());
  if (sent.empty()) {
    out << "  none\n";
  } else {
    out << notifications_view(notifications, now);
  }
  return out.str();
}

std::string notifications_view(const Json& page, TimePoint now) {
  std::ostringstream out;
  const Json& list = page.value("notifications", Json::array());
  if (list.empty()) {
    out << "no notifications match\n";
    return out.str();
  }
  TextTable t({"ID", "ALERT", "CHANNEL", "ACTION", "LVL", "STATUS", "TRIES", "AGE", "LAST ERROR"},
              8);
  for (const auto& n : list) {
    std::string error = str(n, "last_error");
    if (n.contains("last_status") && n["last_status"].is_number())
      error = "HTTP " + n["last_status"].dump() + (error == "-" ? "" : ": " + error);
    t.row({number(n, "id"), number(n, "alert_id"), str(n, "channel"), str(n, "action"),
           number(n, "level"), str(n, "status"), number(n, "attempts"),
           age_since(n, "created_at", now), error});
  }
  t.render(out);
  if (page.contains("next_before") && page["next_before"].is_number())
    out << "next page: --before " << page["next_before"].dump() << '\n';
  return out.str();
}

std::string silences_view(const Json& list, TimePoint now) {
  std::ostringstream out;
  const Json& silences = list.value("silences", Json::array());
  if (silences.empty()) {
    out << "no silences match\n";
    return out.str();
  }
  TextTable t({"ID", "STATUS", "BY", "ENDS", "WITHHELD", "MATCHERS", "COMMENT"}, 6);
  for (const auto& s : silences) {
    const bool pending = str(s, "status") == "pending";
    const std::string ends = str(s, "status") == "expired" ? str(s, "expired_at", str(s, "ends_at"))
                                                           : relative(s, "ends_at", now);
    t.row({number(s, "id"),
           pending ? "pending (" + relative(s, "starts_at", now) + ")" : str(s, "status"),
           str(s, "by"), ends, number(s, "withheld"),
           s.contains("matchers") ? shown(s["matchers"].dump()) : "-", str(s, "comment")});
  }
  t.render(out);
  return out.str();
}

std::string silence_line(const Json& s) {
  std::string line = "silence " + number(s, "id") + " " + str(s, "status") + " from " +
                     str(s, "starts_at") + " until " + str(s, "ends_at") + " by " + str(s, "by") +
                     ": " + (s.contains("matchers") ? shown(s["matchers"].dump()) : "-");
  if (s.contains("comment")) line += " (" + str(s, "comment") + ")";
  if (s.contains("expired_by") && s["expired_by"].is_string())
    line += "; expired by " + str(s, "expired_by") + " at " + str(s, "expired_at");
  return line;
}

std::string subscriptions_view(const Json& list, TimePoint now) {
  std::ostringstream out;
  const Json& subscriptions = list.value("subscriptions", Json::array());
  if (subscriptions.empty()) {
    out << "no SNS subscription confirmations received\n";
    return out.str();
  }
  TextTable t({"ID", "STATUS", "KIND", "TOPIC", "RECEIVED", "BY", "DETAIL"}, 6);
  for (const auto& s : subscriptions) {
    const std::string by = str(s, "confirmed_by", str(s, "rejected_by"));
    t.row({number(s, "id"), str(s, "status"), str(s, "kind"), str(s, "topic_arn"),
           relative(s, "received_at", now), by, str(s, "detail")});
  }
  t.render(out);
  return out.str();
}

std::string subscription_line(const Json& s) {
  std::string line =
      "subscription " + number(s, "id") + " to " + str(s, "topic_arn") + ": " + str(s, "status");
  if (s.contains("confirmed_by") && s["confirmed_by"].is_string())
    line += " by " + str(s, "confirmed_by") + " at " + str(s, "confirmed_at");
  if (s.contains("rejected_by") && s["rejected_by"].is_string())
    line += " by " + str(s, "rejected_by") + " at " + str(s, "rejected_at");
  if (s.contains("subscription_arn") && s["subscription_arn"].is_string())
    line += " (" + str(s, "subscription_arn") + ")";
  return line;
}

Expected<Json, std::string> silence_matchers(const SilenceMatchers& m) {
  Json matchers = Json::object();
  auto split =
      [](const std::string& flag,
         const std::string& pair) -> Expected<std::pair<std::string, std::string>, std::string> {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return unexpected(flag + " takes KEY=VALUE, got \"" + shown(pair) + "\"");
    }
    return std::make_pair(pair.substr(0, eq), pair.substr(eq + 1));
  };
  for (const auto& pair : m.match) {
    auto kv = split("--match", pair);
    if (!kv) return unexpected(kv.error());
    if (matchers.contains(kv->first))
      return unexpected("--match " + shown(kv->first) + " is given twice");
    matchers[kv->first] = kv->second;
  }
  Json labels = Json::object();
  for (const auto& pair : m.labels) {
    auto kv = split("--label", pair);
    if (!kv) return unexpected(kv.error());
    if (labels.contains(kv->first))
      return unexpected("--label " + shown(kv->first) + " is given twice");
    labels[kv->first] = kv->second;
  }
  if (!labels.empty()) matchers["labels"] = std::move(labels);
  if (!m.fingerprint.empty()) {
    if (matchers.contains("fingerprint"))
      return unexpected("the fingerprint is given twice (--fingerprint and --match)");
    matchers["fingerprint"] = m.fingerprint;
  }
  if (matchers.empty())
    return unexpected("a silence needs at least one --match, --label or --fingerprint");
  return matchers;
}

}  // namespace tocsin::cli
