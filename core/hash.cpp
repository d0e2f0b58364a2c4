#include "core/hash.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace tocsin {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed (OpenSSL EVP_Digest)");
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(k_hex[digest[i] >> 4]);
    out.push_back(k_hex[digest[i] & 0xF]);
  }
  return out;
}

std::string episode_alias(std::string_view fingerprint, int episode_number) {
  return "tocsin-" + sha256_hex(fingerprint).substr(0, 12) + "-" + std::to_string(episode_number);
}

}  // namespace tocsin
