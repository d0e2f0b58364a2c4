#include "core/hash.hpp"

#include <doctest/doctest.h>

#include <string>
#include <thread>

namespace core_hash_test {

using tocsin::episode_alias;
using tocsin::sha256_hex;

TEST_CASE("sha256_hex gives the standard digests, the same on every thread") {
  // FIPS 180-2's examples.
  const std::string empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  CHECK(sha256_hex("") == empty);
  CHECK(sha256_hex("abc") == abc);
  CHECK(sha256_hex(std::string(1000, 'a')) == sha256_hex(std::string(1000, 'a')));
  std::string on_other_thread;
  std::thread([&] { on_other_thread = sha256_hex("abc"); }).join();
  CHECK(on_other_thread == abc);
}

TEST_CASE("episode_alias is the fingerprint's hash prefix and the number, whatever came before") {
  // Its last fingerprint's prefix is reused: alternating fingerprints must not mix them up.
  const std::string a = "tocsin-" + sha256_hex("cloudwatch:1:r:a").substr(0, 12);
  const std::string b = "tocsin-" + sha256_hex("generic:b").substr(0, 12);
  CHECK(episode_alias("cloudwatch:1:r:a", 1) == a + "-1");
  CHECK(episode_alias("cloudwatch:1:r:a", 12) == a + "-12");
  CHECK(episode_alias("generic:b", 3) == b + "-3");
  CHECK(episode_alias("cloudwatch:1:r:a", 2) == a + "-2");
  CHECK(episode_alias("", 1) == "tocsin-" + sha256_hex("").substr(0, 12) + "-1");
  CHECK(episode_alias("generic:b", 3) == b + "-3");
}

}  // namespace core_hash_test
