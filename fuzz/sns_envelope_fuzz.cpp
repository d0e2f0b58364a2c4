// ingest/sns.hpp parse_sns_envelope on an arbitrary request body, then what the server does
// next with an accepted envelope before trusting it: the string-to-sign, and the
// SigningCertURL / SubscribeURL policy checks.
// A refusal is a 400 with a code and detail. An accepted envelope has a MessageId, a Subject
// only on a Notification, and parses the same with an agreeing x-amz-sns-message-type header
// but not with a disagreeing one. A URL refusal is a 403 whose detail is printable ASCII
// (attacker text is excerpted before it reaches a log line).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/sns.hpp"
#include "ingest/sns_verify.hpp"
#include "invariants.hpp"

namespace {

using namespace tocsin;
using ingest::SnsType;

std::string type_name(SnsType t) {
  switch (t) {
    case SnsType::notification:
      return "Notification";
    case SnsType::subscription_confirmation:
      return "SubscriptionConfirmation";
    case SnsType::unsubscribe_confirmation:
      return "UnsubscribeConfirmation";
  }
  return "Notification";
}

void check_url_refusal(const std::optional<ingest::IngestError>& e, const char* code) {
  if (!e) return;
  fuzz::check_error(*e);
  TOCSIN_FUZZ_CHECK(e->status == 403);
  TOCSIN_FUZZ_CHECK(e->code == code);
  TOCSIN_FUZZ_CHECK(fuzz::is_printable_ascii(e->detail));
}

void check_envelope(const ingest::SnsMessage& m, std::string_view body) {
  TOCSIN_FUZZ_CHECK(!m.message_id.empty());
  TOCSIN_FUZZ_CHECK(m.type == SnsType::notification || !m.subject.has_value());

  const ingest::HeaderMap agreeing{{"x-amz-sns-message-type", type_name(m.type)}};
  auto again = ingest::parse_sns_envelope(agreeing, body);
  TOCSIN_FUZZ_CHECK(again.has_value());
  TOCSIN_FUZZ_CHECK(again->message_id == m.message_id && again->message == m.message &&
                    again->subject == m.subject);
  const SnsType other =
      m.type == SnsType::notification ? SnsType::unsubscribe_confirmation : SnsType::notification;
  const ingest::HeaderMap disagreeing{{"x-amz-sns-message-type", type_name(other)}};
  auto mismatch = ingest::parse_sns_envelope(disagreeing, body);
  TOCSIN_FUZZ_CHECK(!mismatch.has_value());
  TOCSIN_FUZZ_CHECK(mismatch.error().code == "header_body_mismatch");

  const std::string to_sign = ingest::sns_string_to_sign(m);
  TOCSIN_FUZZ_CHECK(fuzz::starts_with(to_sign, "Message\n" + m.message + "\n"));
  TOCSIN_FUZZ_CHECK(to_sign.ends_with("\nType\n" + type_name(m.type) + "\n"));

  const auto cert = ingest::check_cert_url(m.signing_cert_url);
  check_url_refusal(cert, "untrusted_cert_url");
  if (!cert) TOCSIN_FUZZ_CHECK(fuzz::starts_with(m.signing_cert_url, "https://sns."));
  if (m.type != SnsType::notification) {
    const auto subscribe = ingest::check_subscribe_url(m.subscribe_url, m.topic_arn, m.token);
    check_url_refusal(subscribe, "untrusted_subscribe_url");
    if (!subscribe) TOCSIN_FUZZ_CHECK(fuzz::starts_with(m.subscribe_url, "https://sns."));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = fuzz::as_text(data, size);
  auto envelope = ingest::parse_sns_envelope(ingest::HeaderMap{}, body);
  if (!envelope) {
    fuzz::check_error(envelope.error());
    TOCSIN_FUZZ_CHECK(envelope.error().status == 400);
    return 0;
  }
  check_envelope(*envelope, body);
  return 0;
}
