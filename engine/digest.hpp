#pragma once
// Digests (docs/behaviour.md "Noise"): a channel with `digest_every` gets one message per interval
// listing the alerts it would have been told about, with counts and noise scores, instead of one
// message per notification. The engine keeps each notification for such a channel as a digest item;
// when the channel's digest timer falls due it turns the items into one `digest` outbox row.

#include <cstdint>
#include <string>
#include <vector>

#include "storage/records.hpp"

namespace tocsin::engine {

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

}  // namespace tocsin::engine
