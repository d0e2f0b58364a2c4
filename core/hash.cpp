#include "core/hash.hpp"

#include <openssl/evp.h>

#include <atomic>
#include <stdexcept>

namespace tocsin {

namespace {

// EVP_sha256() names the algorithm, and OpenSSL 3 looks up its implementation again on every
// digest made with it: fetched once here instead, with a context per thread. Both live until
// the process (or thread) ends. A failed fetch is not kept: the next call tries again.
const EVP_MD* sha256_method() {
  static std::atomic<EVP_MD*> fetched{nullptr};
  if (EVP_MD* md = fetched.load(std::memory_order_acquire)) return md;
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!md) throw std::runtime_error("SHA-256 is not available (OpenSSL EVP_MD_fetch)");
  EVP_MD* expected = nullptr;
  if (!fetched.compare_exchange_strong(expected, md, std::memory_order_acq_rel)) {
    EVP_MD_free(md);  // another thread's fetch came first
    return expected;
  }
  return md;
}

struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

std::string sha256_hex(std::string_view data) {
  thread_local const DigestContext context;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!context.ctx || EVP_DigestInit_ex2(context.ctx, sha256_method(), nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, digest, &length) != 1) {
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
  // One event asks for its episode's alias several times (the episode row, each notification):
  // the last fingerprint's hash prefix is kept, per thread.
  thread_local std::string last_fingerprint;
  thread_local std::string last_prefix;
  if (last_prefix.empty() || fingerprint != last_fingerprint) {
    last_prefix = "tocsin-" + sha256_hex(fingerprint).substr(0, 12) + "-";
    last_fingerprint.assign(fingerprint);
  }
  return last_prefix + std::to_string(episode_number);
}

}  // namespace tocsin
