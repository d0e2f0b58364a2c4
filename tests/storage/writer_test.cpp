#include "storage/writer.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "storage/migrations.hpp"
#include "storage/reader.hpp"
#include "storage/sqlite/database.hpp"
#include "support/temp_dir.hpp"

namespace storage_writer_test {

using namespace tocsin;
using namespace tocsin::storage;
using tocsin::testing::TempDir;

namespace {

InboundRecord inbound(const std::string& id) {
  InboundRecord r;
  r.received_at = from_unix_ms(1000);
  r.hook = "sns";
  r.delivery_id = id;
  r.body = "{}";
  return r;
}

std::int64_t count_rows(const std::string& path, const char* table) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return db.execAndGet(std::string("SELECT count(*) FROM ") + table).getInt64();
}

bool stored_inbound(const std::string& path, const std::string& delivery_id) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT count(*) FROM inbound WHERE delivery_id = ?");
  q.bind(1, delivery_id);
  return q.executeStep() && q.getColumn(0).getInt() == 1;
}

}  // namespace

TEST_CASE("a new database is created in WAL mode at the current schema version") {
  TempDir dir;
  const auto path = dir.file("t.db");
  { Writer w(path, Durability::full); }
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == current_schema_version());
  for (const char* table : {"inbound", "alerts", "episodes", "decisions"}) {
    CAPTURE(table);
    CHECK(db.tableExists(table));
  }
}

TEST_CASE("opening is refused with a clear message") {
  TempDir dir;
  SUBCASE("a file that is not a database") {
    const auto path = dir.file("junk.db");
    std::ofstream(path) << "this is not an SQLite database, just text that is long enough......";
    CHECK_THROWS_WITH_AS(Writer(path, Durability::full), doctest::Contains(path.c_str()),
                         DatabaseError);
  }
  SUBCASE("a directory that does not exist") {
    const auto path = dir.file("missing/dir/t.db");
    CHECK_THROWS_WITH_AS(Writer(path, Durability::full), doctest::Contains("cannot open database"),
                         DatabaseError);
  }
  SUBCASE("a schema newer than this build") {
    const auto path = dir.file("future.db");
    {
      SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      db.exec("PRAGMA user_version = 999");
    }
    CHECK_THROWS_WITH_AS(Writer(path, Durability::full), doctest::Contains("newer than this build"),
                         DatabaseError);
  }
}

TEST_CASE("every caller is answered only after its work is committed") {
  TempDir dir;
  const auto path = dir.file("t.db");
  Writer w(path, Durability::normal);
  auto status = w.submit([](Transaction& tx) { tx.insert_inbound(inbound("a")); });
  REQUIRE_FALSE(status.get().has_value());
  // Visible to another connection: it is committed, not just written.
  CHECK(count_rows(path, "inbound") == 1);
}

TEST_CASE("run() answers in place: after the commit, with the job's error, at once after stop") {
  TempDir dir;
  const auto path = dir.file("t.db");
  Writer w(path, Durability::full);
  CHECK_FALSE(w.run([](Transaction& tx) { tx.insert_inbound(inbound("a")); }).has_value());
  CHECK(count_rows(path, "inbound") == 1);  // committed, not just written
  // The same thread again (its waiter is reused), and a job that fails.
  const auto failed = w.run([](Transaction& tx) {
    tx.insert_inbound(inbound("b"));
    throw std::runtime_error("job failed");
  });
  REQUIRE(failed.has_value());
  CHECK(failed->message == "job failed");
  CHECK(count_rows(path, "inbound") == 1);
  // Many threads at once: every one is answered, each with its own outcome.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const auto status = w.run([&, t, i](Transaction& tx) {
          tx.insert_inbound(inbound("c-" + std::to_string(t) + "-" + std::to_string(i)));
        });
        if (!status) ++ok;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(ok == 200);
  CHECK(count_rows(path, "inbound") == 201);
  w.stop();
  const auto after = w.run([](Transaction& tx) { tx.insert_inbound(inbound("late")); });
  REQUIRE(after.has_value());
  CHECK(after->transient);
}

TEST_CASE("a job that fails rolls back alone, the rest of its group commits") {
  TempDir dir;
  const auto path = dir.file("t.db");
  Writer w(path, Durability::normal);
  std::vector<std::future<WriteStatus>> futures;
  for (int i = 0; i < 20; ++i) {
    futures.push_back(w.submit([i](Transaction& tx) {
      tx.insert_inbound(inbound("ok-" + std::to_string(i)));
      if (i % 5 == 0) {
        tx.insert_inbound(inbound("dup"));  // partial work that must vanish with the job
        throw std::runtime_error("job failed");
      }
    }));
  }
  int failed = 0;
  for (auto& f : futures) {
    if (auto err = f.get()) {
      ++failed;
      CHECK_FALSE(err->transient);
      CHECK(err->message == "job failed");
    }
  }
  CHECK(failed == 4);
  CHECK(count_rows(path, "inbound") == 16);
}

TEST_CASE("on a throwaway database a failed job ends the batch, and nothing is written after") {
  // Durability::off keeps one transaction open across jobs, with no savepoint per job (replay's
  // speed). A job that fails first in a batch undoes only itself; one that fails after others
  // takes the batch, already answered, with it: every later job is refused, so nothing is ever
  // written on top of the hole.
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    Writer w(path, Durability::off);
    const auto job = [&](int i, bool fail) {
      return w
          .submit([i, fail](Transaction& tx) {
            tx.insert_inbound(inbound("ok-" + std::to_string(i)));
            if (fail) throw std::runtime_error("job failed");
          })
          .get();
    };
    CHECK(job(0, true).has_value());  // first in its batch: undone alone
    for (int i = 1; i <= 3; ++i)
      CHECK_FALSE(job(i, false).has_value());
    const auto failed = job(4, true);
    REQUIRE(failed.has_value());
    CHECK(failed->message.find("job failed") != std::string::npos);
    const auto refused = job(5, false);
    REQUIRE(refused.has_value());
    CHECK_FALSE(refused->transient);
    CHECK(refused->message.find("took the uncommitted batch of 4 answered job(s)") !=
          std::string::npos);
  }
  CHECK(count_rows(path, "inbound") == 0);
}

TEST_CASE("concurrent submitters are grouped into fewer commits") {
  TempDir dir;
  const auto path = dir.file("t.db");
  std::atomic<std::size_t> groups{0}, jobs{0};
  Writer w(path, Durability::full, [&](const WriterStats& s) {
    ++groups;
    jobs += s.group_size;
  });
  constexpr int k_threads = 8, k_per_thread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < k_per_thread; ++i) {
        auto f = w.submit([&, t, i](Transaction& tx) {
          tx.insert_inbound(inbound(std::to_string(t) + "-" + std::to_string(i)));
        });
        CHECK_FALSE(f.get().has_value());
      }
    });
  }
  for (auto& t : threads)
    t.join();
  w.stop();
  CHECK(jobs == k_threads * k_per_thread);
  CHECK(count_rows(path, "inbound") == k_threads * k_per_thread);
  // With 8 callers waiting on fsync, groups must form; one commit per job would mean no grouping.
  CHECK(groups.load() < jobs.load());
}

TEST_CASE("a lone run() commits on its caller's thread, one behind others waits its turn") {
  TempDir dir;
  const auto path = dir.file("t.db");
  std::mutex mutex;
  std::vector<std::thread::id> committers;
  Writer w(path, Durability::full, [&](const WriterStats&) {
    std::lock_guard lock(mutex);
    committers.push_back(std::this_thread::get_id());
  });
  SUBCASE("nobody else writing: the caller commits its own group") {
    for (int i = 0; i < 3; ++i) {
      CHECK_FALSE(
          w.run([&, i](Transaction& tx) { tx.insert_inbound(inbound(std::to_string(i))); }));
    }
    std::lock_guard lock(mutex);
    REQUIRE(committers.size() == 3);
    for (const auto& id : committers)
      CHECK(id == std::this_thread::get_id());
  }
  SUBCASE("run() and submit() from many threads: each answered after its commit, in order") {
    constexpr int k_threads = 8, k_per_thread = 40;
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < k_per_thread; ++i) {
          const auto id = std::to_string(t) + "-" + std::to_string(i);
          WriteStatus status;
          if (i % 2 == 0) {
            status = w.run([&](Transaction& tx) { tx.insert_inbound(inbound(id)); });
          } else {
            status = w.submit([&](Transaction& tx) { tx.insert_inbound(inbound(id)); }).get();
          }
          CHECK_FALSE(status);
          // Committed before answered: another connection sees the row.
          CHECK(stored_inbound(path, id));
        }
      });
    }
    for (auto& t : threads)
      t.join();
    w.stop();
    CHECK(count_rows(path, "inbound") == k_threads * k_per_thread);
  }
}

TEST_CASE("after stop, submissions fail as transient instead of hanging") {
  TempDir dir;
  Writer w(dir.file("t.db"), Durability::normal);
  w.stop();
  auto err = w.submit([](Transaction&) {}).get();
  REQUIRE(err.has_value());
  CHECK(err->transient);
}

TEST_CASE("the same delivery id cannot be stored twice") {
  TempDir dir;
  Writer w(dir.file("t.db"), Durability::normal);
  CHECK_FALSE(w.submit([](Transaction& tx) { tx.insert_inbound(inbound("m1")); }).get());
  std::optional<std::int64_t> found;
  CHECK_FALSE(w.submit([&](Transaction& tx) { found = tx.find_inbound("sns", "m1"); }).get());
  CHECK(found.has_value());
  auto err = w.submit([](Transaction& tx) { tx.insert_inbound(inbound("m1")); }).get();
  CHECK(err.has_value());
}

TEST_CASE("alerts and episodes round-trip through the writer and the reader") {
  TempDir dir;
  const auto path = dir.file("t.db");
  Writer w(path, Durability::normal);
  rules::Episode ep;
  ep.number = 1;
  ep.severity = Severity::critical;
  ep.priority = Priority{1};
  ep.opened_at = from_unix_ms(5000);
  ep.last_activity_at = from_unix_ms(6000);
  ep.last_source_time = from_unix_ms(4000);
  CHECK_FALSE(w.submit([&](Transaction& tx) {
                 AlertRecord a;
                 a.fingerprint = "cloudwatch:1:us-east-1:q";
                 a.source = Source::cloudwatch;
                 a.name = "q";
                 a.labels = {{"QueueName", "hooks-worker"}};
                 a.first_seen = a.last_seen = from_unix_ms(5000);
                 a.last_episode_number = 1;
                 auto id = tx.save_alert(a);
                 tx.save_episode(id, a.fingerprint, ep, true);
               }).get());

  std::optional<std::pair<AlertRecord, rules::AlertState>> loaded;
  CHECK_FALSE(
      w.submit([&](Transaction& tx) { loaded = tx.load_alert("cloudwatch:1:us-east-1:q"); }).get());
  REQUIRE(loaded);
  REQUIRE(loaded->second.active);
  CHECK(loaded->second.active->severity == Severity::critical);
  CHECK(loaded->second.active->last_source_time == from_unix_ms(4000));

  Reader r(path);
  auto page = r.list_alerts(AlertQuery{});
  CHECK(page.total == 1);
  REQUIRE(page.alerts.size() == 1);
  CHECK(page.alerts[0].alert.labels.at("QueueName") == "hooks-worker");
  REQUIRE(page.alerts[0].current);
  CHECK(page.alerts[0].current->alias.rfind("tocsin-", 0) == 0);

  AlertQuery resolved_only;
  resolved_only.status = "resolved";
  CHECK(r.list_alerts(resolved_only).total == 0);
  AlertQuery by_text;
  by_text.text = "us-east-1:q";
  CHECK(r.list_alerts(by_text).total == 1);
}

// Hooks accept alerts of up to max_body_bytes of labels: a full page of such alerts, built
// into JSON, took the server ~1.6 GB for one GET /api/v1/alerts?limit=500 (300 alerts of
// 740 KB labels), and a few such requests at once could exhaust memory.
TEST_CASE("a page of alerts ends early once it holds k_max_alert_page_bytes, and pages on") {
  TempDir dir;
  const auto path = dir.file("t.db");
  Writer w(path, Durability::normal);
  constexpr int k_alerts = 12;
  const std::string big(k_max_alert_page_bytes / 4, 'v');  // four alerts fill a page
  CHECK_FALSE(w.submit([&](Transaction& tx) {
                 for (int i = 0; i < k_alerts; ++i) {
                   AlertRecord a;
                   a.fingerprint = "generic:big" + std::to_string(i);
                   a.source = Source::generic;
                   a.name = "big";
                   a.labels = {{"payload", big}};
                   a.first_seen = a.last_seen = from_unix_ms(1000 + i);
                   tx.save_alert(a);
                 }
               }).get());

  Reader r(path);
  AlertQuery q;
  q.limit = 500;
  std::set<std::string> seen;
  for (int pages = 0; pages < k_alerts; ++pages) {
    auto page = r.list_alerts(q);
    CHECK(page.total == k_alerts);
    REQUIRE_FALSE(page.alerts.empty());  // always at least one: paging makes progress
    CHECK(page.alerts.size() <= 4);
    for (const auto& v : page.alerts)
      CHECK(seen.insert(v.alert.fingerprint).second);
    q.offset += static_cast<int>(page.alerts.size());
    if (q.offset >= k_alerts) break;
  }
  CHECK(seen.size() == k_alerts);

  SUBCASE("an alert larger than a page still comes, alone") {
    CHECK_FALSE(w.submit([&](Transaction& tx) {
                   AlertRecord a;
                   a.fingerprint = "generic:huge";
                   a.source = Source::generic;
                   a.name = "huge";
                   a.labels = {{"payload", std::string(k_max_alert_page_bytes + 1, 'v')}};
                   a.first_seen = a.last_seen = from_unix_ms(5000);
                   tx.save_alert(a);
                 }).get());
    AlertQuery first;
    auto page = r.list_alerts(first);
    REQUIRE(page.alerts.size() == 1);
    CHECK(page.alerts[0].alert.fingerprint == "generic:huge");
  }
}

TEST_CASE("the schema refuses a second active episode for one alert") {
  TempDir dir;
  Writer w(dir.file("t.db"), Durability::normal);
  auto err = w.submit([](Transaction& tx) {
                AlertRecord a;
                a.fingerprint = "f";
                auto id = tx.save_alert(a);
                rules::Episode e1, e2;
                e1.number = 1;
                e2.number = 2;
                tx.save_episode(id, "f", e1, true);
                tx.save_episode(id, "f", e2, true);
              }).get();
  CHECK(err.has_value());
}

TEST_CASE("migration 4 keeps version 3 data: timers, acknowledgements, a clean noise slate") {
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    migrate(db, 3);
    db.exec(
        "INSERT INTO alerts (id, fingerprint, source, name, first_seen, last_seen, last_episode) "
        "VALUES (1, 'generic:a', 'generic', 'a', 0, 0, 2);"
        "INSERT INTO episodes (alert_id, number, status, severity, priority, alias, opened_at, "
        "last_activity_at, event_count, acknowledged_at, acknowledged_by) VALUES "
        "(1, 1, 'resolved', 'warning', 3, 'x-1', 0, 0, 1, NULL, ''),"
        "(1, 2, 'acknowledged', 'warning', 3, 'x-2', 0, 0, 1, 5, 'alice');"
        "INSERT INTO timers (due_at, kind, heartbeat) VALUES (100, 'heartbeat', 'worker');"
        "INSERT INTO timers (due_at, kind, alert_id, episode, step) VALUES "
        "(200, 'escalation', 1, 2, 1);");
  }
  Writer w(path, Durability::full);  // migrates to the current version
  auto done = w.submit([](Transaction& tx) {
    // The heartbeat deadline kept its name; a digest timer can be armed next to it.
    CHECK(tx.has_heartbeat_deadline("worker"));
    CHECK(tx.arm_digest("digest", from_unix_ms(300)));
    CHECK_FALSE(tx.arm_digest("digest", from_unix_ms(400)));
    auto first = tx.next_due_timer(from_unix_ms(1000));
    REQUIRE(first);
    CHECK(first->timer.kind == rules::TimerKind::heartbeat);
    CHECK(first->name == "worker");

    auto loaded = tx.load_alert("generic:a");
    REQUIRE(loaded);
    // Old episodes are left out of the noise window: counting them needs their history.
    CHECK(loaded->first.noise.window_first == 3);
    CHECK(loaded->first.noise.episodes == 0);
    REQUIRE(loaded->second.active);
    CHECK(loaded->second.active->ever_acknowledged);
    CHECK(tx.episodes_leaving(1, 3, from_unix_ms(1'000'000)).empty());
    CHECK(tx.episodes_leaving(1, 1, from_unix_ms(1'000'000)).size() == 2);
  });
  CHECK_FALSE(done.get());
}

// Migration 11 stores the rules' hash once, a decision's fingerprint only when it is not its
// alert's, and rebuilds alert_members WITHOUT ROWID: a version 10 database with rows of every kind
// it touches (and bodies as text, as a plain zstd frame) reads back the same after it, and what is
// written after names the hash by its row.
TEST_CASE("a version 10 database reads the same after migration 11") {
  TempDir dir;
  const auto path = dir.file("t.db");
  const std::string hash(64, 'a');
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    migrate(db, 10);
    db.exec(
        "INSERT INTO alerts (id, fingerprint, source, name, first_seen, last_seen) "
        "VALUES (1, 'f', 'generic', 'n', 1, 2)");
    db.exec("INSERT INTO inbound (id, received_at, hook, body) VALUES (1, 5, 'generic', '{}')");
    db.exec(
        "INSERT INTO decisions (at, alert_id, episode, inbound_id, kind, outcome, reason, "
        "rules_hash, fingerprint, event_key) VALUES (5, 1, 1, 1, 'event', 'created', "
        "'first_occurrence', '" +
        hash + "', 'f', 'generic:e-1')");
    db.exec(
        "INSERT INTO alert_members (alert_id, member, state, changed_at, last_seen_at) "
        "VALUES (1, 'm-2', 'resolved', 3, 4), (1, 'm-1', 'firing', 1, 2)");
  }
  Writer w(path, Durability::full);  // migrates to the current version
  std::optional<DecisionRecord> old;
  rules::AlertState state;
  auto done = w.submit([&](Transaction& tx) {
    old = tx.find_event_decision("generic:e-1");
    tx.load_members(1, "m-2", state);
    DecisionRecord d = *old;
    d.event_key = "generic:e-2";
    tx.insert_decision(d);
    d.event_key = "generic:e-3";
    tx.insert_decision(d);
  });
  REQUIRE_FALSE(done.get());
  REQUIRE(old);
  CHECK(old->rules_hash == hash);
  CHECK(old->fingerprint == "f");
  REQUIRE(state.member);
  CHECK(state.member->state == SignalState::resolved);
  CHECK(state.tracks_members);
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT count(*) FROM rules_versions").getInt() == 1);
  CHECK(db.execAndGet("SELECT group_concat(length(rules_hash) || fingerprint) FROM decisions "
                      "ORDER BY id")
            .getString() == "64f,0,0");
  CHECK(db.execAndGet("SELECT count(*) FROM alert_members").getInt() == 2);
  CHECK(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE name LIKE "
                      "'sqlite_autoindex_alert_members%'")
            .getInt() == 0);
  std::vector<std::string> read;
  for (const auto& v : Reader(path).list_decisions(1, 10, std::nullopt))
    read.push_back(v.decision.rules_hash.substr(0, 2) + v.decision.fingerprint);
  CHECK(read == std::vector<std::string>{"aaf", "aaf", "aaf"});
}

// Migration 12 stores a member's fingerprint only when it is not its alert's, and new alert
// descriptions compressed when that pays: a version 11 database's members and plain
// descriptions read back the same after it, and what is written after takes the new layout.
TEST_CASE("a version 11 database reads the same after migration 12") {
  TempDir dir;
  const auto path = dir.file("t.db");
  const std::string old_description = "written as text before migration 12";
  std::string long_description;
  for (int i = 0; i < 8; ++i)
    long_description += "Threshold Crossed: 3 out of the last 5 datapoints were greater than 900. ";
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    migrate(db, 11);
    db.exec(
        "INSERT INTO alerts (id, fingerprint, source, name, description, first_seen, "
        "last_seen) VALUES (1, 'f', 'generic', 'n', '" +
        old_description + "', 1, 2)");
    db.exec(
        "INSERT INTO alert_members (alert_id, member, state, changed_at, last_seen_at) "
        "VALUES (1, 'f', 'firing', 3, 4), (1, 'm-1', 'firing', 1, 2)");
  }
  Writer w(path, Durability::full);  // migrates to the current version
  rules::AlertState state;
  auto done = w.submit([&](Transaction& tx) {
    tx.load_members(1, "f", state);
    AlertRecord a;
    a.fingerprint = "g";
    a.name = "n2";
    a.description = long_description;
    a.first_seen = a.last_seen = from_unix_ms(5);
    const std::int64_t id = tx.save_alert(a);
    rules::Member m;
    m.fingerprint = "g";
    m.state = SignalState::firing;
    m.changed_at = m.last_seen_at = from_unix_ms(5);
    tx.save_member(id, m);
    tx.save_member(id, m);  // the same member again: updated, not added
  });
  REQUIRE_FALSE(done.get());
  REQUIRE(state.member);
  CHECK(state.member->fingerprint == "f");
  CHECK(state.member->changed_at == from_unix_ms(3));
  CHECK(state.other_firing == 1);
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT group_concat(alert_id || ':' || member, ' ') FROM (SELECT * FROM "
                      "alert_members ORDER BY alert_id, member)")
            .getString() == "1: 1:m-1 2:");
  CHECK(db.execAndGet("SELECT group_concat(typeof(description), ' ') FROM (SELECT * FROM alerts "
                      "ORDER BY id)")
            .getString() == "text blob");
  // Indexes no longer repeat the rowid every SQLite index ends in, and still order by it.
  CHECK(db.execAndGet("SELECT group_concat(name, ' ') FROM (SELECT ii.name FROM "
                      "pragma_index_info('timers_due') ii UNION ALL SELECT ii.name FROM "
                      "pragma_index_info('decisions_alert') ii)")
            .getString() == "due_at alert_id");
  CHECK(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE name = 'alerts_noise'").getInt() ==
        0);
  for (const char* query : {"SELECT id FROM timers WHERE due_at <= 1 ORDER BY due_at, id LIMIT 1",
                            "SELECT id FROM decisions d WHERE d.alert_id = 1 AND d.id < 9 ORDER BY "
                            "d.id DESC LIMIT 5"}) {
    CAPTURE(query);
    std::string plan;
    SQLite::Statement q(db, std::string("EXPLAIN QUERY PLAN ") + query);
    while (q.executeStep())
      plan += q.getColumn(3).getString() + "; ";
    CHECK(plan.find("USING COVERING INDEX") != std::string::npos);
    CHECK(plan.find("TEMP B-TREE") == std::string::npos);
  }
  Reader reader(path);
  const auto old_alert = reader.get_alert(1);
  REQUIRE(old_alert);
  CHECK(old_alert->view.alert.description == old_description);
  std::vector<std::string> members;
  for (const auto& m : old_alert->members)
    members.push_back(m.fingerprint);
  CHECK(members == std::vector<std::string>{"f", "m-1"});
  const auto new_alert = reader.get_alert(2);
  REQUIRE(new_alert);
  CHECK(new_alert->view.alert.description == long_description);
  REQUIRE(new_alert->members.size() == 1);
  CHECK(new_alert->members[0].fingerprint == "g");
}

TEST_CASE("digest numbers count per channel and start past the aliases already stored") {
  // Before migration 9 a digest's alias carried the id of its first digest item, and items
  // are deleted once digested, so ids (and aliases) were reused. The count must start past
  // every alias still stored: OpsGenie may hold any of them open.
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    migrate(db, 7);
    db.exec(
        "INSERT INTO outbox (created_at, due_at, alias, channel, action, level, severity, "
        "priority) VALUES "
        "(0, 0, 'digest:ops:12', 'ops', 'digest', 0, 'info', 5),"
        "(0, 0, 'digest:ops:3', 'ops', 'digest', 0, 'info', 5),"
        "(0, 0, 'digest:team:a:1', 'team:a', 'digest', 0, 'info', 5),"
        "(0, 0, 'tocsin-x-1', 'ops', 'trigger', 0, 'info', 5);");
  }
  Writer w(path, Durability::full);  // migrates to the current version
  std::vector<std::int64_t> numbers;
  auto done = w.submit([&](Transaction& tx) {
    for (const char* channel : {"ops", "team:a", "fresh", "fresh", "ops"})
      numbers.push_back(tx.next_digest_number(channel));
  });
  CHECK_FALSE(done.get());
  CHECK(numbers == std::vector<std::int64_t>{13, 2, 1, 2, 14});
}

// With a receiver down during an alert storm, 20,000 pending rows made each delivery claim (a
// writer job) scan and sort every due row: 30 ms per claim, and ingest slowed from 1.4 ms to
// 17.5 ms per event. The claim must walk an index in claim order and stop at its limit.
TEST_CASE("the delivery claim walks the pending rows in claim order, without sorting them") {
  TempDir dir;
  const auto path = dir.file("t.db");
  { Writer w(path, Durability::normal); }
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement plan(db, std::string("EXPLAIN QUERY PLAN ") + k_due_notifications_sql);
  plan.bind(1, static_cast<int64_t>(0));
  plan.bind(2, static_cast<int64_t>(0));
  plan.bind(3, static_cast<int64_t>(0));
  plan.bind(4, "oncall");
  plan.bind(5, 100);
  std::string steps;
  while (plan.executeStep())
    steps += plan.getColumn(3).getString() + "\n";
  CAPTURE(steps);
  CHECK(steps.find("TEMP B-TREE") == std::string::npos);
  CHECK(steps.find("USING INDEX outbox_claim (channel=?") != std::string::npos);
}

// SQLite runs `x IN (a,b,c...)` (more than two constants) in a CHECK or a partial index's
// predicate through a temporary b-tree opened and freed on every insert: five per ingested
// event (two timers, one episode), ~4 µs each. The hot inserts must evaluate their constraints
// inline (no OpenEphemeral in their programs).
TEST_CASE("the per-event inserts into timers and episodes open no temporary b-tree") {
  TempDir dir;
  const auto path = dir.file("t.db");
  { Writer w(path, Durability::normal); }
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  for (const char* insert :
       {"INSERT INTO timers (due_at, kind, alert_id, episode, step) VALUES (?,?,?,?,?)",
        "INSERT INTO timers (due_at, kind, name) VALUES (?, 'heartbeat', ?)",
        "INSERT INTO episodes (alert_id, number, status, severity, priority, alias, opened_at, "
        "last_activity_at, event_count) VALUES (?,?,?,?,?,?,?,?,?)"}) {
    const std::string statement = insert;
    CAPTURE(statement);
    SQLite::Statement program(db, std::string("EXPLAIN ") + insert);
    int ephemeral = 0;
    while (program.executeStep())
      ephemeral += program.getColumn(1).getString() == "OpenEphemeral";
    CHECK(ephemeral == 0);
  }
}

// Migration 15 rebuilt timers and episodes (their CHECKs rewritten): every row and column is
// kept, and the constraints still refuse what they refused.
TEST_CASE("a version 14 database reads the same after migration 15, its constraints kept") {
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    migrate(db, 14);
    db.exec(
        "INSERT INTO alerts (id, fingerprint, source, name, first_seen, last_seen, last_episode) "
        "VALUES (1, 'generic:a', 'generic', 'a', 0, 0, 2);"
        "INSERT INTO episodes (alert_id, number, status, severity, priority, alias, opened_at, "
        "last_activity_at, event_count, acknowledged_at, acknowledged_by, notified, noise, "
        "never_suppress) VALUES "
        "(1, 1, 'resolved', 'warning', 3, 'x-1', 0, 0, 1, NULL, '', '[]', NULL, 0),"
        "(1, 2, 'acknowledged', 'warning', 3, 'x-2', 0, 0, 4, 5, 'alice', '[\"ops\"]', 0.5, 1);"
        "INSERT INTO timers (due_at, kind, name) VALUES (100, 'heartbeat', 'worker');"
        "INSERT INTO timers (due_at, kind, alert_id, episode, step) VALUES "
        "(200, 'escalation', 1, 2, 1);");
  }
  const auto dump = [&](const char* sql) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, sql);
    std::string out;
    while (q.executeStep()) {
      for (int i = 0; i < q.getColumnCount(); ++i)
        out += q.getColumn(i).getString() + "|";
      out += "\n";
    }
    return out;
  };
  const std::string episodes = dump("SELECT * FROM episodes ORDER BY id");
  const std::string timers = dump("SELECT * FROM timers ORDER BY id");
  { Writer w(path, Durability::full); }  // migrates to the current version
  CHECK(dump("SELECT * FROM episodes ORDER BY id") == episodes);
  CHECK(dump("SELECT * FROM timers ORDER BY id") == timers);
  // The same indexes, by name.
  CHECK(dump("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
             "('episodes','timers') ORDER BY name") ==
        "episodes_closed|\nepisodes_one_active|\nepisodes_status|\nsqlite_autoindex_episodes_1|\n"
        "sqlite_autoindex_episodes_2|\ntimers_due|\ntimers_episode|\ntimers_name|\n"
        "timers_one_per_name|\n");

  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  const auto refused = [&](const std::string& sql) {
    try {
      db.exec(sql);
      return false;
    } catch (const SQLite::Exception&) {
      return true;
    }
  };
  CHECK(refused("INSERT INTO timers (due_at, kind) VALUES (1, 'nonsense')"));
  CHECK(refused("INSERT INTO timers (due_at, kind, name) VALUES (1, 'heartbeat', 'worker')"));
  CHECK_FALSE(refused("INSERT INTO timers (due_at, kind, name) VALUES (1, 'escalation', 'w')"));
  CHECK_FALSE(refused("INSERT INTO timers (due_at, kind, name) VALUES (1, 'silence', '7')"));
  CHECK(refused("INSERT INTO timers (due_at, kind, name) VALUES (2, 'silence', '7')"));
  CHECK(refused(
      "INSERT INTO episodes (alert_id, number, status, severity, priority, alias, opened_at, "
      "last_activity_at, event_count) VALUES (1, 3, 'closed', 'warning', 3, 'x-3', 0, 0, 1)"));
  // Still one active episode per alert.
  CHECK(refused(
      "INSERT INTO episodes (alert_id, number, status, severity, priority, alias, opened_at, "
      "last_activity_at, event_count) VALUES (1, 3, 'open', 'warning', 3, 'x-3', 0, 0, 1)"));
  CHECK_FALSE(refused(
      "INSERT INTO episodes (alert_id, number, status, severity, priority, alias, opened_at, "
      "last_activity_at, event_count) VALUES (1, 3, 'expired', 'warning', 3, 'x-3', 0, 0, 1)"));
}

}  // namespace storage_writer_test
