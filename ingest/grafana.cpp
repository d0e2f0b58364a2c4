#include "ingest/grafana.hpp"

#include "ingest/alertmanager.hpp"
#include "ingest/body.hpp"

namespace tocsin::ingest {

namespace {

constexpr AlertShape k_grafana{Source::grafana, "grafana", "invalid_grafana_payload"};

IngestError invalid_grafana(std::string detail) {
  return bad_request(std::string(k_grafana.error_code), std::move(detail));
}

std::string string_or_empty(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// `values` ({"B": 44.2, "C": 1}: the value of each query and expression of the rule) as one
// line, in name order; non-numbers are skipped. Empty without any.
std::string values_line(const Json& alert) {
  std::string out;
  auto values = alert.find("values");
  if (values != alert.end() && values->is_object()) {
    for (const auto& [name, value] : values->items()) {
      if (!value.is_number()) continue;
      if (!out.empty()) out += ", ";
      out += name + "=" + value.dump();
    }
  }
  return out.empty() ? string_or_empty(alert, "valueString") : out;
}

// What Grafana adds to an alert, appended to its description so the API shows it and every
// channel sends it on.
void add_grafana_lines(const Json& alert, NormalizedEvent& e) {
  std::string lines;
  auto add = [&lines](const char* label, const std::string& text) {
    if (text.empty()) return;
    if (!lines.empty()) lines += '\n';
    lines += std::string(label) + ": " + text;
  };
  add("Values", values_line(alert));
  add("Source", string_or_empty(alert, "generatorURL"));
  add("Silence", string_or_empty(alert, "silenceURL"));
  add("Dashboard", string_or_empty(alert, "dashboardURL"));
  add("Panel", string_or_empty(alert, "panelURL"));
  add("Image", string_or_empty(alert, "imageURL"));
  if (lines.empty()) return;
  if (!e.description.empty()) e.description += "\n\n";
  e.description += lines;
}

}  // namespace

Expected<std::vector<NormalizedEvent>, IngestError> parse_grafana_webhook(std::string_view body) {
  auto parsed = parse_object_body(body, "Grafana body");
  if (!parsed) return unexpected(std::move(parsed.error()));
  const Json& payload = *parsed;

  auto version = payload.find("version");
  if (version == payload.end()) {
    if (payload.contains("evalMatches") || payload.contains("ruleId")) {
      return unexpected(invalid_grafana(
          "this is Grafana's legacy alerting webhook (\"ruleId\", \"evalMatches\"), which "
          "Grafana 11 removed; send from Grafana Alerting (a webhook contact point)"));
    }
    return unexpected(invalid_grafana("payload has no \"version\""));
  }
  if (!version->is_string()) {
    return unexpected(invalid_grafana(std::string("\"version\" must be the string \"1\", got ") +
                                      version->type_name()));
  }
  const std::string& v = version->get_ref<const std::string&>();
  if (v == "4" && !payload.contains("orgId")) {
    return unexpected(bad_request("wrong_hook",
                                  "this is Prometheus Alertmanager's webhook (\"version\": "
                                  "\"4\"), not Grafana's: send it to /hooks/alertmanager"));
  }
  if (v != "1") {
    return unexpected(invalid_grafana("\"version\" is \"" + shown_version(*version) +
                                      "\"; only \"1\" is supported"));
  }

  auto events = alerts_to_events(payload, k_grafana);
  if (!events) return unexpected(std::move(events.error()));
  const Json& alerts = payload["alerts"];
  for (std::size_t i = 0; i < events->size(); ++i)
    add_grafana_lines(alerts[i], (*events)[i]);
  return events;
}

}  // namespace tocsin::ingest
