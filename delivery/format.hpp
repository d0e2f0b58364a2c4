#pragma once
// The pure half of outbound delivery (README "Delivery"): one outbox notification, formatted as the
// exact HTTP request its channel's type expects. No I/O and no clock reads; the environment is
// read only through the injected EnvLookup, so every request is reproducible in a test. The
// Delivery worker sends what this returns and classifies the answer.
//
// Identity: OpsGenie's `alias` and PagerDuty's `dedup_key` are the notification's per-episode
// alias (README "Episodes, escalation and timers"), never the fingerprint, so a downstream dedup
// cannot fold a new episode into a forgotten open one.

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
  // `url` as errors may show it (delivery/redact.hpp shown_url): no secret part.
  std::string shown_url;
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
//
// Digests (action `digest`, one row per channel and interval, about no single alert; its
// `digest` field lists the alerts, see engine/digest.hpp). The headline is
// "Tocsin digest: 14 notifications about 5 alerts, 13:00–14:00 UTC" and each alert's line
// "<severity> <summary, cut to 200 bytes> — 3 notifications (2 trigger, 1 escalate), noise 40,
// last escalate", alerts in the stored order (most severe, most notified first):
//   opsgenie   create with alias = the digest's own alias ("digest:{channel}:{n}"), message =
//              the headline (≤130 bytes), description = one "[severity] ..." line per alert, as
//              many whole lines as fit 15000 bytes, then "… and N more"; priority and
//              severity tag from the row plus tag `digest`; details (strings): action,
//              channel, since, until, notifications, alerts, actions (totals), noise, why.
//   pagerduty  trigger with dedup_key = the digest's alias, summary = the headline,
//              source `tocsin`; custom_details: action, channel, priority, why, noise, since,
//              until, notifications, and `alerts`: the stored entries as JSON objects, as many
//              as fit 400,000 bytes (then `alerts_not_listed`: how many were left out).
//   slack      `text`: ":newspaper: <headline>", then one "• *severity* ..." line per alert;
//              `blocks`: a header (the headline), the same lines packed into sections of
//              ≤3000 characters, and contexts "… and N more" (when cut) and the alias. At most
//              20 alerts are listed.
//   webhook    the usual tocsin.notification/v1 body (action "digest", alert fields null or
//              empty) plus "digest": the stored list as a JSON object, verbatim. Receivers of
//              notifications need no second schema, and digest-aware ones read one key. Every
//              digest body has the key; it is null when the list cannot be read.
// A digest whose list is empty or cannot be read (not strict JSON, no `alerts` array of
// objects) is formatted like a trigger whose body text is the notification's `why`: a digest
// always goes out. Fields of the wrong type inside an alert's entry read as absent.
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
