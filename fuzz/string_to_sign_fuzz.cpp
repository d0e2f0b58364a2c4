// ingest/sns_verify.hpp sns_string_to_sign on an SnsMessage built from fuzzer-chosen fields,
// which also feed check_cert_url and check_subscribe_url.
//
// Input layout (scripts/fuzz writes seeds in it from the SNS fixtures):
//   byte 0          flags: bits 0-1 the Type (0 Notification, 1 SubscriptionConfirmation,
//                   2 UnsubscribeConfirmation, 3 Notification), bit 2 "Subject present"
//   then, separated by NUL bytes, in this order: MessageId, TopicArn, Subject, Message,
//   Timestamp, SignatureVersion, Signature, SigningCertURL, SubscribeURL, Token,
//   UnsubscribeURL (missing fields are empty; the last one takes the rest, NULs included).
//
// The string-to-sign is exactly the Type's signed keys in byte order, each `key\nvalue\n`:
// so it ends with "\n", has every key line in order, and has a Subject line iff the message is
// a Notification with a Subject. URL refusals are 403s with printable-ASCII details; a
// SubscribeURL that passes with a Token requirement also passes without one.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ingest/sns.hpp"
#include "ingest/sns_verify.hpp"
#include "invariants.hpp"

namespace {

using namespace tocsin;
using ingest::SnsMessage;
using ingest::SnsType;

SnsMessage message_from(std::string_view input) {
  SnsMessage m;
  if (input.empty()) return m;
  const auto flags = static_cast<unsigned char>(input.front());
  input.remove_prefix(1);
  constexpr std::array<SnsType, 4> k_types = {
      SnsType::notification, SnsType::subscription_confirmation, SnsType::unsubscribe_confirmation,
      SnsType::notification};
  m.type = k_types[flags & 3u];

  std::string subject;
  std::string* const fields[] = {&m.message_id, &m.topic_arn,        &subject,
                                 &m.message,    &m.timestamp,        &m.signature_version,
                                 &m.signature,  &m.signing_cert_url, &m.subscribe_url,
                                 &m.token,      &m.unsubscribe_url};
  constexpr std::size_t k_last = std::size(fields) - 1;
  for (std::size_t i = 0; i <= k_last && !input.empty(); ++i) {
    const auto end = i == k_last ? input.size() : std::min(input.find('\0'), input.size());
    fields[i]->assign(input.substr(0, end));
    input.remove_prefix(std::min(end + 1, input.size()));
  }
  if (flags & 4u) m.subject = std::move(subject);
  return m;
}

std::string_view type_name(SnsType t) {
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

// The key lines docs/formats.md §1.4 says SNS signs for `m`, in order.
std::vector<std::pair<std::string_view, std::string_view>> signed_lines(const SnsMessage& m) {
  std::vector<std::pair<std::string_view, std::string_view>> lines;
  lines.emplace_back("Message", m.message);
  lines.emplace_back("MessageId", m.message_id);
  if (m.type == SnsType::notification) {
    if (m.subject) lines.emplace_back("Subject", *m.subject);
  } else {
    lines.emplace_back("SubscribeURL", m.subscribe_url);
  }
  lines.emplace_back("Timestamp", m.timestamp);
  if (m.type != SnsType::notification) lines.emplace_back("Token", m.token);
  lines.emplace_back("TopicArn", m.topic_arn);
  lines.emplace_back("Type", type_name(m.type));
  return lines;
}

void check_string_to_sign(const SnsMessage& m) {
  const std::string to_sign = ingest::sns_string_to_sign(m);
  TOCSIN_FUZZ_CHECK(!to_sign.empty() && to_sign.back() == '\n');

  const auto lines = signed_lines(m);
  TOCSIN_FUZZ_CHECK(std::is_sorted(lines.begin(), lines.end(),
                                   [](const auto& a, const auto& b) { return a.first < b.first; }));
  // Walk the output line pair by line pair: each key, then its value verbatim.
  std::string_view rest = to_sign;
  for (const auto& [key, value] : lines) {
    const std::string expected = std::string(key) + "\n" + std::string(value) + "\n";
    TOCSIN_FUZZ_CHECK(fuzz::starts_with(rest, expected));
    rest.remove_prefix(expected.size());
  }
  TOCSIN_FUZZ_CHECK(rest.empty());

  // The Subject line, if any, comes right after the Message and MessageId lines.
  const std::size_t after_message_id = std::string_view("Message\n").size() + m.message.size() + 1 +
                                       std::string_view("MessageId\n").size() +
                                       m.message_id.size() + 1;
  const bool subject_line =
      fuzz::starts_with(std::string_view(to_sign).substr(after_message_id), "Subject\n");
  TOCSIN_FUZZ_CHECK(subject_line == (m.type == SnsType::notification && m.subject.has_value()));
}

void check_url_refusal(const std::optional<ingest::IngestError>& e, const char* code) {
  if (!e) return;
  fuzz::check_error(*e);
  TOCSIN_FUZZ_CHECK(e->status == 403);
  TOCSIN_FUZZ_CHECK(e->code == code);
  TOCSIN_FUZZ_CHECK(fuzz::is_printable_ascii(e->detail));
}

void check_urls(const SnsMessage& m) {
  const auto cert = ingest::check_cert_url(m.signing_cert_url);
  check_url_refusal(cert, "untrusted_cert_url");
  if (!cert) {
    const std::string_view url = m.signing_cert_url;
    TOCSIN_FUZZ_CHECK(fuzz::starts_with(url, "https://sns."));
    TOCSIN_FUZZ_CHECK(url.ends_with(".pem"));
    TOCSIN_FUZZ_CHECK(url.find_first_of("@?#%\\") == std::string_view::npos);
    TOCSIN_FUZZ_CHECK(url.find("..") == std::string_view::npos);
    TOCSIN_FUZZ_CHECK(fuzz::is_printable_ascii(url) && url.find(' ') == std::string_view::npos);
  }

  const auto with_token = ingest::check_subscribe_url(m.subscribe_url, m.topic_arn, m.token);
  const auto without_token = ingest::check_subscribe_url(m.subscribe_url, m.topic_arn);
  check_url_refusal(with_token, "untrusted_subscribe_url");
  check_url_refusal(without_token, "untrusted_subscribe_url");
  TOCSIN_FUZZ_CHECK(with_token.has_value() || !without_token.has_value());
  if (!without_token) {
    const std::string_view url = m.subscribe_url;
    TOCSIN_FUZZ_CHECK(fuzz::starts_with(url, "https://sns."));
    TOCSIN_FUZZ_CHECK(url.find_first_of("#\\") == std::string_view::npos);
    TOCSIN_FUZZ_CHECK(url.find("/?") != std::string_view::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const SnsMessage m = message_from(fuzz::as_text(data, size));
  check_string_to_sign(m);
  check_urls(m);
  return 0;
}
