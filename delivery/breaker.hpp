#pragma once
// The per-channel circuit breaker and the paced catch-up
// (docs/behaviour.md "The circuit breaker and the catch-up"), as pure functions over a channel's
// stored health (storage::ChannelHealth): what a request's result does to it, whether the channel
// may send now, and how many rows a paced claim may take. server::DeliveryWorker reads and writes
// the row in its transactions.

#include <optional>
#include <string>

#include "core/time.hpp"
#include "delivery/policy.hpp"
#include "rules/rules.hpp"
#include "storage/records.hpp"

namespace tocsin::delivery {

// What one request said about its channel's receiver.
enum class Signal {
  success,   // 2xx
  answered,  // a permanent 4xx: the receiver is there; the notification is at fault
  failure,   // no answer, 408, 429 or 5xx
};
// nullopt: no request was made (a configuration error): says nothing about the receiver.
std::optional<Signal> signal_of(const AttemptResult& r, bool request_made);

// A transition of the channel, if the result made one.
enum class Transition { none, went_down, came_up };

// Applies one result at `now`: a failure counts (and, down, schedules the next probe, backing
// off from backoff_initial, doubling, up to backoff_max, never sooner than Retry-After);
// `breaker_after` failures in a row mark the channel down; a success or an answer clears the
// count and brings a down channel back, catching up from `now`. A failure's Retry-After holds
// the channel whatever its state, and one longer than backoff_max marks it down at once.
Transition apply_result(storage::ChannelHealth& h, Signal s, const std::string& error,
                        std::optional<Duration> retry_after, const rules::Delivery& config,
                        TimePoint now);

// The wait before probe number `probes` + 1 of an outage.
Duration probe_interval(int probes, const rules::Delivery& config);

// Nothing of the channel may leave at `now`: held by Retry-After, down and not yet time for a
// probe, or catching up and not yet time for the next row.
bool blocked(const storage::ChannelHealth& h, TimePoint now);

// The channel's catch-up rate, per second: its own, else delivery.catch_up_rate.
double catch_up_rate(const rules::Rules& rules, const std::string& channel);

// A paced claim at `now` of at most `most` rows: how many it may take (at least 1), owed since
// the channel's pace_at at `rate` per second, counting no further back than `window` (no burst
// after an idle spell). pace(h, taken, ...) then moves pace_at past the rows taken.
int paced_rows(const storage::ChannelHealth& h, double rate, int most, TimePoint now,
               Duration window);
void pace(storage::ChannelHealth& h, int taken, double rate, TimePoint now, Duration window);

}  // namespace tocsin::delivery
