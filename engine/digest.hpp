#pragma once
// Digests (docs/behaviour.md "Noise"): a channel with `digest_every` gets one message per interval
// listing the alerts it would have been told about, with counts and noise scores, instead of one
// message per notification. The engine keeps each notification for such a channel as a digest item;
// when the channel's digest timer falls due it turns the items into one `digest` outbox row with
// delivery::build_digest, which lives next to the reader of the row's list (delivery/digest.hpp).

#include "delivery/digest.hpp"

namespace tocsin::engine {

using delivery::build_digest;

}  // namespace tocsin::engine
