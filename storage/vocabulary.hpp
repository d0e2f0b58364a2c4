#pragma once
// How the typed vocabulary of decisions and notifications is spelled in the database, and
// therefore in the API and the replay output, which print what is stored (docs/formats.md §13.2).
// The rest of the tree decides with the enums; only this header turns them into text, and text
// read back into them (strictly: a value this build does not know fails the read). Where the
// schema has a CHECK constraint on the column, the spellings here are exactly the values it
// allows (tests/storage/vocabulary_test.cpp holds the two together).

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/event.hpp"
#include "core/outcome.hpp"
#include "core/severity.hpp"
#include "rules/lifecycle.hpp"
#include "storage/records.hpp"

namespace tocsin::storage {

// The stored outcome of an inbound event: its core spelling (the API's ingest reply prints
// to_string(Outcome); tests/storage/vocabulary_test.cpp holds the two together).
constexpr DecisionOutcome decision_outcome(Outcome o) {
  switch (o) {
    case Outcome::created:
      return DecisionOutcome::created;
    case Outcome::duplicate:
      return DecisionOutcome::duplicate;
    case Outcome::reopened:
      return DecisionOutcome::reopened;
    case Outcome::resolved:
      return DecisionOutcome::resolved;
    case Outcome::ignored:
      return DecisionOutcome::ignored;
    case Outcome::out_of_order:
      return DecisionOutcome::out_of_order;
    case Outcome::redelivery:
      return DecisionOutcome::redelivery;
  }
  return DecisionOutcome::ignored;
}

// The stored outcome of a decision of kind "decision". Both drops are `dropped` (the reason
// tells them apart for a reader); code tells them apart by rules::NoteKind.
constexpr DecisionOutcome decision_outcome(rules::NoteKind k) {
  switch (k) {
    case rules::NoteKind::escalated:
      return DecisionOutcome::escalated;
    case rules::NoteKind::dropped_by_rule:
      return DecisionOutcome::dropped;
    case rules::NoteKind::demoted:
      return DecisionOutcome::demoted;
    case rules::NoteKind::held:
      return DecisionOutcome::held;
    case rules::NoteKind::dropped_while_held:
      return DecisionOutcome::dropped;
    case rules::NoteKind::superseded:
      return DecisionOutcome::superseded;
    case rules::NoteKind::stale:
      return DecisionOutcome::stale;
    case rules::NoteKind::expired:
      return DecisionOutcome::expired;
    case rules::NoteKind::ack_timeout:
      return DecisionOutcome::ack_timeout;
    case rules::NoteKind::acknowledged:
      return DecisionOutcome::acknowledged;
    case rules::NoteKind::unacknowledged:
      return DecisionOutcome::unacknowledged;
    case rules::NoteKind::resolved:
      return DecisionOutcome::resolved;
    case rules::NoteKind::silenced:
      return DecisionOutcome::silenced;
    case rules::NoteKind::unsilenced:
      return DecisionOutcome::unsilenced;
  }
  return DecisionOutcome::ignored;
}

constexpr std::string_view to_text(DecisionOutcome o) {
  switch (o) {
    case DecisionOutcome::created:
      return "created";
    case DecisionOutcome::duplicate:
      return "duplicate";
    case DecisionOutcome::reopened:
      return "reopened";
    case DecisionOutcome::resolved:
      return "resolved";
    case DecisionOutcome::ignored:
      return "ignored";
    case DecisionOutcome::out_of_order:
      return "out_of_order";
    case DecisionOutcome::redelivery:
      return "redelivery";
    case DecisionOutcome::escalated:
      return "escalated";
    case DecisionOutcome::dropped:
      return "dropped";
    case DecisionOutcome::demoted:
      return "demoted";
    case DecisionOutcome::held:
      return "held";
    case DecisionOutcome::superseded:
      return "superseded";
    case DecisionOutcome::stale:
      return "stale";
    case DecisionOutcome::expired:
      return "expired";
    case DecisionOutcome::ack_timeout:
      return "ack_timeout";
    case DecisionOutcome::acknowledged:
      return "acknowledged";
    case DecisionOutcome::unacknowledged:
      return "unacknowledged";
    case DecisionOutcome::silenced:
      return "silenced";
    case DecisionOutcome::unsilenced:
      return "unsilenced";
    case DecisionOutcome::silence_added:
      return "silence_added";
    case DecisionOutcome::silence_ended:
      return "silence_ended";
    case DecisionOutcome::subscription_confirmed:
      return "subscription_confirmed";
    case DecisionOutcome::subscription_rejected:
      return "subscription_rejected";
  }
  return "unknown";
}

constexpr std::string_view to_text(rules::NotifyAction a) {
  switch (a) {
    case rules::NotifyAction::trigger:
      return "trigger";
    case rules::NotifyAction::resolve:
      return "resolve";
    case rules::NotifyAction::acknowledge:
      return "acknowledge";
    case rules::NotifyAction::escalate:
      return "escalate";
    case rules::NotifyAction::reminder:
      return "reminder";
    case rules::NotifyAction::digest:
      return "digest";
  }
  return "unknown";
}

constexpr std::string_view to_text(OutboxStatus s) {
  switch (s) {
    case OutboxStatus::pending:
      return "pending";
    case OutboxStatus::sent:
      return "sent";
    case OutboxStatus::failed:
      return "failed";
    case OutboxStatus::superseded:
      return "superseded";
  }
  return "unknown";
}

constexpr std::string_view to_text(AttemptOutcome o) {
  switch (o) {
    case AttemptOutcome::sent:
      return "sent";
    case AttemptOutcome::retry:
      return "retry";
    case AttemptOutcome::failed:
      return "failed";
  }
  return "unknown";
}

constexpr std::string_view to_text(SubscriptionKind k) {
  switch (k) {
    case SubscriptionKind::subscribe:
      return "subscribe";
    case SubscriptionKind::unsubscribe:
      return "unsubscribe";
  }
  return "unknown";
}

constexpr std::string_view to_text(SubscriptionStatus s) {
  switch (s) {
    case SubscriptionStatus::pending:
      return "pending";
    case SubscriptionStatus::confirmed:
      return "confirmed";
    case SubscriptionStatus::failed:
      return "failed";
    case SubscriptionStatus::noted:
      return "noted";
    case SubscriptionStatus::confirming:
      return "confirming";
    case SubscriptionStatus::rejected:
      return "rejected";
  }
  return "unknown";
}

constexpr std::string_view to_text(DecisionKind k) {
  switch (k) {
    case DecisionKind::event:
      return "event";
    case DecisionKind::decision:
      return "decision";
  }
  return "unknown";
}

// The types of core/ and rules/ that rows store keep the spelling those folders give them (the
// rules file and the API spell them too): these delegate to it, so there is still one spelling,
// and add the strict reading below.
constexpr std::string_view to_text(EpisodeStatus s) {
  return tocsin::to_string(s);
}

constexpr std::string_view to_text(Severity s) {
  return tocsin::to_string(s);
}

constexpr std::string_view to_text(Source s) {
  return tocsin::to_string(s);
}

inline std::string_view to_text(rules::EndedBy b) {
  return rules::to_string(b);
}

inline std::string_view to_text(rules::TimerKind k) {
  return rules::to_string(k);
}

// Every value of each vocabulary, in declaration order, and the column that stores it (for the
// error about a value this build does not know).
template <class E>
struct Vocabulary;

template <>
struct Vocabulary<rules::NotifyAction> {
  static constexpr std::string_view column = "outbox.action";
  static constexpr std::array values{
      rules::NotifyAction::trigger,     rules::NotifyAction::resolve,
      rules::NotifyAction::acknowledge, rules::NotifyAction::escalate,
      rules::NotifyAction::reminder,    rules::NotifyAction::digest};
};

template <>
struct Vocabulary<OutboxStatus> {
  static constexpr std::string_view column = "outbox.status";
  static constexpr std::array values{OutboxStatus::pending, OutboxStatus::sent,
                                     OutboxStatus::failed, OutboxStatus::superseded};
};

template <>
struct Vocabulary<AttemptOutcome> {
  static constexpr std::string_view column = "delivery_attempts.outcome";
  static constexpr std::array values{AttemptOutcome::sent, AttemptOutcome::retry,
                                     AttemptOutcome::failed};
};

template <>
struct Vocabulary<SubscriptionKind> {
  static constexpr std::string_view column = "subscriptions.kind";
  static constexpr std::array values{SubscriptionKind::subscribe, SubscriptionKind::unsubscribe};
};

template <>
struct Vocabulary<SubscriptionStatus> {
  static constexpr std::string_view column = "subscriptions.status";
  static constexpr std::array values{SubscriptionStatus::pending,    SubscriptionStatus::confirmed,
                                     SubscriptionStatus::failed,     SubscriptionStatus::noted,
                                     SubscriptionStatus::confirming, SubscriptionStatus::rejected};
};

template <>
struct Vocabulary<DecisionKind> {
  static constexpr std::string_view column = "decisions.kind";
  static constexpr std::array values{DecisionKind::event, DecisionKind::decision};
};

template <>
struct Vocabulary<DecisionOutcome> {
  static constexpr std::string_view column = "decisions.outcome";
  static constexpr std::array values{DecisionOutcome::created,
                                     DecisionOutcome::duplicate,
                                     DecisionOutcome::reopened,
                                     DecisionOutcome::resolved,
                                     DecisionOutcome::ignored,
                                     DecisionOutcome::out_of_order,
                                     DecisionOutcome::redelivery,
                                     DecisionOutcome::escalated,
                                     DecisionOutcome::dropped,
                                     DecisionOutcome::demoted,
                                     DecisionOutcome::held,
                                     DecisionOutcome::superseded,
                                     DecisionOutcome::stale,
                                     DecisionOutcome::expired,
                                     DecisionOutcome::ack_timeout,
                                     DecisionOutcome::acknowledged,
                                     DecisionOutcome::unacknowledged,
                                     DecisionOutcome::silenced,
                                     DecisionOutcome::unsilenced,
                                     DecisionOutcome::silence_added,
                                     DecisionOutcome::silence_ended,
                                     DecisionOutcome::subscription_confirmed,
                                     DecisionOutcome::subscription_rejected};
};

template <>
struct Vocabulary<EpisodeStatus> {
  static constexpr std::string_view column = "episodes.status";
  static constexpr std::array values{EpisodeStatus::open, EpisodeStatus::acknowledged,
                                     EpisodeStatus::resolved, EpisodeStatus::expired,
                                     EpisodeStatus::superseded};
};

// "" is `none`: an episode not ended yet, and every episode stored before migration 4 added
// the column (its default).
template <>
struct Vocabulary<rules::EndedBy> {
  static constexpr std::string_view column = "episodes.ended_by";
  static constexpr std::array values{rules::EndedBy::none, rules::EndedBy::source,
                                     rules::EndedBy::person, rules::EndedBy::expired,
                                     rules::EndedBy::superseded};
};

// Also stored by outbox.severity and digest_items.severity: their readers name their column.
template <>
struct Vocabulary<Severity> {
  static constexpr std::string_view column = "episodes.severity";
  static constexpr std::array values{Severity::info, Severity::warning, Severity::high,
                                     Severity::critical};
};

template <>
struct Vocabulary<Source> {
  static constexpr std::string_view column = "alerts.source";
  static constexpr std::array values{Source::cloudwatch, Source::opsgenie,  Source::alertmanager,
                                     Source::generic,    Source::heartbeat, Source::grafana};
};

template <>
struct Vocabulary<rules::TimerKind> {
  static constexpr std::string_view column = "timers.kind";
  static constexpr std::array values{rules::TimerKind::escalation,   rules::TimerKind::max_open_age,
                                     rules::TimerKind::auto_resolve, rules::TimerKind::ack_timeout,
                                     rules::TimerKind::heartbeat,    rules::TimerKind::digest,
                                     rules::TimerKind::silence};
};

// The value spelled `text`, or nullopt: for text from outside (an API query parameter), which
// the caller refuses in its own words.
template <class E>
constexpr std::optional<E> from_text(std::string_view text) {
  for (E v : Vocabulary<E>::values) {
    if (to_text(v) == text) return v;
  }
  return std::nullopt;
}

// A stored value this build does not know: the row was written by a newer version of Tocsin (or
// by hand). Reading it as some default would act on a guess, so the read fails and says which
// column and value.
class UnknownStoredValue : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The value stored as `text` in `column`; throws UnknownStoredValue for any other text.
template <class E>
E parse_stored(std::string_view text, std::string_view column) {
  if (auto v = from_text<E>(text)) return *v;
  throw UnknownStoredValue(std::string(column) + " holds \"" + std::string(text) +
                           "\", which this version of Tocsin does not know (was the database "
                           "written by a newer version?)");
}

// The same, read from the vocabulary's own column.
template <class E>
E parse_stored(std::string_view text) {
  return parse_stored<E>(text, Vocabulary<E>::column);
}

}  // namespace tocsin::storage
