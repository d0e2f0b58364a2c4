#include "ingest/sns_verify.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace tocsin::ingest {

namespace {

// Longer than any real SNS URL (a SubscribeURL with a 256-hex-digit token is ~400 bytes).
constexpr std::size_t k_max_url_length = 2048;
// Base64 of an RSA-8192 signature is 1368 characters; SNS uses 2048-bit keys (344).
constexpr std::size_t k_max_signature_chars = 2048;
constexpr int k_min_rsa_bits = 2048;
// Longest host name / certificate name we accept; real ones are ~30 and 32 characters.
constexpr std::size_t k_max_host_length = 253;
constexpr std::size_t k_max_cert_name_length = 128;

constexpr std::string_view k_cert_path_prefix = "/SimpleNotificationService-";
constexpr std::string_view k_cert_path_suffix = ".pem";

struct OpenSslFree {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using BioPtr = std::unique_ptr<BIO, OpenSslFree>;
using X509Ptr = std::unique_ptr<X509, OpenSslFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslFree>;

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

IngestError forbidden(std::string code, std::string detail) {
  return {403, std::move(code), std::move(detail)};
}

// Attacker-supplied text for a detail (which ends up in logs): bounded, and every byte that
// is not printable ASCII shown as '?', so it cannot forge log lines or carry invalid UTF-8.
std::string excerpt(std::string_view s) {
  constexpr std::size_t k_max = 80;
  std::string out;
  for (const char c : s.substr(0, k_max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (s.size() > k_max) out += "...";
  return out;
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

// The parts of an absolute URL, split on the first "://", then the first of "/?#" (end of
// authority), then "#" (fragment) and "?" (query). Views into the caller's string. Only what
// the checks below need: no normalisation, no decoding, so what is checked is what would be
// requested.
struct UrlParts {
  std::string_view scheme;
  std::string_view host;
  std::optional<std::string_view> userinfo;
  std::optional<std::string_view> port;
  std::string_view path;
  std::optional<std::string_view> query;
  std::optional<std::string_view> fragment;
};

Expected<UrlParts, std::string> split_url(std::string_view url) {
  if (url.empty()) return unexpected(std::string("is empty"));
  if (url.size() > k_max_url_length) {
    return unexpected("is longer than " + std::to_string(k_max_url_length) + " bytes");
  }
  // Printable ASCII only: no whitespace, controls or non-ASCII (which parsers disagree on),
  // and no backslash (which browsers and some libraries read as '/').
  for (std::size_t i = 0; i < url.size(); ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (c <= 0x20 || c >= 0x7f || c == '\\') {
      return unexpected("contains a space, control, non-ASCII or backslash character at offset " +
                        std::to_string(i));
    }
  }
  UrlParts parts;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return unexpected(std::string("has no scheme"));
  parts.scheme = url.substr(0, scheme_end);
  std::string_view rest = url.substr(scheme_end + 3);

  const auto authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  rest = rest.substr(authority_end);

  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    parts.userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    return unexpected(std::string("has an IP-literal host"));
  }
  if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    parts.port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
  }
  parts.host = authority;

  if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
    parts.fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  if (const auto question = rest.find('?'); question != std::string_view::npos) {
    parts.query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  parts.path = rest;
  return parts;
}

// `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`, <region> = [a-z0-9-]+.
// Exact and anchored: no trailing dot, no extra labels on either side, lower-case only.
std::optional<std::string> check_sns_host(std::string_view host) {
  const std::string shown = "host \"" + excerpt(host) + "\"";
  if (host.empty()) return "has no host";
  if (host.size() > k_max_host_length) return "host is too long";
  if (std::any_of(host.begin(), host.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return shown + " is not lower-case";
  }
  constexpr std::string_view k_prefix = "sns.";
  constexpr std::array<std::string_view, 2> k_suffixes = {".amazonaws.com", ".amazonaws.com.cn"};
  const std::string not_sns = shown + " is not sns.<region>.amazonaws.com[.cn]";
  if (!host.starts_with(k_prefix)) return not_sns;
  for (const auto suffix : k_suffixes) {
    if (!host.ends_with(suffix) || host.size() <= k_prefix.size() + suffix.size()) continue;
    const auto region = host.substr(k_prefix.size(), host.size() - k_prefix.size() - suffix.size());
    if (std::all_of(region.begin(), region.end(),
                    [](char c) { return is_lower_alnum(c) || c == '-'; })) {
      return std::nullopt;
    }
  }
  return not_sns;
}

// The checks SigningCertURL and SubscribeURL share: https, no userinfo, an SNS host, port
// absent or 443, no fragment. Returns the reason, without the field name.
std::optional<std::string> check_sns_https_url(const UrlParts& p) {
  if (p.scheme != "https") return "must use https, not \"" + excerpt(p.scheme) + "\"";
  if (p.userinfo) return std::string("must not contain userinfo (\"user@\" before the host)");
  if (auto reason = check_sns_host(p.host)) return reason;
  if (p.port && *p.port != "443") {
    return "must not name a port other than 443 (got \"" + excerpt(*p.port) + "\")";
  }
  if (p.fragment) return std::string("must not have a fragment");
  return std::nullopt;
}

// check_cert_url, returning the certificate's file name (the path's one segment) on success.
Expected<std::string_view, IngestError> checked_cert_file_name(std::string_view url) {
  auto untrusted = [](const std::string& reason) {
    return unexpected(forbidden("untrusted_cert_url", "SigningCertURL " + reason));
  };
  auto parts = split_url(url);
  if (!parts) return untrusted(parts.error());
  if (auto reason = check_sns_https_url(*parts)) return untrusted(*reason);
  if (parts->query) return untrusted("must not have a query");
  const std::string_view path = parts->path;
  // The name is restricted to [A-Za-z0-9_-], so no '/', '.', or '%' can sneak a dot-segment,
  // an encoded dot or a second segment past this check.
  const bool shaped = path.starts_with(k_cert_path_prefix) && path.ends_with(k_cert_path_suffix) &&
                      path.size() > k_cert_path_prefix.size() + k_cert_path_suffix.size();
  const std::string_view name =
      shaped ? path.substr(k_cert_path_prefix.size(),
                           path.size() - k_cert_path_prefix.size() - k_cert_path_suffix.size())
             : std::string_view{};
  if (!shaped || name.size() > k_max_cert_name_length ||
      !std::all_of(name.begin(), name.end(),
                   [](char c) { return is_alnum(c) || c == '-' || c == '_'; })) {
    return untrusted("path \"" + excerpt(path) +
                     "\" is not /SimpleNotificationService-<name>.pem with <name> of letters, "
                     "digits, '-' and '_'");
  }
  return path.substr(1);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding; nullopt for a '%' not followed by two hex digits. '+' stays '+'
// (no ARN, action or token contains '+' or a space, so form-encoding never matters here).
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Standard base64 (RFC 4648 §4) with '=' padding, nothing else: no whitespace, no URL-safe
// alphabet, no missing padding, no non-zero bits in the padding.
std::optional<std::string> decode_base64_strict(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  const std::size_t padding = in.ends_with("==") ? 2 : in.ends_with("=") ? 1 : 0;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const std::size_t digits = last ? 4 - padding : 4;
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      int v = 0;
      if (j < digits) {
        v = value(in[i + j]);
        if (v < 0) return std::nullopt;
      }
      group = (group << 6) | static_cast<std::uint32_t>(v);
    }
    const std::size_t bytes = digits - 1;  // 4 digits -> 3 bytes, 3 -> 2, 2 -> 1
    const std::uint32_t unused_mask = bytes == 3 ? 0u : bytes == 2 ? 0xffu : 0xffffu;
    if ((group & unused_mask) != 0) return std::nullopt;
    for (std::size_t b = 0; b < bytes; ++b) {
      out.push_back(static_cast<char>((group >> (16 - 8 * b)) & 0xffu));
    }
  }
  return out;
}

std::optional<TimePoint> to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  using namespace std::chrono;
  const year_month_day date{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                            day{static_cast<unsigned>(tm.tm_mday)}};
  if (!date.ok()) return std::nullopt;
  return time_point_cast<Duration>(sys_days{date} + hours{tm.tm_hour} + minutes{tm.tm_min} +
                                   seconds{tm.tm_sec});
}

// The reason of the newest OpenSSL error on this thread, clearing the thread's error queue
// so a stale entry cannot be mistaken for a later failure (httplib reads the same queue).
std::string openssl_reason() {
  const unsigned long e = ERR_peek_last_error();
  const char* reason = e == 0 ? nullptr : ERR_reason_error_string(e);
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

// 403 with a precise code when `now` is outside the certificate's validity period.
std::optional<IngestError> check_validity(const SigningCertificate& cert, TimePoint now) {
  if (now < cert.not_before) {
    return forbidden("cert_not_yet_valid",
                     "signing certificate is valid only from " + format_timestamp(cert.not_before));
  }
  if (now > cert.not_after) {
    return forbidden("cert_expired",
                     "signing certificate expired at " + format_timestamp(cert.not_after));
  }
  return std::nullopt;
}

Expected<PublicKey, IngestError> usable_key(const SigningCertificate& cert, TimePoint now) {
  if (auto e = check_validity(cert, now)) return unexpected(std::move(*e));
  return cert.key;
}

IngestError not_pinned(std::string_view cert_url, bool fetch_enabled) {
  return forbidden("cert_not_pinned", "SigningCertURL " + excerpt(cert_url) +
                                          " is not pinned in cert_dir" +
                                          (fetch_enabled ? "" : " and fetch_certs is off"));
}

IngestError bad_signature(std::string detail) {
  return forbidden("bad_signature", std::move(detail));
}

std::optional<IngestError> check_topic(const SnsMessage& m, const SnsSettings& settings) {
  if (!settings.topics) return std::nullopt;
  const auto& allowed = *settings.topics;
  if (std::find(allowed.begin(), allowed.end(), m.topic_arn) != allowed.end()) return std::nullopt;
  return forbidden("topic_not_allowed",
                   "TopicArn \"" + excerpt(m.topic_arn) + "\" is not in sources.sns.topics");
}

}  // namespace

std::string sns_string_to_sign(const SnsMessage& m) {
  std::string out;
  auto add = [&out](std::string_view key, std::string_view value) {
    out.append(key).push_back('\n');
    out.append(value).push_back('\n');
  };
  add("Message", m.message);
  add("MessageId", m.message_id);
  if (m.type == SnsType::notification) {
    if (m.subject) add("Subject", *m.subject);
  } else {
    add("SubscribeURL", m.subscribe_url);
  }
  add("Timestamp", m.timestamp);
  if (m.type != SnsType::notification) add("Token", m.token);
  add("TopicArn", m.topic_arn);
  add("Type", type_name(m.type));
  return out;
}

std::optional<IngestError> check_cert_url(std::string_view url) {
  auto name = checked_cert_file_name(url);
  if (!name) return std::move(name.error());
  return std::nullopt;
}

std::optional<IngestError> check_subscribe_url(std::string_view url, std::string_view topic_arn,
                                               std::string_view token) {
  auto untrusted = [](const std::string& reason) {
    return forbidden("untrusted_subscribe_url", "SubscribeURL " + reason);
  };
  auto parts = split_url(url);
  if (!parts) return untrusted(parts.error());
  if (auto reason = check_sns_https_url(*parts)) return untrusted(*reason);
  if (parts->path != "/")
    return untrusted("path must be \"/\", got \"" + excerpt(parts->path) + "\"");
  if (!parts->query || parts->query->empty()) return untrusted("has no query");

  // Exactly one of each parameter we check: with two, we and the server could read different
  // ones.
  std::optional<std::string> action, arn, url_token;
  std::string_view query = *parts->query;
  while (true) {
    const auto amp = std::min(query.find('&'), query.size());
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return untrusted("query parameter \"" + excerpt(pair) + "\" has no '='");
    }
    auto key = percent_decode(pair.substr(0, eq));
    auto value = percent_decode(pair.substr(eq + 1));
    if (!key || !value) return untrusted("query has an invalid percent-escape");
    std::optional<std::string>* slot = *key == "Action"     ? &action
                                       : *key == "TopicArn" ? &arn
                                       : *key == "Token"    ? &url_token
                                                            : nullptr;
    if (slot != nullptr) {
      if (slot->has_value()) return untrusted("query repeats the " + *key + " parameter");
      *slot = std::move(*value);
    }
    if (amp == query.size()) break;
    query = query.substr(amp + 1);
  }
  if (action != "ConfirmSubscription") return untrusted("Action is not ConfirmSubscription");
  if (arn != topic_arn) return untrusted("TopicArn does not match the message's TopicArn");
  if (!token.empty() && url_token != token) {
    return untrusted("Token does not match the message's Token");
  }
  return std::nullopt;
}

Expected<SigningCertificate, std::string> parse_signing_certificate(std::string_view pem) {
  if (pem.size() > k_max_pem_bytes) {
    return unexpected("is larger than " + std::to_string(k_max_pem_bytes) + " bytes");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return unexpected("cannot allocate: " + openssl_reason());
  // A callback that refuses passwords: an "encrypted" PEM block must not make OpenSSL prompt
  // on the terminal.
  auto no_password = [](char*, int, int, void*) -> int { return 0; };
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
  if (!cert) return unexpected("is not a PEM X.509 certificate (" + openssl_reason() + ")");

  PublicKey key(X509_get_pubkey(cert.get()), EVP_PKEY_free);
  if (!key) return unexpected("has no usable public key (" + openssl_reason() + ")");
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return unexpected(std::string("does not hold an RSA key"));
  }
  if (EVP_PKEY_get_bits(key.get()) < k_min_rsa_bits) {
    return unexpected("holds an RSA key shorter than " + std::to_string(k_min_rsa_bits) + " bits");
  }
  // UINT32_MAX when the certificate has no keyUsage extension, which allows every use.
  if ((X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE) == 0) {
    return unexpected(std::string("has a keyUsage that does not allow digitalSignature"));
  }
  auto not_before = to_time_point(X509_get0_notBefore(cert.get()));
  auto not_after = to_time_point(X509_get0_notAfter(cert.get()));
  ERR_clear_error();
  if (!not_before || !not_after)
    return unexpected(std::string("has an unreadable validity period"));
  return SigningCertificate{std::move(key), *not_before, *not_after};
}

Expected<PinnedCertificates, std::string> PinnedCertificates::parse(
    const std::vector<PinnedFile>& files, const Clock& clock) {
  ByFileName certs;
  for (const PinnedFile& file : files) {
    auto cert = parse_signing_certificate(file.pem);
    if (!cert) return unexpected(file.origin + " " + cert.error());
    certs.emplace(file.name, std::move(*cert));
  }
  return PinnedCertificates(clock, std::move(certs));
}

const SigningCertificate* PinnedCertificates::find(std::string_view cert_url) const {
  auto name = checked_cert_file_name(cert_url);
  if (!name) return nullptr;
  auto it = m_by_file_name.find(*name);
  return it == m_by_file_name.end() ? nullptr : &it->second;
}

Expected<PublicKey, IngestError> PinnedCertificates::public_key(const std::string& cert_url) {
  if (auto e = check_cert_url(cert_url)) return unexpected(std::move(*e));
  const SigningCertificate* cert = find(cert_url);
  if (cert == nullptr) return unexpected(not_pinned(cert_url, true));
  return usable_key(*cert, m_clock->now());
}

Expected<CertLocation, IngestError> cert_location(std::string_view cert_url) {
  if (auto e = check_cert_url(cert_url)) return unexpected(std::move(*e));
  auto parts = split_url(cert_url);  // cannot fail: the URL just passed check_cert_url
  if (!parts) return unexpected(forbidden("untrusted_cert_url", "SigningCertURL " + parts.error()));
  return CertLocation{std::string(parts->host), std::string(parts->path)};
}

IngestError cert_fetch_failed(std::string_view cert_url, const std::string& why) {
  return IngestError{503, "cert_fetch_failed",
                     "fetching the signing certificate " + excerpt(cert_url) + " failed: " + why};
}

FetchingCertificates::FetchingCertificates(std::optional<PinnedCertificates> pinned, bool fetch,
                                           const Clock& clock, CertificateFetcher fetcher,
                                           std::size_t max_cached)
    : m_pinned(std::move(pinned)),
      m_fetch(fetch),
      m_clock(clock),
      m_fetcher(std::move(fetcher)),
      m_max_cached(max_cached) {}

Expected<PublicKey, IngestError> FetchingCertificates::usable_now(
    const SigningCertificate& cert) const {
  return usable_key(cert, m_clock.now());
}

Expected<PublicKey, IngestError> FetchingCertificates::public_key(const std::string& cert_url) {
  if (auto e = check_cert_url(cert_url)) return unexpected(std::move(*e));
  if (m_pinned) {
    if (const SigningCertificate* pinned = m_pinned->find(cert_url)) return usable_now(*pinned);
  }
  {
    MutexLock lock(m_mutex);
    if (auto it = m_cache.find(cert_url); it != m_cache.end()) {
      const SigningCertificate cached = it->second;
      return usable_now(cached);
    }
  }
  if (!m_fetch) return unexpected(not_pinned(cert_url, false));

  auto pem = m_fetcher(cert_url);
  if (!pem) return unexpected(std::move(pem.error()));
  auto cert = parse_signing_certificate(*pem);
  if (!cert) {
    return unexpected(
        IngestError{503, "cert_fetch_failed",
                    "the certificate fetched from " + excerpt(cert_url) + " " + cert.error()});
  }
  {
    MutexLock lock(m_mutex);
    if (m_max_cached > 0 && m_cache.emplace(cert_url, *cert).second) {
      m_cache_order.push_back(cert_url);
      while (m_cache.size() > m_max_cached) {
        m_cache.erase(m_cache_order.front());
        m_cache_order.pop_front();
      }
    }
  }
  return usable_now(*cert);
}

std::optional<IngestError> verify_sns_message(const SnsMessage& m, const SnsSettings& settings,
                                              CertificateProvider& certs) {
  // The allow-list is a statement about which topics we serve; it holds even when signatures
  // are not checked (e.g. behind a verifying proxy).
  if (!settings.verify_signature) return check_topic(m, settings);

  if (m.signature_version.empty() || m.signature.empty()) {
    return forbidden("missing_signature", "SNS message has no SignatureVersion or no Signature");
  }
  int version = 0;
  const EVP_MD* digest = nullptr;
  if (m.signature_version == "1") {
    version = 1;
    digest = EVP_sha1();
  } else if (m.signature_version == "2") {
    version = 2;
    digest = EVP_sha256();
  } else {
    return forbidden("unsupported_signature_version",
                     "SignatureVersion \"" + excerpt(m.signature_version) +
                         "\" is not supported (only \"1\" and \"2\")");
  }
  if (version < settings.min_signature_version) {
    return forbidden("signature_version_too_low",
                     "SignatureVersion " + m.signature_version +
                         " is below the configured minimum " +
                         std::to_string(settings.min_signature_version));
  }
  if (auto e = check_topic(m, settings)) return e;
  if (m.signing_cert_url.empty()) {
    return forbidden("missing_signature", "SNS message has no SigningCertURL");
  }
  if (auto e = check_cert_url(m.signing_cert_url)) return e;

  auto key = certs.public_key(m.signing_cert_url);
  if (!key) return std::move(key.error());

  if (m.signature.size() > k_max_signature_chars) {
    return bad_signature("Signature is longer than " + std::to_string(k_max_signature_chars) +
                         " characters");
  }
  auto signature = decode_base64_strict(m.signature);
  if (!signature) return bad_signature("Signature is not valid base64");

  const std::string signed_text = sns_string_to_sign(m);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_ctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &key_ctx, digest, nullptr, key->get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(key_ctx, RSA_PKCS1_PADDING) <= 0) {
    return bad_signature("cannot verify with the signing certificate's key: " + openssl_reason());
  }
  const int verified = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
      reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size());
  ERR_clear_error();  // a mismatch leaves entries on this thread's error queue
  if (verified != 1) {
    return bad_signature("Signature does not match the message (SignatureVersion " +
                         m.signature_version + ")");
  }
  return std::nullopt;
}

}  // namespace tocsin::ingest
