#pragma once
// Authenticity of Amazon SNS messages (docs/behaviour.md "SNS", docs/formats.md §1.4): the
// canonical string-to-sign, the rules a SigningCertURL / SubscribeURL must satisfy before anything
// is fetched from it, where signing certificates come from (pinned certificates or a fetcher,
// both handed in by the caller, with a cache), and the verification policy that ties them
// together. No file or network I/O: the caller reads `cert_dir` and fetches over HTTPS
// (server/sns_certificates.hpp), and converts the rules' `sources.sns` into SnsSettings.
//
// Everything here runs BEFORE any side effect of a message. All failures are values: 403 for
// "not authentic / not allowed" (SNS does not retry it), 503 only for our own transient
// failure to obtain a certificate (SNS retries it).

#include <openssl/types.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/expected.hpp"
#include "core/thread_annotations.hpp"
#include "core/time.hpp"
#include "ingest/ingest_error.hpp"
#include "ingest/sns.hpp"

namespace tocsin::ingest {

// What verification needs of `sources.sns` (docs/behaviour.md "SNS"): the caller converts the
// rules' SnsSource, so this folder does not know the rules.
struct SnsSettings {
  bool verify_signature = true;  // off: only the topic allow-list applies
  int min_signature_version = 1;
  std::optional<std::vector<std::string>> topics;  // allowlist; nullopt = any topic
};

// The bytes SNS signed: for each signed key of the message's Type, in byte order,
// `key\nvalue\n` (docs/formats.md §1.4). A Notification's Subject takes part only when present.
std::string sns_string_to_sign(const SnsMessage& m);

// SigningCertURL policy, checked before any connection: exactly
// `https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<name>.pem` where
// <region> is [a-z0-9-]+ and <name> is [A-Za-z0-9_-]+; an explicit port may only be 443;
// no userinfo, query, fragment, percent-escapes, dot-segments, backslashes, whitespace or
// non-ASCII. The host must already be lower-case (SNS always sends it so; we do not
// normalise-then-trust). nullopt = acceptable; else 403 `untrusted_cert_url` naming the part.
std::optional<IngestError> check_cert_url(std::string_view url);

// SubscribeURL policy, checked before it is ever requested: https, the same SNS host rule,
// path exactly `/`, no fragment, a query with exactly one `Action=ConfirmSubscription` and
// exactly one `TopicArn` that equals `topic_arn` after percent-decoding. When `token` is not
// empty the URL must also carry exactly one `Token` equal to it (pass the message's Token).
// nullopt = acceptable; else 403 `untrusted_subscribe_url`.
std::optional<IngestError> check_subscribe_url(std::string_view url, std::string_view topic_arn,
                                               std::string_view token = {});

// An owned public key (EVP_PKEY_free on release). Immutable once made, so one key may be used
// by several threads at once.
using PublicKey = std::shared_ptr<EVP_PKEY>;

// What Tocsin keeps of an SNS signing certificate.
struct SigningCertificate {
  PublicKey key;
  TimePoint not_before;
  TimePoint not_after;
};

// Parses the first X.509 certificate of a PEM text (at most 64 KiB) and checks what does not
// depend on time: an RSA key of at least 2048 bits, and a keyUsage (if present) allowing
// digitalSignature. No chain validation: a pinned file is trusted because an operator put it
// there; a fetched one because it came over verified TLS from an SNS host. The error is a
// human-readable reason.
Expected<SigningCertificate, std::string> parse_signing_certificate(std::string_view pem);

// Where verification gets the public key of a SigningCertURL. Implementations may be called
// from several threads at once. Callers check the URL with check_cert_url first;
// implementations check it again rather than trust that.
class CertificateProvider {
 public:
  virtual ~CertificateProvider() = default;
  // The key for `cert_url`, or why there is none: 403 when the certificate is not trusted or
  // not usable now, 503 `cert_fetch_failed` when obtaining it failed transiently.
  virtual Expected<PublicKey, IngestError> public_key(const std::string& cert_url) = 0;
};

// One certificate an operator pinned (a `*.pem` file of `sources.sns.cert_dir`), as read by the
// caller.
struct PinnedFile {
  std::string name;    // the file name, matched against a URL's last path segment
  std::string origin;  // what errors call it (its path)
  std::string pem;     // the file's content
};

// Certificates an operator pinned (`sources.sns.cert_dir`): offline use and tests. A URL maps to
// the file named like its last path segment, whatever the region, so a pin is a statement about
// the certificate, not about where it was published. Immutable once made, hence safe to share
// between threads.
class PinnedCertificates final : public CertificateProvider {
 public:
  // Parses every file (the first of two with the same name wins). Fails, naming the file's
  // origin, when one is not a usable certificate: a bad pin is a configuration error to report
  // at startup, not at the first alert.
  // REQUIRES: `clock` outlives the result (validity periods are checked against it).
  static Expected<PinnedCertificates, std::string> parse(const std::vector<PinnedFile>& files,
                                                         const Clock& clock);

  // The pinned certificate for `cert_url`, or nullptr when the URL fails check_cert_url or no
  // file of that name was pinned. Does not check the validity period.
  const SigningCertificate* find(std::string_view cert_url) const;

  // Errors: check_cert_url's; 403 `cert_not_pinned` when no file matches; 403 `cert_expired`
  // / `cert_not_yet_valid` outside the certificate's validity period.
  Expected<PublicKey, IngestError> public_key(const std::string& cert_url) override;

  std::size_t size() const { return m_by_file_name.size(); }

 private:
  using ByFileName = std::map<std::string, SigningCertificate, std::less<>>;

  PinnedCertificates(const Clock& clock, ByFileName certs)
      : m_clock(&clock), m_by_file_name(std::move(certs)) {}

  const Clock* m_clock;  // a pointer so the class stays movable; never null
  ByFileName m_by_file_name;
};

// Returns the PEM text served at `cert_url`, or an IngestError (503 `cert_fetch_failed` for
// anything transient). The production fetcher, over HTTPS, is the server's
// (server/sns_certificates.hpp): this folder stays free of network code.
using CertificateFetcher = std::function<Expected<std::string, IngestError>(const std::string&)>;

// The largest certificate accepted, pinned or fetched (a real one is ~2 KiB; the AWS Java SDK
// caps the download at 10 KiB).
inline constexpr std::size_t k_max_pem_bytes = 64 * 1024;

// Where a fetcher requests a SigningCertURL: the host and path of a URL that passed
// check_cert_url, so what is requested is what was checked. Errors: check_cert_url's.
struct CertLocation {
  std::string host;
  std::string path;
};
Expected<CertLocation, IngestError> cert_location(std::string_view cert_url);

// 503 `cert_fetch_failed` for a fetch of `cert_url` that failed because of `why`.
IngestError cert_fetch_failed(std::string_view cert_url, const std::string& why);

// Pinned certificates first; otherwise, when fetching is enabled, fetches the certificate,
// parses it and caches the key by URL (SNS publishes a rotated certificate under a new URL, so
// entries never go stale; the validity period is still checked on every use). The cache is
// bounded: past `max_cached` URLs the oldest entry is dropped. Thread-safe; a fetch runs
// outside the lock, so two threads missing the same URL at once may both fetch it.
class FetchingCertificates final : public CertificateProvider {
 public:
  static constexpr std::size_t k_default_max_cached = 64;

  // REQUIRES: `fetcher` is callable; `clock` outlives this object.
  FetchingCertificates(std::optional<PinnedCertificates> pinned, bool fetch, const Clock& clock,
                       CertificateFetcher fetcher, std::size_t max_cached = k_default_max_cached);

  // Errors: check_cert_url's (nothing fetched); a pinned certificate's errors (a pin is never
  // bypassed by fetching); 403 `cert_not_pinned` when the URL is not pinned and fetching is
  // off; the fetcher's error (503 `cert_fetch_failed`; failures are not cached); 503
  // `cert_fetch_failed` when the fetched text is not a usable certificate; 403 `cert_expired`
  // / `cert_not_yet_valid`.
  Expected<PublicKey, IngestError> public_key(const std::string& cert_url) override;

 private:
  Expected<PublicKey, IngestError> usable_now(const SigningCertificate& cert) const;

  const std::optional<PinnedCertificates> m_pinned;
  const bool m_fetch;
  const Clock& m_clock;
  const CertificateFetcher m_fetcher;
  const std::size_t m_max_cached;

  Mutex m_mutex;
  std::map<std::string, SigningCertificate, std::less<>> m_cache GUARDED_BY(m_mutex);
  std::deque<std::string> m_cache_order GUARDED_BY(m_mutex);  // oldest first
};

// The whole SNS authenticity policy, in this order, with nothing fetched before the URL
// passed its check:
//   1. settings.verify_signature off: only the topic allow-list (3.) applies.
//   2. SignatureVersion or Signature missing/empty -> 403 `missing_signature`; version not
//      "1"/"2" -> 403 `unsupported_signature_version`; below settings.min_signature_version ->
//      403 `signature_version_too_low`.
//   3. settings.topics set and TopicArn not in it -> 403 `topic_not_allowed`.
//   4. SigningCertURL missing -> 403 `missing_signature`; check_cert_url -> 403.
//   5. certs.public_key -> its error (403, or 503 when transient).
//   6. Signature not strict base64 -> 403 `bad_signature`; RSA PKCS#1 v1.5 over
//      sns_string_to_sign with SHA-1 ("1") or SHA-256 ("2") -> 403 `bad_signature` on mismatch.
// nullopt = authentic and allowed. The SubscribeURL of a confirmation is checked separately
// (check_subscribe_url), only when it is about to be used.
std::optional<IngestError> verify_sns_message(const SnsMessage& m, const SnsSettings& settings,
                                              CertificateProvider& certs);

}  // namespace tocsin::ingest
