#include "ingest/generic.hpp"

#include "ingest/body.hpp"

namespace tocsin::ingest {

namespace {

IngestError invalid_generic(std::string detail) {
  return bad_request("invalid_generic_event", std::move(detail));
}

// The value of `key`, or nullptr when it is absent or null.
const Json* optional_field(const Json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

// A string field: nullopt when absent, an error when present with another type.
Expected<std::optional<std::string>, IngestError> optional_string(const Json& object,
                                                                  const char* key) {
  const Json* v = optional_field(object, key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) {
    return unexpected(invalid_generic(std::string("field \"") + key + "\" must be a string, got " +
                                      v->type_name()));
  }
  return std::optional<std::string>(v->get<std::string>());
}

Expected<std::string, IngestError> required_string(const Json& object, const char* key) {
  auto v = optional_string(object, key);
  if (!v) return unexpected(v.error());
  if (!*v) return unexpected(invalid_generic(std::string("event has no \"") + key + "\""));
  if ((*v)->empty())
    return unexpected(invalid_generic(std::string("field \"") + key + "\" is empty"));
  return std::move(**v);
}

Expected<std::map<std::string, std::string>, IngestError> string_map(const Json& object,
                                                                     const char* key) {
  std::map<std::string, std::string> out;
  const Json* v = optional_field(object, key);
  if (!v) return out;
  if (!v->is_object()) {
    return unexpected(invalid_generic(std::string("field \"") + key + "\" must be an object, got " +
                                      v->type_name()));
  }
  for (const auto& [name, value] : v->items()) {
    if (!value.is_string()) {
      return unexpected(invalid_generic(std::string("field \"") + key + "." + name +
                                        "\" must be a string, got " + value.type_name()));
    }
    out.emplace(name, value.get<std::string>());
  }
  return out;
}

}  // namespace

Expected<std::vector<NormalizedEvent>, IngestError> parse_generic_event(std::string_view body) {
  auto parsed = parse_object_body(body, "generic event");
  if (!parsed) return unexpected(std::move(parsed.error()));
  const Json& object = *parsed;

  NormalizedEvent e;
  e.source = Source::generic;
  e.hook = "generic";

  auto key = required_string(object, "key");
  if (!key) return unexpected(key.error());
  e.name = std::move(*key);
  e.fingerprint = "generic:" + e.name;

  auto status = required_string(object, "status");
  if (!status) return unexpected(status.error());
  if (*status == "firing") {
    e.state = SignalState::firing;
  } else if (*status == "resolved") {
    e.state = SignalState::resolved;
  } else {
    return unexpected(
        invalid_generic("field \"status\" is \"" + *status + "\"; expected firing or resolved"));
  }

  auto severity = optional_string(object, "severity");
  if (!severity) return unexpected(severity.error());
  if (*severity) {
    e.severity = parse_severity(**severity);
    if (!e.severity) {
      return unexpected(invalid_generic("field \"severity\" is \"" + **severity +
                                        "\"; expected critical, high, warning or info"));
    }
  }

  auto labels = string_map(object, "labels");
  if (!labels) return unexpected(labels.error());
  e.labels = std::move(*labels);
  auto annotations = string_map(object, "annotations");
  if (!annotations) return unexpected(annotations.error());

  auto summary = optional_string(object, "summary");
  if (!summary) return unexpected(summary.error());
  if (*summary && !(*summary)->empty()) {
    e.summary = std::move(**summary);
  } else if (auto it = annotations->find("summary");
             it != annotations->end() && !it->second.empty()) {
    e.summary = it->second;
  } else {
    e.summary = e.name;
  }
  if (auto it = annotations->find("description"); it != annotations->end()) {
    e.description = it->second;
  }

  auto timestamp = optional_string(object, "timestamp");
  if (!timestamp) return unexpected(timestamp.error());
  if (*timestamp) {
    e.source_time = parse_timestamp(**timestamp);
    if (!e.source_time) {
      return unexpected(invalid_generic("field \"timestamp\" is not an RFC 3339 timestamp: \"" +
                                        **timestamp + "\""));
    }
  }

  auto id = optional_string(object, "id");
  if (!id) return unexpected(id.error());
  if (*id) {
    if ((*id)->empty()) return unexpected(invalid_generic("field \"id\" is empty"));
    e.source_event_id = std::move(**id);
  }

  std::vector<NormalizedEvent> events;
  events.push_back(std::move(e));
  return events;
}

}  // namespace tocsin::ingest
