#pragma once
// Tocsin's version, as `tocsin --version` prints it and each instance registers it
// (docs/postgres.md "Instances and claims").

namespace tocsin {

inline constexpr const char* k_version = "0.1.0";

}  // namespace tocsin
