// The circuit breaker's rules, as pure functions
// (docs/behaviour.md "The circuit breaker and the catch-up").
#include "delivery/breaker.hpp"

#include <doctest/doctest.h>

namespace delivery_breaker_test {

using namespace tocsin;
using namespace tocsin::delivery;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-12-22T04:00:00Z");

rules::Delivery config() {
  rules::Delivery d;
  d.breaker_after = 3;
  d.backoff_initial = 1s;
  d.backoff_max = 10s;
  return d;
}

AttemptResult answer(std::optional<int> status) {
  AttemptResult r;
  r.http_status = status;
  return r;
}

}  // namespace

TEST_CASE("breaker: what a result says about the receiver") {
  struct Row {
    std::optional<int> status;
    bool made;
    std::optional<Signal> signal;
  } rows[] = {
      {202, true, Signal::success},        {std::nullopt, true, Signal::failure},  // no answer
      {500, true, Signal::failure},        {503, true, Signal::failure},
      {429, true, Signal::failure},        {408, true, Signal::failure},
      {400, true, Signal::answered},       {401, true, Signal::answered},  // the payload's fault
      {404, true, Signal::answered},       {302, true, Signal::answered},  // never followed
      {std::nullopt, false, std::nullopt},  // no request: a configuration error
  };
  for (const auto& r : rows) {
    CAPTURE(r.status.value_or(0));
    CHECK(signal_of(answer(r.status), r.made) == r.signal);
  }
}

TEST_CASE("breaker: failures in a row mark the channel down, one success brings it back") {
  storage::ChannelHealth h;
  h.channel = "oncall";
  const auto c = config();
  CHECK(apply_result(h, Signal::failure, "e1", std::nullopt, c, k_t0) == Transition::none);
  CHECK(apply_result(h, Signal::answered, "", std::nullopt, c, k_t0) == Transition::none);
  CHECK(h.failures == 0);  // an answer clears the count: the receiver is there
  CHECK(apply_result(h, Signal::failure, "e1", std::nullopt, c, k_t0) == Transition::none);
  CHECK(apply_result(h, Signal::failure, "e2", std::nullopt, c, k_t0) == Transition::none);
  CHECK(!h.down());
  CHECK(apply_result(h, Signal::failure, "e3", std::nullopt, c, k_t0 + 1s) ==
        Transition::went_down);
  CHECK(h.down_since == k_t0 + 1s);
  CHECK(h.last_error == "e3");
  CHECK(h.probe_at == k_t0 + 2s);  // backoff_initial after
  CHECK(blocked(h, k_t0 + 1500ms));
  CHECK(!blocked(h, k_t0 + 2s));  // the probe's turn
  // Failed probes back off, doubling, up to backoff_max.
  const Duration waits[] = {2s, 4s, 8s, 10s, 10s};
  TimePoint now = k_t0 + 2s;
  for (const auto wait : waits) {
    CHECK(apply_result(h, Signal::failure, "e", std::nullopt, c, now) == Transition::none);
    CHECK(h.probe_at == now + wait);
    now += wait;
  }
  CHECK(apply_result(h, Signal::success, "", std::nullopt, c, now) == Transition::came_up);
  CHECK(!h.down());
  CHECK(h.changed_at == now);
  CHECK(h.pace_at == now);  // catching up from now
  CHECK(h.failures == 0);
}

TEST_CASE("breaker: a failure's Retry-After holds the channel, a long one marks it down") {
  const auto c = config();  // backoff_max 10 s
  storage::ChannelHealth h;
  CHECK(apply_result(h, Signal::failure, "429", 10s, c, k_t0) == Transition::none);
  CHECK(h.hold_until == k_t0 + 10s);  // as long as a probe would wait: held, not down
  CHECK(blocked(h, k_t0 + 9s));
  CHECK(!blocked(h, k_t0 + 10s));
  CHECK(!h.down());
  // Asked to wait longer than any probe would: down at once, probed no sooner.
  CHECK(apply_result(h, Signal::failure, "503", 1h, c, k_t0) == Transition::went_down);
  CHECK(h.probe_at == k_t0 + 1h);
  CHECK(h.hold_until == k_t0 + 1h);
  // A success's Retry-After (a receiver's odd answer) holds nothing.
  storage::ChannelHealth ok;
  CHECK(apply_result(ok, Signal::success, "", 1h, c, k_t0) == Transition::none);
  CHECK(!ok.hold_until);
  CHECK(!blocked(ok, k_t0 + 1s));
}

TEST_CASE("breaker: a paced catch-up takes the rows owed, never a burst") {
  storage::ChannelHealth h;
  h.pace_at = k_t0;
  struct Row {
    double rate;
    int most;
    Duration since_pace;
    int rows;
  } rows[] = {
      {2, 8, 0ms, 1},         // at least one at its turn
      {2, 8, 100ms, 1},       // 0.2 owed: still one
      {100, 8, 50ms, 5},      // five owed
      {100, 8, 100ms, 8},     // capped by the batch
      {100, 8, 10s, 8},       // an idle spell owes no more than the window
      {1000, 200, 10s, 100},  // the window: 100 ms at 1000/s
  };
  for (const auto& r : rows) {
    CAPTURE(r.rate);
    CAPTURE(r.since_pace.count());
    CHECK(paced_rows(h, r.rate, r.most, k_t0 + r.since_pace, 100ms) == r.rows);
  }
  storage::ChannelHealth p;
  p.pace_at = k_t0;
  pace(p, 1, 2, k_t0, 100ms);
  CHECK(p.pace_at == k_t0 + 500ms);
  CHECK(blocked(p, k_t0 + 499ms));
  CHECK(!blocked(p, k_t0 + 500ms));
  pace(p, 4, 2, k_t0 + 10s, 100ms);  // after a pause: from the window's start
  CHECK(p.pace_at == k_t0 + 10s - 100ms + 2s);
}

}  // namespace delivery_breaker_test
