// The HTTPS certificate fetcher (server/sns_certificates.hpp) checks the URL before it connects.

#include "server/sns_certificates.hpp"

#include <doctest/doctest.h>

using namespace tocsin;
using namespace tocsin::server;

TEST_CASE("the production fetcher refuses an untrusted URL without connecting") {
  auto pem = server::fetch_certificate_https(
      "https://169.254.169.254/SimpleNotificationService-"
      "ac9ba2946855213a28bfa93d609aeb4b.pem");
  REQUIRE_FALSE(pem.has_value());
  CHECK(pem.error().status == 403);
  CHECK(pem.error().code == "untrusted_cert_url");
}
