#include "ingest/cloudwatch.hpp"

namespace tocsin::ingest {

namespace {

IngestError invalid_alarm(std::string detail) {
  return bad_request("invalid_alarm_payload", std::move(detail));
}

// An identity field: must be present as a non-empty string.
Expected<std::string, IngestError> required_alarm_string(const Json& alarm, const char* key) {
  auto it = alarm.find(key);
  if (it == alarm.end())
    return unexpected(invalid_alarm(std::string("alarm has no \"") + key + "\""));
  if (!it->is_string()) {
    return unexpected(invalid_alarm(std::string("alarm field \"") + key +
                                    "\" must be a string, got " + it->type_name()));
  }
  if (it->get_ref<const std::string&>().empty()) {
    return unexpected(invalid_alarm(std::string("alarm field \"") + key + "\" is empty"));
  }
  return it->get<std::string>();
}

Expected<SignalState, IngestError> required_alarm_state(const Json& alarm, const char* key) {
  auto text = required_alarm_string(alarm, key);
  if (!text) return unexpected(text.error());
  auto state = parse_alarm_state(*text);
  if (!state) {
    return unexpected(invalid_alarm(std::string("alarm field \"") + key + "\" is \"" + *text +
                                    "\"; expected ALARM, OK or INSUFFICIENT_DATA"));
  }
  return *state;
}

// CloudWatch dimensions are `[{"value": ..., "name": ...}]`; odd entries are skipped, since
// they only feed label matching.
void add_dimensions(const Json& dimensions, std::map<std::string, std::string>& labels) {
  if (!dimensions.is_array()) return;
  for (const auto& d : dimensions) {
    const std::string* name = string_field(d, "name");
    const std::string* value = string_field(d, "value");
    if (name && value) labels.emplace(*name, *value);
  }
}

// Metric name, namespace and dimensions from the Trigger of a metric or metric-math alarm.
void read_trigger(const Json& trigger, NormalizedEvent& e) {
  if (!trigger.is_object()) return;
  e.metric = string_or_empty(trigger, "MetricName");
  e.namespace_ = string_or_empty(trigger, "Namespace");
  if (auto it = trigger.find("Dimensions"); it != trigger.end()) add_dimensions(*it, e.labels);

  auto metrics = trigger.find("Metrics");
  if (metrics == trigger.end() || !metrics->is_array()) return;
  // Metric math: the alarm watches an expression over MetricStat queries. Name it after the
  // first metric queried, which is what an SRE would write in `match: {metric: ...}`.
  for (const auto& query : *metrics) {
    if (!query.is_object()) continue;
    auto stat = query.find("MetricStat");
    if (stat == query.end() || !stat->is_object()) continue;
    auto metric = stat->find("Metric");
    if (metric == stat->end() || !metric->is_object()) continue;
    if (e.metric.empty()) e.metric = string_or_empty(*metric, "MetricName");
    if (e.namespace_.empty()) e.namespace_ = string_or_empty(*metric, "Namespace");
    if (auto dims = metric->find("Dimensions"); dims != metric->end())
      add_dimensions(*dims, e.labels);
  }
}

}  // namespace

std::optional<SignalState> parse_alarm_state(std::string_view s) {
  if (s == "ALARM") return SignalState::firing;
  if (s == "OK") return SignalState::resolved;
  if (s == "INSUFFICIENT_DATA") return SignalState::insufficient_data;
  return std::nullopt;
}

std::string region_from_arn(std::string_view arn) {
  // arn:partition:service:region:account:resource
  std::size_t pos = 0;
  for (int field = 0; field < 3; ++field) {
    pos = arn.find(':', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  if (arn.substr(0, 4) != "arn:") return {};
  auto end = arn.find(':', pos);
  if (end == std::string_view::npos) return {};
  return std::string(arn.substr(pos, end - pos));
}

std::string cloudwatch_fingerprint(std::string_view account, std::string_view region,
                                   std::string_view alarm_name) {
  std::string fp = "cloudwatch:";
  fp.append(account).append(":").append(region).append(":").append(alarm_name);
  return fp;
}

Expected<NormalizedEvent, IngestError> cloudwatch_alarm_from_json(const Json& alarm,
                                                                  std::string_view topic_arn) {
  if (!alarm.is_object()) {
    return unexpected(IngestError{
        200, "not_a_cloudwatch_alarm",
        std::string("message is JSON ") + alarm.type_name() + ", not a CloudWatch alarm object"});
  }
  if (!alarm.contains("AlarmName") && !alarm.contains("NewStateValue")) {
    return unexpected(IngestError{200, "not_a_cloudwatch_alarm",
                                  "message has neither AlarmName nor NewStateValue"});
  }

  NormalizedEvent e;
  e.source = Source::cloudwatch;
  auto name = required_alarm_string(alarm, "AlarmName");
  if (!name) return unexpected(name.error());
  e.name = std::move(*name);
  auto account = required_alarm_string(alarm, "AWSAccountId");
  if (!account) return unexpected(account.error());
  e.account = std::move(*account);
  auto state = required_alarm_state(alarm, "NewStateValue");
  if (!state) return unexpected(state.error());
  e.state = *state;
  if (alarm.contains("OldStateValue")) {
    auto old_state = required_alarm_state(alarm, "OldStateValue");
    if (!old_state) return unexpected(old_state.error());
    e.previous_state = *old_state;
  }
  auto change_time = required_alarm_string(alarm, "StateChangeTime");
  if (!change_time) return unexpected(change_time.error());
  e.source_time = parse_timestamp(*change_time);
  if (!e.source_time) {
    return unexpected(invalid_alarm("alarm field \"StateChangeTime\" is not a timestamp: \"" +
                                    *change_time + "\""));
  }

  // Region code from AlarmArn; legacy messages without it fall back to the topic's region.
  if (auto it = alarm.find("AlarmArn"); it != alarm.end() && !it->is_null()) {
    if (!it->is_string()) {
      return unexpected(invalid_alarm(
          std::string("alarm field \"AlarmArn\" must be a string, got ") + it->type_name()));
    }
    e.region = region_from_arn(it->get_ref<const std::string&>());
  }
  if (e.region.empty()) e.region = region_from_arn(topic_arn);

  if (auto it = alarm.find("Trigger"); it != alarm.end()) read_trigger(*it, e);

  e.summary = e.name;
  e.description = string_or_empty(alarm, "AlarmDescription");
  std::string reason = string_or_empty(alarm, "NewStateReason");
  if (!reason.empty()) {
    if (!e.description.empty()) e.description += "\n\n";
    e.description += reason;
  }
  e.fingerprint = cloudwatch_fingerprint(e.account, e.region, e.name);
  return e;
}

Expected<NormalizedEvent, IngestError> parse_cloudwatch_alarm(std::string_view message,
                                                              std::string_view topic_arn) {
  auto parsed = parse_json_strict(message);
  if (!parsed) {
    const auto& err = parsed.error();
    // Text that is not JSON is another publisher's message on the same topic: authentic, but
    // not ours to parse. Anything JSON-shaped but broken is a malformed alarm.
    if (err.code == "invalid_json" || err.code == "empty_body") {
      return unexpected(
          IngestError{200, "not_a_cloudwatch_alarm", "SNS Message is not JSON: " + err.detail});
    }
    return unexpected(bad_request(err.code, "in SNS Message: " + err.detail));
  }
  return cloudwatch_alarm_from_json(*parsed, topic_arn);
}

}  // namespace tocsin::ingest
