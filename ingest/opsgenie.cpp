#include "ingest/opsgenie.hpp"

#include <cstdint>
#include <limits>

#include "ingest/body.hpp"

namespace tocsin::ingest {

namespace {

IngestError invalid_opsgenie(std::string detail) {
  return bad_request("invalid_opsgenie_payload", std::move(detail));
}

// An integer that fits int64. Doubles are refused: OpsGenie's nanosecond times exceed 2^53,
// so a value that arrived as a double has already lost its precision (or overflowed).
std::optional<std::int64_t> int64_value(const Json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return std::nullopt;
}

// Epoch time as OpsGenie writes it: nanoseconds (updatedAt) or milliseconds (createdAt, and
// updatedAt in some samples); values from 1e15 up are nanoseconds. Outside 1970..9999: unknown.
std::optional<TimePoint> epoch_time(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  auto v = int64_value(*it);
  if (!v || *v <= 0) return std::nullopt;
  constexpr std::int64_t k_ns_threshold = 1'000'000'000'000'000;
  constexpr std::int64_t k_max_ms = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z
  const std::int64_t ms = *v >= k_ns_threshold ? *v / 1'000'000 : *v;
  if (ms > k_max_ms) return std::nullopt;
  return from_unix_ms(ms);
}

std::optional<Priority> read_priority(const Json& alert) {
  auto it = alert.find("priority");
  if (it == alert.end()) return std::nullopt;
  if (it->is_string()) return parse_priority(it->get_ref<const std::string&>());
  if (auto level = int64_value(*it); level && *level >= 1 && *level <= 5) {
    return Priority{static_cast<int>(*level)};
  }
  return std::nullopt;
}

Severity severity_of(Priority p) {
  switch (p.level) {
    case 1:
      return Severity::critical;
    case 2:
      return Severity::high;
    case 3:
      return Severity::warning;
    default:
      return Severity::info;
  }
}

// updatedAt exactly as sent (the JSON text of a number), so the delivery id never depends on
// how the value converts.
std::string raw_updated_at(const Json& alert) {
  auto it = alert.find("updatedAt");
  if (it == alert.end()) return {};
  if (it->is_number()) return it->dump();
  if (it->is_string()) return it->get<std::string>();
  return {};
}

NormalizedEvent build_event(const OpsgenieWebhook& w, const Json& alert) {
  NormalizedEvent e;
  e.source = Source::opsgenie;
  e.hook = "opsgenie";
  e.source_event_id = w.delivery_id;
  e.fingerprint = w.fingerprint;
  e.name = w.alias.empty() ? w.alert_id : w.alias;
  e.state = w.kind == OpsgenieAction::create ? SignalState::firing : SignalState::resolved;
  e.source_time = w.kind == OpsgenieAction::create && w.created_at ? w.created_at : w.updated_at;
  if (w.priority) e.severity = severity_of(*w.priority);
  e.summary = w.message.empty() ? e.name : w.message;
  e.description = string_or_empty(alert, "description");
  if (auto details = alert.find("details"); details != alert.end() && details->is_object()) {
    for (const auto& [key, value] : details->items()) {
      if (value.is_string()) e.labels.emplace(key, value.get<std::string>());
    }
  }
  return e;
}

}  // namespace

OpsgenieAction parse_opsgenie_action(std::string_view action) {
  struct Name {
    std::string_view text;
    OpsgenieAction kind;
  };
  static constexpr Name k_names[] = {
      {"Create", OpsgenieAction::create},
      {"Acknowledge", OpsgenieAction::acknowledge},
      {"UnAcknowledge", OpsgenieAction::unacknowledge},
      {"Close", OpsgenieAction::close},
      {"Delete", OpsgenieAction::delete_alert},
      {"AddNote", OpsgenieAction::add_note},
      {"AddRecipient", OpsgenieAction::add_recipient},
      {"AddTeam", OpsgenieAction::add_team},
      {"AssignOwnership", OpsgenieAction::assign_ownership},
      {"TakeOwnership", OpsgenieAction::take_ownership},
      {"AddTags", OpsgenieAction::add_tags},
      {"RemoveTags", OpsgenieAction::remove_tags},
      {"Escalate", OpsgenieAction::escalate},
  };
  for (const auto& n : k_names) {
    if (n.text == action) return n.kind;
  }
  return OpsgenieAction::other;
}

std::optional<std::pair<std::string, int>> parse_tocsin_alias(std::string_view alias) {
  constexpr std::string_view k_prefix = "tocsin-";
  constexpr std::size_t k_hash_length = 12;
  if (alias.substr(0, k_prefix.size()) != k_prefix) return std::nullopt;
  alias.remove_prefix(k_prefix.size());
  if (alias.size() < k_hash_length + 2 || alias[k_hash_length] != '-') return std::nullopt;
  std::string_view hash = alias.substr(0, k_hash_length);
  for (char c : hash) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  std::string_view number = alias.substr(k_hash_length + 1);
  if (number.front() == '0') return std::nullopt;
  std::int64_t episode = 0;
  for (char c : number) {
    if (c < '0' || c > '9') return std::nullopt;
    episode = episode * 10 + (c - '0');
    if (episode > std::numeric_limits<int>::max()) return std::nullopt;
  }
  return std::pair<std::string, int>(std::string(hash), static_cast<int>(episode));
}

bool is_own_echo(const OpsgenieWebhook& webhook, std::string_view tocsin_user) {
  return webhook.tocsin_alias.has_value() && webhook.action_source_type == "API" &&
         !tocsin_user.empty() && webhook.user == tocsin_user;
}

Expected<OpsgenieWebhook, IngestError> parse_opsgenie_webhook(std::string_view body) {
  auto parsed = parse_object_body(body, "OpsGenie webhook");
  if (!parsed) return unexpected(std::move(parsed.error()));
  const Json& payload = *parsed;

  OpsgenieWebhook w;
  auto action = payload.find("action");
  if (action == payload.end()) return unexpected(invalid_opsgenie("webhook has no \"action\""));
  if (!action->is_string()) {
    return unexpected(invalid_opsgenie(std::string("field \"action\" must be a string, got ") +
                                       action->type_name()));
  }
  w.action = action->get<std::string>();
  if (w.action.empty()) return unexpected(invalid_opsgenie("field \"action\" is empty"));
  w.kind = parse_opsgenie_action(w.action);

  auto alert_it = payload.find("alert");
  if (alert_it == payload.end()) return unexpected(invalid_opsgenie("webhook has no \"alert\""));
  if (!alert_it->is_object()) {
    return unexpected(invalid_opsgenie(std::string("field \"alert\" must be an object, got ") +
                                       alert_it->type_name()));
  }
  const Json& alert = *alert_it;

  auto id = alert.find("alertId");
  if (id == alert.end()) return unexpected(invalid_opsgenie("webhook has no \"alert.alertId\""));
  if (!id->is_string()) {
    return unexpected(invalid_opsgenie(
        std::string("field \"alert.alertId\" must be a string, got ") + id->type_name()));
  }
  w.alert_id = id->get<std::string>();
  if (w.alert_id.empty()) return unexpected(invalid_opsgenie("field \"alert.alertId\" is empty"));

  // The alias is the alert's identity (its fingerprint, or the Tocsin episode it belongs to):
  // a mistyped one cannot be guessed around.
  if (auto alias = alert.find("alias"); alias != alert.end() && !alias->is_null()) {
    if (!alias->is_string()) {
      return unexpected(invalid_opsgenie(
          std::string("field \"alert.alias\" must be a string, got ") + alias->type_name()));
    }
    w.alias = alias->get<std::string>();
  }
  w.fingerprint = "opsgenie:" + (w.alias.empty() ? w.alert_id : w.alias);
  w.tocsin_alias = parse_tocsin_alias(w.alias);

  w.message = string_or_empty(alert, "message");
  w.tiny_id = string_or_empty(alert, "tinyId");
  w.user = string_or_empty(alert, "username");
  w.note = string_or_empty(alert, "note");
  w.owner = string_or_empty(alert, "owner");
  w.priority = read_priority(alert);
  w.created_at = epoch_time(alert, "createdAt");
  w.updated_at = epoch_time(alert, "updatedAt");
  w.alert_source = string_or_empty(alert, "source");
  if (auto source = payload.find("source"); source != payload.end() && source->is_object()) {
    w.action_source_type = string_or_empty(*source, "type");
    w.action_source_name = string_or_empty(*source, "name");
  }
  w.integration_id = string_or_empty(payload, "integrationId");
  w.integration_name = string_or_empty(payload, "integrationName");
  w.integration_type = string_or_empty(payload, "integrationType");
  w.delivery_id = w.alert_id + "|" + w.action + "|" + raw_updated_at(alert);

  const bool changes_state = w.kind == OpsgenieAction::create || w.kind == OpsgenieAction::close ||
                             w.kind == OpsgenieAction::delete_alert;
  if (changes_state && !w.tocsin_alias) w.event = build_event(w, alert);
  return w;
}

}  // namespace tocsin::ingest
