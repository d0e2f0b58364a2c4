// Where SNS signing certificates come from (server/sns_certificates.hpp): the pinned cert_dir read
// from disk, and the HTTPS fetcher, which checks the URL before it connects.

#include "server/sns_certificates.hpp"

#include <doctest/doctest.h>

#include <fstream>

#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

namespace server_sns_certificates_test {

using namespace tocsin;
using namespace tocsin::server;
using tocsin::testing::fixture;
using tocsin::testing::TempDir;

namespace {

constexpr const char* k_cert_name =
    "SimpleNotificationService-ac9ba2946855213a28bfa93d609aeb4b.pem";
const std::string k_us_cert_url = std::string("https://sns.us-east-1.amazonaws.com/") + k_cert_name;

// The fixtures' scenario happens on 2026-03-02, inside the test certificate's 2020..2049.
class FixedClock final : public Clock {
 public:
  TimePoint now() const override { return *parse_timestamp("2026-03-02T10:03:41Z"); }
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

// A cert_dir holding the kit's test certificate under the name the good fixtures' URLs use.
struct PinnedDir {
  TempDir dir;
  PinnedDir() { write_file(dir.file(k_cert_name), fixture("sns-signing/test-signing-cert.pem")); }
  std::string path() const { return dir.path().string(); }
};

ingest::CertificateFetcher fetcher_that_must_not_run() {
  return [](const std::string& url) -> Expected<std::string, ingest::IngestError> {
    FAIL("unexpected fetch of " << url);
    return unexpected(ingest::IngestError{503, "cert_fetch_failed", "unexpected"});
  };
}

ingest::SnsMessage parse_fixture(const std::string& relative) {
  auto m = ingest::parse_sns_envelope({}, fixture(relative));
  REQUIRE_MESSAGE(m.has_value(), relative << ": " << (m.has_value() ? "" : m.error().detail));
  return std::move(*m);
}

}  // namespace

TEST_CASE("the production fetcher refuses an untrusted URL without connecting") {
  auto pem = server::fetch_certificate_https(
      "https://169.254.169.254/SimpleNotificationService-"
      "ac9ba2946855213a28bfa93d609aeb4b.pem");
  REQUIRE_FALSE(pem.has_value());
  CHECK(pem.error().status == 403);
  CHECK(pem.error().code == "untrusted_cert_url");
}

TEST_CASE("cert_dir pins its *.pem files by file name and ignores other files") {
  FixedClock clock;
  PinnedDir dir;
  write_file(dir.dir.file("README.txt"), "not a certificate, and not a .pem: ignored");
  auto pinned = load_pinned_certificates(dir.path(), clock);
  REQUIRE_MESSAGE(pinned.has_value(), (pinned.has_value() ? "" : pinned.error()));
  CHECK(pinned->size() == 1);
  CHECK(pinned->public_key(k_us_cert_url).has_value());
}

TEST_CASE("a bad cert_dir is reported when it is loaded") {
  FixedClock clock;
  SUBCASE("a directory that does not exist") {
    TempDir dir;
    auto pinned = load_pinned_certificates(dir.file("missing"), clock);
    REQUIRE_FALSE(pinned.has_value());
    CHECK(pinned.error().find("cannot read cert_dir") != std::string::npos);
  }
  SUBCASE("a .pem file that is not a certificate, named in the error") {
    PinnedDir dir;
    write_file(dir.dir.file("SimpleNotificationService-bad.pem"),
               fixture("sns-signing/attacker-pubkey.pem"));
    auto pinned = load_pinned_certificates(dir.path(), clock);
    REQUIRE_FALSE(pinned.has_value());
    CHECK(pinned.error().find("SimpleNotificationService-bad.pem") != std::string::npos);
  }
  SUBCASE("a .pem file too large to be a certificate is not read") {
    PinnedDir dir;
    write_file(dir.dir.file("big.pem"), std::string(ingest::k_max_pem_bytes + 1, 'A'));
    auto pinned = load_pinned_certificates(dir.path(), clock);
    REQUIRE_FALSE(pinned.has_value());
    CHECK(pinned.error() == dir.dir.file("big.pem") + " is larger than 65536 bytes");
  }
  SUBCASE("make_certificate_provider passes the error on") {
    rules::SnsSource config;
    TempDir dir;
    config.cert_dir = dir.file("missing");
    CHECK_FALSE(make_certificate_provider(config, clock, fetcher_that_must_not_run()).has_value());
  }
}

TEST_CASE("a provider built from the configuration verifies the fixtures") {
  FixedClock clock;
  PinnedDir dir;
  rules::SnsSource config;
  config.cert_dir = dir.path();
  config.fetch_certs = false;
  auto provider = make_certificate_provider(config, clock, fetcher_that_must_not_run());
  REQUIRE(provider.has_value());
  const ingest::SnsSettings settings;
  for (const char* signed_fixture : {"sns-signing/signed/sns_notification_alarm.v1.json",
                                     "sns-signing/signed/sns_notification_alarm.v2.json"}) {
    INFO(signed_fixture);
    CHECK_FALSE(ingest::verify_sns_message(parse_fixture(signed_fixture), settings, **provider)
                    .has_value());
  }
}

}  // namespace server_sns_certificates_test
