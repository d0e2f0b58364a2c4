#include "ingest/sns.hpp"

#include "ingest/body.hpp"

namespace tocsin::ingest {

namespace {

std::optional<SnsType> parse_type(std::string_view s) {
  if (s == "Notification") return SnsType::notification;
  if (s == "SubscriptionConfirmation") return SnsType::subscription_confirmation;
  if (s == "UnsubscribeConfirmation") return SnsType::unsubscribe_confirmation;
  return std::nullopt;
}

const std::string* header(const HeaderMap& headers, const char* name) {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

// Reads a string field into `out`. Absent is fine unless `required`; any other JSON type is
// an error (SNS only ever sends strings here).
std::optional<IngestError> read_string(const Json& body, const char* key, bool required,
                                       std::string& out) {
  auto it = body.find(key);
  if (it == body.end()) {
    if (!required) return std::nullopt;
    return bad_request("missing_field", std::string("SNS message has no \"") + key + "\" field");
  }
  if (!it->is_string()) {
    return bad_request("wrong_type", std::string("SNS field \"") + key +
                                         "\" must be a string, got " + it->type_name());
  }
  out = it->get<std::string>();
  return std::nullopt;
}

}  // namespace

Expected<SnsMessage, IngestError> parse_sns_envelope(const HeaderMap& headers,
                                                     std::string_view body_text) {
  auto parsed = parse_object_body(body_text, "SNS body");
  if (!parsed) return unexpected(std::move(parsed.error()));
  const Json& body = *parsed;

  SnsMessage m;
  std::string body_type;
  if (auto e = read_string(body, "Type", true, body_type)) return unexpected(std::move(*e));

  // The header and the body must agree: a message processed as one type and verified as
  // another is how confusion attacks start.
  const std::string* header_type = header(headers, "x-amz-sns-message-type");
  if (header_type && *header_type != body_type) {
    return unexpected(
        bad_request("header_body_mismatch", "x-amz-sns-message-type header says \"" + *header_type +
                                                "\" but the body's Type is \"" + body_type + "\""));
  }
  auto type = parse_type(body_type);
  if (!type) {
    return unexpected(bad_request("unknown_sns_type",
                                  "unknown SNS message Type \"" + body_type +
                                      "\" (expected Notification, SubscriptionConfirmation or "
                                      "UnsubscribeConfirmation)"));
  }
  m.type = *type;

  const bool notification = m.type == SnsType::notification;
  struct Field {
    const char* key;
    bool required;
    std::string* out;
  };
  const Field fields[] = {
      {"MessageId", true, &m.message_id},
      {"TopicArn", true, &m.topic_arn},
      {"Message", true, &m.message},
      {"Timestamp", true, &m.timestamp},
      // Whether signature fields must be present is the verifier's call, not the parser's.
      {"SignatureVersion", false, &m.signature_version},
      {"Signature", false, &m.signature},
      {"SigningCertURL", false, &m.signing_cert_url},
      {"UnsubscribeURL", false, &m.unsubscribe_url},
      {"SubscribeURL", !notification, &m.subscribe_url},
      {"Token", !notification, &m.token},
  };
  for (const auto& f : fields) {
    if (auto e = read_string(body, f.key, f.required, *f.out)) return unexpected(std::move(*e));
  }
  if (notification && body.contains("Subject") && !body["Subject"].is_null()) {
    std::string subject;
    if (auto e = read_string(body, "Subject", false, subject)) return unexpected(std::move(*e));
    m.subject = std::move(subject);
  }
  if (m.message_id.empty()) {
    return unexpected(bad_request("missing_field", "SNS MessageId is empty"));
  }
  return m;
}

}  // namespace tocsin::ingest
