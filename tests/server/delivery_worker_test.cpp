// The outbox worker in process, on a virtual clock: escalation reaches PagerDuty on time,
// retries wait their backoff, an acknowledgement stops what was not sent yet.
#include "server/delivery_worker.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/json.hpp"
#include "engine/engine.hpp"
#include "rules/loader.hpp"
#include "server/app.hpp"
#include "support/events.hpp"
#include "support/log_capture.hpp"
#include "support/recording_receiver.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

namespace server_delivery_worker_test {

using namespace tocsin;
using namespace tocsin::engine;
using namespace tocsin::server;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-12-22T04:00:00Z");

rules::RulesSnapshot delivery_rules() {
  return rules_or_fail(R"(version: 1
channels:
  oncall: {type: webhook, url: "http://receiver.invalid/oncall"}
  cto: {type: pagerduty, url: "http://receiver.invalid/pd", routing_key_env: TEST_PD_KEY}
delivery: {backoff_initial: 10s, backoff_max: 1m, max_attempts: 3}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [cto]}]}
rules:
  - {name: queue, match: {name: "queue-*"}, escalation: page}
)",
                       [](const std::string& name) {
                         return name == "TEST_PD_KEY" ? std::optional<std::string>("pd-key")
                                                      : std::nullopt;
                       });
}

// Engine and worker on one database, with a scripted sender instead of the network.
struct Rig {
  explicit Rig(rules::RulesSnapshot r = delivery_rules(), rules::EnvLookup env = test_env())
      : rules{*activate(std::move(r), clock)}, worker_env(std::move(env)) {}

  static rules::EnvLookup test_env() {
    return [](const std::string& name) {
      return name == "TEST_PD_KEY" ? std::optional<std::string>("pd-key") : std::nullopt;
    };
  }

  TempDir dir;
  ManualClock clock{k_t0};
  Metrics metrics;
  RulesHolder rules;
  rules::EnvLookup worker_env;
  TestDatabaseLocation db{dir, "t.db"};
  storage::Writer writer{db, storage::Durability::normal};
  storage::Reader reader{db};
  Engine engine{writer, clock, rules};
  // The sender runs on the worker's threads once it is started: `sent` and `answers` are
  // guarded by `mutex` then (read them with sent_to()); `answer` is called outside it.
  std::mutex mutex;
  std::vector<delivery::HttpRequest> sent;
  std::deque<delivery::AttemptResult> answers;  // then 202s
  // Every request sent, answered by `answer(request)` instead of `answers` when set.
  std::function<delivery::AttemptResult(const delivery::HttpRequest&)> answer;
  server::DeliveryWorker worker{writer,
                                reader,
                                clock,
                                rules,
                                metrics,
                                [this](const delivery::HttpRequest& r, Duration) {
                                  {
                                    std::lock_guard lock(mutex);
                                    sent.push_back(r);
                                    if (!answer) {
                                      delivery::AttemptResult a;
                                      a.http_status = 202;
                                      if (!answers.empty()) {
                                        a = answers.front();
                                        answers.pop_front();
                                      }
                                      return a;
                                    }
                                  }
                                  return answer(r);
                                },
                                options()};

  server::DeliveryWorkerOptions options() {
    server::DeliveryWorkerOptions o;
    o.env = worker_env;
    return o;
  }

  std::int64_t fire(const std::string& name) {
    Inbound in = generic_inbound(name, SignalState::firing, clock.now());
    auto r = engine.ingest(std::move(in));
    REQUIRE(r);
    return *r->front().alert_id;
  }
  int drain() {
    int n = 0;
    while (worker.deliver_one())
      ++n;
    return n;
  }
  // How many requests went to a URL containing `fragment` (safe while the worker runs).
  int sent_to(const std::string& fragment) {
    std::lock_guard lock(mutex);
    return static_cast<int>(std::count_if(sent.begin(), sent.end(), [&](const auto& r) {
      return r.url.find(fragment) != std::string::npos;
    }));
  }
};

}  // namespace

TEST_CASE("worker: escalation reaches PagerDuty at +20m with the episode's dedup key") {
  Rig rig;
  rig.fire("queue-a");
  CHECK(rig.drain() == 1);
  REQUIRE(rig.sent.size() == 1);
  CHECK(rig.sent[0].url == "http://receiver.invalid/oncall");

  rig.clock.set(k_t0 + 19min);
  REQUIRE(rig.engine.fire_due_timers());
  CHECK(rig.drain() == 0);  // not yet

  rig.clock.set(k_t0 + 20min);
  REQUIRE(rig.engine.fire_due_timers());
  CHECK(rig.drain() == 1);
  REQUIRE(rig.sent.size() == 2);
  CHECK(rig.sent[1].url == "http://receiver.invalid/pd");
  const Json event = Json::parse(rig.sent[1].body);
  CHECK(event["event_action"] == "trigger");
  CHECK(event["routing_key"] == "pd-key");
  CHECK(event["dedup_key"].get<std::string>().rfind("tocsin-", 0) == 0);
}

// A job may run more than once (storage/writer.hpp): the claim's first run must leave no lane
// taken and no row in flight, or the channel would stall.
TEST_CASE("worker: claims and records whose jobs run twice send each notification once") {
  Rig rig;
  rig.writer.run_jobs_twice_for_tests();
  rig.fire("queue-a");
  CHECK(rig.drain() == 1);
  rig.clock.set(k_t0 + 20min);
  REQUIRE(rig.engine.fire_due_timers());
  CHECK(rig.drain() == 1);
  CHECK(rig.sent.size() == 2);
  storage::NotificationQuery q;
  for (const auto& row : rig.reader.list_notifications(q)) {
    CHECK(row.status == storage::OutboxStatus::sent);
    CHECK(row.attempts == 1);
  }
}

TEST_CASE("worker: a retry waits its backoff on the clock, and Retry-After is honoured") {
  Rig rig;
  delivery::AttemptResult busy;
  busy.http_status = 429;
  busy.error = "HTTP 429";
  busy.retry_after = 90s;
  rig.answers.push_back(busy);
  rig.fire("queue-a");
  CHECK(rig.drain() == 1);  // tried once, 429
  rig.clock.set(k_t0 + 89s);
  CHECK(rig.drain() == 0);  // Retry-After: 90 s (longer than the 10 s backoff)
  rig.clock.set(k_t0 + 90s);
  CHECK(rig.drain() == 1);
  CHECK(rig.sent.size() == 2);
  storage::NotificationQuery q;
  auto rows = rig.reader.list_notifications(q);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == storage::OutboxStatus::sent);
  CHECK(rows[0].attempts == 2);
  CHECK(rig.reader.list_attempts(rows[0].id).size() == 2);
}

TEST_CASE("worker: per episode and channel in order, a resolve supersedes an unsent trigger") {
  Rig rig;
  delivery::AttemptResult down;
  down.error = "connection refused: http://127.0.0.1:9/oncall";
  rig.answers.push_back(down);
  const auto id = rig.fire("queue-a");
  CHECK(rig.drain() == 1);  // the trigger failed; it waits for its retry
  REQUIRE(rig.engine.act(AlertRef{id, ""}, rules::HumanAction::ack, "alice", ""));
  // The acknowledge is queued behind the trigger: nothing is due until the trigger's retry.
  CHECK(rig.drain() == 0);
  rig.clock.set(k_t0 + 1min);
  CHECK(rig.drain() == 2);
  REQUIRE(rig.sent.size() == 3);
  CHECK(Json::parse(rig.sent[1].body)["action"] == "trigger");
  CHECK(Json::parse(rig.sent[2].body)["action"] == "acknowledge");

  // A second alert whose trigger never left: its resolve supersedes it, and nothing is sent.
  rig.answers.clear();
  REQUIRE(rig.engine.ingest(generic_inbound("queue-b", SignalState::firing, rig.clock.now())));
  REQUIRE(rig.engine.ingest(generic_inbound("queue-b", SignalState::resolved, rig.clock.now())));
  CHECK(rig.drain() == 0);
  storage::NotificationQuery superseded;
  superseded.status = storage::OutboxStatus::superseded;
  CHECK(rig.reader.list_notifications(superseded).size() == 2);
}

namespace {

// Every secret the rules below make the process hold, by environment variable.
const std::map<std::string, std::string> k_secrets = {
    {"TEST_HOOK_URL", "http://receiver.invalid/hook/path-secret-41?token=query-secret-42"},
    {"TEST_HOOK_SECRET", "hmac-secret-43"},
    {"TEST_PD_KEY", "routing-secret-44"},
    {"TEST_OG_KEY", "genie-secret-45"},
    {"TEST_API_TOKEN", "api-token-secret-46"},
    {"TEST_GENERIC_TOKEN", "hook-token-secret-47"},
    {"TEST_RAW_TOKEN", "sns-raw-secret-48"},
    {"TEST_WATCHDOG_URL", "https://ping.invalid/ping/watchdog-secret-49"},
};
// Secret without an environment variable: the path of a Slack webhook URL.
const std::string k_slack_path = "/services/T1/B2/slack-path-secret-50";

rules::EnvLookup secret_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    auto it = k_secrets.find(name);
    if (it == k_secrets.end()) return std::nullopt;
    return it->second;
  };
}

rules::RulesSnapshot secret_rules() {
  return rules_or_fail(R"(version: 1
sources:
  sns: {verify_signature: false, allow_unauthenticated: true, raw_token_env: TEST_RAW_TOKEN}
  generic: {token_env: TEST_GENERIC_TOKEN}
channels:
  hook: {type: webhook, url_env: TEST_HOOK_URL, secret_env: TEST_HOOK_SECRET}
  pd: {type: pagerduty, url: "http://receiver.invalid/pd", routing_key_env: TEST_PD_KEY}
  genie: {type: opsgenie, url: "http://receiver.invalid", api_key_env: TEST_OG_KEY}
  room: {type: slack, url: "https://hooks.slack.invalid)" +
                           k_slack_path + R"("}
  fallback: {type: webhook, url: "http://receiver.invalid/fallback"}
delivery: {fallback: fallback, max_attempts: 1}
watchdog: {url_env: TEST_WATCHDOG_URL}
api:
  tokens: [{name: ops, token_env: TEST_API_TOKEN, scope: write}]
rules:
  - {name: all, match: {name: "*"}, notify: [hook, pd, genie, room]}
)",
                       secret_env());
}

// A receiver that answers 400 with the request it got, and, for good measure, every secret
// the process holds: what it repeats must not reach the outbox, the API or the fallback.
delivery::AttemptResult echo_everything(const delivery::HttpRequest& r) {
  delivery::AttemptResult a;
  a.http_status = 400;
  std::string echo = "POST " + r.url + "\r\n";
  for (const auto& [name, value] : r.headers)
    echo += name + ": " + value + "\r\n";
  echo += "\r\n" + r.body + "\nknown:";
  for (const auto& [name, value] : k_secrets)
    echo += " " + value;
  echo += " " + k_slack_path;
  a.error = "HTTP 400: " + echo;
  return a;
}

std::vector<std::string> secret_values() {
  std::vector<std::string> out;
  for (const auto& [name, value] : k_secrets)
    out.push_back(value);
  // The parts of secret URLs a receiver sees on its own (the request line).
  out.push_back("path-secret-41");
  out.push_back("query-secret-42");
  out.push_back("watchdog-secret-49");
  out.push_back("slack-path-secret-50");
  return out;
}

}  // namespace

TEST_CASE("worker: a receiver echoing the request leaks no secret into what is stored") {
  Rig rig(secret_rules(), secret_env());
  // Four channels fail for good; each failure is announced on the fallback (which accepts).
  rig.answer = [](const delivery::HttpRequest& r) {
    if (r.url.find("/fallback") != std::string::npos) {
      delivery::AttemptResult ok;
      ok.http_status = 202;
      return ok;
    }
    return echo_everything(r);
  };
  rig.fire("queue-a");
  CHECK(rig.drain() == 8);
  storage::NotificationQuery all;
  const auto rows = rig.reader.list_notifications(all);
  REQUIRE(rows.size() == 8);
  for (const auto& row : rows) {
    std::vector<std::string> texts{row.last_error};
    for (const auto& a : rig.reader.list_attempts(row.id))
      texts.push_back(a.error);
    for (const auto& text : texts)
      CHECK_MESSAGE(text.size() <= 256, text);  // an excerpt, not the whole answer
    texts.push_back(row.why);                   // a meta-alert's why quotes the failure
    for (const auto& text : texts) {
      for (const auto& secret : secret_values())
        CHECK_MESSAGE(text.find(secret) == std::string::npos, row.channel, ": ", text);
      CHECK_MESSAGE(text.find_first_of("\r\n") == std::string::npos, text);  // one line
    }
    // Where the excerpt shows a secret, it says it was redacted (the routing key comes too
    // late in PagerDuty's echo to be shown at all).
    if (row.channel == "hook" || row.channel == "genie" || row.channel == "room")
      CHECK_MESSAGE(row.last_error.find("[redacted]") != std::string::npos, row.last_error);
  }
  for (const auto& request : rig.sent) {
    if (request.url.find("/fallback") == std::string::npos) continue;
    for (const auto& secret : secret_values())
      CHECK_MESSAGE(request.body.find(secret) == std::string::npos, request.body);
  }
}

namespace {

// Two channels for every alert, and P1 pages for the on-call channel alone.
rules::RulesSnapshot lane_rules(const std::string& slow_url = "http://receiver.invalid/slow",
                                const std::string& oncall_url = "http://receiver.invalid/oncall",
                                const std::string& timeout = "10s") {
  return rules_or_fail(R"(version: 1
channels:
  slow: {type: webhook, url: ")" +
                           slow_url +
                           R"("}
  oncall: {type: webhook, url: ")" +
                           oncall_url +
                           R"("}
delivery: {backoff_initial: 10s, backoff_max: 1m, max_attempts: 3, timeout: )" +
                           timeout + R"(}
rules:
  - {name: page, match: {name: "page-*"}, priority: P1, notify: [oncall]}
  - {name: queue, match: {name: "*"}, notify: [slow, oncall]}
)",
                       Rig::test_env());
}

delivery::AttemptResult answered(int status) {
  delivery::AttemptResult a;
  a.http_status = status;
  return a;
}

delivery::AttemptResult no_answer() {
  delivery::AttemptResult a;
  a.error = "timed out after 2s: http://127.0.0.1:9/slow";
  return a;
}

// A receiver that hangs: requests that reach it wait until it is opened (bounded, so that a
// failing test still ends), then get `then`. Counts the requests waiting, and the most at once.
class Gate {
 public:
  delivery::AttemptResult pass(delivery::AttemptResult then) {
    std::unique_lock lock(m_mutex);
    m_peak = std::max(m_peak, ++m_held);
    m_changed.wait_for(lock, std::chrono::seconds(30), [&] { return m_open; });
    --m_held;
    return then;
  }
  void open() {
    {
      std::lock_guard lock(m_mutex);
      m_open = true;
    }
    m_changed.notify_all();
  }
  int held() {
    std::lock_guard lock(m_mutex);
    return m_held;
  }
  int peak() {
    std::lock_guard lock(m_mutex);
    return m_peak;
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  bool m_open = false;
  int m_held = 0;
  int m_peak = 0;
};

// Waits until `done` (polling, bounded): the worker's threads run on real time.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds bound = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

TEST_CASE("worker: a hung receiver delays only its own channel") {
  Rig rig(lane_rules());
  Gate gate;
  rig.answer = [&](const delivery::HttpRequest& r) {
    return r.url.find("/slow") != std::string::npos ? gate.pass(answered(202)) : answered(202);
  };
  for (const auto* name : {"queue-a", "queue-b", "queue-c"})
    rig.fire(name);
  rig.worker.start();
  // Every on-call notification arrives while slow's first request still hangs, and that is
  // slow's only request: a channel not yet heard from is tried one request at a time.
  // The slow request is claimed with the others but may reach the gate after them: wait for
  // both, not for one and then look at the other.
  CHECK(eventually([&] { return rig.sent_to("/oncall") == 3 && gate.held() == 1; }));
  CHECK(gate.peak() == 1);
  gate.open();
  CHECK(eventually([&] { return rig.sent_to("/slow") == 3; }));
  rig.worker.stop();
}

TEST_CASE("worker: a channel that starts hanging with a backlog leaves threads to the others") {
  Rig rig(lane_rules());
  rig.fire("queue-0");
  CHECK(rig.drain() == 2);  // both channels answered: they get batches and several threads
  Gate gate;
  rig.answer = [&](const delivery::HttpRequest& r) {
    return r.url.find("/slow") != std::string::npos ? gate.pass(no_answer()) : answered(202);
  };
  for (int i = 1; i <= 12; ++i)
    rig.fire("queue-" + std::to_string(i));
  rig.worker.start();
  CHECK(eventually([&] { return rig.sent_to("/oncall") == 13 && gate.held() >= 1; }));
  CHECK(gate.peak() <= server::DeliveryWorkerOptions{}.threads - 1);  // never every thread
  gate.open();
  rig.worker.stop();
  // Each hung batch stopped at its first unanswered request and gave the rest back: only what
  // was sent counts as an attempt.
  storage::NotificationQuery q;
  q.channel = "slow";
  int attempts = 0;
  for (const auto& row : rig.reader.list_notifications(q))
    attempts += row.attempts;
  CHECK(attempts == rig.sent_to("/slow"));
}

TEST_CASE("worker: the most urgent priority is claimed first, before older rows") {
  Rig rig(lane_rules());
  rig.fire("queue-a");  // P3, to slow and oncall
  rig.clock.advance(1min);
  rig.fire("page-a");  // P1, to oncall
  REQUIRE(rig.worker.deliver_one());
  REQUIRE(rig.sent.size() == 1);
  CHECK(Json::parse(rig.sent[0].body)["priority"] == "P1");
}

TEST_CASE("worker: a batch stops at its first unanswered request and gives the rest back") {
  Rig rig(lane_rules());
  rig.fire("page-a");
  CHECK(rig.drain() == 1);  // on-call answered: it gets batches now
  rig.answers.push_back(no_answer());
  for (const auto* name : {"page-b", "page-c", "page-d"})
    rig.fire(name);
  CHECK(rig.worker.deliver(8) == 1);  // not three timeouts in a row
  CHECK(rig.sent.size() == 2);
  storage::NotificationQuery q;
  q.status = storage::OutboxStatus::pending;
  const auto pending = rig.reader.list_notifications(q);
  REQUIRE(pending.size() == 3);
  int attempts = 0;
  for (const auto& row : pending)
    attempts += row.attempts;
  CHECK(attempts == 1);  // the two never sent were not counted
  // The two still due leave one at a time (the channel is not answering), then all is sent.
  CHECK(rig.drain() == 2);
  rig.clock.advance(1min);
  CHECK(rig.drain() == 1);
  CHECK(rig.reader.list_notifications(q).empty());
}

TEST_CASE("worker: over loopback, a receiver that never answers holds back only its channel") {
  // A listening socket nobody accepts: the kernel completes the connection and buffers the
  // request, and no answer ever comes.
  const int hung = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(hung >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(hung, reinterpret_cast<sockaddr*>(&addr), len) == 0);
  REQUIRE(::listen(hung, 16) == 0);
  REQUIRE(::getsockname(hung, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  RecordingReceiver good;
  Rig rig(lane_rules("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/slow",
                     good.url() + "/oncall", "2s"));
  server::DeliveryWorker worker(rig.writer, rig.reader, rig.clock, rig.rules, rig.metrics,
                                server::send_http, rig.options());
  for (const auto* name : {"queue-a", "queue-b", "queue-c"})
    rig.fire(name);
  const auto started = std::chrono::steady_clock::now();
  worker.start();
  CHECK(good.wait_for(3, std::chrono::seconds(8)).size() == 3);
  // Before the hung request's 2 s timeout could have ended it.
  CHECK(std::chrono::steady_clock::now() - started < 1500ms);
  const auto stopping = std::chrono::steady_clock::now();
  worker.stop();  // waits for the hung request: bounded by delivery.timeout
  CHECK(std::chrono::steady_clock::now() - stopping < 3s);
  ::close(hung);
  storage::NotificationQuery q;
  q.channel = "slow";
  int timed_out = 0;
  for (const auto& row : rig.reader.list_notifications(q)) {
    for (const auto& a : rig.reader.list_attempts(row.id))
      timed_out += !a.http_status && a.error.rfind("timed out after 2s: http://127.0.0.1:", 0) == 0;
  }
  CHECK(timed_out == 1);
}

namespace {

// A receiver that answers its headers at once, then its body one byte every 100 ms (for 10 s
// at most, so that a failing test still ends): every read is quick, the request never ends
// by itself. As the slow receiver in docs/postgres.md "Instances and claims".
class TricklingReceiver {
 public:
  TricklingReceiver() : m_listen(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(m_listen >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(m_listen, 16) == 0);
    REQUIRE(::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    m_port = ntohs(addr.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  TricklingReceiver(const TricklingReceiver&) = delete;
  TricklingReceiver& operator=(const TricklingReceiver&) = delete;
  ~TricklingReceiver() {
    m_stop = true;
    m_thread.join();
    ::close(m_listen);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

 private:
  // Waits (in short steps, watching m_stop) until `fd` is readable; false when stopped.
  bool readable(int fd) {
    while (!m_stop) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }
  void serve() {
    while (readable(m_listen)) {
      const int fd = ::accept(m_listen, nullptr, nullptr);
      if (fd < 0) continue;
      char buffer[65536];
      if (readable(fd) && ::recv(fd, buffer, sizeof buffer, 0) > 0) {
        const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        bool open = ::send(fd, head.data(), head.size(), MSG_NOSIGNAL) > 0;
        for (int i = 0; i < 100 && open && !m_stop; ++i) {
          std::this_thread::sleep_for(100ms);
          open = ::send(fd, "x", 1, MSG_NOSIGNAL) == 1;
        }
      }
      ::close(fd);
    }
  }

  int m_listen;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

// A TLS endpoint that never finishes its handshake: it answers the ClientHello with the head
// of a 16 KiB record, then one byte of it every 100 ms. OpenSSL waits for the whole record,
// and cpp-httplib holds the client's socket mutex through the handshake, so Client::stop()
// on that client blocks until the staller gives up (after `for_how_long`).
class HandshakeStaller {
 public:
  explicit HandshakeStaller(Duration for_how_long)
      : m_listen(::socket(AF_INET, SOCK_STREAM, 0)), m_for(for_how_long) {
    REQUIRE(m_listen >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(m_listen, 16) == 0);
    REQUIRE(::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    m_port = ntohs(addr.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  HandshakeStaller(const HandshakeStaller&) = delete;
  HandshakeStaller& operator=(const HandshakeStaller&) = delete;
  ~HandshakeStaller() {
    m_stop = true;
    m_thread.join();
    ::close(m_listen);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(m_port); }

 private:
  bool readable(int fd) {
    while (!m_stop) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }
  void serve() {
    if (!readable(m_listen)) return;
    const int fd = ::accept(m_listen, nullptr, nullptr);
    if (fd < 0) return;
    char buffer[65536];
    if (readable(fd) && ::recv(fd, buffer, sizeof buffer, 0) > 0) {
      bool open = ::send(fd, "\x16\x03\x03\x40\x00", 5, MSG_NOSIGNAL) == 5;
      const auto until = std::chrono::steady_clock::now() + m_for;
      while (open && !m_stop && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(100ms);
        open = ::send(fd, "\x02", 1, MSG_NOSIGNAL) == 1;
      }
    }
    ::close(fd);
  }

  int m_listen;
  int m_port = 0;
  Duration m_for;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

// The worker's clock, counting its reads: a test can tell that the worker has read it.
class CountingClock final : public Clock {
 public:
  explicit CountingClock(const Clock& clock) : m_clock(clock) {}
  TimePoint now() const override {
    ++m_reads;
    return m_clock.now();
  }
  int reads() const { return m_reads.load(); }

 private:
  const Clock& m_clock;
  mutable std::atomic<int> m_reads{0};
};

}  // namespace

// A connection per notification cost a connect, a close and the receiver's accept each: a
// batch to one channel's endpoint goes over one kept-alive connection.
TEST_CASE("worker: over loopback, a batch to one channel reuses one connection") {
  RecordingReceiver receiver;
  Rig rig(lane_rules("http://receiver.invalid/slow", receiver.url() + "/oncall"));
  server::DeliveryWorker worker(rig.writer, rig.reader, rig.clock, rig.rules, rig.metrics,
                                server::send_http, rig.options());
  for (const auto* name : {"page-a", "page-b", "page-c", "page-d", "page-e"})
    rig.fire(name);
  REQUIRE(worker.deliver_one());  // the channel answers: the rest go out as one batch
  CHECK(worker.deliver(8) == 4);
  const auto requests = receiver.wait_for(5);
  REQUIRE(requests.size() == 5);
  std::set<int> ports;
  for (std::size_t i = 1; i < requests.size(); ++i)
    ports.insert(requests[i].remote_port);
  CHECK(ports.size() == 1);
}

// docs/postgres.md "Instances and claims": cpp-httplib's timeouts are per read, so a receiver
// trickling its answer kept a request alive past the claim, and another instance sent the row
// again. The request is cut at delivery.timeout, and the claim outlasts it.
TEST_CASE("worker: over loopback, a receiver trickling its answer is cut at the timeout") {
  TricklingReceiver trickling;
  Rig rig(lane_rules(trickling.url() + "/slow", "http://receiver.invalid/oncall", "1s"));
  std::optional<std::int64_t> claimed_until;
  Duration took{0};
  std::string error;
  server::DeliveryWorker worker(
      rig.writer, rig.reader, rig.clock, rig.rules, rig.metrics,
      [&](const delivery::HttpRequest& r, Duration timeout) {
        if (r.url.find("/slow") == std::string::npos) return answered(202);
        claimed_until = rig.db.scalar("SELECT claimed_until FROM outbox WHERE channel = 'slow'");
        const auto started = std::chrono::steady_clock::now();
        auto result = server::send_http(r, timeout);
        took = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);
        error = result.error;
        return result;
      },
      rig.options());
  rig.fire("queue-a");
  while (worker.deliver_one()) {
  }
  MESSAGE("the trickled request took ", took.count(), " ms");
  CHECK(took >= 1s);
  CHECK(took < 2500ms);  // the timeout, and a margin for a loaded machine; not 10 s
  CHECK(error.rfind("timed out after 1s: http://127.0.0.1:", 0) == 0);
  // Claimed at k_t0 (the clock stands still) for longer than the request lasted.
  REQUIRE(claimed_until);
  CHECK(from_unix_ms(*claimed_until) > k_t0 + took);
  CHECK(from_unix_ms(*claimed_until) == k_t0 + 1s + server::claim_margin(1s));
}

// One thread ends every request at its deadline: a receiver whose TLS handshake holds that
// thread in Client::stop() must not keep the other requests, to other channels, past theirs.
TEST_CASE("send_http: a receiver stalling its TLS handshake does not stop other deadlines") {
  HandshakeStaller staller(5s);
  TricklingReceiver trickling;
  auto stalled = std::async(std::launch::async, [&] {
    delivery::HttpRequest r;
    r.url = staller.url() + "/stalled";
    return server::send_http(r, 300ms);
  });
  std::this_thread::sleep_for(600ms);  // the stalled request's deadline has passed
  delivery::HttpRequest r;
  r.url = trickling.url() + "/slow";
  const auto started = std::chrono::steady_clock::now();
  const auto result = server::send_http(r, 500ms);
  const auto took = std::chrono::steady_clock::now() - started;
  MESSAGE("the trickled request took ",
          std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), " ms");
  CHECK(result.error.rfind("timed out after", 0) == 0);
  CHECK(took < 2500ms);  // the timeout and a margin; not the staller's 5 s
  stalled.get();
}

// docs/postgres.md "Instances and claims": a claim job that waited in the writer's queue
// claims from the time it runs, not from a clock read before it waited (its claim would be
// that much shorter than the batch it covers).
TEST_CASE("worker: a claim that waited for the writer starts from the time its job runs") {
  Rig rig;
  rig.fire("queue-a");
  CountingClock clock(rig.clock);
  std::optional<std::int64_t> claimed_until;
  server::DeliveryWorker worker(
      rig.writer, rig.reader, clock, rig.rules, rig.metrics,
      [&](const delivery::HttpRequest&, Duration) {
        claimed_until =
            rig.db.scalar("SELECT claimed_until FROM outbox WHERE claimed_by IS NOT NULL");
        return answered(202);
      },
      rig.options());
  // The writer is held by a job until the test lets it go.
  std::promise<void> let_go;
  auto held = rig.writer.submit(
      [waiting = let_go.get_future().share()](storage::Transaction&) { waiting.wait(); });
  auto delivered = std::async(std::launch::async, [&] { return worker.deliver(1); });
  // Until the worker reads its clock (as a claim taken before the wait would), or long enough
  // for it to have queued its claim behind the held job.
  const auto until = std::chrono::steady_clock::now() + 500ms;
  while (clock.reads() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  rig.clock.advance(1min);  // the claim job waits meanwhile
  let_go.set_value();
  REQUIRE_FALSE(held.get());
  CHECK(delivered.get() == 1);
  const Duration timeout = rig.rules.get()->rules->delivery.timeout;
  REQUIRE(claimed_until);
  CHECK(from_unix_ms(*claimed_until) == k_t0 + 1min + timeout + server::claim_margin(timeout));
}

TEST_CASE("worker: an outbox row this version cannot read is settled failed, the rest are sent") {
  Rig rig;
  {
    // As a newer version (or a hand edit) would have left it: most urgent, so claimed first.
    rig.db.exec(
        std::string(testing_on_postgres() ? "ALTER TABLE outbox DROP CONSTRAINT outbox_action_check"
                                          : "PRAGMA ignore_check_constraints = ON") +
        "; INSERT INTO outbox (created_at, due_at, fingerprint, alias, channel, action, level, "
        "severity, priority, status) VALUES (0, 0, 'f', 'a', 'oncall', 'page_everyone', 0, "
        "'warning', 1, 'pending')");
  }
  rig.fire("queue-a");
  CHECK(rig.drain() == 1);
  CHECK(rig.sent_to("/oncall") == 1);
  CHECK(rig.db.text("SELECT status FROM outbox WHERE alias = 'a'") == "failed");
  CHECK(rig.db.text("SELECT last_error FROM outbox WHERE alias = 'a'")
            .find("outbox.action holds \"page_everyone\"") != std::string::npos);
}

namespace {

// docs/behaviour.md "The circuit breaker and the catch-up": `oncall` fails while `down` is set;
// `ops`, the fallback, always answers.
struct BreakerRig {
  Rig rig{rules_or_fail(R"(version: 1
channels:
  oncall: {type: webhook, url: "http://receiver.invalid/oncall"}
  ops: {type: webhook, url: "http://receiver.invalid/ops"}
delivery: {backoff_initial: 10s, backoff_max: 1m, max_attempts: 3, breaker_after: 3,
           catch_up_rate: 2, fallback: ops}
rules:
  - {name: all, match: {}, notify: [oncall]}
)")};
  std::atomic<bool> down{true};

  BreakerRig() {
    rig.answer = [this](const delivery::HttpRequest& r) {
      delivery::AttemptResult a;
      if (down && r.url.find("/oncall") != std::string::npos) {
        a.error = "connection refused: http://receiver.invalid/oncall";
      } else {
        a.http_status = 202;
      }
      return a;
    };
  }
  std::optional<storage::ChannelHealth> health(const std::string& channel) {
    for (auto& c : rig.reader.channel_status()) {
      if (c.channel == channel) return c.health;
    }
    return std::nullopt;
  }
  // `n` alarms fired and sent for: the channel goes down (breaker_after of them fail).
  void storm(int n) {
    for (int i = 0; i < n; ++i)
      rig.fire("alarm-" + std::to_string(i));
    rig.drain();
  }
  // The action of each request to `fragment`, in order.
  std::vector<std::string> actions_to(const std::string& fragment) {
    std::lock_guard lock(rig.mutex);
    std::vector<std::string> out;
    for (const auto& r : rig.sent) {
      if (r.url.find(fragment) != std::string::npos)
        out.push_back(Json::parse(r.body)["action"].get<std::string>());
    }
    return out;
  }
};

}  // namespace

TEST_CASE("worker: a channel that keeps failing is held down, probed, and caught up at its pace") {
  BreakerRig b;
  Rig& rig = b.rig;
  b.storm(20);
  // breaker_after failures, then nothing more to the channel: one line to the fallback.
  CHECK(rig.sent_to("/oncall") == 3);
  CHECK(b.actions_to("/ops") == std::vector<std::string>{"trigger"});
  auto h = b.health("oncall");
  REQUIRE(h);
  CHECK(h->down_since == k_t0);
  CHECK(h->probe_at == k_t0 + 10s);
  CHECK(rig.db.scalar("SELECT count(*) FROM delivery_attempts") == 4);  // 3 + the fallback's
  CHECK(
      rig.db.text("SELECT why FROM outbox WHERE channel = 'ops'").find("20 notification(s) held") !=
      std::string::npos);

  // Probes only, one per backoff interval, however long the outage and however many attempts
  // the probed row has used: it stays pending, and nothing fails for good.
  for (int s = 1; s <= 600; ++s) {
    rig.clock.set(k_t0 + std::chrono::seconds(s));
    rig.drain();
  }
  const int probes = rig.sent_to("/oncall") - 3;
  CHECK(probes >= 10);
  CHECK(probes <= 14);  // 10 s, 20 s, 40 s, then every minute
  CHECK(rig.db.scalar("SELECT count(*) FROM outbox WHERE status = 'failed'") == 0);
  CHECK(rig.db.scalar("SELECT count(*) FROM outbox WHERE channel = 'oncall' AND status = "
                      "'pending'") == 20);
  CHECK(b.actions_to("/ops").size() == 1);  // the fallback heard once

  // Back: the probe that succeeds, then what the outage held first, then the backlog at 2/s.
  b.down = false;
  TimePoint now = *b.health("oncall")->probe_at;
  rig.clock.set(now);
  rig.drain();
  CHECK(!b.health("oncall")->down());
  CHECK(b.actions_to("/ops") == std::vector<std::string>{"trigger", "resolve"});
  auto after = b.actions_to("/oncall");
  const auto before = static_cast<std::size_t>(3 + probes);
  REQUIRE(after.size() == before + 2);  // the probe, then one row: the pace allows one
  CHECK(after[before] == "trigger");
  CHECK(after[before + 1] == "digest");
  const std::string digest_why = rig.db.text("SELECT why FROM outbox WHERE action = 'digest'");
  CHECK(digest_why.find("unreachable for") != std::string::npos);
  CHECK(digest_why.find("20 notification(s) for 20 alert(s); 20 still open") != std::string::npos);
  // 19 rows left, two a second: 9.5 s, never more than the pace allows at any moment.
  int steps = 0;
  while (rig.db.scalar("SELECT count(*) FROM outbox WHERE channel = 'oncall' AND status = "
                       "'pending'") > 0) {
    REQUIRE(++steps < 100);
    now += 500ms;
    rig.clock.set(now);
    CHECK(rig.drain() <= 1);
  }
  CHECK(steps == 19);
  rig.clock.set(now + 500ms);  // its turn again, with nothing left
  CHECK(rig.drain() == 0);
  CHECK(!b.health("oncall")->pace_at);  // caught up: back to full speed
}

TEST_CASE("worker: a payload the receiver refuses (4xx) does not mark its channel down") {
  BreakerRig b;
  Rig& rig = b.rig;
  rig.answer = [](const delivery::HttpRequest& r) {
    delivery::AttemptResult a;
    a.http_status = r.url.find("/oncall") != std::string::npos ? 400 : 202;
    a.error = "HTTP 400";
    return a;
  };
  for (int i = 0; i < 6; ++i)
    rig.fire("alarm-" + std::to_string(i));
  rig.drain();
  CHECK(rig.sent_to("/oncall") == 6);  // every one tried, each failing for good on its own
  CHECK(!b.health("oncall"));
}

TEST_CASE("worker: a Retry-After longer than any probe's wait marks the channel down at once") {
  BreakerRig b;
  Rig& rig = b.rig;
  b.down = false;
  rig.answer = [](const delivery::HttpRequest& r) {
    delivery::AttemptResult a;
    if (r.url.find("/oncall") != std::string::npos) {
      a.http_status = 503;
      a.error = "HTTP 503";
      a.retry_after = 1h;  // a maintenance page
    } else {
      a.http_status = 202;
    }
    return a;
  };
  rig.fire("alarm-a");
  rig.drain();
  CHECK(b.actions_to("/ops") == std::vector<std::string>{"trigger"});
  REQUIRE(b.health("oncall"));
  CHECK(b.health("oncall")->down());
  CHECK(b.health("oncall")->probe_at == k_t0 + 1h);
}

TEST_CASE("worker: rows that carried probes keep their attempts for when the channel is back") {
  BreakerRig b;  // max_attempts 3
  Rig& rig = b.rig;
  b.storm(3);  // three failures: down
  REQUIRE(b.health("oncall")->down());
  for (int s = 1; s <= 600; ++s) {
    rig.clock.set(k_t0 + std::chrono::seconds(s));
    rig.drain();
  }
  REQUIRE(rig.sent_to("/oncall") > 10);  // probed all along
  CHECK(rig.db.scalar("SELECT max(attempts) FROM outbox WHERE channel = 'oncall'") <= 2);
  // Back, then one more failure of a row that carried probes: retried, not failed for good.
  b.down = false;
  std::atomic<int> after{0};
  rig.answer = [&](const delivery::HttpRequest& r) {
    delivery::AttemptResult a;
    a.http_status = r.url.find("/oncall") != std::string::npos && after++ == 2 ? 503 : 202;
    a.error = "HTTP 503";
    return a;
  };
  TimePoint now = *b.health("oncall")->probe_at;
  for (int i = 0; i < 200; ++i) {
    rig.clock.set(now);
    rig.drain();
    now += 500ms;
  }
  CHECK(rig.db.scalar("SELECT count(*) FROM outbox WHERE status = 'failed'") == 0);
  CHECK(rig.db.scalar("SELECT count(*) FROM outbox WHERE channel = 'oncall' AND action = "
                      "'trigger' AND status = 'sent'") == 3);
}

TEST_CASE("worker: a channel taken out of the rules takes its breaker with it") {
  BreakerRig b;
  Rig& rig = b.rig;
  b.storm(3);
  REQUIRE(b.health("oncall")->down());
  rig.rules.set(*activate(rules_or_fail(R"(version: 1
channels:
  pager: {type: webhook, url: "http://receiver.invalid/pager"}
  ops: {type: webhook, url: "http://receiver.invalid/ops"}
delivery: {fallback: ops}
rules:
  - {name: all, match: {}, notify: [pager]}
)"),
                          rig.clock));
  rig.drain();
  CHECK(!b.health("oncall"));
  CHECK(b.actions_to("/ops") == std::vector<std::string>{"trigger", "resolve"});
}

TEST_CASE("worker: a 429's Retry-After holds the whole channel") {
  BreakerRig b;
  Rig& rig = b.rig;
  b.down = false;
  delivery::AttemptResult busy;
  busy.http_status = 429;
  busy.error = "HTTP 429";
  busy.retry_after = 60s;
  std::atomic<int> calls{0};
  rig.answer = [&](const delivery::HttpRequest&) {
    if (calls++ == 0) return busy;
    delivery::AttemptResult ok;
    ok.http_status = 202;
    return ok;
  };
  rig.fire("alarm-a");
  rig.fire("alarm-b");
  CHECK(rig.drain() == 1);
  rig.clock.set(k_t0 + 59s);
  CHECK(rig.drain() == 0);  // alarm-b too: the receiver asked for a minute
  rig.clock.set(k_t0 + 60s);
  CHECK(rig.drain() == 2);
}

TEST_CASE("worker: a channel down is told once a minute, with its backlog and last error") {
  BreakerRig b;
  Rig& rig = b.rig;
  b.storm(5);
  REQUIRE(b.health("oncall"));
  REQUIRE(b.health("oncall")->down());
  LogCapture log;
  const std::string line = "delivery: channel oncall down for";
  // The sending threads refresh the gauges (and tell down channels) about once a second of
  // real time; the minute is the injected clock's.
  const auto refreshed_with = [&](int pending) {
    const std::string gauge =
        "tocsin_channel_pending{channel=\"oncall\"} " + std::to_string(pending);
    for (int i = 0; i < 100; ++i) {
      if (rig.metrics.render().find(gauge) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  rig.worker.start();
  REQUIRE(refreshed_with(5));
  CHECK(log.text().find(line) == std::string::npos);  // the transition's line was the news
  rig.clock.set(k_t0 + 61s);
  rig.fire("alarm-5");
  REQUIRE(refreshed_with(6));
  CHECK(log.text().find(line + " 1m1s, 6 pending, last error: connection refused") !=
        std::string::npos);
  rig.clock.set(k_t0 + 91s);  // half a minute later: nothing new
  rig.fire("alarm-6");
  REQUIRE(refreshed_with(7));
  const std::string later = log.text();
  std::size_t told = 0;
  for (auto at = later.find(line); at != std::string::npos; at = later.find(line, at + 1))
    ++told;
  CHECK(told == 1);
  rig.worker.stop();
}

}  // namespace server_delivery_worker_test
