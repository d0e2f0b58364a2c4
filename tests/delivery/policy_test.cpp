#include "delivery/policy.hpp"

#include <doctest/doctest.h>

namespace delivery_policy_test {

using namespace tocsin;
using namespace tocsin::delivery;
using namespace std::chrono_literals;

namespace {
const TimePoint k_now = *parse_timestamp("2026-12-22T04:00:00Z");

AttemptResult answered(int status, std::optional<Duration> retry_after = std::nullopt) {
  AttemptResult r;
  r.http_status = status;
  r.error = "HTTP " + std::to_string(status);
  r.retry_after = retry_after;
  return r;
}
}  // namespace

TEST_CASE("classify: what is retried and what is permanent") {
  struct Case {
    const char* intent;
    AttemptResult result;
    Verdict verdict;
  };
  const Case cases[] = {
      {"2xx is delivered", answered(202), Verdict::sent},
      {"no answer (refused, reset, timeout) is retried", AttemptResult{}, Verdict::retry},
      {"408 request timeout is retried", answered(408), Verdict::retry},
      {"429 too many requests is retried", answered(429), Verdict::retry},
      {"500 is retried", answered(500), Verdict::retry},
      {"503 is retried", answered(503), Verdict::retry},
      {"400 is our fault: permanent", answered(400), Verdict::failed},
      {"401 bad key: permanent", answered(401), Verdict::failed},
      {"404 unknown alias: permanent", answered(404), Verdict::failed},
      {"a redirect is never followed: permanent", answered(302), Verdict::failed},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(classify(c.result) == c.verdict);
  }
}

TEST_CASE("backoff: capped exponential with full jitter, Retry-After as a floor") {
  rules::Delivery config;
  config.backoff_initial = 1s;
  config.backoff_max = 5min;
  struct Case {
    const char* intent;
    int attempts;
    double random;
    std::optional<Duration> retry_after;
    Duration expected;
  };
  const Case cases[] = {
      {"first retry: up to backoff_initial", 1, 0.5, std::nullopt, 500ms},
      {"doubles per attempt", 4, 1.0, std::nullopt, 8s},
      {"full jitter can be anything from zero", 4, 0.0, std::nullopt, 0ms},
      {"capped at backoff_max", 30, 1.0, std::nullopt, 5min},
      {"Retry-After longer than the jittered delay wins", 1, 0.5, 120s, 120s},
      {"Retry-After may exceed backoff_max", 2, 1.0, 10min, 10min},
      {"a short Retry-After does not shorten the backoff", 8, 1.0, 1s, 128s},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(backoff(c.attempts, config, c.random, c.retry_after) == c.expected);
  }
}

TEST_CASE("parse_retry_after: seconds or an HTTP date") {
  CHECK(parse_retry_after("120", k_now) == Duration{120s});
  CHECK(parse_retry_after(" 7 ", k_now) == Duration{7s});
  CHECK(parse_retry_after("Tue, 22 Dec 2026 04:01:30 GMT", k_now) == Duration{90s});
  CHECK(parse_retry_after("Tue, 22 Dec 2026 03:00:00 GMT", k_now) == Duration{0s});
  CHECK_FALSE(parse_retry_after("soon", k_now));
  CHECK_FALSE(parse_retry_after("-5", k_now));
  CHECK_FALSE(parse_retry_after("", k_now));
}

TEST_CASE("after_attempt: the row's next state") {
  rules::Delivery config;
  config.max_attempts = 3;
  storage::OutboxRecord row;
  row.id = 7;
  row.attempts = 1;
  row.due_at = k_now;

  auto sent = after_attempt(row, answered(202), config, k_now, 0.5);
  CHECK(sent.verdict == Verdict::sent);
  CHECK(sent.row.status == storage::OutboxStatus::sent);
  CHECK(sent.row.sent_at == k_now);

  auto retry = after_attempt(row, answered(503, 30s), config, k_now, 0.5);
  CHECK(retry.verdict == Verdict::retry);
  CHECK(retry.row.status == storage::OutboxStatus::pending);
  CHECK(retry.row.due_at == k_now + 30s);
  CHECK(retry.row.last_error == "HTTP 503");

  row.attempts = 3;  // the last one allowed
  auto exhausted = after_attempt(row, answered(500), config, k_now, 0.5);
  CHECK(exhausted.verdict == Verdict::failed);
  CHECK(exhausted.row.status == storage::OutboxStatus::failed);
  CHECK(exhausted.row.last_error == "gave up after 3 attempts: HTTP 500");

  row.attempts = 1;
  auto permanent = after_attempt(row, answered(401), config, k_now, 0.5);
  CHECK(permanent.verdict == Verdict::failed);
  CHECK(permanent.row.status == storage::OutboxStatus::failed);
}

}  // namespace delivery_policy_test
