// The generic webhook: a tocsin.notification/v1 body, signed when the channel has a secret
// (docs/formats.md §11.4).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "delivery/channels/channel.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::delivery::channels {
namespace {

std::string to_hex(const unsigned char* bytes, std::size_t length) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (std::size_t i = 0; i < length; ++i) {
    out.push_back(k_hex[bytes[i] >> 4]);
    out.push_back(k_hex[bytes[i] & 0xF]);
  }
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
           &length) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed (OpenSSL HMAC)");
  }
  return to_hex(digest, length);
}

Json json_or_null(const std::optional<double>& v) {
  return v ? Json(*v) : Json(nullptr);
}

Json webhook_body(const Message& m, NotifyAction a) {
  const auto& n = m.notification;
  const auto& alert = m.alert;
  const auto id = alert_id(m);
  const auto link = alert_link(m);
  return Json{
      {"schema", "tocsin.notification/v1"},
      {"id", n.id},
      {"action", storage::to_text(a)},
      {"channel", n.channel},
      {"alias", n.alias},
      {"fingerprint", n.fingerprint},
      {"episode", n.episode ? Json(*n.episode) : Json(nullptr)},
      {"level", n.level},
      {"severity", to_string(n.severity)},
      {"priority", priority_text(n.priority)},
      {"noise", json_or_null(n.noise)},
      {"why", n.why},
      {"at", format_timestamp(n.created_at)},
      {"alert",
       {{"id", id ? Json(*id) : Json(nullptr)},
        {"source", has_alert(m) ? Json(to_string(alert.source)) : Json(nullptr)},
        {"name", alert.name},
        {"account", alert.account},
        {"region", alert.region},
        {"metric", alert.metric},
        {"namespace", alert.namespace_},
        {"labels", labels_json(alert.labels)},
        {"summary", alert.summary},
        {"description", alert.description},
        {"url", link ? Json(*link) : Json(nullptr)}}},
  };
}

}  // namespace

Result format_webhook(const Channel& c, const Message& m, NotifyAction a, TimePoint now,
                      const EnvLookup& env) {
  auto url = channel_url(c, env);
  if (!url) return unexpected(url.error());
  // Signing configured but the secret missing: fail rather than send unsigned, which the
  // receiver would (rightly) refuse or, worse, accept.
  std::optional<std::string> signing_key;
  if (c.secret_env) {
    auto key = from_env(c, *c.secret_env, env);
    if (!key) return unexpected(key.error());
    signing_key = std::move(*key);
  }

  Json body = webhook_body(m, a);
  if (a == NotifyAction::digest) {
    const auto digest = digest_of(m, a);
    body["digest"] = digest ? digest->json : Json(nullptr);
  }

  HttpRequest r = json_post(std::move(*url), body);
  r.headers.emplace_back("X-Tocsin-Event-Id", std::to_string(m.notification.id));
  if (signing_key) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
    const std::string timestamp = std::to_string(seconds);
    r.headers.emplace_back("X-Tocsin-Timestamp", timestamp);
    r.headers.emplace_back("X-Tocsin-Signature",
                           "sha256=" + hmac_sha256_hex(*signing_key, timestamp + "." + r.body));
  }
  return r;
}

}  // namespace tocsin::delivery::channels
