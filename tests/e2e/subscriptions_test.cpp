// End-to-end: SNS subscriptions confirmed or rejected through the API of the real binary
// (docs/behaviour.md "SNS subscriptions"), against a fake SNS endpoint serving HTTPS on loopback.
// The server reaches it through its test hook (TOCSIN_TEST_SNS_CONNECT_TO, with the test CA in
// TOCSIN_TEST_SNS_CA_FILE): the SubscribeURL stored is still SNS's own, checked at intake.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_subscriptions_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const httplib::Headers k_read = {{"Authorization", "Bearer read-secret"}};
const httplib::Headers k_admin = {{"Authorization", "Bearer admin-secret"}};
constexpr const char* k_arn =
    "arn:aws:sns:us-east-1:123456789012:alerts-critical:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55";

// SNS's ConfirmSubscription endpoint on loopback: counts the GETs and answers as told.
class FakeSns {
 public:
  explicit FakeSns(bool trusted = true)
      : m_server(
            fixture_path(trusted ? "fake-sns-tls/server-cert.pem"
                                 : "fake-sns-tls/untrusted-cert.pem")
                .c_str(),
            fixture_path(trusted ? "fake-sns-tls/server-key.pem" : "fake-sns-tls/untrusted-key.pem")
                .c_str()) {
    m_server.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
      int status = 200;
      std::chrono::milliseconds hang{0};
      {
        std::lock_guard lock(m_mutex);
        status = m_status;
        hang = m_hang;
        m_action = req.get_param_value("Action");
        m_token = req.get_param_value("Token");
      }
      std::this_thread::sleep_for(hang);  // a slow SNS, so that two confirms overlap
      ++m_gets;
      res.status = status;
      if (status == 200) {
        res.set_content(std::string("<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws."
                                    "com/doc/2010-03-31/\"><ConfirmSubscriptionResult>"
                                    "<SubscriptionArn>") +
                            k_arn +
                            "</SubscriptionArn></ConfirmSubscriptionResult>"
                            "</ConfirmSubscriptionResponse>",
                        "text/xml");
      } else {
        res.set_content("<Error><Code>InternalFailure</Code></Error>", "text/xml");
      }
    });
    REQUIRE(m_server.is_valid());
    m_port = m_server.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    // Bound already: a connection made before listen_after_bind runs waits in the backlog.
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~FakeSns() { stop(); }
  // Ends the listener and joins its workers. Tocsin (below) calls it before its directory is
  // removed: under ThreadSanitizer the join is what orders a worker's TLS writes on a socket
  // before the main thread reuses that descriptor number. tests/tsan.supp hides the libc calls
  // cpp-httplib makes, its close() included, so the socket's close is invisible and only the
  // join can order them; std::filesystem::remove_all's closedir on the reused number would
  // otherwise be reported as racing with the worker's last write.
  void stop() {
    if (!m_thread.joinable()) return;
    while (!m_server.is_running())  // stop() before the loop starts would not end it
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    m_server.stop();
    m_thread.join();
  }
  FakeSns(const FakeSns&) = delete;
  FakeSns& operator=(const FakeSns&) = delete;

  int port() const { return m_port; }
  int gets() const { return m_gets; }
  void answer(int status, std::chrono::milliseconds hang = {}) {
    std::lock_guard lock(m_mutex);
    m_status = status;
    m_hang = hang;
  }
  std::pair<std::string, std::string> last_query() {
    std::lock_guard lock(m_mutex);
    return {m_action, m_token};
  }

 private:
  httplib::SSLServer m_server;
  std::thread m_thread;
  int m_port = 0;
  std::atomic<int> m_gets{0};
  std::mutex m_mutex;
  int m_status = 200;
  std::chrono::milliseconds m_hang{0};
  std::string m_action, m_token;
};

struct Tocsin {
  TempDir dir;
  std::string db = dir.file("tocsin.db");
  std::optional<ServerProcess> server;

  FakeSns& sns;

  explicit Tocsin(FakeSns& fake_sns, bool auto_confirm = false) : sns(fake_sns) {
    const std::string rules = dir.file("rules.yaml");
    std::ofstream(rules) << "version: 1\n"
                         << sources_section(std::string("  sns: {verify_signature: false, "
                                                        "allow_unauthenticated: true, "
                                                        "auto_confirm: ") +
                                            (auto_confirm ? "true" : "false") + "}\n")
                         << "rules:\n"
                            "  - {name: everything, match: {}}\n"
                            "api:\n"
                            "  tokens:\n"
                            "    - {name: reader, token_env: TEST_READ_TOKEN, scope: read}\n"
                            "    - {name: admin, token_env: TEST_ADMIN_TOKEN, scope: write}\n";
    server.emplace(dir.file("server.log"), std::vector<std::string>{"--rules", rules, "--db", db},
                   std::vector<std::string>{
                       "TEST_READ_TOKEN=read-secret", "TEST_ADMIN_TOKEN=admin-secret",
                       "TOCSIN_TEST_SNS_CONNECT_TO=127.0.0.1:" + std::to_string(sns.port()),
                       "TOCSIN_TEST_SNS_CA_FILE=" + fixture_path("fake-sns-tls/ca.pem")});
  }
  ~Tocsin() {
    server.reset();  // first: it holds the only connections to the fake SNS
    sns.stop();      // then the fake's workers, joined before `dir` goes (FakeSns::stop)
  }
  Tocsin(const Tocsin&) = delete;
  Tocsin& operator=(const Tocsin&) = delete;

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(30, 0);
    return c;
  }

  // Posts the fixture's SubscriptionConfirmation under `message_id`; returns its id.
  std::int64_t subscribe(const std::string& message_id) const {
    auto c = client();
    Json body = Json::parse(fixture("sns_subscription_confirmation.json"));
    body["MessageId"] = message_id;
    auto r = c.Post("/hooks/sns", {{"x-amz-sns-message-type", "SubscriptionConfirmation"}},
                    body.dump(), "text/plain");
    REQUIRE(r);
    INFO("body: " << r->body);
    REQUIRE(r->status == 200);
    const Json s = find(message_id);
    REQUIRE(s.is_object());
    return s["id"].get<std::int64_t>();
  }

  Json list() const {
    auto c = client();
    auto r = c.Get("/api/v1/subscriptions", k_read);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return Json::parse(r->body)["subscriptions"];
  }

  Json find(const std::string& message_id) const {
    for (const auto& s : list()) {
      if (s["message_id"] == message_id) return s;
    }
    return Json();
  }

  httplib::Result decide(std::int64_t id, const std::string& action, const std::string& body,
                         const httplib::Headers& auth = k_admin) const {
    auto c = client();
    return c.Post("/api/v1/subscriptions/" + std::to_string(id) + "/" + action, auth, body,
                  "application/json");
  }

  // The decision log's reasons of this outcome (read from the database beside the server).
  std::vector<std::string> decisions(const std::string& outcome) const {
    SQLite::Database d(db, SQLite::OPEN_READONLY);
    SQLite::Statement q(d, "SELECT reason FROM decisions WHERE outcome = ? ORDER BY id");
    q.bind(1, outcome);
    std::vector<std::string> out;
    while (q.executeStep())
      out.push_back(q.getColumn(0).getString());
    return out;
  }
};

Json body_of(const httplib::Result& r) {
  REQUIRE(r);
  INFO("body: " << r->body);
  auto j = Json::parse(r->body, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

const std::string k_token =
    Json::parse(fixture("sns_subscription_confirmation.json"))["Token"].get<std::string>();

}  // namespace

TEST_CASE("subscriptions: confirming a pending one visits SNS once and records who") {
  FakeSns sns;
  Tocsin t(sns);
  const auto id = t.subscribe("m-confirm");
  CHECK(t.find("m-confirm")["status"] == "pending");
  CHECK(sns.gets() == 0);  // auto_confirm is off: nothing is visited on receipt

  auto r = t.decide(id, "confirm", R"({"by": "alice", "note": "ticket OPS-12"})");
  Json body = body_of(r);
  CHECK(r->status == 200);
  CHECK(body["status"] == "confirmed");
  CHECK(body["confirmed_by"] == "alice");
  CHECK(sns.gets() == 1);
  CHECK(sns.last_query() == std::make_pair(std::string("ConfirmSubscription"), k_token));

  const Json listed = t.find("m-confirm");
  CHECK(listed["id"] == id);
  CHECK(listed["status"] == "confirmed");
  CHECK(listed["confirmed_by"] == "alice");
  CHECK(listed["confirmed_at"].is_string());
  CHECK(listed["rejected_by"].is_null());
  CHECK(listed["subscription_arn"] == k_arn);

  const auto confirmed = t.decisions("subscription_confirmed");
  REQUIRE(confirmed.size() == 1);
  CHECK(confirmed[0].find("confirmed by alice: ticket OPS-12") != std::string::npos);
  CHECK(confirmed[0].find(k_arn) != std::string::npos);

  // Only a pending one: confirming or rejecting it again changes nothing and visits nothing.
  auto again = t.decide(id, "confirm", R"({"by": "bob"})");
  CHECK(body_of(again)["error"] == "subscription_not_pending");
  CHECK(again->status == 409);
  auto reject = t.decide(id, "reject", R"({"by": "bob"})");
  CHECK(body_of(reject)["error"] == "subscription_not_pending");
  CHECK(reject->status == 409);
  CHECK(sns.gets() == 1);
  CHECK(t.find("m-confirm")["confirmed_by"] == "alice");
}

TEST_CASE("subscriptions: rejecting one records who and sends nothing to SNS") {
  FakeSns sns;
  Tocsin t(sns);
  const auto id = t.subscribe("m-reject");
  auto r = t.decide(id, "reject", R"({"by": "bob", "note": "not our topic"})");
  Json body = body_of(r);
  CHECK(r->status == 200);
  CHECK(body["status"] == "rejected");
  CHECK(body["rejected_by"] == "bob");

  const Json listed = t.find("m-reject");
  CHECK(listed["status"] == "rejected");
  CHECK(listed["rejected_by"] == "bob");
  CHECK(listed["rejected_at"].is_string());
  CHECK(listed["confirmed_by"].is_null());
  const auto rejected = t.decisions("subscription_rejected");
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].find("rejected by bob: not our topic") != std::string::npos);

  auto confirm = t.decide(id, "confirm", R"({"by": "alice"})");
  CHECK(body_of(confirm)["error"] == "subscription_not_pending");
  CHECK(confirm->status == 409);
  CHECK(sns.gets() == 0);
}

TEST_CASE("subscriptions: who may confirm, and what the request must say") {
  FakeSns sns;
  Tocsin t(sns);
  const auto id = t.subscribe("m-refused");
  struct Case {
    const char* intent;
    std::string path;
    const char* body;
    httplib::Headers auth;
    int status;
    const char* error;
    const char* detail;  // a part of it
  };
  const std::string sub = "/api/v1/subscriptions/" + std::to_string(id);
  const Case cases[] = {
      {"no token", sub + "/confirm", R"({"by": "x"})", {}, 401, "unauthorized", "Bearer"},
      {"a read token", sub + "/confirm", R"({"by": "x"})", k_read, 403, "forbidden", "write"},
      {"a read token rejects nothing", sub + "/reject", R"({"by": "x"})", k_read, 403, "forbidden",
       "write"},
      {"no by", sub + "/confirm", R"({"note": "who am I"})", k_admin, 400, "missing_field",
       "\"by\""},
      {"an empty body", sub + "/reject", "", k_admin, 400, "missing_field", "\"by\""},
      {"by not a string", sub + "/confirm", R"({"by": 7})", k_admin, 400, "invalid_field",
       "\"by\""},
      {"an unknown field", sub + "/confirm", R"({"by": "x", "comment": "y"})", k_admin, 400,
       "unknown_field", "\"comment\""},
      {"not JSON", sub + "/confirm", "by=x", k_admin, 400, "invalid_json", ""},
      {"an unknown id", "/api/v1/subscriptions/999/confirm", R"({"by": "x"})", k_admin, 404,
       "not_found", "999"},
      {"an unknown id to reject", "/api/v1/subscriptions/999/reject", R"({"by": "x"})", k_admin,
       404, "not_found", "999"},
      {"an id that is no number", "/api/v1/subscriptions/abc/confirm", R"({"by": "x"})", k_admin,
       400, "invalid_parameter", "abc"},
  };
  auto c = t.client();
  for (const auto& k : cases) {
    CAPTURE(k.intent);
    auto r = c.Post(k.path, k.auth, k.body, "application/json");
    REQUIRE(r);
    INFO("body: " << r->body);
    CHECK(r->status == k.status);
    const Json body = Json::parse(r->body, nullptr, false);
    if (k.status != 401 || !body.is_discarded()) {
      CHECK(body["error"] == k.error);
      CHECK(body["detail"].get<std::string>().find(k.detail) != std::string::npos);
    }
  }
  CHECK(sns.gets() == 0);
  CHECK(t.find("m-refused")["status"] == "pending");
}

TEST_CASE("subscriptions: a failed visit answers 502 and leaves it confirmable") {
  SUBCASE("SNS answers 500, then 200") {
    FakeSns sns;
    Tocsin t(sns);
    const auto id = t.subscribe("m-500");
    sns.answer(500);
    auto r = t.decide(id, "confirm", R"({"by": "alice"})");
    Json body = body_of(r);
    CHECK(r->status == 502);
    CHECK(body["error"] == "subscription_confirm_failed");
    const std::string detail = body["detail"].get<std::string>();
    CHECK(detail.find("HTTP 500") != std::string::npos);
    CHECK(detail.find("sns.us-east-1.amazonaws.com") != std::string::npos);
    CHECK(detail.find(k_token) == std::string::npos);  // the URL's token is never echoed
    CHECK(sns.gets() == 1);
    Json listed = t.find("m-500");
    CHECK(listed["status"] == "pending");
    CHECK(listed["detail"].get<std::string>().find("HTTP 500") != std::string::npos);
    CHECK(t.decisions("subscription_confirmed").empty());

    sns.answer(200);
    auto retried = t.decide(id, "confirm", R"({"by": "alice"})");
    CHECK(body_of(retried)["status"] == "confirmed");
    CHECK(retried->status == 200);
    CHECK(sns.gets() == 2);
    CHECK(t.find("m-500")["status"] == "confirmed");
  }
  SUBCASE("SNS's certificate is not one the CA vouches for") {
    FakeSns sns(false);
    Tocsin t(sns);
    const auto id = t.subscribe("m-tls");
    auto r = t.decide(id, "confirm", R"({"by": "alice"})");
    Json body = body_of(r);
    CHECK(r->status == 502);
    const std::string detail = body["detail"].get<std::string>();
    CHECK(detail.find("TLS") != std::string::npos);
    CHECK(detail.find(k_token) == std::string::npos);
    CHECK(sns.gets() == 0);  // no request was sent over the untrusted connection
    CHECK(t.find("m-tls")["status"] == "pending");
    CHECK(t.server->log().find(k_token) == std::string::npos);
  }
}

TEST_CASE("subscriptions: two confirms at once visit SNS once") {
  FakeSns sns;
  Tocsin t(sns);
  const auto id = t.subscribe("m-race");
  sns.answer(200, std::chrono::milliseconds(1500));
  auto first =
      std::async(std::launch::async, [&] { return t.decide(id, "confirm", R"({"by": "alice"})"); });
  // The first claims it (pending -> confirming) before visiting; wait until it shows.
  for (int i = 0; i < 200 && t.find("m-race")["status"] != "confirming"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(t.find("m-race")["status"] == "confirming");
  auto second = t.decide(id, "confirm", R"({"by": "bob"})");
  CHECK(body_of(second)["error"] == "subscription_not_pending");
  CHECK(second->status == 409);
  auto rejected = t.decide(id, "reject", R"({"by": "bob"})");
  CHECK(rejected->status == 409);
  auto won = first.get();
  CHECK(body_of(won)["confirmed_by"] == "alice");
  CHECK(won->status == 200);
  CHECK(sns.gets() == 1);
}

TEST_CASE("subscriptions: auto_confirm takes the same path, recorded as auto_confirm") {
  FakeSns sns;
  Tocsin t(sns, true);
  const auto id = t.subscribe("m-auto");
  CHECK(sns.gets() == 1);
  const Json listed = t.find("m-auto");
  CHECK(listed["status"] == "confirmed");
  CHECK(listed["confirmed_by"] == "auto_confirm");
  CHECK(listed["subscription_arn"] == k_arn);
  auto again = t.decide(id, "confirm", R"({"by": "alice"})");
  CHECK(again->status == 409);
  CHECK(sns.gets() == 1);
}

TEST_CASE("subscriptions: the command-line client lists, confirms and rejects them") {
  FakeSns sns;
  Tocsin t(sns);
  const auto confirmed = t.subscribe("m-cli-1");
  const auto rejected = t.subscribe("m-cli-2");
  const std::string server = "http://127.0.0.1:" + std::to_string(t.server->port());
  const std::vector<std::string> admin = {"TOCSIN_TOKEN=admin-secret"};

  auto list = run_tocsin({"subscriptions", "--server", server}, admin);
  CHECK(list.exit_code == 0);
  CHECK(list.output.find("pending") != std::string::npos);
  CHECK(list.output.find("arn:aws:sns:us-east-1:123456789012:alerts-critical") !=
        std::string::npos);

  auto confirm = run_tocsin(
      {"subscription", "confirm", std::to_string(confirmed), "--by", "carol", "--server", server},
      admin);
  INFO(confirm.output);
  CHECK(confirm.exit_code == 0);
  CHECK(confirm.output.find("confirmed by carol") != std::string::npos);
  CHECK(sns.gets() == 1);

  auto reject = run_tocsin({"subscription", "reject", std::to_string(rejected), "--by", "carol",
                            "--note", "wrong topic", "--server", server},
                           admin);
  CHECK(reject.exit_code == 0);
  CHECK(reject.output.find("rejected by carol") != std::string::npos);
  CHECK(t.find("m-cli-2")["status"] == "rejected");

  auto again = run_tocsin(
      {"subscription", "reject", std::to_string(rejected), "--by", "carol", "--server", server},
      admin);
  CHECK(again.exit_code == 1);  // 409
  auto read_only = run_tocsin(
      {"subscription", "confirm", std::to_string(rejected), "--by", "carol", "--server", server},
      {"TOCSIN_TOKEN=read-secret"});
  CHECK(read_only.exit_code == 5);
  CHECK(sns.gets() == 1);
}

}  // namespace e2e_subscriptions_test
