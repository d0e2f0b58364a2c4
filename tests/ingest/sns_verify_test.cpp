#include "ingest/sns_verify.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "core/json.hpp"
#include "support/fixtures.hpp"

namespace ingest_sns_verify_test {

using namespace tocsin;
using namespace tocsin::ingest;
using tocsin::testing::fixture;
using tocsin::testing::fixture_path;

namespace {

constexpr const char* k_cert_name =
    "SimpleNotificationService-ac9ba2946855213a28bfa93d609aeb4b.pem";
const std::string k_us_cert_url = std::string("https://sns.us-east-1.amazonaws.com/") + k_cert_name;
const std::string k_eu_cert_url = std::string("https://sns.eu-west-1.amazonaws.com/") + k_cert_name;
const std::string k_other_cert_url =
    "https://sns.us-east-1.amazonaws.com/"
    "SimpleNotificationService-00000000000000000000000000000000.pem";
const std::string k_alerts_critical = "arn:aws:sns:us-east-1:123456789012:alerts-critical";

// The fixtures' scenario happens on 2026-03-02, inside the test certificate's 2020..2049.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint t) : m_now(t) {}
  TimePoint now() const override { return m_now.load(); }
  void set(TimePoint t) { m_now.store(t); }

 private:
  std::atomic<TimePoint> m_now;
};

TimePoint at(const char* iso) {
  auto t = parse_timestamp(iso);
  REQUIRE(t.has_value());
  return *t;
}

std::string test_cert_pem() {
  return fixture("sns-signing/test-signing-cert.pem");
}

// `pem` (by default the kit's test certificate) pinned under the name the good fixtures' URLs
// use.
PinnedCertificates load_pinned(const Clock& clock, const std::string& pem = test_cert_pem()) {
  auto pinned = PinnedCertificates::parse({PinnedFile{k_cert_name, k_cert_name, pem}}, clock);
  REQUIRE_MESSAGE(pinned.has_value(), (pinned.has_value() ? "" : pinned.error()));
  return std::move(*pinned);
}

// The allow-list docs/formats.md §8 assumes.
SnsSettings allowlisted_config() {
  SnsSettings config;
  config.topics =
      std::vector<std::string>{k_alerts_critical, "arn:aws:sns:eu-west-1:123456789012:alerts-db"};
  return config;
}

SnsMessage parse_fixture(const std::string& relative) {
  auto m = parse_sns_envelope({}, fixture(relative));
  REQUIRE_MESSAGE(m.has_value(), relative << ": " << (m.has_value() ? "" : m.error().detail));
  return std::move(*m);
}

std::vector<std::string> signed_kit_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(fixture_path("sns-signing/signed"))) {
    const auto name = e.path().filename().string();
    if (name.ends_with(".json")) names.push_back(name.substr(0, name.size() - 5));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// One SNS case of cases.json.
struct SnsCase {
  std::string relative;  // under tests/fixtures
  HeaderMap headers;     // names lower-cased
  int status = 0;
  std::string error;  // empty when cases.json says null
};

std::vector<SnsCase> sns_cases_from_cases_json() {
  auto cases = parse_json_strict(fixture("cases.json"));
  REQUIRE(cases.has_value());
  std::vector<SnsCase> out;
  for (const auto& c : *cases) {
    if (c.at("endpoint") != "/hooks/sns") continue;
    SnsCase sc;
    const auto dir = c.at("dir").get<std::string>();
    sc.relative = (dir == "." ? "" : dir + "/") + c.at("file").get<std::string>();
    for (const auto& [name, value] : c.at("headers").items()) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      sc.headers.emplace(lower, value.get<std::string>());
    }
    sc.status = c.at("expect_status").get<int>();
    if (c.at("expect_error").is_string()) sc.error = c.at("expect_error").get<std::string>();
    out.push_back(std::move(sc));
  }
  return out;
}

// What the verifier decides for one request: authenticity and allow-list, then, for a
// subscription confirmation about to be confirmed, its SubscribeURL.
std::optional<IngestError> verify_then_check_subscribe_url(const SnsMessage& m,
                                                           const SnsSettings& config,
                                                           CertificateProvider& certs) {
  if (auto e = verify_sns_message(m, config, certs)) return e;
  if (m.type == SnsType::subscription_confirmation) {
    return check_subscribe_url(m.subscribe_url, m.topic_arn, m.token);
  }
  return std::nullopt;
}

// A provider that records what it was asked and answers with a fixed result.
class RecordingProvider final : public CertificateProvider {
 public:
  explicit RecordingProvider(Expected<PublicKey, IngestError> answer)
      : m_answer(std::move(answer)) {}
  Expected<PublicKey, IngestError> public_key(const std::string& cert_url) override {
    asked.push_back(cert_url);
    return m_answer;
  }
  std::vector<std::string> asked;

 private:
  Expected<PublicKey, IngestError> m_answer;
};

// A fetcher for FetchingCertificates that counts calls and never touches the network.
struct CountingFetcher {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<Expected<std::string, IngestError>> answer;

  explicit CountingFetcher(Expected<std::string, IngestError> a)
      : answer(std::make_shared<Expected<std::string, IngestError>>(std::move(a))) {}
  CertificateFetcher function() const {
    return [calls = calls, answer = answer](const std::string&) {
      ++*calls;
      return *answer;
    };
  }
};

CertificateFetcher fetcher_that_must_not_run() {
  return [](const std::string& url) -> Expected<std::string, IngestError> {
    FAIL("unexpected fetch of " << url);
    return unexpected(IngestError{503, "cert_fetch_failed", "unexpected"});
  };
}

}  // namespace

TEST_CASE("the string-to-sign equals the signing kit's bytes for every signed fixture") {
  const auto names = signed_kit_names();
  CHECK(names.size() == 14);  // seven messages, each signed with version 1 and 2
  for (const auto& name : names) {
    CAPTURE(name);
    const auto m = parse_fixture("sns-signing/signed/" + name + ".json");
    CHECK(sns_string_to_sign(m) == fixture("sns-signing/signed/" + name + ".string-to-sign.txt"));
  }
}

TEST_CASE("the string-to-sign is built from decoded values and the keys present") {
  SUBCASE("a Notification without Subject leaves the key out") {
    const auto s = sns_string_to_sign(parse_fixture("edge/sns_notification_no_subject.json"));
    CHECK(s.find("Subject\n") == std::string::npos);
    CHECK(s.rfind("Message\n", 0) == 0);
    CHECK(s.ends_with("Type\nNotification\n"));
  }
  SUBCASE("byte-different envelopes with the same decoded values sign the same text") {
    CHECK(sns_string_to_sign(parse_fixture("edge/sns_notification_unicode_raw.json")) ==
          sns_string_to_sign(parse_fixture("edge/sns_notification_unicode_envelope_escaped.json")));
  }
  SUBCASE("a confirmation signs SubscribeURL and Token but no Subject") {
    const auto s = sns_string_to_sign(parse_fixture("sns_unsubscribe_confirmation.json"));
    CHECK(s.find("\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=") !=
          std::string::npos);
    CHECK(s.find("\nToken\n") != std::string::npos);
    CHECK(s.ends_with("Type\nUnsubscribeConfirmation\n"));
  }
}

TEST_CASE("every authentic SNS fixture verifies with the test certificate pinned") {
  FakeClock clock(at("2026-03-02T10:03:41Z"));
  FetchingCertificates certs(load_pinned(clock), false, clock, fetcher_that_must_not_run());
  const auto config = allowlisted_config();

  std::vector<std::string> files = {
      // the requested fixtures, SignatureVersion 1, us-east-1 and eu-west-1 certificate URLs
      "sns_notification_alarm.json", "sns_notification_composite.json",
      "sns_notification_insufficient.json", "sns_notification_metric_math.json",
      "sns_notification_ok.json", "sns_subscription_confirmation.json",
      "sns_unsubscribe_confirmation.json",
      // tricky but valid: no Subject, MessageAttributes, unicode in three spellings (v2), ...
      "edge/sns_notification_anomaly_detection.json",
      "edge/sns_notification_eventbridge_event.json",
      "edge/sns_notification_extended_statistic.json", "edge/sns_notification_legacy_format.json",
      "edge/sns_notification_no_subject.json", "edge/sns_notification_special_chars_name.json",
      "edge/sns_notification_unicode_envelope_escaped.json",
      "edge/sns_notification_unicode_escaped.json", "edge/sns_notification_unicode_raw.json",
      "edge/sns_notification_with_message_attributes.json"};
  // the kit: every message signed with SHA1withRSA (v1) and SHA256withRSA (v2)
  for (const auto& name : signed_kit_names())
    files.push_back("sns-signing/signed/" + name + ".json");
  CHECK(files.size() == 31);

  for (const auto& file : files) {
    CAPTURE(file);
    const auto m = parse_fixture(file);
    auto e = verify_sns_message(m, config, certs);
    CHECK_MESSAGE(!e.has_value(), (e ? e->code + ": " + e->detail : ""));
  }
}

TEST_CASE("hostile SNS fixtures are refused with the status and code cases.json expects") {
  struct Case {
    const char* intent;
    const char* file;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {"a certificate on a non-AWS host", "bad/sns_cert_url_non_aws_host.json", 403,
       "untrusted_cert_url"},
      {"a certificate over plain http", "bad/sns_cert_url_http_scheme.json", 403,
       "untrusted_cert_url"},
      {"a host that only starts like SNS's", "bad/sns_cert_url_lookalike_suffix.json", 403,
       "untrusted_cert_url"},
      {"userinfo hiding the real host", "bad/sns_cert_url_userinfo_trick.json", 403,
       "untrusted_cert_url"},
      {"an S3 bucket on amazonaws.com", "bad/sns_cert_url_s3_bucket.json", 403,
       "untrusted_cert_url"},
      {"a URL that is not a .pem path", "bad/sns_cert_url_not_pem.json", 403, "untrusted_cert_url"},
      {"a non-443 port and dot-segments", "bad/sns_cert_url_port_and_path_traversal.json", 403,
       "untrusted_cert_url"},
      {"a Message changed after signing", "bad/sns_bad_signature_tampered_message.json", 403,
       "bad_signature"},
      {"signed by another key behind the genuine URL", "bad/sns_signed_by_attacker_key.json", 403,
       "bad_signature"},
      {"a SHA-1 signature labelled version 2", "bad/sns_signature_version_mismatch.json", 403,
       "bad_signature"},
      {"SignatureVersion 3 does not exist", "bad/sns_signature_version_3.json", 403,
       "unsupported_signature_version"},
      {"no Signature key", "bad/sns_missing_signature.json", 403, "missing_signature"},
      {"a Signature that is not base64", "bad/sns_signature_not_base64.json", 403, "bad_signature"},
      {"an authentic message from a topic not allowed", "bad/sns_topic_not_allowed.json", 403,
       "topic_not_allowed"},
      {"someone else's topic asks us to subscribe",
       "bad/sns_subscription_confirmation_foreign_topic.json", 403, "topic_not_allowed"},
      {"an authentic confirmation whose SubscribeURL is an SSRF", "bad/sns_subscribe_url_ssrf.json",
       403, "untrusted_subscribe_url"},
  };
  FakeClock clock(at("2026-03-02T10:03:41Z"));
  FetchingCertificates certs(load_pinned(clock), false, clock, fetcher_that_must_not_run());
  const auto config = allowlisted_config();
  const auto all = sns_cases_from_cases_json();

  SUBCASE("each hostile fixture gets its status and code") {
    for (const auto& c : cases) {
      INFO(c.intent);
      auto listed = std::find_if(all.begin(), all.end(),
                                 [&](const SnsCase& s) { return s.relative == c.file; });
      REQUIRE(listed != all.end());
      CHECK(listed->status == c.status);  // the table agrees with cases.json
      CHECK(listed->error == c.code);

      auto m = parse_sns_envelope(listed->headers, fixture(c.file));
      REQUIRE(m.has_value());
      auto e = verify_then_check_subscribe_url(*m, config, certs);
      REQUIRE(e.has_value());
      CHECK(e->status == c.status);
      CHECK(e->code == c.code);
      CHECK_FALSE(e->detail.empty());
    }
  }
  SUBCASE("every cases.json SNS case with a verifier's code is in the table above") {
    const std::set<std::string> verifier_codes = {
        "untrusted_cert_url", "bad_signature",     "unsupported_signature_version",
        "missing_signature",  "topic_not_allowed", "untrusted_subscribe_url"};
    for (const auto& s : all) {
      if (!verifier_codes.contains(s.error)) continue;
      CAPTURE(s.relative);
      CHECK(std::any_of(std::begin(cases), std::end(cases),
                        [&](const Case& c) { return s.relative == c.file; }));
    }
  }
  SUBCASE("every other SNS case that parses is authentic (its verdict comes later)") {
    int checked = 0;
    for (const auto& s : all) {
      if (std::any_of(std::begin(cases), std::end(cases),
                      [&](const Case& c) { return s.relative == c.file; })) {
        continue;
      }
      CAPTURE(s.relative);
      auto m = parse_sns_envelope(s.headers, fixture(s.relative));
      if (!m) continue;  // refused by the parser: 400s of ingest/sns.hpp
      auto e = verify_then_check_subscribe_url(*m, config, certs);
      CHECK_MESSAGE(!e.has_value(), (e ? e->code : ""));
      ++checked;
    }
    CHECK(checked >= 24);
  }
}

TEST_CASE("SigningCertURL policy") {
  struct Case {
    const char* intent;
    std::string url;
    const char* detail_has;  // nullptr: the URL is acceptable
  };
  const std::string host = "https://sns.us-east-1.amazonaws.com";
  const std::string path = std::string("/") + k_cert_name;
  const Case cases[] = {
      {"a commercial region", k_us_cert_url, nullptr},
      {"another commercial region", k_eu_cert_url, nullptr},
      {"GovCloud", "https://sns.us-gov-west-1.amazonaws.com" + path, nullptr},
      {"China's partition", "https://sns.cn-north-1.amazonaws.com.cn" + path, nullptr},
      {"the default port spelled out", "https://sns.us-east-1.amazonaws.com:443" + path, nullptr},
      {"an opaque certificate name", host + "/SimpleNotificationService-Ab_c-9.pem", nullptr},

      {"plain http", "http://sns.us-east-1.amazonaws.com" + path, "https"},
      {"the scheme in capitals (never sent by SNS)", "HTTPS://sns.us-east-1.amazonaws.com" + path,
       "https"},
      {"no scheme", "//sns.us-east-1.amazonaws.com" + path, "scheme"},
      {"a scheme without //", "https:sns.us-east-1.amazonaws.com" + path, "scheme"},
      {"no host", "https://" + path, "no host"},
      {"an SNS host with a suffix", "https://sns.us-east-1.amazonaws.com.evil.com" + path,
       "not sns."},
      {"a China host with a suffix", "https://sns.cn-north-1.amazonaws.com.cn.evil.com" + path,
       "not sns."},
      {"a prefix before sns.", "https://evilsns.us-east-1.amazonaws.com" + path, "not sns."},
      {"a label between region and amazonaws", "https://sns.us-east-1.evil.amazonaws.com" + path,
       "not sns."},
      {"an empty region", "https://sns..amazonaws.com" + path, "not sns."},
      {"no region at all", "https://sns.amazonaws.com" + path, "not sns."},
      {"a different TLD", "https://sns.us-east-1.amazonaws.co" + path, "not sns."},
      {"S3, which anybody can publish on", "https://s3.amazonaws.com/bucket" + path, "not sns."},
      {"a host in capitals (we do not normalise)", "https://SNS.US-EAST-1.AMAZONAWS.COM" + path,
       "lower-case"},
      {"a trailing dot (FQDN form)", "https://sns.us-east-1.amazonaws.com." + path, "not sns."},
      {"a percent-encoded dot in the host", "https://sns%2eus-east-1.amazonaws.com" + path,
       "not sns."},
      {"an underscore in the region", "https://sns.us_east_1.amazonaws.com" + path, "not sns."},
      {"an IPv4 address", "https://54.239.28.85" + path, "not sns."},
      {"an IPv6 literal", "https://[::1]" + path, "IP-literal"},
      {"an IPv6 literal with the SNS host as port text", "https://[::1]:443" + path, "IP-literal"},
      {"userinfo making evil.example the host",
       "https://sns.us-east-1.amazonaws.com@evil.example" + path, "userinfo"},
      {"userinfo in front of the real host", "https://user:pass@sns.us-east-1.amazonaws.com" + path,
       "userinfo"},
      {"a non-default port", "https://sns.us-east-1.amazonaws.com:8443" + path, "port"},
      {"an empty port", "https://sns.us-east-1.amazonaws.com:" + path, "port"},
      {"443 with a leading zero", "https://sns.us-east-1.amazonaws.com:0443" + path, "port"},
      {"two ports", "https://sns.us-east-1.amazonaws.com:443:443" + path, "port"},
      {"dot-segments before the name", host + "/../" + k_cert_name, "path"},
      {"a directory before the name", host + "/evil/" + k_cert_name, "path"},
      {"dot-segments inside the name", host + "/SimpleNotificationService-x/../../evil.pem",
       "path"},
      {"percent-encoded dot-segments", host + "/%2e%2e/" + k_cert_name, "path"},
      {"a percent-escape in the name", host + "/SimpleNotificationService-%41.pem", "path"},
      {"a doubled slash", host + "/" + path, "path"},
      {"an empty certificate name", host + "/SimpleNotificationService-.pem", "path"},
      {"a dot inside the name", host + "/SimpleNotificationService-a.b.pem", "path"},
      {"another extension after .pem", host + path + ".exe", "path"},
      {"the extension in capitals", host + "/SimpleNotificationService-abc.PEM", "path"},
      {"another file name", host + "/cert.pem", "path"},
      {"no path", host, "path"},
      {"a query", host + path + "?x=1", "query"},
      {"an empty query", host + path + "?", "query"},
      {"a fragment", host + path + "#x", "fragment"},
      {"an empty fragment", host + path + "#", "fragment"},
      {"a backslash before the path", host + "\\" + path, "backslash"},
      {"a backslash hiding another host",
       "https://evil.example\\@sns.us-east-1.amazonaws.com" + path, "backslash"},
      {"a space", host + "/SimpleNotificationService- x.pem", "offset"},
      {"a trailing newline", host + path + "\n", "offset"},
      {"a NUL byte", host + std::string("\0", 1) + path, "offset"},
      {"non-ASCII in the name", host + "/SimpleNotificationService-\xc3\xa9.pem", "non-ASCII"},
      {"a non-ASCII lookalike host", "https://sns.us-east-1.amazonaws.c\xd0\xbem" + path,
       "non-ASCII"},
      {"empty", "", "empty"},
      {"absurdly long", host + "/SimpleNotificationService-" + std::string(3000, 'a') + ".pem",
       "longer"},
      {"a name just too long",
       host + "/SimpleNotificationService-" + std::string(129, 'a') + ".pem", "path"},
  };
  for (const auto& c : cases) {
    INFO(c.intent);
    auto e = check_cert_url(c.url);
    if (c.detail_has == nullptr) {
      CHECK_MESSAGE(!e.has_value(), (e ? e->detail : ""));
      continue;
    }
    if (!e) {
      FAIL_CHECK("accepted, but should be refused for: " << c.detail_has);
      continue;
    }
    CHECK(e->status == 403);
    CHECK(e->code == "untrusted_cert_url");
    CHECK(e->detail.rfind("SigningCertURL ", 0) == 0);
    CHECK_MESSAGE(e->detail.find(c.detail_has) != std::string::npos, e->detail);
  }
}

TEST_CASE("SubscribeURL policy") {
  const auto m = parse_fixture("sns_subscription_confirmation.json");
  const std::string base = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription";
  const std::string arn = "&TopicArn=" + k_alerts_critical;
  const std::string tok = "&Token=" + m.token;
  struct Case {
    const char* intent;
    std::string url;
    std::string token;       // passed as the message's Token; empty = not checked
    const char* detail_has;  // nullptr: acceptable
  };
  const Case cases[] = {
      {"the fixture's URL", m.subscribe_url, m.token, nullptr},
      {"the fixture's URL without checking Token", m.subscribe_url, "", nullptr},
      {"the unsubscribe confirmation's URL",
       parse_fixture("sns_unsubscribe_confirmation.json").subscribe_url, "", nullptr},
      {"a percent-encoded TopicArn",
       base + "&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Aalerts-critical" + tok,
       m.token, nullptr},
      {"parameters in another order",
       "https://sns.us-east-1.amazonaws.com/?Token=" + m.token + arn +
           "&Action=ConfirmSubscription",
       m.token, nullptr},
      {"an extra parameter SNS might add", base + arn + tok + "&Version=2010-03-31", m.token,
       nullptr},
      {"China's partition",
       "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription" + arn, "", nullptr},

      {"the EC2 metadata service",
       "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "", "https"},
      {"a non-SNS host", "https://evil.example/?Action=ConfirmSubscription" + arn, "", "not sns."},
      {"a lookalike host",
       "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription" + arn, "",
       "not sns."},
      {"userinfo",
       "https://sns.us-east-1.amazonaws.com@evil.example/?Action=ConfirmSubscription" + arn, "",
       "userinfo"},
      {"a non-default port",
       "https://sns.us-east-1.amazonaws.com:8443/?Action=ConfirmSubscription" + arn, "", "port"},
      {"a path other than /",
       "https://sns.us-east-1.amazonaws.com/x?Action=ConfirmSubscription" + arn, "", "path"},
      {"no path", "https://sns.us-east-1.amazonaws.com?Action=ConfirmSubscription" + arn, "",
       "path"},
      {"no query", "https://sns.us-east-1.amazonaws.com/", "", "no query"},
      {"an empty query", "https://sns.us-east-1.amazonaws.com/?", "", "no query"},
      {"a fragment", base + arn + "#x", "", "fragment"},
      {"another Action (Unsubscribe)",
       "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe" + arn, "", "Action"},
      {"no Action", "https://sns.us-east-1.amazonaws.com/?" + arn.substr(1), "", "Action"},
      {"Action twice", base + arn + "&Action=Unsubscribe", "", "repeats the Action"},
      {"another topic", base + "&TopicArn=arn:aws:sns:us-east-1:999988887777:someone-elses-topic",
       "", "TopicArn"},
      {"no TopicArn", base, "", "TopicArn"},
      {"TopicArn twice (ours first)",
       base + arn + "&TopicArn=arn:aws:sns:us-east-1:999988887777:other", "",
       "repeats the TopicArn"},
      {"a TopicArn that only starts like ours", base + arn + "-evil", "", "TopicArn"},
      {"another Token", base + arn + "&Token=abc", m.token, "Token"},
      {"no Token when one is expected", base + arn, m.token, "Token"},
      {"Token twice", base + arn + tok + tok, m.token, "repeats the Token"},
      {"an invalid percent-escape", base + "&TopicArn=arn%3Gaws", "", "percent-escape"},
      {"a truncated percent-escape", base + arn + "%3", "", "percent-escape"},
      {"a parameter without '='", base + arn + "&flag", "", "no '='"},
      {"a backslash", "https://sns.us-east-1.amazonaws.com\\/?Action=ConfirmSubscription" + arn, "",
       "backslash"},
      {"whitespace", base + arn + " ", "", "offset"},
  };
  for (const auto& c : cases) {
    INFO(c.intent);
    auto e = check_subscribe_url(c.url, k_alerts_critical, c.token);
    if (c.detail_has == nullptr) {
      CHECK_MESSAGE(!e.has_value(), (e ? e->detail : ""));
      continue;
    }
    if (!e) {
      FAIL_CHECK("accepted, but should be refused for: " << c.detail_has);
      continue;
    }
    CHECK(e->status == 403);
    CHECK(e->code == "untrusted_subscribe_url");
    CHECK(e->detail.rfind("SubscribeURL ", 0) == 0);
    CHECK_MESSAGE(e->detail.find(c.detail_has) != std::string::npos, e->detail);
  }
}

TEST_CASE("signing certificates are parsed with their key and validity period") {
  auto cert = parse_signing_certificate(test_cert_pem());
  REQUIRE(cert.has_value());
  CHECK(cert->key != nullptr);
  CHECK(format_timestamp(cert->not_before) == "2020-01-01T00:00:00.000Z");
  CHECK(format_timestamp(cert->not_after) == "2049-12-31T23:59:59.000Z");

  struct Case {
    const char* intent;
    std::string pem;
    const char* error_has;
  };
  const Case cases[] = {
      {"empty text", "", "not a PEM X.509 certificate"},
      {"garbage", "hello", "not a PEM X.509 certificate"},
      {"a bare public key", fixture("sns-signing/test-signing-pubkey.pem"),
       "not a PEM X.509 certificate"},
      {"a private key", fixture("sns-signing/test-signing-key.pem"), "not a PEM X.509 certificate"},
      {"a truncated certificate", test_cert_pem().substr(0, 400), "not a PEM X.509 certificate"},
      {"more than 64 KiB", test_cert_pem() + std::string(70000, '\n'), "larger than"},
  };
  for (const auto& c : cases) {
    INFO(c.intent);
    auto e = parse_signing_certificate(c.pem);
    REQUIRE_FALSE(e.has_value());
    CHECK_MESSAGE(e.error().find(c.error_has) != std::string::npos, e.error());
  }
}

TEST_CASE("pinned certificates are found by the URL's file name") {
  FakeClock clock(at("2026-03-02T10:03:41Z"));
  auto pinned = load_pinned(clock);
  CHECK(pinned.size() == 1);

  SUBCASE("the same file serves every region's URL") {
    CHECK(pinned.find(k_us_cert_url) != nullptr);
    CHECK(pinned.find(k_eu_cert_url) != nullptr);
    CHECK(pinned.public_key(k_eu_cert_url).has_value());
  }
  SUBCASE("a URL whose file is absent is not found") {
    CHECK(pinned.find(k_other_cert_url) == nullptr);
    auto key = pinned.public_key(k_other_cert_url);
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error().status == 403);
    CHECK(key.error().code == "cert_not_pinned");
  }
  SUBCASE("an untrusted URL is refused even if its file name is pinned") {
    const std::string evil = std::string("https://evil.example/") + k_cert_name;
    CHECK(pinned.find(evil) == nullptr);
    auto key = pinned.public_key(evil);
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error().code == "untrusted_cert_url");
  }
  SUBCASE("a pinned certificate is refused outside its validity period") {
    clock.set(at("2050-01-01T00:00:00Z"));
    auto expired = pinned.public_key(k_us_cert_url);
    REQUIRE_FALSE(expired.has_value());
    CHECK(expired.error().status == 403);
    CHECK(expired.error().code == "cert_expired");
    clock.set(at("2019-12-31T23:59:59Z"));
    auto early = pinned.public_key(k_us_cert_url);
    REQUIRE_FALSE(early.has_value());
    CHECK(early.error().code == "cert_not_yet_valid");
  }
}

TEST_CASE("a pinned file that is not a certificate is refused, named in the error") {
  FakeClock clock(at("2026-03-02T10:03:41Z"));
  const std::string good = test_cert_pem();
  auto pinned = PinnedCertificates::parse(
      {PinnedFile{k_cert_name, "certs/good.pem", good},
       PinnedFile{"SimpleNotificationService-bad.pem", "certs/SimpleNotificationService-bad.pem",
                  fixture("sns-signing/attacker-pubkey.pem")}},
      clock);
  REQUIRE_FALSE(pinned.has_value());
  CHECK(pinned.error().find("certs/SimpleNotificationService-bad.pem ") == 0);
}

TEST_CASE("fetched certificates: fetched once, cached, failures transient") {
  FakeClock clock(at("2026-03-02T10:03:41Z"));

  SUBCASE("an unknown certificate is fetched once, then served from the cache") {
    CountingFetcher fetcher(test_cert_pem());
    FetchingCertificates certs(std::nullopt, true, clock, fetcher.function());
    CHECK(certs.public_key(k_us_cert_url).has_value());
    CHECK(certs.public_key(k_us_cert_url).has_value());
    CHECK(*fetcher.calls == 1);
    CHECK(certs.public_key(k_eu_cert_url).has_value());  // the cache is keyed by the whole URL
    CHECK(*fetcher.calls == 2);
  }
  SUBCASE("a failed fetch is a 503 and is not cached") {
    CountingFetcher fetcher(
        unexpected(IngestError{503, "cert_fetch_failed", "connection refused"}));
    FetchingCertificates certs(std::nullopt, true, clock, fetcher.function());
    for (int i = 0; i < 2; ++i) {
      auto key = certs.public_key(k_us_cert_url);
      REQUIRE_FALSE(key.has_value());
      CHECK(key.error().status == 503);
      CHECK(key.error().code == "cert_fetch_failed");
    }
    CHECK(*fetcher.calls == 2);
  }
  SUBCASE("a fetched text that is not a usable certificate is a 503") {
    CountingFetcher fetcher(std::string("<html>Service Unavailable</html>"));
    FetchingCertificates certs(std::nullopt, true, clock, fetcher.function());
    auto key = certs.public_key(k_us_cert_url);
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error().status == 503);
    CHECK(key.error().code == "cert_fetch_failed");
    CHECK(key.error().detail.find("not a PEM X.509 certificate") != std::string::npos);
  }
  SUBCASE("with fetching off, a certificate that is not pinned is a 403 and nothing is fetched") {
    FetchingCertificates certs(std::nullopt, false, clock, fetcher_that_must_not_run());
    auto key = certs.public_key(k_us_cert_url);
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error().status == 403);
    CHECK(key.error().code == "cert_not_pinned");
    CHECK(key.error().detail.find("fetch_certs is off") != std::string::npos);
  }
  SUBCASE("a pinned certificate is used without fetching") {
    FetchingCertificates certs(load_pinned(clock), true, clock, fetcher_that_must_not_run());
    CHECK(certs.public_key(k_us_cert_url).has_value());
  }
  SUBCASE("an expired pin is not bypassed by fetching") {
    FetchingCertificates certs(load_pinned(clock), true, clock, fetcher_that_must_not_run());
    clock.set(at("2050-01-01T00:00:00Z"));
    auto key = certs.public_key(k_us_cert_url);
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error().code == "cert_expired");
  }
  SUBCASE("a pinned directory and fetching combine: unknown names are fetched") {
    CountingFetcher fetcher(test_cert_pem());
    FetchingCertificates certs(load_pinned(clock), true, clock, fetcher.function());
    CHECK(certs.public_key(k_us_cert_url).has_value());
    CHECK(*fetcher.calls == 0);
    CHECK(certs.public_key(k_other_cert_url).has_value());
    CHECK(*fetcher.calls == 1);
  }
  SUBCASE("an untrusted URL is refused before any fetch") {
    FetchingCertificates certs(std::nullopt, true, clock, fetcher_that_must_not_run());
    auto key = certs.public_key("https://sns.us-east-1.amazonaws.com.evil.example/" +
                                std::string(k_cert_name));
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error().code == "untrusted_cert_url");
  }
  SUBCASE("the cache is bounded: the oldest entry is dropped") {
    CountingFetcher fetcher(test_cert_pem());
    FetchingCertificates certs(std::nullopt, true, clock, fetcher.function(), 1);
    CHECK(certs.public_key(k_us_cert_url).has_value());
    CHECK(certs.public_key(k_eu_cert_url).has_value());
    CHECK(certs.public_key(k_us_cert_url).has_value());
    CHECK(*fetcher.calls == 3);
  }
  SUBCASE("a cached certificate's validity is checked on every use") {
    CountingFetcher fetcher(test_cert_pem());
    FetchingCertificates certs(std::nullopt, true, clock, fetcher.function());
    CHECK(certs.public_key(k_us_cert_url).has_value());
    clock.set(at("2050-01-01T00:00:00Z"));
    auto key = certs.public_key(k_us_cert_url);
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error().code == "cert_expired");
    CHECK(*fetcher.calls == 1);
  }
  SUBCASE("concurrent lookups share one provider safely") {
    CountingFetcher fetcher(test_cert_pem());
    FetchingCertificates certs(std::nullopt, true, clock, fetcher.function(), 2);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          const auto& url = (i + t) % 3 == 0   ? k_us_cert_url
                            : (i + t) % 3 == 1 ? k_eu_cert_url
                                               : k_other_cert_url;
          if (!certs.public_key(url).has_value()) ++failures;
        }
      });
    }
    for (auto& th : threads)
      th.join();
    CHECK(failures == 0);
  }
}

TEST_CASE("verification policy: order, switches and minimum version") {
  FakeClock clock(at("2026-03-02T10:03:41Z"));
  FetchingCertificates certs(load_pinned(clock), false, clock, fetcher_that_must_not_run());
  auto config = allowlisted_config();
  const auto v1 = parse_fixture("sns-signing/signed/sns_notification_alarm.v1.json");
  const auto v2 = parse_fixture("sns-signing/signed/sns_notification_alarm.v2.json");

  SUBCASE("a minimum version of 2 refuses version 1 and accepts version 2") {
    config.min_signature_version = 2;
    auto e = verify_sns_message(v1, config, certs);
    REQUIRE(e.has_value());
    CHECK(e->status == 403);
    CHECK(e->code == "signature_version_too_low");
    CHECK_FALSE(verify_sns_message(v2, config, certs).has_value());
  }
  SUBCASE("with verification off, a forged message passes but the allow-list still holds") {
    config.verify_signature = false;
    CHECK_FALSE(verify_sns_message(parse_fixture("bad/sns_bad_signature_tampered_message.json"),
                                   config, certs)
                    .has_value());
    auto e = verify_sns_message(parse_fixture("bad/sns_topic_not_allowed.json"), config, certs);
    REQUIRE(e.has_value());
    CHECK(e->code == "topic_not_allowed");
  }
  SUBCASE("without an allow-list every topic is accepted") {
    config.topics.reset();
    CHECK_FALSE(verify_sns_message(parse_fixture("bad/sns_topic_not_allowed.json"), config, certs)
                    .has_value());
  }
  SUBCASE("the key behind the attacker's signature is the only thing wrong with it") {
    FetchingCertificates attacker_certs(
        load_pinned(clock, fixture("sns-signing/attacker-cert.pem")), false, clock,
        fetcher_that_must_not_run());
    const auto m = parse_fixture("bad/sns_signed_by_attacker_key.json");
    CHECK_FALSE(verify_sns_message(m, config, attacker_certs).has_value());
    auto e = verify_sns_message(v1, config, attacker_certs);
    REQUIRE(e.has_value());
    CHECK(e->code == "bad_signature");
  }

  struct Case {
    const char* intent;
    std::function<void(SnsMessage&)> change;
    const char* code;
    bool provider_asked;  // whether the certificate was requested before refusing
  };
  const Case cases[] = {
      {"an empty Signature", [](SnsMessage& m) { m.signature.clear(); }, "missing_signature",
       false},
      {"an empty SignatureVersion", [](SnsMessage& m) { m.signature_version.clear(); },
       "missing_signature", false},
      {"SignatureVersion \" 1\"", [](SnsMessage& m) { m.signature_version = " 1"; },
       "unsupported_signature_version", false},
      {"a version problem is reported before the topic",
       [](SnsMessage& m) {
         m.signature_version = "3";
         m.topic_arn = "arn:aws:sns:us-east-1:999988887777:x";
       },
       "unsupported_signature_version", false},
      {"no SigningCertURL", [](SnsMessage& m) { m.signing_cert_url.clear(); }, "missing_signature",
       false},
      {"an untrusted SigningCertURL is refused before the provider is asked",
       [](SnsMessage& m) { m.signing_cert_url = "https://evil.example/x.pem"; },
       "untrusted_cert_url", false},
      {"a foreign topic is refused before the provider is asked",
       [](SnsMessage& m) { m.topic_arn = "arn:aws:sns:us-east-1:999988887777:x"; },
       "topic_not_allowed", false},
      {"a changed Subject", [](SnsMessage& m) { m.subject = "OK: nothing to see"; },
       "bad_signature", true},
      {"a removed Subject", [](SnsMessage& m) { m.subject.reset(); }, "bad_signature", true},
      {"a Notification relabelled as a confirmation",
       [](SnsMessage& m) { m.type = SnsType::unsubscribe_confirmation; }, "bad_signature", true},
      {"the signature without its padding",
       [](SnsMessage& m) { m.signature.resize(m.signature.size() - 2); }, "bad_signature", true},
      {"a newline inside the base64", [](SnsMessage& m) { m.signature.insert(64, "\n"); },
       "bad_signature", true},
      {"trailing whitespace after the base64", [](SnsMessage& m) { m.signature += " "; },
       "bad_signature", true},
      {"one more padding group", [](SnsMessage& m) { m.signature += "===="; }, "bad_signature",
       true},
      {"the URL-safe alphabet", [](SnsMessage& m) { m.signature = "-_" + m.signature.substr(2); },
       "bad_signature", true},
      {"non-zero bits in the padding",
       [](SnsMessage& m) {
         // 256 bytes end in one byte + "==": the last digit's low 4 bits must be zero.
         const std::string alphabet =
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
         char& digit = m.signature[m.signature.size() - 3];
         digit = alphabet[alphabet.find(digit) ^ 1u];
       },
       "bad_signature", true},
      {"a valid base64 text too short to be a signature",
       [](SnsMessage& m) { m.signature = "AAAA"; }, "bad_signature", true},
      {"an absurdly long signature", [](SnsMessage& m) { m.signature = std::string(4096, 'A'); },
       "bad_signature", true},
  };
  SUBCASE("each malformed or altered field is refused with its code, in policy order") {
    REQUIRE(v1.signature.ends_with("=="));
    for (const auto& c : cases) {
      INFO(c.intent);
      SnsMessage m = v1;
      c.change(m);
      RecordingProvider recording(certs.public_key(k_us_cert_url));
      auto e = verify_sns_message(m, config, recording);
      REQUIRE(e.has_value());
      CHECK(e->status == 403);
      CHECK(e->code == c.code);
      CHECK(recording.asked.empty() == !c.provider_asked);
    }
  }

  SUBCASE("the provider's transient failure passes through as a 503") {
    RecordingProvider failing(unexpected(IngestError{503, "cert_fetch_failed", "timeout"}));
    auto e = verify_sns_message(v2, config, failing);
    REQUIRE(e.has_value());
    CHECK(e->status == 503);
    CHECK(e->code == "cert_fetch_failed");
    CHECK(failing.asked == std::vector<std::string>{k_us_cert_url});
  }
}

}  // namespace ingest_sns_verify_test
