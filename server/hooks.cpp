#include "server/hooks.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "core/secret.hpp"
#include "core/text.hpp"
#include "engine/intake.hpp"
#include "ingest/sns.hpp"
#include "server/api.hpp"
#include "server/http_util.hpp"
#include "server/subscriptions.hpp"

namespace tocsin::server {

namespace {

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
    out.emplace(to_lower(name), value);
  }
  return out;
}

// Refuses the request: nothing is stored, only a counter and a log line, at most one a minute
// per hook and kind with a count of the others (a sender with a wrong token retries without
// end).
void reject(Hook& h, const ingest::IngestError& e) {
  h.app.metrics.count_rejected(h.name, e.status, e.code);
  const auto now = h.app.clock.now();
  if (e.status >= 500) {
    if (const auto line = h.app.log_limit.admit("/hooks/" + h.name + ": answering 5xx", now)) {
      spdlog::error("/hooks/{}: answering {} {}: {}{}", h.name, e.status, e.code, e.detail,
                    line.suffix());
    }
    h.res.set_header("Retry-After", "30");
  } else if (const auto line = h.app.log_limit.admit("/hooks/" + h.name + ": refused", now)) {
    spdlog::warn("/hooks/{}: refused with {} {}: {}{}", h.name, e.status, e.code, e.detail,
                 line.suffix());
  }
  reply_error(h.res, e.status, e.code, e.detail);
}

Json results_json(const std::vector<engine::IngestResult>& results) {
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

// Commits and answers: 200 with the results, or 503 so the sender retries.
// Returns whether the request was committed.
bool commit_and_reply(Hook& h, engine::Inbound inbound) {
  auto outcome = h.app.engine.ingest(std::move(inbound));
  if (!outcome) {
    const auto& err = outcome.error();
    h.app.metrics.count_rejected(h.name, err.transient ? 503 : 500, "storage");
    if (err.fault != storage::DatabaseFault::none) {
      // The writer logs a database fault when it starts and once a minute: not per request.
      spdlog::debug("/hooks/{}: cannot commit, answering 503: {}", h.name, err.message);
      reply_unavailable(h.res, "the event could not be stored; retry later: " + err.message, 5,
                        database_error_code(err.fault));
    } else if (err.transient) {
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

// A hook whose source the rules file does not list is closed: 404, and the answer says how to
// open it (docs/behaviour.md "Inbound endpoints").
void reject_disabled(Hook& h, std::string_view source) {
  const std::string name(source);
  const std::string how = name == "sns" ? "(SNS signatures authenticate it)"
                                        : "with token_env (or allow_unauthenticated: true)";
  reject(h, {404, "source_disabled",
             "source '" + name + "' is not enabled: add sources." + name + " " + how +
                 " to the rules file"});
}

// Shared-secret check of a token-authenticated hook (header X-Tocsin-Token, ?token=, or
// Authorization: Bearer).
// Returns false after answering. A hook whose token variable is unset on the server fails
// closed with 503: the sender is not at fault, and retrying once the operator has set the
// variable delivers the event.
bool token_matches(Hook& h, const std::string& token_env) {
  const auto expected = rules::process_env()(token_env);
  if (!expected || expected->empty()) {
    reject(h, {503, "token_not_configured",
               "this hook requires a token but " + token_env + " is not set on the server"});
    return false;
  }
  std::string presented;
  std::optional<std::string> bearer;
  if (const auto* t = h.header("x-tocsin-token")) {
    presented = *t;
  } else if (h.req.has_param("token")) {
    presented = h.req.get_param_value("token");
  } else if (const auto* a = h.header("authorization"); a && (bearer = presented_token(*a))) {
    // What a sender that keeps credentials apart from its URL sends (Grafana's contact point
    // "Authorization header", Alertmanager's http_config.authorization).
    presented = std::move(*bearer);
  } else {
    reject(h, {401, "missing_token",
               "send the hook's token in X-Tocsin-Token, ?token= or Authorization: Bearer"});
    return false;
  }
  if (!equal_constant_time(presented, *expected)) {
    reject(h, {401, "invalid_token", "the token does not match"});
    return false;
  }
  return true;
}

// A token source's check: disabled, its token, or open by `allow_unauthenticated: true`. A
// source that is enabled with neither (the loader refuses such a file) is refused too.
bool authorized(Hook& h, std::string_view source_name, const rules::TokenSource& source) {
  if (!source.enabled) {
    reject_disabled(h, source_name);
    return false;
  }
  if (source.token_env) return token_matches(h, *source.token_env);
  if (source.allow_unauthenticated) return true;
  reject_disabled(h, source_name);
  return false;
}

// After an SNS (un)subscription confirmation is committed: confirm it when allowed, or tell
// the operator it waits for a human.
void after_subscription(Hook& h, const storage::SubscriptionRecord& s,
                        const rules::SnsSource& config) {
  if (s.kind != storage::SubscriptionKind::subscribe) {
    // Never visited: its SubscribeURL would re-subscribe. A human decides.
    spdlog::warn("SNS unsubscribed Tocsin from {}; to undo, re-subscribe from the AWS console",
                 s.topic_arn);
    return;
  }
  if (!config.auto_confirm) {
    spdlog::warn(
        "SNS subscription to {} awaits confirmation: see GET /api/v1/subscriptions, then POST "
        "/api/v1/subscriptions/ID/confirm or /reject (or set sources.sns.auto_confirm: true)",
        s.topic_arn);
    return;
  }
  // The URL passed check_subscribe_url in intake, before anything was stored. The outcome is
  // logged and recorded; a failure leaves it listed (`failed`) for a person to confirm or reject.
  (void)confirm_subscription(h.app, engine::SubscriptionRef{std::nullopt, s.message_id},
                             std::string(engine::k_auto_confirm), "");
}

// The hook's own credential: SNS signs its messages (checked in intake); raw SNS delivery and
// the other sources present a shared token. Returns false after answering.
bool authenticated(Hook& h, const rules::Rules& rules) {
  const auto& sources = rules.sources;
  if (h.name == "sns" || h.name == "sns-raw") {
    if (!sources.sns.enabled) {
      reject_disabled(h, "sns");
      return false;
    }
  }
  if (h.name == "sns") return true;
  if (h.name == "sns-raw") {
    // Raw delivery carries no signature: a token, or nothing where signatures are not
    // required either (which the rules file says with allow_unauthenticated: true).
    if (sources.sns.raw_token_env) return token_matches(h, *sources.sns.raw_token_env);
    if (!sources.sns.verify_signature && sources.sns.allow_unauthenticated) return true;
    reject(h, {403, "unsigned_raw_delivery",
               "raw message delivery carries no signature: set sources.sns.raw_token_env "
               "and subscribe /hooks/sns-raw?token=..."});
    return false;
  }
  if (h.name == "eventbridge") return authorized(h, h.name, sources.eventbridge);
  if (h.name == "alertmanager") return authorized(h, h.name, sources.alertmanager);
  if (h.name == "grafana") return authorized(h, h.name, sources.grafana);
  if (h.name == "generic") return authorized(h, h.name, sources.generic);
  if (h.name == "opsgenie") return authorized(h, h.name, sources.opsgenie);
  return false;
}

void handle_event_hook(Hook& h) {
  const auto active = h.app.rules.get();
  if (!authenticated(h, *active->rules)) return;
  auto inbound = engine::intake(h.name, h.headers, h.req.body, *active, h.app.clock.now());
  if (!inbound) return reject(h, inbound.error());
  if (inbound->events.empty()) {
    spdlog::info("/hooks/{}: accepted and ignored: {}", h.name, inbound->ignored_reason);
  }
  auto subscription = inbound->subscription;
  if (!commit_and_reply(h, std::move(*inbound))) return;
  if (subscription) after_subscription(h, *subscription, active->rules->sources.sns);
}

void handle_heartbeat(Hook& h) {
  const auto active = h.app.rules.get();
  if (!authorized(h, "heartbeat", active->rules->sources.heartbeat)) return;
  const std::string name = h.req.matches[1];
  const auto& declared = active->rules->heartbeats;
  if (std::none_of(declared.begin(), declared.end(),
                   [&](const rules::Heartbeat& hb) { return hb.name == name; })) {
    return reject(h, {404, "unknown_heartbeat",
                      "no heartbeat \"" + name + "\" is declared under heartbeats: in the rules"});
  }
  if (auto err = h.app.engine.record_ping(name)) {
    h.app.metrics.count_rejected(h.name, 503, "storage");
    return reply_unavailable(h.res, "the ping could not be stored; retry later: " + err->message, 5,
                             database_error_code(err->fault));
  }
  h.app.metrics.count_event("heartbeat", "ping");
  reply_json(h.res, 200,
             Json{{"heartbeat", name}, {"recorded_at", format_timestamp(h.app.clock.now())}});
}

// /hooks/mapped/{name} (docs/formats.md §14): each declared mapping is a hook of
// its own, with its own token.
void handle_mapped(Hook& h) {
  const auto active = h.app.rules.get();
  const std::string name = h.req.matches[1];
  const auto& mapped = active->rules->sources.mapped;
  const auto it = mapped.find(name);
  if (it == mapped.end()) {
    return reject(h, {404, "source_disabled",
                      "no mapped source \"" + escape_control(truncate_utf8(name, 64)) +
                          "\" is declared: add it under sources.mapped in the rules file"});
  }
  h.name = "mapped/" + name;
  if (!authorized(h, h.name, it->second.auth)) return;
  auto inbound = engine::intake(h.name, h.headers, h.req.body, *active, h.app.clock.now());
  if (!inbound) return reject(h, inbound.error());
  if (inbound->events.empty()) {
    spdlog::info("/hooks/{}: accepted and ignored: {}", h.name, inbound->ignored_reason);
  }
  commit_and_reply(h, std::move(*inbound));
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

void register_hooks(http::Routes& routes, App& app) {
  // Content-Type is ignored on purpose: SNS sends text/plain, `curl -d` a form type; every hook
  // takes its body as bytes (Routes::post).
  for (const char* hook :
       {"sns", "sns-raw", "eventbridge", "alertmanager", "grafana", "generic", "opsgenie"}) {
    routes.post(std::string("/hooks/") + hook, route(app, hook, handle_event_hook));
  }
  routes.post(R"(/hooks/heartbeat/([^/]+))", route(app, "heartbeat", handle_heartbeat));
  routes.post(R"(/hooks/mapped/([^/]+))", route(app, "mapped", handle_mapped));
  routes.get(R"(/hooks/heartbeat/([^/]+))", route(app, "heartbeat", handle_heartbeat));
}

}  // namespace tocsin::server
