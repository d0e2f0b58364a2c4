#include "server/subscriptions.hpp"

#include <httplib.h>
#include <openssl/err.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <tuple>

#include "core/text.hpp"
#include "http/http_client.hpp"
#include "http/http_failure.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::server {

namespace {

// Runs before SNS gets its answer when auto_confirm visits (SNS waits about 15 s), so it must
// be quick; a failed confirmation stays listed for a person.
constexpr std::chrono::seconds k_visit_timeout{3};
// SNS answers a ConfirmSubscription with a few hundred bytes of XML.
constexpr std::size_t k_max_answer_bytes = 64 * 1024;
constexpr std::size_t k_max_arn_bytes = 1024;
// The answer trickling in byte by byte must not hold the claim past k_confirm_claim_timeout.
constexpr std::chrono::seconds k_answer_deadline{10};

// The SubscriptionArn of SNS's ConfirmSubscriptionResponse, if it names one that looks like an
// ARN (printable ASCII, no markup); "" otherwise.
std::string subscription_arn_of(const std::string& answer) {
  constexpr std::string_view k_open = "<SubscriptionArn>";
  constexpr std::string_view k_close = "</SubscriptionArn>";
  const auto start = answer.find(k_open);
  if (start == std::string::npos) return "";
  const auto from = start + k_open.size();
  const auto end = answer.find(k_close, from);
  if (end == std::string::npos || end - from > k_max_arn_bytes) return "";
  std::string arn = answer.substr(from, end - from);
  const bool printable = std::all_of(arn.begin(), arn.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '<' && c != '>' && c != '&';
  });
  if (!printable || arn.rfind("arn:", 0) != 0) return "";
  return arn;
}

}  // namespace

engine::SubscriptionVisit visit_subscribe_url(const std::string& url) {
  engine::SubscriptionVisit visit;
  const auto parts = http::split_url(url);
  if (!parts || parts->first.rfind("https://", 0) != 0) {
    visit.failure = "the SubscribeURL is not an https URL";
    return visit;
  }
  std::string host;
  int port = 0;
  std::tie(host, port) = http::host_and_port(parts->first);
  const std::string shown = host;  // the URL's host: no secret (the token is in the query)
  const char* connect_to = std::getenv("TOCSIN_TEST_SNS_CONNECT_TO");
  const char* ca_file = std::getenv("TOCSIN_TEST_SNS_CA_FILE");
  if (connect_to != nullptr && *connect_to != '\0') {
    std::tie(host, port) = http::host_and_port(std::string("https://") + connect_to);
    spdlog::warn(
        "TOCSIN_TEST_SNS_CONNECT_TO is set: this SNS confirmation goes to {}:{}, not {} "
        "(a test hook; never set it in production)",
        host, port, shown);
  }
  httplib::SSLClient client(host, port);
  client.enable_server_certificate_verification(true);
  const bool test_ca = ca_file != nullptr && *ca_file != '\0';
  if (test_ca) {
    spdlog::warn(
        "TOCSIN_TEST_SNS_CA_FILE is set: this SNS confirmation trusts {} instead of the system's "
        "CA bundle (a test hook; never set it in production)",
        ca_file);
  }
  client.set_ca_cert_path(test_ca ? ca_file : "/etc/ssl/certs/ca-certificates.crt");
  client.set_connection_timeout(k_visit_timeout);
  client.set_read_timeout(k_visit_timeout);
  client.set_write_timeout(k_visit_timeout);
  client.set_follow_location(false);
  client.set_keep_alive(false);

  const auto started = std::chrono::steady_clock::now();
  int status = 0;
  bool too_large = false;
  bool too_slow = false;
  std::string answer;
  ERR_clear_error();  // OpenSSL reports why a handshake failed in this thread's error queue
  auto result = client.Get(
      parts->second, httplib::Headers{{"Accept-Encoding", "identity"}},
      [&status](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (std::chrono::steady_clock::now() - started > k_answer_deadline) {
          too_slow = true;
          return false;
        }
        if (answer.size() + size > k_max_answer_bytes) {
          too_large = true;
          return false;
        }
        answer.append(data, size);
        return true;
      });
  const std::string from = " from " + shown;
  if (status != 0 && status != 200) {
    visit.failure = "SNS answered HTTP " + std::to_string(status) + from;
  } else if (too_large) {
    visit.failure =
        "SNS's answer is larger than " + std::to_string(k_max_answer_bytes) + " bytes" + from;
  } else if (!result) {
    http::FailedRequest failed;
    failed.host = host;
    failed.port = port;
    failed.timeout = k_visit_timeout;
    failed.elapsed =
        std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);
    failed.verify_result = client.get_openssl_verify_result();
    failed.openssl_error = ERR_peek_error();  // the first: the cause, not the cleanup
    visit.failure = http::failure_cause(result.error(), failed) + from;
  } else {
    visit.subscription_arn = subscription_arn_of(answer);
  }
  ERR_clear_error();
  return visit;
}

Expected<storage::SubscriptionRecord, engine::ActionError> confirm_subscription(
    App& app, const engine::SubscriptionRef& ref, const std::string& by,
    const std::string& comment) {
  auto claim = app.engine.claim_subscription(ref, by);
  if (!claim) return unexpected(std::move(claim.error()));
  const auto& before = claim->before;
  // No transaction is open: the claim keeps a second confirm from visiting meanwhile.
  engine::SubscriptionVisit visit = visit_subscribe_url(before.url);
  const std::string who = escape_control(by);  // as the log shows it
  visit.by = by;
  visit.comment = comment;
  auto settled = app.engine.settle_subscription(*claim, visit);
  if (!settled) {
    spdlog::error(
        "SNS subscription {} to {}: the visit by {} {}, but its outcome could not be "
        "recorded: {}",
        before.id, before.topic_arn, who,
        visit.failure ? "failed (" + *visit.failure + ")" : std::string("confirmed it"),
        settled.error().detail);
    return settled;
  }
  if (visit.failure) {
    spdlog::error(
        "confirming the SNS subscription {} to {} (asked by {}) failed: {}; it can be "
        "confirmed again, or rejected",
        before.id, before.topic_arn, who, *visit.failure);
    return unexpected(engine::ActionError{502, "subscription_confirm_failed",
                                          "confirming subscription " + std::to_string(before.id) +
                                              " failed: " + *visit.failure + "; it stays " +
                                              std::string(storage::to_text(settled->status)) +
                                              " and can be confirmed again"});
  }
  spdlog::info("confirmed the SNS subscription {} to {} (asked by {}){}", before.id,
               before.topic_arn, who,
               visit.subscription_arn.empty() ? "" : ": " + visit.subscription_arn);
  return settled;
}

}  // namespace tocsin::server
