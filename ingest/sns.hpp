#pragma once
// Amazon SNS HTTP/S delivery envelope (docs/formats.md §1): the message types, the fields each
// carries, and the header/body consistency rules. Pure: headers and body in, SnsMessage or a
// precise error out. Signature verification is a separate step (it needs certificates).

#include <map>
#include <optional>
#include <string>

#include "core/expected.hpp"
#include "core/json.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

enum class SnsType { notification, subscription_confirmation, unsubscribe_confirmation };

struct SnsMessage {
  SnsType type = SnsType::notification;
  std::string message_id;
  std::string topic_arn;
  std::optional<std::string> subject;  // Notification only, and only when published with one
  std::string message;                 // verbatim; for CloudWatch a JSON text parsed again
  std::string timestamp;
  std::string signature_version;
  std::string signature;
  std::string signing_cert_url;
  std::string subscribe_url;    // confirmations only
  std::string token;            // confirmations only
  std::string unsubscribe_url;  // Notification only
};

// Header names are matched case-insensitively by the caller's map; pass them lower-cased.
using HeaderMap = std::multimap<std::string, std::string>;

Expected<SnsMessage, IngestError> parse_sns_envelope(const HeaderMap& headers,
                                                     std::string_view body);

}  // namespace tocsin::ingest
