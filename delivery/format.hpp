#pragma once
// The pure half of outbound delivery (docs/behaviour.md "Delivery"): one outbox notification,
// formatted as the exact HTTP request its channel's type expects. No I/O and no clock reads; the
// environment is read only through the injected EnvLookup, so every request is reproducible in a
// test. The Delivery worker sends what this returns and classifies the answer.
//
// Identity: OpsGenie's `alias` and PagerDuty's `dedup_key` are the notification's per-episode
// alias (docs/behaviour.md "Episodes, escalation and timers"), never the fingerprint, so a
// downstream dedup cannot fold a new episode into a forgotten open one.

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
// What each channel type receives (requests, digests, webhook signing) is specified in
// docs/formats.md §11 and the digest list in §12; tests/delivery/format_test.cpp checks it.
// Errors are permanent: a sentence naming the channel and what is wrong (docs/formats.md §11.5),
// never containing a secret's value.
Expected<HttpRequest, std::string> format_request(const rules::Channel& channel, const Message& m,
                                                  const rules::EnvLookup& env, TimePoint now);

}  // namespace tocsin::delivery
