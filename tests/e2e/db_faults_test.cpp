// End-to-end: the real binary with its database broken under it, for real (files removed,
// bytes overwritten, a full disk). The server must never answer 2xx for what it did not
// commit, must say what is wrong (/readyz, /metrics, the log) and must not start on a
// corrupt database (README "Troubleshooting").

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_db_faults_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const std::string k_rules = "version: 1\n" + sources_section() + R"(channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
rules:
  - name: everything
    match: {}
    notify: [alerts]
)";

struct Env {
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::string db = dir.file("tocsin.db");
  explicit Env(const std::string& extra_rules = "") {
    std::ofstream(rules, std::ios::binary) << k_rules << extra_rules;
  }
  ServerProcess start(const std::string& log_name = "server.log") {
    return ServerProcess(dir.file(log_name), {"--rules", rules, "--db", db});
  }
};

// An Alertmanager request whose two alerts are new alerts named `name`.
std::string alert_body(const std::string& name) {
  Json body = Json::parse(fixture("alertmanager_webhook_v4.json"));
  for (auto& a : body["alerts"])
    a["labels"]["alertname"] = name;
  return body.dump();
}

httplib::Result post_alert(httplib::Client& c, const std::string& name) {
  return c.Post("/hooks/alertmanager", alert_body(name), "application/json");
}

std::int64_t stored_alerts(const std::string& db) {
  SQLite::Database d(db, SQLite::OPEN_READONLY);
  return d.execAndGet("SELECT count(*) FROM alerts").getInt64();
}

std::string metrics(httplib::Client& c) {
  auto r = c.Get("/metrics");
  REQUIRE(r);
  return r->body;
}

template <class Pred>
bool within(std::chrono::milliseconds limit, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

void corrupt_inner_pages(const std::string& path) {
  const auto size = std::filesystem::file_size(path);
  const int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  const std::vector<char> garbage(4096, '\xff');
  for (std::uintmax_t offset = 4096 * 2; offset + 4096 <= size; offset += 4096) {
    REQUIRE(::pwrite(fd, garbage.data(), garbage.size(), static_cast<off_t>(offset)) == 4096);
  }
  ::close(fd);
}

// A database holding `n` requests' alerts, closed cleanly (all in the main file).
void fill(Env& env, int n) {
  auto server = env.start("fill.log");
  httplib::Client c("127.0.0.1", server.port());
  for (int i = 0; i < n; ++i) {
    auto r = post_alert(c, "fill-" + std::to_string(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  REQUIRE(server.stop() == 0);
}

}  // namespace

TEST_CASE("a database deleted under the running server is refused within seconds, loudly") {
  Env env;
  auto server = env.start();
  httplib::Client c("127.0.0.1", server.port());
  for (int i = 0; i < 3; ++i)
    REQUIRE(post_alert(c, "before-" + std::to_string(i))->status == 200);

  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(env.db + suffix);

  // Noticed by the writer's own check, with no request needed.
  CHECK(within(std::chrono::seconds(5), [&] {
    return metrics(c).find("tocsin_database_healthy{reason=\"file_replaced\"} 0") !=
           std::string::npos;
  }));
  auto ready = c.Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK(Json::parse(ready->body)["error"] == "database_file_replaced");
  CHECK(ready->body.find("removed or replaced") != std::string::npos);

  for (int i = 0; i < 5; ++i) {
    auto r = post_alert(c, "after-" + std::to_string(i));
    REQUIRE(r);
    INFO("body: " << r->body);
    CHECK(r->status == 503);  // never a 200 for an event that would vanish at the restart
    CHECK(Json::parse(r->body)["error"] == "database_file_replaced");
  }
  // Logged when noticed, then once a minute: not once per request.
  CHECK(count_of(server.log(), "was removed or replaced while tocsin was running") == 1);
}

TEST_CASE("a corrupt database does not start, and the log says which file and what to do") {
  Env env;
  fill(env, 60);
  corrupt_inner_pages(env.db);
  try {
    auto server = env.start();
    FAIL("the server started on a corrupt database");
  } catch (const std::runtime_error& e) {
    const std::string log = e.what();
    CHECK(log.find(env.db + " is corrupt") != std::string::npos);
    CHECK(log.find("restore") != std::string::npos);
    CHECK(log.find("PRAGMA integrity_check") != std::string::npos);
  }
}

TEST_CASE("corruption found while running fails /readyz as permanent, not transient") {
  Env env;
  fill(env, 60);
  auto server = env.start();
  httplib::Client c("127.0.0.1", server.port());
  REQUIRE(c.Get("/readyz")->status == 200);
  corrupt_inner_pages(env.db);

  auto list = c.Get("/api/v1/alerts?limit=100");  // reads the damaged pages
  REQUIRE(list);
  CHECK(list->status >= 500);
  auto ready = c.Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK(Json::parse(ready->body)["error"] == "database_corrupt");
  CHECK(ready->body.find("backup") != std::string::npos);
  CHECK(metrics(c).find("tocsin_database_healthy{reason=\"corrupt\"} 0") != std::string::npos);
}

TEST_CASE("a truncated -shm stops the server with a message, and a restart loses nothing") {
  Env env;
  int stored = 0;
  {
    auto server = env.start();
    httplib::Client c("127.0.0.1", server.port());
    for (; stored < 5; ++stored)
      REQUIRE(post_alert(c, "kept-" + std::to_string(stored))->status == 200);
    std::filesystem::resize_file(env.db + "-shm", 0);
    auto r = post_alert(c, "lost");  // the process dies on the mapped file (SIGBUS)
    if (r) CHECK(r->status != 200);
    CHECK(server.stop() == 1);
    const std::string log = server.log();
    CHECK(log.find("SIGBUS") != std::string::npos);
    CHECK(log.find(env.db + "-shm was truncated") != std::string::npos);
  }
  auto server = env.start("server2.log");
  httplib::Client c("127.0.0.1", server.port());
  auto list = c.Get("/api/v1/alerts?limit=100");
  REQUIRE(list);
  CHECK(Json::parse(list->body)["total"] == 2 * stored);
}

TEST_CASE("a full disk answers 503, fails /readyz, and recovers by itself when space is freed") {
  Env env;
  const auto mnt = env.dir.file("small");
  std::filesystem::create_directories(mnt);
  if (::mount("tocsin-test", mnt.c_str(), "tmpfs", 0, "size=2m") != 0) {
    MESSAGE("skipped: cannot mount a tmpfs here (needs root): " << std::strerror(errno));
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const auto db = mnt + "/tocsin.db";
  const auto ballast = mnt + "/ballast";
  {
    // Room for the schema and a few dozen events, then nothing.
    std::ofstream(ballast, std::ios::binary) << std::string(1300 * 1024, 'x');
  }
  int committed = 0;
  {
    ServerProcess server(env.dir.file("server.log"), {"--rules", env.rules, "--db", db});
    httplib::Client c("127.0.0.1", server.port());
    bool full = false;
    for (int i = 0; i < 2000 && !full; ++i) {
      auto r = post_alert(c, "fill-" + std::to_string(i));
      REQUIRE(r);
      if (r->status == 200) {
        ++committed;
      } else {
        INFO("body: " << r->body);
        CHECK(r->status == 503);
        CHECK(Json::parse(r->body)["error"] == "database_disk_full");
        full = true;
      }
    }
    REQUIRE(full);
    auto ready = c.Get("/readyz");
    REQUIRE(ready);
    CHECK(ready->status == 503);
    CHECK(ready->body.find("full") != std::string::npos);
    CHECK(metrics(c).find("tocsin_database_healthy{reason=\"disk_full\"} 0") != std::string::npos);

    std::filesystem::remove(ballast);
    CHECK(within(std::chrono::seconds(5), [&] {
      return metrics(c).find("tocsin_database_healthy{reason=\"none\"} 1") != std::string::npos;
    }));
    CHECK(c.Get("/readyz")->status == 200);
    auto r = post_alert(c, "after");
    REQUIRE(r);
    CHECK(r->status == 200);
    ++committed;
    CHECK(server.stop() == 0);
  }
  CHECK(stored_alerts(db) == 2 * committed);  // every 200 was committed, nothing else
}

}  // namespace e2e_db_faults_test
