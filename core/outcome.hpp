#pragma once
// The outcome of one inbound event (docs/behaviour.md "Episodes, escalation and timers"), recorded
// with a reason in the decision log.

#include <optional>
#include <string_view>

namespace tocsin {

enum class Outcome { created, duplicate, reopened, resolved, ignored, out_of_order, redelivery };

constexpr std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::created:
      return "created";
    case Outcome::duplicate:
      return "duplicate";
    case Outcome::reopened:
      return "reopened";
    case Outcome::resolved:
      return "resolved";
    case Outcome::ignored:
      return "ignored";
    case Outcome::out_of_order:
      return "out_of_order";
    case Outcome::redelivery:
      return "redelivery";
  }
  return "ignored";
}

enum class EpisodeStatus { open, acknowledged, resolved, expired, superseded };

constexpr std::string_view to_string(EpisodeStatus s) {
  switch (s) {
    case EpisodeStatus::open:
      return "open";
    case EpisodeStatus::acknowledged:
      return "acknowledged";
    case EpisodeStatus::resolved:
      return "resolved";
    case EpisodeStatus::expired:
      return "expired";
    case EpisodeStatus::superseded:
      return "superseded";
  }
  return "open";
}

constexpr std::optional<EpisodeStatus> parse_episode_status(std::string_view s) {
  if (s == "open") return EpisodeStatus::open;
  if (s == "acknowledged") return EpisodeStatus::acknowledged;
  if (s == "resolved") return EpisodeStatus::resolved;
  if (s == "expired") return EpisodeStatus::expired;
  if (s == "superseded") return EpisodeStatus::superseded;
  return std::nullopt;
}

// An episode in one of these statuses is the alert's current occurrence.
constexpr bool is_active(EpisodeStatus s) {
  return s == EpisodeStatus::open || s == EpisodeStatus::acknowledged;
}

}  // namespace tocsin
