#pragma once
// The list of a digest outbox row (docs/formats.md §12), written and read in one place: written
// by build_digest when a channel's digest falls due (the engine calls it), read by the channel
// formatters. The list is stored JSON, so it is read defensively: a row whose list cannot be
// read is formatted from its `why` instead (a digest must still go out), never thrown on.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.hpp"
#include "core/time.hpp"
#include "storage/records.hpp"

namespace tocsin::delivery {

// The outbox row of one digest. Its `digest` field is JSON (docs/formats.md §12):
//   {"channel", "since", "until", "notifications": N, "alerts": [
//     {"fingerprint", "summary", "episode", "alias", "severity", "priority", "noise",
//      "notifications": n, "actions": {"trigger": 1, "resolve": 1, ...}, "last_action",
//      "first_at", "last_at"}, ...]}
// Alerts are listed most severe first, then by how many notifications they caused, then by
// fingerprint; `noise` is the latest score seen. The row's alias is "digest:{channel}:{number}",
// `number` being the digest's place in the channel's sequence (Transaction::next_digest_number),
// so no two digests of a channel ever share one; its severity is the highest listed, its
// priority the most urgent, its noise the highest, and `why` one line for people.
// REQUIRES: !items.empty().
storage::OutboxRecord build_digest(const std::string& channel, std::int64_t number,
                                   const std::vector<storage::DigestItem>& items, TimePoint now);

// Notifications per action, in lifecycle order (trigger, escalate, reminder, acknowledge,
// resolve), then any other action by name.
using ActionCounts = std::vector<std::pair<std::string, std::int64_t>>;

// One listed alert. A field of the wrong type reads as absent.
struct DigestAlert {
  std::string fingerprint, summary, alias, severity, priority, last_action;
  std::optional<double> noise;
  std::int64_t notifications = 0;
  ActionCounts actions;
  Json json;  // the entry as stored, for channels that pass it on
};

struct Digest {
  std::optional<TimePoint> since, until;
  std::int64_t notifications = 0;  // the stored total, else the sum over the alerts
  std::vector<DigestAlert> alerts;
  Json json;  // the whole list as stored
};

// The list in `text`; nullopt when it is not strict JSON, not an object, has no `alerts`
// array of objects, or lists no alert.
std::optional<Digest> read_digest(std::string_view text);

// "Tocsin digest: 14 notifications about 5 alerts, 13:00–14:00 UTC". The interval is left
// out when unknown and shows dates when it spans midnight.
std::string digest_headline(const Digest& d);

// Over all listed alerts.
ActionCounts action_totals(const Digest& d);

// "2 trigger, 1 escalate".
std::string action_breakdown(const ActionCounts& actions);

// What to call the alert: its summary, else its fingerprint.
std::string digest_alert_title(const DigestAlert& a);

}  // namespace tocsin::delivery
