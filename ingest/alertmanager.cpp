#include "ingest/alertmanager.hpp"

#include <cctype>

#include "core/mapping.hpp"
#include "core/text.hpp"
#include "ingest/body.hpp"

namespace tocsin::ingest {

namespace {

IngestError invalid_alertmanager(std::string detail) {
  return bad_request("invalid_alertmanager_payload", std::move(detail));
}

// The refusals of one alert name the code of the hook that read it.
struct Refuse {
  std::string_view code;
  IngestError operator()(std::string detail) const {
    return bad_request(std::string(code), std::move(detail));
  }
};

std::string text_or_empty(const std::map<std::string, std::string>& map, const char* key) {
  auto it = map.find(key);
  return it == map.end() ? std::string() : it->second;
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

Expected<std::map<std::string, std::string>, IngestError> read_labels(const Json& alert,
                                                                      const std::string& path,
                                                                      Refuse refuse) {
  auto it = alert.find("labels");
  if (it == alert.end()) return unexpected(refuse(path + " has no \"labels\""));
  if (!it->is_object()) {
    return unexpected(refuse("\"" + path + ".labels\" must be an object, got " + it->type_name()));
  }
  if (it->empty()) return unexpected(refuse("\"" + path + ".labels\" is empty"));
  std::map<std::string, std::string> labels;
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) {
      return unexpected(refuse("label \"" + path + ".labels." + name + "\" must be a string, got " +
                               value.type_name()));
    }
    labels.emplace(name, value.get<std::string>());
  }
  return labels;
}

// Annotations are for humans: odd entries are dropped rather than refusing the alert.
std::map<std::string, std::string> read_annotations(const Json& alert) {
  std::map<std::string, std::string> out;
  auto it = alert.find("annotations");
  if (it == alert.end() || !it->is_object()) return out;
  for (const auto& [name, value] : it->items()) {
    if (value.is_string()) out.emplace(name, value.get<std::string>());
  }
  return out;
}

Expected<TimePoint, IngestError> read_time(const Json& alert, const char* key,
                                           const std::string& path, Refuse refuse) {
  const std::string field = "\"" + path + "." + key + "\"";
  auto it = alert.find(key);
  if (it == alert.end()) return unexpected(refuse(path + " has no \"" + key + "\""));
  if (!it->is_string()) {
    return unexpected(refuse(field + " must be a string, got " + it->type_name()));
  }
  auto t = parse_timestamp(it->get_ref<const std::string&>());
  if (!t) {
    return unexpected(
        refuse(field + " is not an RFC 3339 timestamp: \"" + it->get<std::string>() + "\""));
  }
  return *t;
}

}  // namespace

Expected<NormalizedEvent, IngestError> alert_to_event(const Json& alert, const std::string& path,
                                                      const AlertShape& shape) {
  const Refuse refuse{shape.error_code};
  if (!alert.is_object()) {
    return unexpected(refuse("\"" + path + "\" must be an object, got " + alert.type_name()));
  }
  NormalizedEvent e;
  e.source = shape.source;
  e.hook = std::string(shape.hook);

  auto status_it = alert.find("status");
  if (status_it == alert.end()) return unexpected(refuse(path + " has no \"status\""));
  if (!status_it->is_string()) {
    return unexpected(
        refuse("\"" + path + ".status\" must be a string, got " + status_it->type_name()));
  }
  const std::string& status = status_it->get_ref<const std::string&>();
  if (status == "firing") {
    e.state = SignalState::firing;
  } else if (status == "resolved") {
    e.state = SignalState::resolved;
  } else {
    return unexpected(
        refuse("\"" + path + ".status\" is \"" + status + "\"; expected firing or resolved"));
  }

  auto labels = read_labels(alert, path, refuse);
  if (!labels) return unexpected(labels.error());
  e.labels = std::move(*labels);

  // A firing alert's endsAt is the zero time (or a guess); the transition that orders it is
  // when it started. A resolved alert's transition is when it ended.
  auto when =
      read_time(alert, e.state == SignalState::firing ? "startsAt" : "endsAt", path, refuse);
  if (!when) return unexpected(when.error());
  e.source_time = *when;

  e.name = text_or_empty(e.labels, "alertname");
  e.severity = severity_from_label(text_or_empty(e.labels, "severity"));
  e.fingerprint = std::string(shape.hook) + ":" + alertmanager_label_set(e.labels);

  const auto annotations = read_annotations(alert);
  const std::string summary = text_or_empty(annotations, "summary");
  const std::string message = text_or_empty(annotations, "message");
  const std::string description = text_or_empty(annotations, "description");
  if (!summary.empty()) {
    e.summary = summary;
  } else if (!message.empty()) {
    e.summary = first_line(message);
  } else if (!description.empty()) {
    e.summary = first_line(description);
  } else {
    e.summary = e.name.empty() ? e.fingerprint : e.name;
  }
  e.description = description.empty() ? message : description;
  const std::string runbook = text_or_empty(annotations, "runbook_url");
  if (!runbook.empty()) {
    if (!e.description.empty()) e.description += "\n\n";
    e.description += "Runbook: " + runbook;
  }
  return e;
}

namespace {

void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// Prometheus' classic name syntax; anything else (allowed since Prometheus 3) is quoted, so
// two different label sets can never print the same.
bool is_plain_label_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

std::string alertmanager_label_set(const std::map<std::string, std::string>& labels) {
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    if (is_plain_label_name(name)) {
      out += name;
    } else {
      out += '"';
      append_escaped(out, name);
      out += '"';
    }
    out += "=\"";
    append_escaped(out, value);
    out += '"';
  }
  out += '}';
  return out;
}

std::optional<Severity> severity_from_label(std::string_view value) {
  const std::string v = to_lower(value);
  if (v == "critical" || v == "crit" || v == "page" || v == "emergency" || v == "fatal") {
    return Severity::critical;
  }
  if (v == "high" || v == "error" || v == "err" || v == "major") return Severity::high;
  if (v == "warning" || v == "warn" || v == "minor" || v == "medium") return Severity::warning;
  if (v == "info" || v == "informational" || v == "notice" || v == "low" || v == "none") {
    return Severity::info;
  }
  return std::nullopt;
}

Expected<std::vector<NormalizedEvent>, IngestError> parse_alertmanager_webhook(
    std::string_view body) {
  auto parsed = parse_object_body(body, "Alertmanager body");
  if (!parsed) return unexpected(std::move(parsed.error()));
  const Json& payload = *parsed;

  // Grafana Alerting's webhook looks like this one but belongs to its own hook, source and
  // token (docs/behaviour.md "Other hooks").
  if (is_grafana_webhook(payload)) {
    return unexpected(bad_request(
        "wrong_hook",
        "this is Grafana Alerting's webhook (\"version\": \"1\", \"orgId\"), not "
        "Alertmanager's: point the Grafana contact point at /hooks/grafana (sources.grafana)"));
  }

  // Only the default v4 shape is understood; a custom `payload` template or a future version
  // would be misread field by field, so it is refused as a whole.
  auto version = payload.find("version");
  if (version == payload.end())
    return unexpected(invalid_alertmanager("payload has no \"version\""));
  if (!version->is_string()) {
    return unexpected(invalid_alertmanager(
        std::string("\"version\" must be the string \"4\", got ") + version->type_name()));
  }
  if (version->get_ref<const std::string&>() != "4") {
    return unexpected(invalid_alertmanager("\"version\" is \"" + shown_version(*version) +
                                           "\"; only \"4\" is supported"));
  }
  return alerts_to_events(payload, AlertShape{});
}

Expected<std::vector<NormalizedEvent>, IngestError> alerts_to_events(const Json& payload,
                                                                     const AlertShape& shape) {
  const Refuse refuse{shape.error_code};
  auto alerts = payload.find("alerts");
  if (alerts == payload.end()) return unexpected(refuse("payload has no \"alerts\""));
  if (!alerts->is_array()) {
    return unexpected(
        refuse(std::string("\"alerts\" must be an array, got ") + alerts->type_name()));
  }

  // One notification is one group; a group this large is a runaway grouping, and a request's
  // events are applied in one transaction, which would hold the database for one request. The
  // same limit as a mapped source's `events` (docs/formats.md §6).
  if (alerts->size() > mapping::k_max_events) {
    return unexpected(refuse("\"alerts\" holds " + std::to_string(alerts->size()) +
                             " alerts; at most " + std::to_string(mapping::k_max_events) +
                             " are taken in one request"));
  }

  std::vector<NormalizedEvent> events;
  events.reserve(alerts->size());
  for (std::size_t i = 0; i < alerts->size(); ++i) {
    auto e = alert_to_event((*alerts)[i], "alerts[" + std::to_string(i) + "]", shape);
    if (!e) return unexpected(std::move(e.error()));
    events.push_back(std::move(*e));
  }
  return events;
}

std::string shown_version(const Json& version) {
  // The sender's text, echoed in an answer: bounded, with control characters escaped.
  return escape_control(truncate_utf8(version.get_ref<const std::string&>(), 64));
}

bool is_grafana_webhook(const Json& payload) {
  if (!payload.is_object()) return false;
  if (payload.contains("orgId")) return true;
  auto version = payload.find("version");
  return version != payload.end() && version->is_string() &&
         version->get_ref<const std::string&>() == "1";
}

}  // namespace tocsin::ingest
