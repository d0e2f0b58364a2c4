#pragma once

#include <openssl/crypto.h>

#include <string_view>

namespace tocsin {

// Compares a presented secret with the expected one without the timing of the comparison
// depending on where they first differ. Only the length can leak, which a token's format
// reveals anyway.
inline bool equal_constant_time(std::string_view presented, std::string_view expected) {
  if (presented.size() != expected.size()) return false;
  return CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

}  // namespace tocsin
