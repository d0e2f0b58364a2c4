#pragma once
// Where SNS signing certificates come from: the pinned `sources.sns.cert_dir` read from disk, and
// fetching over HTTPS. The I/O half of SNS verification, kept out of ingest/ so the parsers and
// the verification policy stay pure (ingest/sns_verify.hpp).

#include <memory>
#include <string>

#include "core/expected.hpp"
#include "core/time.hpp"
#include "ingest/ingest_error.hpp"
#include "ingest/sns_verify.hpp"
#include "rules/rules.hpp"

namespace tocsin::server {

// The production ingest::CertificateFetcher: re-checks `cert_url` with ingest::check_cert_url
// (403 if it fails, no connection made), then GETs it with httplib::SSLClient: server
// certificate and host name verified against /etc/ssl/certs/ca-certificates.crt, 5 s
// connect/read/write timeouts and 10 s overall, redirects not followed, body at most
// ingest::k_max_pem_bytes. Any failure to get a 200 with a bounded body is 503
// `cert_fetch_failed`.
Expected<std::string, ingest::IngestError> fetch_certificate_https(const std::string& cert_url);

// Reads every regular `*.pem` file of `dir` (other files are ignored) and pins them. Fails,
// naming the file, when the directory cannot be read or a .pem file is larger than
// ingest::k_max_pem_bytes or is not a usable certificate.
// REQUIRES: `clock` outlives the result.
Expected<ingest::PinnedCertificates, std::string> load_pinned_certificates(const std::string& dir,
                                                                           const Clock& clock);

// The provider `config` describes: `cert_dir` pinned when set, fetching with `fetcher` per
// `fetch_certs`. Fails when the pinned directory cannot be loaded. REQUIRES: `clock` outlives
// the result.
Expected<std::unique_ptr<ingest::FetchingCertificates>, std::string> make_certificate_provider(
    const rules::SnsSource& config, const Clock& clock, ingest::CertificateFetcher fetcher);

}  // namespace tocsin::server
