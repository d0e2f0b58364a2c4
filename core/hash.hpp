#pragma once

#include <string>
#include <string_view>

namespace tocsin {

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// The outbound identity of one episode (docs/behaviour.md "Episodes, escalation and timers"):
// `tocsin-<12 hex of the fingerprint's SHA-256>-<episode number>`. Unique per episode, so a
// downstream tool's alias dedup can never fold a new episode into an old one; short and free of the
// fingerprint's odd characters.
std::string episode_alias(std::string_view fingerprint, int episode_number);

}  // namespace tocsin
