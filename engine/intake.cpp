#include "engine/intake.hpp"

#include <algorithm>
#include <cctype>

#include "core/json.hpp"
#include "core/text.hpp"
#include "delivery/format.hpp"
#include "ingest/alertmanager.hpp"
#include "ingest/eventbridge.hpp"
#include "ingest/generic.hpp"
#include "ingest/grafana.hpp"
#include "ingest/mapped.hpp"
#include "ingest/opsgenie.hpp"
#include "ingest/sns_verify.hpp"

namespace tocsin::engine {

namespace {

using ingest::IngestError;
using Events = Expected<std::vector<NormalizedEvent>, IngestError>;

// Raw SNS delivery's headers, stored with its request (README "Storage"). Its bare body has no
// envelope: its message id and topic, which its intake reads, are in these headers alone, and
// the rest of SNS's x-amz-sns-* say what kind of message and which subscription. Every other
// request is stored without headers (Request::inbound): SNS's JSON envelope repeats its
// headers' type, id and topic (the type was checked against the body's at intake), and a
// content type or user agent that nothing reads is not kept: on the benchmark's mixed traffic,
// with SNS's real headers, dropping them cut the stored requests by 45% (docs/benchmarks.md).
constexpr const char* k_sns_raw_headers[] = {
    "x-amz-sns-message-type",     "x-amz-sns-message-id",  "x-amz-sns-topic-arn",
    "x-amz-sns-subscription-arn", "x-amz-sns-rawdelivery",
};

std::string sns_raw_headers_json(const ingest::HeaderMap& headers) {
  Json kept = Json::object();
  for (const char* name : k_sns_raw_headers) {
    if (auto it = headers.find(name); it != headers.end()) kept[name] = it->second;
  }
  return kept.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const std::string* header(const ingest::HeaderMap& headers, const char* lower_name) {
  auto it = headers.find(lower_name);
  return it == headers.end() ? nullptr : &it->second;
}

struct Request {
  const std::string& hook;
  const ingest::HeaderMap& headers;
  const std::string& body;
  TimePoint now;

  Inbound inbound(std::string delivery_id) const {
    Inbound in;
    in.record.received_at = now;
    in.record.hook = hook;
    in.record.delivery_id = std::move(delivery_id);
    in.record.headers_json = "{}";  // none kept but raw SNS delivery's (sns_raw_headers_json)
    in.record.body = body;
    return in;
  }

  // Events from an adapter; an adapter error of status 200 (authentic, nothing to act on)
  // is an inbound without events.
  Expected<Inbound, IngestError> accept(Events events, std::string delivery_id) const {
    if (!events) {
      if (events.error().status != 200) return unexpected(events.error());
      Inbound in = inbound(std::move(delivery_id));
      in.ignored_reason = events.error().code;
      return in;
    }
    Inbound in = inbound(std::move(delivery_id));
    for (auto& e : *events)
      e.hook = hook;
    in.events = std::move(*events);
    return in;
  }
};

Expected<Inbound, IngestError> sns(const Request& r, const ActiveRules& active,
                                   const IntakeOptions& options) {
  const rules::SnsSource& source = active.rules->sources.sns;
  ingest::SnsSettings settings;
  settings.verify_signature = source.verify_signature && options.verify_sns_signatures;
  settings.min_signature_version = source.min_signature_version;
  settings.topics = source.topics;
  if (const auto* raw = header(r.headers, "x-amz-sns-rawdelivery"); raw && *raw == "true") {
    return unexpected(ingest::bad_request("raw_delivery_not_accepted",
                                          "raw message delivery carries no signature; "
                                          "subscribe /hooks/sns-raw instead"));
  }
  auto envelope = ingest::parse_sns_envelope(r.headers, r.body);
  if (!envelope) return unexpected(envelope.error());
  const ingest::SnsMessage& m = *envelope;
  // Authenticity before any side effect (docs/behaviour.md "SNS").
  if (auto bad = ingest::verify_sns_message(m, settings, *active.sns_certificates)) {
    return unexpected(*bad);
  }
  if (m.type != ingest::SnsType::notification) {
    const bool subscribe = m.type == ingest::SnsType::subscription_confirmation;
    // Even when nobody will visit it automatically, a SubscribeURL that is not SNS's own is a
    // forgery worth refusing: it would be listed for a human to click.
    if (auto bad = ingest::check_subscribe_url(m.subscribe_url, m.topic_arn, m.token)) {
      return unexpected(*bad);
    }
    Inbound in = r.inbound(m.message_id);
    storage::SubscriptionRecord s;
    s.topic_arn = m.topic_arn;
    s.kind =
        subscribe ? storage::SubscriptionKind::subscribe : storage::SubscriptionKind::unsubscribe;
    s.url = m.subscribe_url;
    s.message_id = m.message_id;
    s.received_at = s.updated_at = r.now;
    s.status =
        subscribe ? storage::SubscriptionStatus::pending : storage::SubscriptionStatus::noted;
    in.subscription = s;
    in.ignored_reason = subscribe ? "subscription_confirmation" : "unsubscribe_confirmation";
    return in;
  }
  auto event = ingest::parse_sns_alarm_message(m.message, m.topic_arn);
  if (!event) return r.accept(unexpected(event.error()), m.message_id);
  event->source_event_id = m.message_id;
  std::vector<NormalizedEvent> events;
  events.push_back(std::move(*event));
  auto in = r.accept(std::move(events), m.message_id);
  if (in) in->delivery_id_keys_its_event = true;  // one message per request, named by its id
  return in;
}

// Raw message delivery: the bare message, identified by SNS's headers (its token was checked
// by the caller).
Expected<Inbound, IngestError> sns_raw(const Request& r, const ActiveRules& active) {
  const rules::SnsSource& config = active.rules->sources.sns;
  const auto* message_id = header(r.headers, "x-amz-sns-message-id");
  const auto* topic = header(r.headers, "x-amz-sns-topic-arn");
  if (!message_id || message_id->empty() || !topic) {
    return unexpected(ingest::bad_request("missing_header",
                                          "raw delivery needs x-amz-sns-message-id and "
                                          "x-amz-sns-topic-arn"));
  }
  if (config.topics &&
      std::find(config.topics->begin(), config.topics->end(), *topic) == config.topics->end()) {
    return unexpected(
        IngestError{403, "topic_not_allowed", "topic " + *topic + " is not in sources.sns.topics"});
  }
  auto event = ingest::parse_sns_alarm_message(r.body, *topic);
  Expected<Inbound, IngestError> in = [&] {
    if (!event) return r.accept(unexpected(event.error()), *message_id);
    event->source_event_id = *message_id;
    std::vector<NormalizedEvent> events;
    events.push_back(std::move(*event));
    return r.accept(std::move(events), *message_id);
  }();
  if (in) in->record.headers_json = sns_raw_headers_json(r.headers);
  return in;
}

Expected<Inbound, IngestError> opsgenie(const Request& r) {
  auto webhook = ingest::parse_opsgenie_webhook(r.body);
  if (!webhook) return unexpected(webhook.error());
  if (webhook->event) {
    std::vector<NormalizedEvent> events;
    events.push_back(std::move(*webhook->event));
    return r.accept(std::move(events), webhook->delivery_id);
  }
  // Two-way sync: someone acknowledged, unacknowledged or closed in OpsGenie an alert Tocsin
  // created. Tocsin's own calls echoed back are recognised and never acted on again.
  if (webhook->tocsin_alias && !ingest::is_own_echo(*webhook, delivery::k_opsgenie_user)) {
    std::optional<rules::HumanAction> action;
    switch (webhook->kind) {
      case ingest::OpsgenieAction::acknowledge:
        action = rules::HumanAction::ack;
        break;
      case ingest::OpsgenieAction::unacknowledge:
        action = rules::HumanAction::unack;
        break;
      case ingest::OpsgenieAction::close:
        action = rules::HumanAction::resolve;
        break;
      default:
        break;
    }
    if (action) {
      Inbound in = r.inbound(webhook->delivery_id);
      in.sync = Inbound::Sync{webhook->alias, *action,
                              "opsgenie:" + (webhook->user.empty() ? "unknown" : webhook->user),
                              webhook->note, rules::ChannelType::opsgenie};
      return in;
    }
  }
  // Nothing to ingest: an action on an alert (note, tags, ...), Tocsin's own action echoed
  // back, or an action OpsGenie added later.
  std::string reason = ingest::is_own_echo(*webhook, delivery::k_opsgenie_user) ? "own_echo_"
                       : webhook->tocsin_alias                                  ? "tocsin_alias_"
                                               : "opsgenie_action_";
  for (char c : to_lower(webhook->action))
    reason += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return r.accept(unexpected(IngestError{200, reason.substr(0, 80), "no alert event"}),
                  webhook->delivery_id);
}

// /hooks/mapped/<name>: the body read by the mapping of sources.mapped.<name>
// (docs/formats.md §14).
Expected<Inbound, IngestError> mapped(const Request& r, const ActiveRules& active,
                                      std::string_view name) {
  const auto& sources = active.rules->sources.mapped;
  const auto it = sources.find(std::string(name));
  if (it == sources.end()) {
    return unexpected(IngestError{404, "unknown_mapped_source",
                                  "no mapped source \"" + std::string(name) +
                                      "\" is declared under sources.mapped in the rules"});
  }
  auto body = ingest::parse_mapped(it->second.mapping, name, r.body);
  if (!body) return unexpected(body.error());
  if (body->events.empty()) {
    const std::string reason = body->ignored.empty() ? "mapped_no_events" : body->ignored.front();
    return r.accept(unexpected(IngestError{200, reason, "no alert event"}), body->delivery_id);
  }
  return r.accept(std::move(body->events), std::move(body->delivery_id));
}

// The delivery id of a single-event source: its event id (retries repeat it).
std::string first_event_id(const Events& events) {
  return events && !events->empty() ? events->front().source_event_id : std::string();
}

}  // namespace

std::optional<std::string_view> mapped_source_name(std::string_view hook) {
  constexpr std::string_view k_prefix = "mapped/";
  if (!hook.starts_with(k_prefix)) return std::nullopt;
  const auto name = hook.substr(k_prefix.size());
  if (name.empty() || name.find('/') != std::string_view::npos) return std::nullopt;
  return name;
}

bool is_event_hook(const std::string& hook) {
  return mapped_source_name(hook) || hook == "sns" || hook == "sns-raw" || hook == "eventbridge" ||
         hook == "alertmanager" || hook == "grafana" || hook == "generic" || hook == "opsgenie";
}

Expected<Inbound, IngestError> intake(const std::string& hook, const ingest::HeaderMap& headers,
                                      const std::string& body, const ActiveRules& active,
                                      TimePoint now, const IntakeOptions& options) {
  const Request r{hook, headers, body, now};
  if (hook == "sns") return sns(r, active, options);
  if (hook == "sns-raw") return sns_raw(r, active);
  if (hook == "opsgenie") return opsgenie(r);
  if (const auto name = mapped_source_name(hook)) return mapped(r, active, *name);
  if (hook == "eventbridge") {
    auto events = ingest::parse_eventbridge_event(body);
    std::string id = first_event_id(events);
    return r.accept(std::move(events), std::move(id));
  }
  if (hook == "generic") {
    auto events = ingest::parse_generic_event(body);
    std::string id = first_event_id(events);
    return r.accept(std::move(events), std::move(id));
  }
  if (hook == "alertmanager") {
    // Each alert carries its own id: a re-sent group applies only what is new.
    return r.accept(ingest::parse_alertmanager_webhook(body), "");
  }
  if (hook == "grafana") return r.accept(ingest::parse_grafana_webhook(body), "");
  return unexpected(IngestError{404, "unknown_hook", "no hook /hooks/" + hook});
}

}  // namespace tocsin::engine
