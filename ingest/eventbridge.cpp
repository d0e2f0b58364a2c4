#include "ingest/eventbridge.hpp"

#include "ingest/body.hpp"
#include "ingest/cloudwatch.hpp"

namespace tocsin::ingest {

namespace {

IngestError invalid_eventbridge(std::string detail) {
  return bad_request("invalid_eventbridge_event", std::move(detail));
}

// An identity field: present, a string, not empty. `path` names it in the error as the sender
// wrote it (`detail.state.value`).
Expected<std::string, IngestError> required_event_string(const Json& object, const char* key,
                                                         const std::string& path) {
  auto it = object.find(key);
  if (it == object.end()) return unexpected(invalid_eventbridge("event has no \"" + path + "\""));
  if (!it->is_string()) {
    return unexpected(invalid_eventbridge("event field \"" + path + "\" must be a string, got " +
                                          it->type_name()));
  }
  if (it->get_ref<const std::string&>().empty()) {
    return unexpected(invalid_eventbridge("event field \"" + path + "\" is empty"));
  }
  return it->get<std::string>();
}

Expected<const Json*, IngestError> required_object(const Json& object, const char* key,
                                                   const std::string& path) {
  auto it = object.find(key);
  if (it == object.end()) return unexpected(invalid_eventbridge("event has no \"" + path + "\""));
  if (!it->is_object()) {
    return unexpected(invalid_eventbridge("event field \"" + path + "\" must be an object, got " +
                                          it->type_name()));
  }
  return &*it;
}

Expected<SignalState, IngestError> required_event_state(const Json& state,
                                                        const std::string& path) {
  auto text = required_event_string(state, "value", path + ".value");
  if (!text) return unexpected(text.error());
  auto parsed = parse_alarm_state(*text);
  if (!parsed) {
    return unexpected(invalid_eventbridge("event field \"" + path + ".value\" is \"" + *text +
                                          "\"; expected ALARM, OK or INSUFFICIENT_DATA"));
  }
  return *parsed;
}

const Json* lenient_object(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? &*it : nullptr;
}

// Metric, namespace and dimensions from `configuration.metrics`, chosen exactly as the SNS
// path chooses them from `Trigger` (the first metric queried names the alarm, every queried
// metric's dimensions become labels, the first value of a name wins), so both paths produce
// the same event. EventBridge writes dimensions as an object map, SNS as a name/value array.
void read_metrics(const Json& configuration, NormalizedEvent& e) {
  auto metrics = configuration.find("metrics");
  if (metrics == configuration.end() || !metrics->is_array()) return;
  for (const auto& query : *metrics) {
    if (!query.is_object()) continue;
    const Json* stat = lenient_object(query, "metricStat");
    if (!stat) continue;
    const Json* metric = lenient_object(*stat, "metric");
    if (!metric) continue;
    if (e.metric.empty()) e.metric = string_or_empty(*metric, "name");
    if (e.namespace_.empty()) e.namespace_ = string_or_empty(*metric, "namespace");
    if (const Json* dims = lenient_object(*metric, "dimensions")) {
      for (const auto& [name, value] : dims->items()) {
        if (value.is_string()) e.labels.emplace(name, value.get<std::string>());
      }
    }
  }
}

}  // namespace

bool is_eventbridge_event(const Json& message) {
  return message.is_object() && message.contains("detail-type");
}

Expected<NormalizedEvent, IngestError> eventbridge_event_from_json(const Json& event) {
  if (!event.is_object()) {
    return unexpected(bad_request(
        "not_an_object",
        std::string("EventBridge event must be a JSON object, got ") + event.type_name()));
  }
  auto detail_type = required_event_string(event, "detail-type", "detail-type");
  if (!detail_type) return unexpected(detail_type.error());
  if (*detail_type != k_alarm_state_change) {
    // Authentic but not a transition (configuration change, per-contributor state of a
    // Metrics Insights alarm, another service's event on the same rule): nothing to page on.
    return unexpected(IngestError{200, "not_an_alarm_state_change",
                                  "EventBridge detail-type \"" + *detail_type + "\" is not \"" +
                                      std::string(k_alarm_state_change) + "\""});
  }

  NormalizedEvent e;
  e.source = Source::cloudwatch;
  auto id = required_event_string(event, "id", "id");
  if (!id) return unexpected(id.error());
  e.source_event_id = std::move(*id);
  auto account = required_event_string(event, "account", "account");
  if (!account) return unexpected(account.error());
  e.account = std::move(*account);
  // The envelope's region is the code (`us-east-1`), the same the SNS path reads from AlarmArn.
  auto region = required_event_string(event, "region", "region");
  if (!region) return unexpected(region.error());
  e.region = std::move(*region);

  auto detail = required_object(event, "detail", "detail");
  if (!detail) return unexpected(detail.error());
  const Json& d = **detail;
  auto name = required_event_string(d, "alarmName", "detail.alarmName");
  if (!name) return unexpected(name.error());
  e.name = std::move(*name);

  auto state = required_object(d, "state", "detail.state");
  if (!state) return unexpected(state.error());
  auto value = required_event_state(**state, "detail.state");
  if (!value) return unexpected(value.error());
  e.state = *value;
  auto timestamp = required_event_string(**state, "timestamp", "detail.state.timestamp");
  if (!timestamp) return unexpected(timestamp.error());
  e.source_time = parse_timestamp(*timestamp);
  if (!e.source_time) {
    return unexpected(invalid_eventbridge(
        "event field \"detail.state.timestamp\" is not a timestamp: \"" + *timestamp + "\""));
  }

  // The previous state decides `missed_resolve` (a new occurrence), so it is read as strictly
  // as the SNS path reads OldStateValue: absent is fine, malformed is not.
  if (auto it = d.find("previousState"); it != d.end() && !it->is_null()) {
    if (!it->is_object()) {
      return unexpected(invalid_eventbridge(
          std::string("event field \"detail.previousState\" must be an object, got ") +
          it->type_name()));
    }
    auto previous = required_event_state(*it, "detail.previousState");
    if (!previous) return unexpected(previous.error());
    e.previous_state = *previous;
  }

  // A composite alarm whose actions its suppressor held back: the rule's `actions_suppressed`
  // decides what that means (docs/behaviour.md "Other hooks").
  e.actions_suppressed_by = string_or_empty(**state, "actionsSuppressedBy");

  const Json* configuration = lenient_object(d, "configuration");
  if (configuration) read_metrics(*configuration, e);

  // Summary and description as the SNS path builds them: the alarm's description, then why
  // it changed state.
  e.summary = e.name;
  if (configuration) e.description = string_or_empty(*configuration, "description");
  std::string reason = string_or_empty(**state, "reason");
  if (!reason.empty()) {
    if (!e.description.empty()) e.description += "\n\n";
    e.description += reason;
  }
  e.fingerprint = cloudwatch_fingerprint(e.account, e.region, e.name);
  return e;
}

Expected<std::vector<NormalizedEvent>, IngestError> parse_eventbridge_event(std::string_view body) {
  auto parsed = parse_object_body(body, "EventBridge body");
  if (!parsed) return unexpected(std::move(parsed.error()));
  auto event = eventbridge_event_from_json(*parsed);
  if (!event) return unexpected(std::move(event.error()));
  event->hook = "eventbridge";
  std::vector<NormalizedEvent> events;
  events.push_back(std::move(*event));
  return events;
}

Expected<NormalizedEvent, IngestError> parse_sns_alarm_message(std::string_view message,
                                                               std::string_view topic_arn) {
  auto parsed = parse_json_strict(message);
  // parse_cloudwatch_alarm owns the mapping of an unparseable Message (plain text from another
  // publisher is accepted as not an alarm; a hostile document is a 400); it parses again only
  // on this error path.
  if (!parsed) return parse_cloudwatch_alarm(message, topic_arn);
  if (is_eventbridge_event(*parsed)) return eventbridge_event_from_json(*parsed);
  return cloudwatch_alarm_from_json(*parsed, topic_arn);
}

}  // namespace tocsin::ingest
