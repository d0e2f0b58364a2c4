#include "server/hooks.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "ingest/cloudwatch.hpp"
#include "ingest/sns.hpp"
#include "server/http_util.hpp"

namespace tocsin {

namespace {

// Headers kept with the raw event: enough to audit and replay, never credentials.
constexpr const char* k_kept_headers[] = {
    "content-type",          "user-agent",          "x-amz-sns-message-type",
    "x-amz-sns-message-id",  "x-amz-sns-topic-arn", "x-amz-sns-subscription-arn",
    "x-amz-sns-rawdelivery",
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

void reject(App& app, httplib::Response& res, const std::string& hook,
            const ingest::IngestError& e) {
  app.metrics.count_rejected(hook, e.status, e.code);
  spdlog::warn("/hooks/{}: refused with {} {}: {}", hook, e.status, e.code, e.detail);
  reply_error(res, e.status, e.code, e.detail);
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

// Commits and answers: 200 with the results, or 503 so the sender retries.
void ingest_and_reply(App& app, httplib::Response& res, const std::string& hook, Inbound inbound) {
  auto outcome = app.engine.ingest(std::move(inbound));
  if (!outcome) {
    const auto& err = outcome.error();
    app.metrics.count_rejected(hook, err.transient ? 503 : 500, "storage");
    if (err.transient) {
      spdlog::error("/hooks/{}: cannot commit, answering 503: {}", hook, err.message);
      reply_unavailable(res, "the event could not be stored; retry later");
    } else {
      spdlog::critical("/hooks/{}: storage failure, answering 500: {}", hook, err.message);
      reply_error(res, 500, "internal_error", "the event could not be stored");
    }
    return;
  }
  reply_json(res, 200, results_json(*outcome));
}

void handle_sns(App& app, const httplib::Request& req, httplib::Response& res) {
  const std::string hook = "sns";
  const auto headers = lower_case_headers(req);
  auto envelope = ingest::parse_sns_envelope(headers, req.body);
  if (!envelope) return reject(app, res, hook, envelope.error());
  const ingest::SnsMessage& m = *envelope;

  Inbound inbound;
  inbound.record.received_at = app.clock.now();
  inbound.record.hook = hook;
  inbound.record.delivery_id = m.message_id;
  inbound.record.headers_json = kept_headers_json(headers);
  inbound.record.body = req.body;

  if (m.type != ingest::SnsType::notification) {
    // Confirming subscriptions needs the signature checks that are not in this build; a human
    // confirms by visiting the URL after checking the topic.
    const bool subscribe = m.type == ingest::SnsType::subscription_confirmation;
    spdlog::warn("SNS {} for topic {} recorded, not acted on{}",
                 subscribe ? "SubscriptionConfirmation" : "UnsubscribeConfirmation", m.topic_arn,
                 subscribe ? "; confirm it by hand after checking the topic" : "");
    inbound.ignored_reason = subscribe ? "subscription_confirmation" : "unsubscribe_confirmation";
    return ingest_and_reply(app, res, hook, std::move(inbound));
  }

  auto alarm = ingest::parse_cloudwatch_alarm(m.message, m.topic_arn);
  if (!alarm) {
    if (alarm.error().status != 200) return reject(app, res, hook, alarm.error());
    // Authentic but not an alarm (another publisher on the topic): accepted and recorded, so
    // SNS does not retry, and visible in the decision log.
    spdlog::warn("SNS message {} on {} is not a CloudWatch alarm: {}", m.message_id, m.topic_arn,
                 alarm.error().detail);
    inbound.ignored_reason = alarm.error().code;
    return ingest_and_reply(app, res, hook, std::move(inbound));
  }
  alarm->hook = hook;
  alarm->source_event_id = m.message_id;
  inbound.events.push_back(std::move(*alarm));
  ingest_and_reply(app, res, hook, std::move(inbound));
}

}  // namespace

void register_hooks(httplib::Server& server, App& app) {
  // SNS sends text/plain: the content type is ignored on purpose.
  server.Post("/hooks/sns", [&app](const httplib::Request& req, httplib::Response& res) {
    handle_sns(app, req, res);
  });
}

}  // namespace tocsin
