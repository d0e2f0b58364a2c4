#pragma once
// What one delivery attempt means and when to try again (docs/behaviour.md "Delivery"), as pure
// functions: network errors, 408, 429 and 5xx are retried with capped exponential backoff and full
// jitter, honouring Retry-After; any other 4xx (and a redirect, which is never followed) is
// permanent.

#include <optional>
#include <string>
#include <string_view>

#include "core/time.hpp"
#include "rules/rules.hpp"
#include "storage/records.hpp"

namespace tocsin::delivery {

// What came back from one request.
struct AttemptResult {
  std::optional<int> http_status;  // nullopt: no answer (connection refused, reset, timeout)
  // For people: what failed and where ("connection refused: http://127.0.0.1:9000/hook",
  // "HTTP 503 from https://api.opsgenie.com/v2/alerts"), or why nothing was sent. Never a
  // secret: the URL is HttpRequest::shown_url.
  std::string error;
  // The start of the receiver's answer to a failed request, as received. It may echo the
  // request's secrets: only attempt_error_text (delivery/redact.hpp) turns it into text to
  // store or show.
  std::string body;
  std::optional<Duration> retry_after;
  std::int64_t duration_ms = 0;
};

enum class Verdict { sent, retry, failed };
std::string_view to_string(Verdict v);
// How an attempt with this verdict is recorded (the attempt log keeps the verdict).
storage::AttemptOutcome recorded_as(Verdict v);

Verdict classify(const AttemptResult& r);

// `Retry-After` as delay-seconds or an HTTP-date (relative to `now`); nullopt if unreadable.
std::optional<Duration> parse_retry_after(std::string_view value, TimePoint now);

// The delay before the next try after `attempts` tries (1 after the first): a uniformly random
// share (`unit_random` in [0,1)) of min(backoff_max, backoff_initial * 2^(attempts-1)) — "full
// jitter", so many failing rows do not retry in lockstep — but never less than Retry-After
// (which may exceed backoff_max: the receiver knows best).
Duration backoff(int attempts, const rules::Delivery& config, double unit_random,
                 std::optional<Duration> retry_after);

// The outbox row after an attempt made at `now`: sent, scheduled again, or failed for good
// (a retryable failure becomes permanent after delivery.max_attempts). `row.attempts` already
// counts this attempt (it is counted when the row is claimed).
struct Outcome {
  storage::OutboxRecord row;
  Verdict verdict = Verdict::sent;
};
Outcome after_attempt(storage::OutboxRecord row, const AttemptResult& r,
                      const rules::Delivery& config, TimePoint now, double unit_random);

}  // namespace tocsin::delivery
