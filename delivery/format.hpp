#pragma once
// The pure half of outbound delivery (SPEC §6): one outbox notification, formatted as the
// exact HTTP request its channel's type expects. No I/O and no clock reads; the environment is
// read only through the injected EnvLookup, so every request is reproducible in a test. The
// Delivery worker sends what this returns and classifies the answer.
//
// Identity: OpsGenie's `alias` and PagerDuty's `dedup_key` are the notification's per-episode
// alias (SPEC §4), never the fingerprint, so a downstream dedup cannot fold a new episode into
// a forgotten open one.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/expected.hpp"
#include "core/time.hpp"
#include "rules/loader.hpp"
#include "rules/rules.hpp"
#include "storage/records.hpp"

namespace tocsin::delivery {

// The `user` of every OpsGenie call. Two-way sync recognises Tocsin's own actions echoed back
// by OpsGenie by it (ingest::is_own_echo), so it must not change between releases.
inline constexpr std::string_view k_opsgenie_user = "Tocsin";

// What every channel formats from.
struct Message {
  storage::OutboxRecord notification;
  // The alert it is about. Fields may be empty (a digest is about no single alert).
  storage::AlertRecord alert;
  std::optional<TimePoint> episode_opened_at;  // for the age; nullopt: not shown
  // Tocsin's base URL for links back (`http://tocsin.internal:8080`); empty: no links.
  std::string public_url;
};

// A request ready to send. It carries secrets (an Authorization header, a routing key in the
// body, a URL read from `url_env`): log its method and channel, never the request itself.
struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // in the order to send them
  std::string body;
};

// Formats `m` for `channel`. `now` is the instant of sending: the episode's age in Slack
// messages and the webhook signature's timestamp are taken at it (a retry is signed afresh);
// everything else is fixed by the notification, so a retried OpsGenie, PagerDuty or webhook
// request carries the same body.
//
// Per channel type (tests/fixtures/FORMATS.md §5):
//   opsgenie   trigger/escalate/reminder/digest: POST {url}/v2/alerts (create, alias = the
//              episode alias); acknowledge, resolve: POST {url}/v2/alerts/{alias as one
//              percent-encoded segment}/acknowledge|close?identifierType=alias.
//              `Authorization: GenieKey <api_key_env>`.
//   pagerduty  POST {url}: event_action trigger (trigger/escalate/reminder/digest),
//              acknowledge or resolve; dedup_key = the alias; routing_key = <routing_key_env>.
//   slack      POST {url}: `text` and `blocks`, alert text escaped for mrkdwn.
//   webhook    POST {url}: {"schema": "tocsin.notification/v1", ...}, signed when secret_env.
// A digest is formatted like a trigger whose body text is the notification's `why`.
//
// Errors are permanent, as a sentence naming the channel and what is wrong
// (`channel "oncall": environment variable OPSGENIE_API_KEY is not set`): an unset or empty
// variable, a channel without a URL, an unknown action, an acknowledge or resolve without an
// alias to address. They never contain a secret's value.
//
// Webhook signing (channels with `secret_env`), for receivers to verify:
//   X-Tocsin-Timestamp: <Unix seconds when the request was formatted>
//   X-Tocsin-Signature: sha256=<lower-case hex HMAC-SHA256(key = secret,
//                                                 message = timestamp + "." + raw body)>
// A receiver recomputes the HMAC over the header's timestamp, a '.', and the body bytes exactly
// as received, compares in constant time, and rejects timestamps too far from its own clock
// (replays). X-Tocsin-Event-Id (the outbox id) stays the same across retries, for dedup.
// By hand: printf '%s' "$TIMESTAMP.$BODY" | openssl dgst -sha256 -hmac "$SECRET"
Expected<HttpRequest, std::string> format_request(const rules::Channel& channel, const Message& m,
                                                  const rules::EnvLookup& env, TimePoint now);

}  // namespace tocsin::delivery
