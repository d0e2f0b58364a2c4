#include "rules/mapped_loader.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace tocsin::rules {

namespace {

using namespace checked_yaml;

constexpr std::string_view k_mapped_keys[] = {"token_env",   "allow_unauthenticated",
                                              "events",      "identity",
                                              "name",        "status",
                                              "severity",    "summary",
                                              "timestamp",   "labels",
                                              "annotations", "delivery_id"};
constexpr std::string_view k_status_keys[] = {"path", "firing", "resolved", "ignore"};
constexpr std::string_view k_severity_keys[] = {"path", "map", "default"};
constexpr std::string_view k_timestamp_keys[] = {"path", "format"};

constexpr std::pair<std::string_view, mapping::TimeFormat> k_time_formats[] = {
    {"rfc3339", mapping::TimeFormat::rfc3339},
    {"epoch_seconds", mapping::TimeFormat::epoch_seconds},
    {"epoch_millis", mapping::TimeFormat::epoch_millis}};

// A hook's name is a segment of its URL path.
bool is_source_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!std::isalnum(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  });
}

class MappedLoader {
 public:
  MappedLoader(Checker& check, bool serving) : m_check(check), m_serving(serving) {}

  void load(const Entry& entry, std::map<std::string, MappedSource>& out) {
    const auto all = m_check.entries(entry.value, entry.mark(), "sources.mapped", Empty::is_empty);
    if (!all) return;
    for (const auto& e : *all) {
      if (!is_source_name(e.key)) {
        m_check.report().error(e.key_node.Mark(),
                               "sources.mapped: " + in_quotes(e.key) +
                                   " cannot name a hook: use lower-case letters, digits, _ and - "
                                   "(at most 64, starting with a letter or digit)");
        continue;
      }
      MappedSource source;
      if (load_one(e, source)) out.emplace(e.key, std::move(source));
    }
  }

 private:
  // Where a compile error at `offset` of the node's text is: the node's own position moved
  // along its line (plus the opening quote of a quoted scalar) when the text is one line.
  static YAML::Mark at_offset(const YAML::Node& node, std::size_t offset) {
    YAML::Mark mark = node.Mark();
    const auto& text = node.Scalar();
    if (text.find('\n') == std::string::npos) {
      mark.column += static_cast<int>(offset) + (node.Tag() == "!" ? 1 : 0);
    }
    return mark;
  }

  std::optional<mapping::JsonPointer> pointer(const Fields& f, std::string_view key) {
    const auto* e = f.find(key);
    const auto text = m_check.text(f, key, "a JSON Pointer such as /alert/id");
    if (!text) return std::nullopt;
    auto p = mapping::JsonPointer::parse(*text);
    if (!p) {
      m_check.report().error(at_offset(e->value, p.error().offset),
                             at_where(f.where(), in_quotes(key) + ": " + p.error().message));
      return std::nullopt;
    }
    return std::move(*p);
  }

  std::optional<mapping::Template> compile(const YAML::Node& node, const YAML::Mark& at,
                                           const std::string& where, std::string_view label) {
    const auto text =
        m_check.scalar(node, at, where, label,
                       "a quoted template such as \"{/title}\" (unquoted, {...} is a YAML map)");
    if (!text) return std::nullopt;
    auto t = mapping::Template::parse(*text);
    if (!t) {
      m_check.report().error(at_offset(node, t.error().offset),
                             at_where(where, std::string(label) + ": " + t.error().message));
      return std::nullopt;
    }
    return std::move(*t);
  }

  std::optional<mapping::Template> template_field(const Fields& f, std::string_view key) {
    const auto* e = f.find(key);
    if (e == nullptr) return std::nullopt;
    return compile(e->value, e->mark(), f.where(), in_quotes(key));
  }

  // A list of values written as text.
  std::vector<std::string> values(const Fields& f, std::string_view key,
                                  std::set<std::string>& seen) {
    std::vector<std::string> out;
    const auto items = m_check.list(*&f, key, "[Triggered, Re-Triggered]");
    if (!items) return out;
    for (const auto& item : *items) {
      const auto v = m_check.scalar(item, item.Mark(), f.where(), "an entry of " + in_quotes(key),
                                    "a value (quote \"null\")");
      if (!v) continue;
      if (!seen.insert(*v).second) {
        m_check.report().error(item.Mark(),
                               at_where(f.where(), in_quotes(*v) + " is listed twice: a value "
                                                                   "means one thing"));
        continue;
      }
      out.push_back(*v);
    }
    return out;
  }

  void load_status(const Entry& e, const std::string& where, mapping::StatusSpec& out, bool& ok) {
    const auto f = m_check.fields(e.value, e.mark(), where + ".status", k_status_keys);
    if (!f) {
      ok = false;
      return;
    }
    const bool has_path = m_check.require(*f, "path", "the JSON Pointer of the status value");
    const bool has_firing =
        m_check.require(*f, "firing", "the values that mean the alert is firing");
    if (!has_path || !has_firing) ok = false;
    if (auto p = pointer(*f, "path")) {
      out.path = std::move(*p);
    } else {
      ok = false;
    }
    std::set<std::string> seen;
    out.firing = values(*f, "firing", seen);
    out.resolved = values(*f, "resolved", seen);
    out.ignore = values(*f, "ignore", seen);
    if (has_firing && out.firing.empty()) {
      m_check.error(*f->find("firing"), *f, "\"firing\" must list at least one value");
      ok = false;
    }
  }

  void load_severity(const Entry& e, const std::string& where, mapping::Mapping& m, bool& ok) {
    const auto f = m_check.fields(e.value, e.mark(), where + ".severity", k_severity_keys);
    if (!f || !m_check.require(*f, "path", "the JSON Pointer of the severity value")) {
      ok = false;
      return;
    }
    mapping::SeveritySpec spec;
    if (auto p = pointer(*f, "path")) {
      spec.path = std::move(*p);
    } else {
      ok = false;
    }
    spec.fallback = m_check.choice(*f, "default", k_severity_names);
    if (const auto* map = f->find("map")) {
      const auto entries =
          m_check.entries(map->value, map->mark(), f->where() + ".map", Empty::is_error);
      if (!entries) {
        ok = false;
      } else {
        for (const auto& item : *entries) {
          const auto to = m_check.scalar(item.value, item.mark(), f->where() + ".map",
                                         in_quotes(item.key), "critical, high, warning or info");
          if (!to) {
            ok = false;
            continue;
          }
          const auto severity = parse_severity(*to);
          if (!severity) {
            m_check.report().error(
                item.mark(),
                at_where(f->where() + ".map",
                         "expected critical, high, warning or info for " + in_quotes(item.key) +
                             ", got " + in_quotes(*to) +
                             did_you_mean(*to, std::vector<std::string>{"critical", "high",
                                                                        "warning", "info"})));
            ok = false;
            continue;
          }
          spec.map.emplace_back(item.key, *severity);
        }
        if (spec.map.size() > mapping::k_max_fields) {
          m_check.report().error(
              map->mark(),
              at_where(f->where(), "\"map\" may have at most " +
                                       std::to_string(mapping::k_max_fields) + " values"));
          ok = false;
        }
      }
    }
    m.severity = std::move(spec);
  }

  void load_timestamp(const Entry& e, const std::string& where, mapping::Mapping& m, bool& ok) {
    const auto f = m_check.fields(e.value, e.mark(), where + ".timestamp", k_timestamp_keys);
    if (!f || !m_check.require(*f, "path", "the JSON Pointer of the time") ||
        !m_check.require(*f, "format", "rfc3339, epoch_seconds or epoch_millis")) {
      ok = false;
      return;
    }
    mapping::TimestampSpec spec;
    auto p = pointer(*f, "path");
    auto format = m_check.choice(*f, "format", k_time_formats);
    if (!p || !format) {
      ok = false;
      return;
    }
    spec.path = std::move(*p);
    spec.format = *format;
    m.timestamp = std::move(spec);
  }

  std::vector<std::pair<std::string, mapping::Template>> templates(const Fields& f,
                                                                   std::string_view key, bool& ok) {
    std::vector<std::pair<std::string, mapping::Template>> out;
    const auto* e = f.find(key);
    if (e == nullptr) return out;
    const auto where = f.where() + "." + std::string(key);
    const auto entries = m_check.entries(e->value, e->mark(), where, Empty::is_empty);
    if (!entries) {
      ok = false;
      return out;
    }
    if (entries->size() > mapping::k_max_fields) {
      m_check.error(*e, f,
                    in_quotes(key) + " may have at most " + std::to_string(mapping::k_max_fields) +
                        " entries");
      ok = false;
      return out;
    }
    for (const auto& item : *entries) {
      if (item.key.empty()) {
        m_check.report().error(item.key_node.Mark(), at_where(where, "a name cannot be empty"));
        ok = false;
        continue;
      }
      auto t = compile(item.value, item.mark(), where, in_quotes(item.key));
      if (!t) {
        ok = false;
        continue;
      }
      out.emplace_back(item.key, std::move(*t));
    }
    return out;
  }

  void load_auth(const Entry& e, const Fields& f, TokenSource& auth) {
    const auto hook = "/hooks/mapped/" + e.key;
    auth.enabled = true;
    auth.token_env =
        m_check.env_var(f, "token_env", "requests to " + hook + " will be refused until it is set");
    if (auto v = m_check.boolean(f, "allow_unauthenticated")) auth.allow_unauthenticated = *v;
    const auto* token = f.find("token_env");
    const auto* allow = f.find("allow_unauthenticated");
    if (token != nullptr && auth.allow_unauthenticated) {
      m_check.error(*allow, f,
                    "set either \"token_env\" or \"allow_unauthenticated: true\", not both");
    } else if (auth.allow_unauthenticated) {
      if (m_serving) {
        m_check.report().note(allow->mark(), f.where() + ": " + hook +
                                                 " accepts unauthenticated requests "
                                                 "(allow_unauthenticated: true): anyone who can "
                                                 "reach it can open and resolve alerts");
      }
    } else if (token == nullptr && m_serving) {
      m_check.report().error(e.key_node.Mark(),
                             f.where() +
                                 " needs \"token_env\" (the environment variable holding the "
                                 "token " +
                                 hook + " requires) or \"allow_unauthenticated: true\"");
    }
  }

  bool load_one(const Entry& e, MappedSource& out) {
    const auto where = "sources.mapped." + e.key;
    const auto f = m_check.fields(e.value, e.mark(), where, k_mapped_keys);
    if (!f) return false;
    bool ok = true;
    load_auth(e, *f, out.auth);
    auto& m = out.mapping;
    if (f->find("events")) {
      m.events = pointer(*f, "events");
      if (!m.events) ok = false;
    }
    if (!m_check.require(*f, "identity", "a template such as \"{/alert_id}\"")) ok = false;
    if (auto t = template_field(*f, "identity")) {
      m.identity = std::move(*t);
    } else {
      ok = false;
    }
    if (!m_check.require(*f, "status", "its path and the values that mean firing and resolved")) {
      ok = false;
    }
    if (const auto* s = f->find("status")) load_status(*s, where, m.status, ok);
    if (const auto* s = f->find("severity")) load_severity(*s, where, m, ok);
    if (const auto* s = f->find("timestamp")) load_timestamp(*s, where, m, ok);
    for (const auto* key : {"name", "summary", "delivery_id"}) {
      if (f->find(key) == nullptr) continue;
      auto t = template_field(*f, key);
      if (!t) {
        ok = false;
        continue;
      }
      if (std::string_view(key) == "name") m.name = std::move(*t);
      if (std::string_view(key) == "summary") m.summary = std::move(*t);
      if (std::string_view(key) == "delivery_id") m.delivery_id = std::move(*t);
    }
    m.labels = templates(*f, "labels", ok);
    m.annotations = templates(*f, "annotations", ok);
    return ok;
  }

  Checker& m_check;
  bool m_serving;
};

}  // namespace

void load_mapped_sources(Checker& check, const Entry& entry, bool serving,
                         std::map<std::string, MappedSource>& out) {
  MappedLoader(check, serving).load(entry, out);
}

std::vector<std::pair<std::string_view, Keys>> mapped_source_keys() {
  return {{"", k_mapped_keys},
          {"status", k_status_keys},
          {"severity", k_severity_keys},
          {"timestamp", k_timestamp_keys}};
}

}  // namespace tocsin::rules
