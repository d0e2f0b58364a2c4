#pragma once
// Fetching SNS signing certificates over HTTPS: the network half of SNS verification, kept out
// of ingest/ so the parsers and the verification policy stay pure (ingest/sns_verify.hpp).

#include <string>

#include "core/expected.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::server {

// The production ingest::CertificateFetcher: re-checks `cert_url` with ingest::check_cert_url
// (403 if it fails, no connection made), then GETs it with httplib::SSLClient: server
// certificate and host name verified against /etc/ssl/certs/ca-certificates.crt, 5 s
// connect/read/write timeouts and 10 s overall, redirects not followed, body at most
// ingest::k_max_pem_bytes. Any failure to get a 200 with a bounded body is 503
// `cert_fetch_failed`.
Expected<std::string, ingest::IngestError> fetch_certificate_https(const std::string& cert_url);

}  // namespace tocsin::server
