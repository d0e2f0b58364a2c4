#include "server/hooks.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "core/secret.hpp"
#include "ingest/alertmanager.hpp"
#include "ingest/eventbridge.hpp"
#include "ingest/generic.hpp"
#include "ingest/opsgenie.hpp"
#include "ingest/sns.hpp"
#include "ingest/sns_verify.hpp"
#include "server/http_util.hpp"

namespace tocsin {

namespace {

// Headers kept with the raw event: enough to audit and replay, never credentials.
constexpr const char* k_kept_headers[] = {
    "content-type",          "user-agent",          "x-amz-sns-message-type",
    "x-amz-sns-message-id",  "x-amz-sns-topic-arn", "x-amz-sns-subscription-arn",
    "x-amz-sns-rawdelivery",
};

// One inbound request on its way through a hook.
struct Hook {
  App& app;
  const httplib::Request& req;
  httplib::Response& res;
  std::string name;  // sns, eventbridge, ... (the path after /hooks/)
  ingest::HeaderMap headers;

  const std::string* header(const char* lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? nullptr : &it->second;
  }
};

ingest::HeaderMap lower_case_headers(const httplib::Request& req) {
  ingest::HeaderMap out;
  for (const auto& [name, value] : req.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.emplace(std::move(lower), value);
  }
  return out;
}

std::string kept_headers_json(const ingest::HeaderMap& headers) {
  Json kept = Json::object();
  for (const char* name : k_kept_headers) {
    if (auto it = headers.find(name); it != headers.end()) kept[name] = it->second;
  }
  return kept.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Refuses the request: nothing is stored, only a counter and a log line.
void reject(Hook& h, const ingest::IngestError& e) {
  h.app.metrics.count_rejected(h.name, e.status, e.code);
  if (e.status >= 500) {
    spdlog::error("/hooks/{}: answering {} {}: {}", h.name, e.status, e.code, e.detail);
    h.res.set_header("Retry-After", "30");
  } else {
    spdlog::warn("/hooks/{}: refused with {} {}: {}", h.name, e.status, e.code, e.detail);
  }
  reply_error(h.res, e.status, e.code, e.detail);
}

Json results_json(const std::vector<IngestResult>& results) {
  Json list = Json::array();
  for (const auto& r : results) {
    Json item;
    item["alert_id"] = r.alert_id ? Json(*r.alert_id) : Json(nullptr);
    item["fingerprint"] = r.fingerprint.empty() ? Json(nullptr) : Json(r.fingerprint);
    item["episode"] = r.episode ? Json(*r.episode) : Json(nullptr);
    item["outcome"] = std::string(to_string(r.outcome));
    item["reason"] = r.reason;
    list.push_back(std::move(item));
  }
  return Json{{"results", std::move(list)}};
}

Inbound inbound_for(const Hook& h, std::string delivery_id) {
  Inbound inbound;
  inbound.record.received_at = h.app.clock.now();
  inbound.record.hook = h.name;
  inbound.record.delivery_id = std::move(delivery_id);
  inbound.record.headers_json = kept_headers_json(h.headers);
  inbound.record.body = h.req.body;
  return inbound;
}

// Commits and answers: 200 with the results, or 503 so the sender retries.
// Returns whether the request was committed.
bool commit_and_reply(Hook& h, Inbound inbound) {
  auto outcome = h.app.engine.ingest(std::move(inbound));
  if (!outcome) {
    const auto& err = outcome.error();
    h.app.metrics.count_rejected(h.name, err.transient ? 503 : 500, "storage");
    if (err.transient) {
      spdlog::error("/hooks/{}: cannot commit, answering 503: {}", h.name, err.message);
      reply_unavailable(h.res, "the event could not be stored; retry later");
    } else {
      spdlog::critical("/hooks/{}: storage failure, answering 500: {}", h.name, err.message);
      reply_error(h.res, 500, "internal_error", "the event could not be stored");
    }
    return false;
  }
  reply_json(h.res, 200, results_json(*outcome));
  return true;
}

// Events from an adapter: committed, or, for an authentic payload that carries nothing to act
// on (an adapter error with status 200), recorded as ignored; anything else is refused.
void accept(Hook& h, Expected<std::vector<NormalizedEvent>, ingest::IngestError> events,
            std::string delivery_id) {
  if (!events) {
    if (events.error().status != 200) return reject(h, events.error());
    Inbound inbound = inbound_for(h, std::move(delivery_id));
    inbound.ignored_reason = events.error().code;
    spdlog::info("/hooks/{}: accepted and ignored: {}", h.name, events.error().detail);
    commit_and_reply(h, std::move(inbound));
    return;
  }
  Inbound inbound = inbound_for(h, std::move(delivery_id));
  for (auto& e : *events)
    e.hook = h.name;
  inbound.events = std::move(*events);
  commit_and_reply(h, std::move(inbound));
}

// Shared-secret check of a token-authenticated hook (header X-Tocsin-Token or ?token=).
// Returns false after answering. A hook whose token variable is unset on the server fails
// closed with 503: the sender is not at fault, and retrying once the operator has set the
// variable delivers the event.
bool authorized(Hook& h, const rules::TokenSource& source) {
  if (!source.token_env) return true;
  const auto expected = rules::process_env()(*source.token_env);
  if (!expected || expected->empty()) {
    reject(h,
           {503, "token_not_configured",
            "this hook requires a token but " + *source.token_env + " is not set on the server"});
    return false;
  }
  std::string presented;
  if (const auto* t = h.header("x-tocsin-token")) {
    presented = *t;
  } else if (h.req.has_param("token")) {
    presented = h.req.get_param_value("token");
  } else {
    reject(h, {401, "missing_token", "send the hook's token in X-Tocsin-Token or ?token="});
    return false;
  }
  if (!equal_constant_time(presented, *expected)) {
    reject(h, {401, "invalid_token", "the token does not match"});
    return false;
  }
  return true;
}

// GETs a SubscribeURL that passed check_subscribe_url: TLS verified, bounded, no redirects.
std::optional<std::string> confirm_subscription(const std::string& url) {
  constexpr std::string_view k_scheme = "https://";
  const auto slash = url.find('/', k_scheme.size());
  if (url.compare(0, k_scheme.size(), k_scheme) != 0 || slash == std::string::npos) {
    return "not an https URL";
  }
  httplib::SSLClient client(url.substr(k_scheme.size(), slash - k_scheme.size()));
  client.enable_server_certificate_verification(true);
  client.set_ca_cert_path("/etc/ssl/certs/ca-certificates.crt");
  // Runs before SNS gets its answer (SNS waits about 15 s), so it must be quick; a failed
  // confirmation stays listed for a human.
  client.set_connection_timeout(3, 0);
  client.set_read_timeout(3, 0);
  client.set_write_timeout(3, 0);
  client.set_follow_location(false);
  auto res = client.Get(url.substr(slash).c_str());
  if (!res) return "request failed: " + httplib::to_string(res.error());
  if (res->status != 200) return "SNS answered HTTP " + std::to_string(res->status);
  return std::nullopt;
}

void subscription_message(Hook& h, const ingest::SnsMessage& m, const rules::SnsSource& config) {
  const bool subscribe = m.type == ingest::SnsType::subscription_confirmation;
  // Even when nobody will visit it automatically, a SubscribeURL that is not SNS's own is a
  // forgery worth refusing: it would be listed for a human to click.
  if (auto bad = ingest::check_subscribe_url(m.subscribe_url, m.topic_arn, m.token)) {
    return reject(h, *bad);
  }
  Inbound inbound = inbound_for(h, m.message_id);
  storage::SubscriptionRecord s;
  s.topic_arn = m.topic_arn;
  s.kind = subscribe ? "subscribe" : "unsubscribe";
  s.url = m.subscribe_url;
  s.message_id = m.message_id;
  s.received_at = s.updated_at = h.app.clock.now();
  s.status = subscribe ? "pending" : "noted";
  inbound.subscription = s;
  inbound.ignored_reason = subscribe ? "subscription_confirmation" : "unsubscribe_confirmation";
  if (!commit_and_reply(h, std::move(inbound))) return;

  if (!subscribe) {
    // Never visited: its SubscribeURL would re-subscribe. A human decides.
    spdlog::warn("SNS unsubscribed Tocsin from {}; to undo, re-subscribe from the AWS console",
                 m.topic_arn);
    return;
  }
  if (!config.auto_confirm) {
    spdlog::warn(
        "SNS subscription to {} awaits confirmation: see GET /api/v1/subscriptions (or set "
        "sources.sns.auto_confirm: true)",
        m.topic_arn);
    return;
  }
  auto failure = confirm_subscription(m.subscribe_url);
  const std::string status = failure ? "failed" : "confirmed";
  auto written = h.app.engine.write([&](storage::Transaction& tx) {
    tx.set_subscription_status(m.message_id, status, failure.value_or(""), h.app.clock.now());
  });
  if (failure) {
    spdlog::error("confirming the SNS subscription to {} failed: {}; confirm it by hand",
                  m.topic_arn, *failure);
  } else {
    spdlog::info("confirmed the SNS subscription to {}", m.topic_arn);
  }
  if (written) spdlog::error("could not record the subscription status: {}", written->message);
}

void handle_sns(Hook& h) {
  const auto active = h.app.rules.get();
  const rules::SnsSource& config = active->rules->sources.sns;
  if (const auto* raw = h.header("x-amz-sns-rawdelivery"); raw && *raw == "true") {
    return reject(h, ingest::bad_request("raw_delivery_not_accepted",
                                         "raw message delivery carries no signature; "
                                         "subscribe /hooks/sns-raw instead"));
  }
  auto envelope = ingest::parse_sns_envelope(h.headers, h.req.body);
  if (!envelope) return reject(h, envelope.error());
  const ingest::SnsMessage& m = *envelope;
  // Authenticity before any side effect (SPEC §10).
  if (auto bad = ingest::verify_sns_message(m, config, *active->sns_certificates)) {
    return reject(h, *bad);
  }
  if (m.type != ingest::SnsType::notification) return subscription_message(h, m, config);

  auto event = ingest::parse_sns_alarm_message(m.message, m.topic_arn);
  if (!event) return accept(h, unexpected(event.error()), m.message_id);
  event->source_event_id = m.message_id;
  std::vector<NormalizedEvent> events;
  events.push_back(std::move(*event));
  accept(h, std::move(events), m.message_id);
}

// Raw message delivery: the body is the bare message, with no envelope and no signature, so
// it is authenticated by a shared token (sources.sns.raw_token_env), or accepted without one
// only where signatures are not required either.
void handle_sns_raw(Hook& h) {
  const auto active = h.app.rules.get();
  const rules::SnsSource& config = active->rules->sources.sns;
  if (config.raw_token_env) {
    if (!authorized(h, rules::TokenSource{config.raw_token_env})) return;
  } else if (config.verify_signature) {
    return reject(h, {403, "unsigned_raw_delivery",
                      "raw message delivery carries no signature: set sources.sns.raw_token_env "
                      "and subscribe /hooks/sns-raw?token=..."});
  }
  const auto* message_id = h.header("x-amz-sns-message-id");
  const auto* topic = h.header("x-amz-sns-topic-arn");
  if (!message_id || message_id->empty() || !topic) {
    return reject(h, ingest::bad_request("missing_header",
                                         "raw delivery needs x-amz-sns-message-id and "
                                         "x-amz-sns-topic-arn"));
  }
  if (config.topics &&
      std::find(config.topics->begin(), config.topics->end(), *topic) == config.topics->end()) {
    return reject(h,
                  {403, "topic_not_allowed", "topic " + *topic + " is not in sources.sns.topics"});
  }
  auto event = ingest::parse_sns_alarm_message(h.req.body, *topic);
  if (!event) return accept(h, unexpected(event.error()), *message_id);
  event->source_event_id = *message_id;
  std::vector<NormalizedEvent> events;
  events.push_back(std::move(*event));
  accept(h, std::move(events), *message_id);
}

void handle_eventbridge(Hook& h) {
  if (!authorized(h, h.app.rules.get()->rules->sources.eventbridge)) return;
  auto events = ingest::parse_eventbridge_event(h.req.body);
  // The event id names the delivery; EventBridge retries repeat it.
  std::string id = events && !events->empty() ? events->front().source_event_id : std::string();
  accept(h, std::move(events), std::move(id));
}

void handle_alertmanager(Hook& h) {
  if (!authorized(h, h.app.rules.get()->rules->sources.alertmanager)) return;
  // Each alert carries its own id: a re-sent group applies only what is new.
  accept(h, ingest::parse_alertmanager_webhook(h.req.body), "");
}

void handle_generic(Hook& h) {
  if (!authorized(h, h.app.rules.get()->rules->sources.generic)) return;
  auto events = ingest::parse_generic_event(h.req.body);
  std::string id = events && !events->empty() ? events->front().source_event_id : std::string();
  accept(h, std::move(events), std::move(id));
}

void handle_opsgenie(Hook& h) {
  if (!authorized(h, h.app.rules.get()->rules->sources.opsgenie)) return;
  auto webhook = ingest::parse_opsgenie_webhook(h.req.body);
  if (!webhook) return reject(h, webhook.error());
  if (webhook->event) {
    std::vector<NormalizedEvent> events;
    events.push_back(std::move(*webhook->event));
    return accept(h, std::move(events), webhook->delivery_id);
  }
  // Nothing to ingest: an action on an alert (note, tags, ...), or on an alert Tocsin created
  // (kept as the record two-way sync will act on), or an action OpsGenie added later.
  std::string reason = webhook->tocsin_alias ? "tocsin_alias_" : "opsgenie_action_";
  for (char c : webhook->action) {
    reason += std::isalnum(static_cast<unsigned char>(c))
                  ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                  : '_';
  }
  accept(h, unexpected(ingest::IngestError{200, reason.substr(0, 80), "no alert event"}),
         webhook->delivery_id);
}

void handle_heartbeat(Hook& h) {
  const auto active = h.app.rules.get();
  if (!authorized(h, active->rules->sources.heartbeat)) return;
  const std::string name = h.req.matches[1];
  const auto& declared = active->rules->heartbeats;
  if (std::none_of(declared.begin(), declared.end(),
                   [&](const rules::Heartbeat& hb) { return hb.name == name; })) {
    return reject(h, {404, "unknown_heartbeat",
                      "no heartbeat \"" + name + "\" is declared under heartbeats: in the rules"});
  }
  if (auto err = h.app.engine.record_ping(name)) {
    h.app.metrics.count_rejected(h.name, 503, "storage");
    return reply_unavailable(h.res, "the ping could not be stored; retry later");
  }
  h.app.metrics.count_event("heartbeat", "ping");
  reply_json(h.res, 200,
             Json{{"heartbeat", name}, {"recorded_at", format_timestamp(h.app.clock.now())}});
}

using Handler = void (*)(Hook&);

auto route(App& app, std::string name, Handler handler) {
  return
      [&app, name = std::move(name), handler](const httplib::Request& req, httplib::Response& res) {
        Hook h{app, req, res, name, lower_case_headers(req)};
        handler(h);
      };
}

}  // namespace

void register_hooks(httplib::Server& server, App& app) {
  // Content-Type is ignored on purpose: SNS sends text/plain.
  server.Post("/hooks/sns", route(app, "sns", handle_sns));
  server.Post("/hooks/sns-raw", route(app, "sns-raw", handle_sns_raw));
  server.Post("/hooks/eventbridge", route(app, "eventbridge", handle_eventbridge));
  server.Post("/hooks/alertmanager", route(app, "alertmanager", handle_alertmanager));
  server.Post("/hooks/generic", route(app, "generic", handle_generic));
  server.Post("/hooks/opsgenie", route(app, "opsgenie", handle_opsgenie));
  server.Post(R"(/hooks/heartbeat/([^/]+))", route(app, "heartbeat", handle_heartbeat));
  server.Get(R"(/hooks/heartbeat/([^/]+))", route(app, "heartbeat", handle_heartbeat));
}

}  // namespace tocsin
