#include "server/sns_certificates.hpp"

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

namespace tocsin::server {

namespace {

constexpr const char* k_ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
constexpr std::chrono::seconds k_fetch_timeout{5};
constexpr std::chrono::seconds k_fetch_body_deadline{10};

}  // namespace

Expected<std::string, ingest::IngestError> fetch_certificate_https(const std::string& cert_url) {
  auto location = ingest::cert_location(cert_url);
  if (!location) return unexpected(std::move(location.error()));
  auto failed = [&cert_url](const std::string& why) {
    return unexpected(ingest::cert_fetch_failed(cert_url, why));
  };

  // Host and path come from the checked parts, so what is requested is what was checked.
  httplib::SSLClient client(location->host, 443);
  client.set_ca_cert_path(k_ca_bundle);
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(k_fetch_timeout);
  client.set_read_timeout(k_fetch_timeout);
  client.set_write_timeout(k_fetch_timeout);
  client.set_follow_location(false);
  client.set_keep_alive(false);
  if (!client.is_valid()) return failed("cannot set up TLS");

  const auto started = std::chrono::steady_clock::now();
  int status = 0;
  bool too_large = false;
  bool too_slow = false;
  std::string body;
  const httplib::Headers headers = {{"Accept-Encoding", "identity"}};
  auto result = client.Get(
      location->path, headers,
      [&status](const httplib::Response& response) {
        status = response.status;
        return status == 200;  // a redirect or an error page is not read
      },
      [&](const char* data, std::size_t size) {
        if (std::chrono::steady_clock::now() - started > k_fetch_body_deadline) {
          too_slow = true;
          return false;
        }
        if (body.size() + size > ingest::k_max_pem_bytes) {
          too_large = true;
          return false;
        }
        body.append(data, size);
        return true;
      });
  if (status != 0 && status != 200) return failed("HTTP status " + std::to_string(status));
  if (too_large)
    return failed("response larger than " + std::to_string(ingest::k_max_pem_bytes) + " bytes");
  if (too_slow) return failed("response not received within the deadline");
  if (!result) return failed(httplib::to_string(result.error()));
  return body;
}

Expected<ingest::PinnedCertificates, std::string> load_pinned_certificates(const std::string& dir,
                                                                           const Clock& clock) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return unexpected("cannot read cert_dir " + dir + ": " + ec.message());
  std::vector<ingest::PinnedFile> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    if (path.extension() != ".pem" || !it->is_regular_file(ec)) continue;
    const auto size = it->file_size(ec);
    if (ec) return unexpected("cannot read " + path.string() + ": " + ec.message());
    if (size > ingest::k_max_pem_bytes) {
      return unexpected(path.string() + " is larger than " +
                        std::to_string(ingest::k_max_pem_bytes) + " bytes");
    }
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return unexpected("cannot read " + path.string());
    // Parsed file by file, as read, so the first bad file is the one named.
    auto one = ingest::PinnedCertificates::parse(
        {ingest::PinnedFile{path.filename().string(), path.string(), text}}, clock);
    if (!one) return unexpected(std::move(one.error()));
    files.push_back(ingest::PinnedFile{path.filename().string(), path.string(), std::move(text)});
  }
  if (ec) return unexpected("cannot read cert_dir " + dir + ": " + ec.message());
  return ingest::PinnedCertificates::parse(files, clock);
}

Expected<std::unique_ptr<ingest::FetchingCertificates>, std::string> make_certificate_provider(
    const rules::SnsSource& config, const Clock& clock, ingest::CertificateFetcher fetcher) {
  std::optional<ingest::PinnedCertificates> pinned;
  if (config.cert_dir) {
    auto loaded = load_pinned_certificates(*config.cert_dir, clock);
    if (!loaded) return unexpected(std::move(loaded.error()));
    pinned.emplace(std::move(*loaded));
  }
  return std::make_unique<ingest::FetchingCertificates>(std::move(pinned), config.fetch_certs,
                                                        clock, std::move(fetcher));
}

}  // namespace tocsin::server
