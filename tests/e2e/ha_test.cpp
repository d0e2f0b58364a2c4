// End-to-end high availability: two real `tocsin serve` processes on one real PostgreSQL
// (docs/postgres.md "Instances and claims"). Each test works in its own schema. The servers run
// on the system clock, so the tests wait for what must happen by polling with a deadline; a
// measured time (the takeover) is printed, and asserted only against its documented bound.

#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/json.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_ha_test {

using namespace tocsin::testing;
using tocsin::Json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Polls `done` until it holds or `bound` passes; returns whether it held.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string sources_open() {
  return "sources:\n"
         "  generic: {allow_unauthenticated: true}\n"
         "  heartbeat: {allow_unauthenticated: true}\n";
}

// Rules with the open sources, one webhook channel `oncall` at `receiver`, then `rest`.
std::string oncall_rules(RecordingReceiver& receiver, const std::string& rest) {
  return "version: 1\n" + sources_open() + "channels:\n  oncall: {type: webhook, url: \"" +
         receiver.url() + "/oncall\"}\n" + rest;
}

// Every alert pages `oncall` at once; with `second_step`, again that long after it opened.
std::string oncall_rule(const std::string& second_step = "") {
  if (second_step.empty()) return "rules:\n  - {name: all, match: {}, notify: [oncall]}\n";
  return "escalations:\n  page: {steps: [{after: 0s, notify: [oncall]}, {after: " + second_step +
         ", notify: [oncall]}]}\nrules:\n  - {name: all, match: {}, escalation: page}\n";
}

// Two instances (or more) on one scratch schema, with the same rules file.
struct Pair {
  ScratchSchema schema;
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::string location = schema.location();

  Pair(const std::string& uri, const std::string& rules_text) : schema(uri) {
    std::ofstream(rules) << rules_text;
  }
  std::unique_ptr<ServerProcess> start(const std::string& name) const {
    return std::make_unique<ServerProcess>(
        dir.file(name + ".log"), std::vector<std::string>{"--rules", rules, "--db", location});
  }
  std::int64_t count(const std::string& sql) const {
    auto connection = schema.connect();
    return connection.exec(sql).int64(0, 0);
  }
};

std::string generic_body(const std::string& key, const std::string& status, int second) {
  char timestamp[32];
  std::snprintf(timestamp, sizeof timestamp, "2026-01-01T%02d:%02d:%02dZ", second / 3600,
                second / 60 % 60, second % 60);
  return Json{{"key", key}, {"status", status}, {"severity", "critical"},
              {"timestamp", timestamp}}
      .dump();
}

httplib::Result post_generic(int port, const std::string& body) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  return c.Post("/hooks/generic", body, "application/json");
}

// The requests the receiver got on `path` whose body has action `action`.
std::size_t count_sent(RecordingReceiver& receiver, const std::string& path,
                       const std::string& action) {
  std::size_t n = 0;
  for (const auto& r : receiver.requests())
    if (r.path == path && Json::parse(r.body)["action"] == action) ++n;
  return n;
}

// Every outbox row settled (sent or failed), none pending or claimed.
bool outbox_settled(const Pair& pair) {
  return pair.count("SELECT count(*) FROM outbox WHERE status = 'pending'") == 0;
}

// Deadlocks PostgreSQL detected in the pair's database so far (counted when a session ends).
std::int64_t deadlocks(const Pair& pair) {
  return pair.count("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
}

// A database of its own on the test server, for what PostgreSQL counts per database (deadlocks):
// tests running at the same time in the shared one would add to it.
class OwnDatabase {
 public:
  explicit OwnDatabase(const std::string& uri)
      : m_admin(tocsin::storage::postgres::Connection::open(uri)) {
    std::random_device random;
    m_name = "ha_" + std::to_string(random()) + "_" + std::to_string(random());
    m_admin.exec("CREATE DATABASE " + m_name);
    // postgresql://user@host:port/DATABASE[?options]: the same with this database.
    const auto path = uri.find('/', uri.find("://") + 3);
    const auto options = uri.find('?', path);
    m_uri = uri.substr(0, path + 1) + m_name +
            (options == std::string::npos ? "" : uri.substr(options));
  }
  ~OwnDatabase() {
    try {
      m_admin.exec("DROP DATABASE " + m_name + " WITH (FORCE)");
    } catch (const tocsin::storage::postgres::Error&) {
      // The server went away: it is thrown away with its data anyway.
    }
  }
  OwnDatabase(const OwnDatabase&) = delete;
  OwnDatabase& operator=(const OwnDatabase&) = delete;

  const std::string& uri() const { return m_uri; }

 private:
  tocsin::storage::postgres::Connection m_admin;
  std::string m_name, m_uri;
};

// Each alert's episodes: numbered 1..n, at most one not closed, each closed before the next
// opened. Returns the alerts breaking it.
std::int64_t inconsistent_alerts(const Pair& pair) {
  return pair.count(
      "SELECT count(*) FROM (SELECT alert_id FROM episodes GROUP BY alert_id HAVING "
      "count(*) FILTER (WHERE closed_at IS NULL) > 1 OR max(number) <> count(*) OR "
      "min(number) <> 1) bad") +
         pair.count(
             "SELECT count(*) FROM episodes e JOIN episodes n ON n.alert_id = e.alert_id AND "
             "n.number = e.number + 1 WHERE e.closed_at IS NULL OR e.closed_at > n.opened_at");
}

}  // namespace

TEST_CASE("ha: one alert's events alternating between two instances make one instance's episodes") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  const std::string rules =
      "version: 1\n" + sources_open() + "rules:\n  - {name: all, match: {}}\n";
  // fire, fire, resolve, fire, fire, resolve, fire: on one SQLite instance, then alternating
  // between two PostgreSQL instances; the answers and the episodes must be the same.
  const std::vector<std::string> statuses = {"firing", "firing",   "resolved", "firing",
                                             "firing", "resolved", "firing"};
  auto outcomes_of = [&](const std::vector<int>& ports) {
    std::vector<std::string> outcomes;
    for (std::size_t i = 0; i < statuses.size(); ++i) {
      auto res = post_generic(ports[i % ports.size()],
                              generic_body("flappy", statuses[i], static_cast<int>(i) + 1));
      REQUIRE(res);
      INFO(res->body);
      REQUIRE(res->status == 200);
      const Json result = Json::parse(res->body)["results"][0];
      outcomes.push_back(result["outcome"].get<std::string>() + "/" +
                         result["reason"].get<std::string>() + "/" +
                         result["episode"].dump());
    }
    return outcomes;
  };
  TempDir solo_dir;
  std::ofstream(solo_dir.file("rules.yaml")) << rules;
  ServerProcess solo(solo_dir.file("solo.log"),
                     {"--rules", solo_dir.file("rules.yaml"), "--db", solo_dir.file("t.db")});
  const auto expected = outcomes_of({solo.port()});

  Pair pair(*uri, rules);
  auto a = pair.start("a");
  auto b = pair.start("b");
  CHECK(outcomes_of({a->port(), b->port()}) == expected);
  CHECK(expected.back() == "created/new_occurrence/3");

  // Both instances show the same alert: three episodes, the last open.
  auto detail = [](int port) {
    httplib::Client c("127.0.0.1", port);
    auto res = c.Get("/api/v1/alerts/1/events");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return Json::parse(res->body)["events"].size();
  };
  CHECK(detail(a->port()) == statuses.size());
  CHECK(detail(b->port()) == statuses.size());
  CHECK(pair.count("SELECT count(*) FROM episodes") == 3);
  CHECK(pair.count("SELECT count(*) FROM episodes WHERE closed_at IS NULL") == 1);
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: 2,000 events for 100 alerts posted concurrently to two instances, each applied once") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  Pair pair(*uri, "version: 1\n" + sources_open() + "rules:\n  - {name: all, match: {}}\n");
  auto a = pair.start("a");
  auto b = pair.start("b");
  const int ports[2] = {a->port(), b->port()};

  constexpr int k_events = 2000;
  constexpr int k_alerts = 100;
  constexpr int k_threads = 8;
  std::mutex mutex;
  std::map<int, int> statuses;  // HTTP status -> how many
  std::vector<std::string> failures;
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([&] {
      httplib::Client clients[2] = {httplib::Client("127.0.0.1", ports[0]),
                                    httplib::Client("127.0.0.1", ports[1])};
      for (int i = next++; i < k_events; i = next++) {
        // Alert i % 100; its events alternate fire and resolve in source time, alternate
        // between the instances, and arrive in whatever order the threads make.
        const int round = i / k_alerts;
        auto res = clients[(i + round) % 2].Post(
            "/hooks/generic",
            generic_body("load-" + std::to_string(i % k_alerts),
                         round % 2 == 0 ? "firing" : "resolved", round + 1),
            "application/json");
        std::lock_guard lock(mutex);
        if (!res) {
          failures.push_back("event " + std::to_string(i) + ": " + httplib::to_string(res.error()));
          continue;
        }
        statuses[res->status] += 1;
        if (res->status != 200) failures.push_back(res->body);
      }
    });
  for (auto& t : threads)
    t.join();
  MESSAGE("2,000 events over two instances in " << seconds_since(start) << " s");
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(failures.empty());
  CHECK(statuses[200] == k_events);

  CHECK(pair.count("SELECT count(*) FROM alerts") == k_alerts);
  CHECK(pair.count("SELECT count(*) FROM inbound") == k_events);
  CHECK(pair.count("SELECT count(*) FROM decisions WHERE inbound_id IS NOT NULL") == k_events);
  CHECK(pair.count("SELECT count(DISTINCT inbound_id) FROM decisions") == k_events);
  CHECK(inconsistent_alerts(pair) == 0);
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: an escalation step due while instance A is dead is sent once, by B, on time") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  RecordingReceiver receiver;
  Pair pair(*uri, oncall_rules(receiver, oncall_rule("4s")));
  auto a = pair.start("a");
  auto b = pair.start("b");
  // Taken before the post: the server opens the episode, and counts the step's 4 s, somewhere
  // between this instant and the answer. Taken after the answer, a step on time could look
  // early by the request's own latency (CI saw 3.99978 s).
  const auto opened = Clock::now();
  auto res = post_generic(a->port(), generic_body("db-down", "firing", 1));
  REQUIRE(res);
  REQUIRE(res->status == 200);
  // The trigger goes out and is settled before A dies, so only the step is left to do.
  REQUIRE(eventually([&] { return count_sent(receiver, "/oncall", "trigger") == 1; }, 10s));
  REQUIRE(eventually([&] { return outbox_settled(pair); }, 10s));
  a->signal(SIGKILL);
  const auto killed = Clock::now();

  REQUIRE(eventually([&] { return count_sent(receiver, "/oncall", "escalate") >= 1; }, 20s));
  const double after_open = seconds_since(opened);
  MESSAGE("escalation step due 4 s after the opening arrived after " << after_open
                                                                     << " s (A killed "
                                                                     << std::chrono::duration<double>(killed - opened).count()
                                                                     << " s after the opening)");
  CHECK(after_open >= 4.0);
  CHECK(after_open < 4.0 + 3.0);  // a timer poll (1 s) and a delivery poll, not a takeover
  REQUIRE(eventually([&] { return outbox_settled(pair); }, 10s));
  CHECK(count_sent(receiver, "/oncall", "escalate") == 1);
  CHECK(count_sent(receiver, "/oncall", "trigger") == 1);
  CHECK(pair.count("SELECT count(*) FROM outbox WHERE action = 'escalate'") == 1);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: a send in flight on an instance killed with SIGKILL is sent again by the other") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  RecordingReceiver receiver;
  // The first request is held long enough for A to die while sending it, however slowly B
  // starts (and shorter than the delivery timeout: A must not give up on it).
  receiver.script({{202, "{}", "", 8s}});
  Pair pair(*uri, oncall_rules(receiver, "delivery: {timeout: 10s}\n" + oncall_rule()));
  auto a = pair.start("a");
  auto res = post_generic(a->port(), generic_body("db-down", "firing", 1));
  REQUIRE(res);
  REQUIRE(res->status == 200);
  REQUIRE(receiver.wait_for(1, 10s).size() == 1);  // A is sending, held by the receiver
  auto b = pair.start("b");
  // While A lives its claim stands: B, polling its outbox meanwhile, leaves the row alone.
  std::this_thread::sleep_for(1500ms);
  CHECK(receiver.requests().size() == 1);
  a->signal(SIGKILL);
  const auto killed = Clock::now();

  REQUIRE(eventually([&] { return receiver.requests().size() >= 2; }, 25s));
  const double takeover = seconds_since(killed);
  MESSAGE("takeover of a send in flight on a killed instance: " << takeover << " s after SIGKILL");
  CHECK(takeover <= 15.0 + 3.0);  // presumed dead after 15 s without a beat, then a poll
  REQUIRE(eventually([&] { return outbox_settled(pair); }, 10s));
  CHECK(receiver.requests().size() == 2);
  CHECK(pair.count("SELECT attempts FROM outbox") == 2);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: PostgreSQL going away under load: 503 while down, no 200 lost, both recover") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  // A server of its own: halting the shared one would fail every other test using it.
  TempDir pg_dir;
  const std::string script = std::string(TOCSIN_SOURCE_DIR) + "/scripts/postgres";
  const std::string pg = pg_dir.file("pg");
  auto run = [&](const std::string& verb) {
    std::string out;
    FILE* pipe = ::popen((script + " " + verb + " " + pg + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr)
      out += buffer;
    const int code = ::pclose(pipe);
    INFO(verb << ": " << out);
    REQUIRE(code == 0);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
      out.pop_back();
    return out;
  };
  const std::string own_uri = run("start");
  struct Stop {
    std::function<void()> f;
    ~Stop() { f(); }
  } stop_pg{[&] { (void)std::system((script + " stop " + pg + " >/dev/null 2>&1").c_str()); }};
  {
    // scripts/postgres trades durability for speed (synchronous_commit off): a halt would lose
    // commits already acknowledged to Tocsin. Production keeps it on; so does this test.
    auto admin = tocsin::storage::postgres::Connection::open(own_uri);
    admin.exec("ALTER SYSTEM SET synchronous_commit = on");
    admin.exec("SELECT pg_reload_conf()");
  }

  Pair pair(own_uri, "version: 1\n" + sources_open() + "rules:\n  - {name: all, match: {}}\n");
  auto a = pair.start("a");
  auto b = pair.start("b");
  const int ports[2] = {a->port(), b->port()};

  std::mutex mutex;
  std::vector<std::string> accepted;  // keys answered 200
  std::map<int, int> statuses;
  int missing_retry_after = 0;
  std::atomic<bool> loading{true};
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  // Stops the load however the test ends (a failed REQUIRE too): a joinable thread destroyed
  // would end the whole test run.
  struct Joiner {
    std::atomic<bool>& loading;
    std::vector<std::thread>& threads;
    ~Joiner() {
      loading = false;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } joiner{loading, threads};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      httplib::Client clients[2] = {httplib::Client("127.0.0.1", ports[0]),
                                    httplib::Client("127.0.0.1", ports[1])};
      for (auto& c : clients)
        c.set_read_timeout(30, 0);
      while (loading) {
        const int i = next++;
        const std::string key = "outage-" + std::to_string(i);
        auto res = clients[i % 2].Post("/hooks/generic", generic_body(key, "firing", 1),
                                       "application/json");
        std::lock_guard lock(mutex);
        if (!res) {
          statuses[-1] += 1;
          continue;
        }
        statuses[res->status] += 1;
        if (res->status == 200) accepted.push_back(key);
        if (res->status == 503 && !res->has_header("Retry-After")) ++missing_retry_after;
        if (res->status == 503) std::this_thread::sleep_for(20ms);
      }
    });
  auto ready = [](int port) {
    httplib::Client c("127.0.0.1", port);
    auto res = c.Get("/readyz");
    return res && res->status == 200;
  };
  auto count_of = [&](int status) {
    std::lock_guard lock(mutex);
    return statuses[status];
  };

  REQUIRE(eventually([&] { return count_of(200) >= 200; }, 20s));
  run("halt");
  const auto halted = Clock::now();
  CHECK(eventually([&] { return !ready(ports[0]) && !ready(ports[1]); }, 15s));
  CHECK(eventually([&] { return count_of(503) >= 20; }, 15s));
  MESSAGE("both instances unready " << seconds_since(halted) << " s after the halt");
  const int accepted_while_down = count_of(200);

  run("resume");
  const auto resumed = Clock::now();
  CHECK(eventually([&] { return ready(ports[0]) && ready(ports[1]); }, 20s));
  CHECK(eventually([&] { return count_of(200) >= accepted_while_down + 200; }, 20s));
  MESSAGE("both instances ready and accepting " << seconds_since(resumed)
                                                << " s after the resume");
  loading = false;
  for (auto& t : threads)
    t.join();

  std::lock_guard lock(mutex);
  MESSAGE("answers: 200 x" << statuses[200] << ", 503 x" << statuses[503] << ", no answer x"
                           << statuses[-1]);
  CHECK(missing_retry_after == 0);
  for (const auto& [status, n] : statuses) {
    INFO("status " << status << " x" << n);
    CHECK((status == 200 || status == 503 || n == 0));
  }
  // Every 200 is in the database: its alert and its decision.
  auto connection = pair.schema.connect();
  const auto rows = connection.exec(
      "SELECT a.fingerprint FROM alerts a JOIN decisions d ON d.alert_id = a.id "
      "WHERE d.inbound_id IS NOT NULL");
  std::set<std::string> stored;
  for (int r = 0; r < rows.rows(); ++r)
    stored.insert(rows.text(r, 0));
  std::vector<std::string> lost;
  for (const auto& key : accepted)
    if (stored.count("generic:" + key) == 0) lost.push_back(key);
  INFO("answered 200 but not stored: " << Json(lost).dump());
  CHECK(lost.empty());
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: a digest and a heartbeat deadline fire once with two instances running") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  RecordingReceiver receiver;
  Pair pair(*uri, "version: 1\n" + sources_open() +
                      "channels:\n"
                      "  digest: {type: webhook, url: \"" + receiver.url() +
                      "/digest\", digest_every: 1s}\n"
                      "  beat: {type: webhook, url: \"" + receiver.url() + "/beat\"}\n"
                      "heartbeats:\n"
                      "  - {name: worker, every: 1s, grace: 1s, notify: [beat]}\n"
                      "rules:\n  - {name: all, match: {source: generic}, notify: [digest]}\n");
  auto a = pair.start("a");
  auto b = pair.start("b");
  httplib::Client ca("127.0.0.1", a->port());
  auto ping = ca.Post("/hooks/heartbeat/worker", "", "text/plain");
  REQUIRE(ping);
  REQUIRE(ping->status == 200);
  for (int i = 0; i < 6; ++i) {
    auto res = post_generic(i % 2 == 0 ? a->port() : b->port(),
                            generic_body("digested-" + std::to_string(i), "firing", 1));
    REQUIRE(res);
    REQUIRE(res->status == 200);
  }
  // The deadline passes 2 s after the ping; the digest is due within 1 s.
  REQUIRE(eventually([&] { return count_sent(receiver, "/beat", "trigger") >= 1; }, 15s));
  INFO("sent: " << [&] {
    std::string all;
    for (const auto& r : receiver.requests())
      all += r.path + " " + r.body + "\n";
    return all;
  }());
  std::multiset<std::string> digested;
  REQUIRE(eventually(
      [&] {
        digested.clear();
        for (const auto& r : receiver.requests()) {
          if (r.path != "/digest") continue;
          const Json body = Json::parse(r.body);
          for (const auto& alert : body["digest"]["alerts"])
            digested.insert(alert["fingerprint"].get<std::string>());
        }
        return std::set<std::string>(digested.begin(), digested.end()).size() == 6u;
      },
      15s));
  REQUIRE(eventually([&] { return outbox_settled(pair); }, 10s));
  CHECK(count_sent(receiver, "/beat", "trigger") == 1);
  CHECK(digested.size() == 6u);  // each alert in one digest only
  CHECK(pair.count("SELECT count(*) FROM episodes e JOIN alerts a ON a.id = e.alert_id "
                   "WHERE a.fingerprint = 'heartbeat:worker'") == 1);
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: pings of one heartbeat through both instances at once keep one deadline") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  RecordingReceiver receiver;
  Pair pair(*uri, "version: 1\n" + sources_open() +
                      "channels:\n  beat: {type: webhook, url: \"" + receiver.url() +
                      "/beat\"}\n"
                      "heartbeats:\n"
                      "  - {name: worker, every: 1s, grace: 1s, notify: [beat]}\n");
  auto a = pair.start("a");
  auto b = pair.start("b");
  const int ports[2] = {a->port(), b->port()};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", ports[t % 2]);
      for (int i = 0; i < 25; ++i) {
        auto res = c.Post("/hooks/heartbeat/worker", "", "text/plain");
        if (!res || res->status != 200) ++refused;
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(refused == 0);
  CHECK(pair.count("SELECT count(*) FROM timers WHERE kind = 'heartbeat'") == 1);
  // The deadline passes 2 s after the last ping: one page, from one instance.
  REQUIRE(eventually([&] { return count_sent(receiver, "/beat", "trigger") >= 1; }, 15s));
  REQUIRE(eventually([&] { return outbox_settled(pair); }, 10s));
  CHECK(pair.count("SELECT count(*) FROM timers WHERE kind = 'heartbeat'") == 0);
  CHECK(count_sent(receiver, "/beat", "trigger") == 1);
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: one event delivered to both instances at once is applied and sent once") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  RecordingReceiver receiver;
  Pair pair(*uri, oncall_rules(receiver, oncall_rule()));
  auto a = pair.start("a");
  auto b = pair.start("b");
  // A sender that retries through the load balancer: each event (its own id) reaches both
  // instances at the same moment.
  constexpr int k_alerts = 40;
  std::atomic<int> refused{0}, redeliveries{0};
  auto send_all = [&](int port) {
    httplib::Client c("127.0.0.1", port);
    for (int i = 0; i < k_alerts; ++i) {
      Json body = Json::parse(generic_body("twice-" + std::to_string(i), "firing", 1));
      body["id"] = "event-" + std::to_string(i);
      auto res = c.Post("/hooks/generic", body.dump(), "application/json");
      if (!res || res->status != 200) {
        ++refused;
        continue;
      }
      if (Json::parse(res->body)["results"][0]["outcome"] == "redelivery") ++redeliveries;
    }
  };
  std::thread to_a(send_all, a->port());
  std::thread to_b(send_all, b->port());
  to_a.join();
  to_b.join();
  CHECK(refused == 0);
  CHECK(redeliveries == k_alerts);
  CHECK(pair.count("SELECT count(*) FROM decisions WHERE inbound_id IS NOT NULL") == k_alerts);
  REQUIRE(eventually([&] { return receiver.requests().size() >= k_alerts; }, 15s));
  REQUIRE(eventually([&] { return outbox_settled(pair); }, 10s));
  CHECK(receiver.requests().size() == k_alerts);
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: escalation steps due with both instances alive are each sent once") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  RecordingReceiver receiver;
  Pair pair(*uri, oncall_rules(receiver, oncall_rule("2s")));
  auto a = pair.start("a");
  auto b = pair.start("b");
  constexpr std::size_t k_alerts = 30;
  for (std::size_t i = 0; i < k_alerts; ++i) {
    auto res = post_generic(i % 2 == 0 ? a->port() : b->port(),
                            generic_body("step-" + std::to_string(i), "firing", 1));
    REQUIRE(res);
    REQUIRE(res->status == 200);
  }
  REQUIRE(eventually([&] { return count_sent(receiver, "/oncall", "escalate") >= k_alerts; },
                     15s));
  REQUIRE(eventually([&] { return outbox_settled(pair); }, 10s));
  CHECK(count_sent(receiver, "/oncall", "trigger") == k_alerts);
  CHECK(count_sent(receiver, "/oncall", "escalate") == k_alerts);
  CHECK(pair.count("SELECT count(*) FROM decisions WHERE inbound_id IS NULL") ==
        static_cast<std::int64_t>(k_alerts));
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);
}

TEST_CASE("ha: resolves racing the other instance's delivery claims wait for no deadlock") {
  // A resolve supersedes its episode's queued trigger; the other instance may be claiming that
  // trigger in a transaction that also applies events, whose rows this one may hold. Waiting for
  // each other is a deadlock PostgreSQL breaks only after deadlock_timeout (1 s): every request
  // in both groups waits that long, then runs again.
  const auto uri = test_postgres_uri();
  if (!uri) return;
  RecordingReceiver receiver;
  OwnDatabase database(*uri);
  Pair pair(database.uri(), oncall_rules(receiver, oncall_rule()));
  const std::int64_t deadlocks_before = deadlocks(pair);
  auto a = pair.start("a");
  auto b = pair.start("b");
  const int ports[2] = {a->port(), b->port()};
  constexpr int k_alerts = 800;
  std::atomic<int> next{0}, refused{0};
  std::atomic<long> slowest_ms{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&] {
      httplib::Client clients[2] = {httplib::Client("127.0.0.1", ports[0]),
                                    httplib::Client("127.0.0.1", ports[1])};
      for (int k = next++; k < k_alerts; k = next++) {
        // Fired through one instance, resolved at once through the other.
        for (int step = 0; step < 2; ++step) {
          const auto sent = Clock::now();
          auto res = clients[(k + step) % 2].Post(
              "/hooks/generic",
              generic_body("race-" + std::to_string(k), step == 0 ? "firing" : "resolved",
                           step + 1),
              "application/json");
          if (!res || res->status != 200) ++refused;
          const long ms = static_cast<long>(
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count());
          for (long seen = slowest_ms; ms > seen && !slowest_ms.compare_exchange_weak(seen, ms);) {
          }
        }
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(refused == 0);
  REQUIRE(eventually([&] { return outbox_settled(pair); }, 20s));
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);
  // A session's counts reach pg_stat_database when it ends: the instances' have.
  std::int64_t found = 0;
  eventually(
      [&] {
        found = deadlocks(pair) - deadlocks_before;
        return found > 0;
      },
      1s);
  MESSAGE("slowest answer " << slowest_ms.load() << " ms; deadlocks " << found);
  CHECK(found == 0);
  // Every resolve that follows a trigger sent is sent too: none is lost to the race.
  CHECK(count_sent(receiver, "/oncall", "resolve") == count_sent(receiver, "/oncall", "trigger"));
}

}  // namespace e2e_ha_test
