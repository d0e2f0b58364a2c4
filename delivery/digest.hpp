#pragma once
// Reading a digest outbox row's list (written by engine/digest.hpp) for the channel
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

namespace tocsin::delivery {

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
