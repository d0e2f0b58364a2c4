#pragma once
// The real payloads that AWS, OpsGenie, Alertmanager, Grafana and other tools sent, collected
// from public sources with a record of where each came from. They are not copied into this
// repository: they live beside it, in `../shared/peer-payloads/` next to the source tree, or
// wherever the environment variable TOCSIN_PEER_PAYLOADS points.

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "support/fixtures.hpp"

namespace tocsin::testing {

// The collection's directory, or nothing when this machine does not have it (a test that
// needs it then says so with a doctest MESSAGE and returns).
inline std::optional<std::filesystem::path> peer_payloads_dir() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("TOCSIN_PEER_PAYLOADS"); env && *env) {
    dir = env;
  } else {
    dir = std::filesystem::path(TOCSIN_SOURCE_DIR) / ".." / "shared" / "peer-payloads";
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;
  return std::filesystem::canonical(dir, ec);
}

// One payload of the collection, by its path inside it (e.g. "eventbridge/x.json"), or
// nothing when the collection is absent. A missing file in a present collection throws.
inline std::optional<std::string> peer_payload(const std::string& relative) {
  const auto dir = peer_payloads_dir();
  if (!dir) return std::nullopt;
  return read_file((*dir / relative).string());
}

}  // namespace tocsin::testing
