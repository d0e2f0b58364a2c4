#pragma once
// How the typed vocabulary of decisions is spelled in the database, and therefore in the API and
// the replay output, which print what is stored (docs/formats.md §13.2). The rest of the tree
// decides with the enums; only this header turns them into text.

#include <string_view>

#include "rules/lifecycle.hpp"

namespace tocsin::storage {

// The stored `outcome` of a decision of kind "decision". Both drops are "dropped" (the reason
// tells them apart for a reader); code tells them apart by rules::NoteKind.
constexpr std::string_view to_text(rules::NoteKind k) {
  switch (k) {
    case rules::NoteKind::escalated:
      return "escalated";
    case rules::NoteKind::dropped_by_rule:
      return "dropped";
    case rules::NoteKind::demoted:
      return "demoted";
    case rules::NoteKind::held:
      return "held";
    case rules::NoteKind::dropped_while_held:
      return "dropped";
    case rules::NoteKind::superseded:
      return "superseded";
    case rules::NoteKind::stale:
      return "stale";
    case rules::NoteKind::expired:
      return "expired";
    case rules::NoteKind::ack_timeout:
      return "ack_timeout";
    case rules::NoteKind::acknowledged:
      return "acknowledged";
    case rules::NoteKind::unacknowledged:
      return "unacknowledged";
    case rules::NoteKind::resolved:
      return "resolved";
  }
  return "unknown";
}

}  // namespace tocsin::storage
