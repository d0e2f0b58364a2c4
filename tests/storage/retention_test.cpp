// Retention (storage.retain_events) on a virtual clock: old rows go in small batches, what an
// open episode, a pending notification or the noise window still needs stays, and the noise
// state computed incrementally after pruning equals a from-scratch recompute over what is kept.
#include "storage/retention.hpp"

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include <filesystem>

#include "rules/loader.hpp"
#include "server/app.hpp"
#include "server/retention_loop.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/migrations.hpp"
#include "storage/vocabulary.hpp"
#include "support/events.hpp"
#include "support/log_capture.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"

namespace storage_retention_test {

using namespace tocsin;
using namespace tocsin::engine;
using namespace tocsin::server;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-09-01T00:00:00Z");

// retain_events 10d (above the 7d floor and the 7d noise window): the horizon is 10 days.
rules::RulesSnapshot test_rules() {
  return rules_or_fail(R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
rules:
  - {name: paged, match: {name: "paged-*"}, notify: [oncall]}
  - {name: quiet, match: {}}
noise: {window: 7d}
storage: {retain_events: 10d}
)");
}

struct Fixture {
  TempDir dir;
  std::string db = dir.file("tocsin.db");
  ManualClock clock{k_t0};
  App app{dir.file("rules.yaml"), db, clock, test_rules()};

  IngestResult send(const std::string& name, SignalState state, const std::string& event_id = "") {
    Inbound in = generic_inbound(name, state, clock.now());
    in.events.front().source_event_id = event_id;
    auto r = app.engine.ingest(std::move(in));
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    return r->front();
  }

  std::int64_t count(const std::string& sql) {
    SQLite::Database db_(db, SQLite::OPEN_READONLY);
    return db_.execAndGet(sql).getInt64();
  }

  std::int64_t rows_of(const std::string& fingerprint, const char* table) {
    return count(std::string("SELECT count(*) FROM ") + table +
                 " WHERE alert_id = (SELECT id FROM alerts WHERE fingerprint = '" + fingerprint +
                 "')");
  }

  // Delivers (or fails for a retry) every pending notification of the alert.
  void attempt_all(const std::string& fingerprint, const std::string& status) {
    auto done = app.writer.submit([&](storage::Transaction& tx) {
      for (auto& n : tx.due_notifications(TimePoint::max(), 100)) {
        if (n.fingerprint != fingerprint) continue;
        tx.count_attempt(n.id, "me", TimePoint::max());
        storage::DeliveryAttempt a;
        a.outbox_id = n.id;
        a.at = clock.now();
        a.outcome =
            status == "sent" ? storage::AttemptOutcome::sent : storage::AttemptOutcome::retry;
        storage::OutboxRecord after = *tx.load_notification(n.id);
        after.status = storage::parse_stored<storage::OutboxStatus>(status);
        if (status == "sent") after.sent_at = clock.now();
        after.due_at = clock.now() + 1h;
        tx.record_attempt(a, after, "me");
      }
    });
    REQUIRE_FALSE(done.get());
  }
};

}  // namespace

TEST_CASE("retention: the horizon is retain_events, never less than the noise window or 7d") {
  auto r = test_rules();
  CHECK(storage::retention_horizon(*r) == 10 * 24h);
  rules::Rules shorter = *r;
  shorter.storage.retain_events = 1h;  // report's default --since 7d still has its data
  CHECK(storage::retention_horizon(shorter) == 7 * 24h);
  shorter.noise.window = 14 * 24h;  // the noise window reads the episodes in it
  CHECK(storage::retention_horizon(shorter) == 14 * 24h);
}

TEST_CASE(
    "retention: old ended episodes go with their log, open ones and pending notifications "
    "keep theirs") {
  Fixture f;
  // Day 0: an alert that ended, one still open, and a paged one whose notifications are stuck.
  f.send("quiet-ended", SignalState::firing);
  f.send("paged-ended", SignalState::firing);
  f.send("quiet-open", SignalState::firing);
  f.send("paged-stuck", SignalState::firing);
  f.attempt_all("generic:paged-ended", "sent");
  f.attempt_all("generic:paged-stuck", "pending");  // tried once, waiting for its retry
  f.clock.advance(1min);
  f.send("quiet-ended", SignalState::resolved);
  f.send("paged-ended", SignalState::resolved);
  f.send("paged-stuck", SignalState::resolved);  // queued behind the stuck trigger
  f.attempt_all("generic:paged-ended", "sent");
  // Day 8: recent traffic, inside the horizon whatever happens.
  f.clock.set(k_t0 + 8 * 24h);
  f.send("quiet-recent", SignalState::firing, "ev-recent");
  f.send("quiet-recent", SignalState::resolved);

  const auto inbound_before = f.count("SELECT count(*) FROM inbound");
  SUBCASE("inside the horizon nothing goes") {
    f.clock.set(k_t0 + 9 * 24h);
    auto run = run_retention(f.app);
    CHECK(run.ok);
    CHECK(run.deleted.empty());
    CHECK(f.count("SELECT count(*) FROM inbound") == inbound_before);
  }
  SUBCASE("past the horizon") {
    f.clock.set(k_t0 + 11 * 24h);
    auto run = run_retention(f.app);
    REQUIRE(run.ok);
    // Ended, delivered: episode, decisions, outbox rows, their attempts and requests go.
    for (const char* fp : {"generic:quiet-ended", "generic:paged-ended"}) {
      CAPTURE(fp);
      CHECK(f.rows_of(fp, "episodes") == 0);
      CHECK(f.rows_of(fp, "decisions") == 0);
      CHECK(f.rows_of(fp, "outbox") == 0);
    }
    CHECK(f.count("SELECT count(*) FROM delivery_attempts a JOIN outbox o ON o.id = a.outbox_id "
                  "WHERE o.fingerprint = 'generic:paged-ended'") == 0);
    CHECK(run.deleted["delivery_attempts"] == 2);
    // The alert itself stays: its noise state and episode numbering live there.
    CHECK(f.count("SELECT count(*) FROM alerts WHERE fingerprint = 'generic:quiet-ended'") == 1);
    // Open: the episode, its decision and its request stay, however old.
    CHECK(f.rows_of("generic:quiet-open", "episodes") == 1);
    CHECK(f.rows_of("generic:quiet-open", "decisions") == 1);
    CHECK(f.count("SELECT count(*) FROM inbound i JOIN decisions d ON d.inbound_id = i.id "
                  "JOIN alerts a ON a.id = d.alert_id WHERE a.fingerprint = 'generic:quiet-open'") ==
          1);
    // A pending notification keeps its episode (a later resolve asks what left) and its log.
    CHECK(f.rows_of("generic:paged-stuck", "episodes") == 1);
    CHECK(f.rows_of("generic:paged-stuck", "decisions") == 2);
    CHECK(f.rows_of("generic:paged-stuck", "outbox") == 2);
    // Recent: all kept, and a redelivery of its event is still recognised.
    CHECK(f.rows_of("generic:quiet-recent", "decisions") == 2);
    CHECK(run.deleted["inbound"] == 4);
    CHECK(f.count("SELECT count(*) FROM inbound") == inbound_before - 4);
    CHECK(f.send("quiet-recent", SignalState::firing, "ev-recent").outcome == Outcome::redelivery);

    // A second run finds nothing more; once the stuck notifications are delivered, they go too.
    CHECK(run_retention(f.app).deleted.empty());
    f.attempt_all("generic:paged-stuck", "sent");
    f.attempt_all("generic:paged-stuck", "sent");
    run = run_retention(f.app);
    CHECK(f.rows_of("generic:paged-stuck", "episodes") == 0);
    // Its last row is the newest of the table, which stays so that no id is handed out twice.
    CHECK(f.rows_of("generic:paged-stuck", "outbox") == 1);
    CHECK(f.rows_of("generic:paged-stuck", "decisions") == 0);

    // Prune progress is in /metrics, with the database's size and oldest event.
    const std::string metrics = f.app.metrics.render();
    CHECK(metrics.find("tocsin_retention_pruned_rows_total{table=\"episodes\"} 3") !=
          std::string::npos);
    CHECK(metrics.find("tocsin_retention_runs_total{result=\"ok\"} 3") != std::string::npos);
    CHECK(metrics.find("tocsin_database_bytes ") != std::string::npos);
    CHECK(metrics.find("tocsin_oldest_event_timestamp_seconds " +
                       std::to_string(to_unix_ms(k_t0) / 1000)) != std::string::npos);
  }
}

TEST_CASE("retention: resolved members not seen since the horizon go, firing ones stay") {
  Fixture f;
  f.send("quiet-gone", SignalState::firing);
  f.send("quiet-gone", SignalState::resolved);
  f.send("quiet-firing", SignalState::firing);
  f.clock.set(k_t0 + 8 * 24h);
  f.send("quiet-recent", SignalState::firing);
  f.send("quiet-recent", SignalState::resolved);
  REQUIRE(f.count("SELECT count(*) FROM alert_members") == 3);

  f.clock.set(k_t0 + 11 * 24h);
  auto run = run_retention(f.app);
  REQUIRE(run.ok);
  CHECK(run.deleted["alert_members"] == 1);
  CHECK(f.rows_of("generic:quiet-gone", "alert_members") == 0);
  // Firing: it holds its episode open, however old.
  CHECK(f.rows_of("generic:quiet-firing", "alert_members") == 1);
  CHECK(f.rows_of("generic:quiet-recent", "alert_members") == 1);
  // The alert whose member went is as new to the next event: it opens its next episode.
  f.clock.advance(1min);
  auto next = f.send("quiet-gone", SignalState::firing);
  CHECK(next.outcome == Outcome::created);
  CHECK(next.episode == 2);
}

TEST_CASE("retention: batches are small and a run walks past rows it keeps") {
  Fixture f;
  for (int i = 0; i < 30; ++i) {
    f.send("quiet-" + std::to_string(i), SignalState::firing);
    if (i % 3 != 0) f.send("quiet-" + std::to_string(i), SignalState::resolved);
  }
  f.clock.set(k_t0 + 11 * 24h);
  auto policy = storage::retention_policy(*f.app.rules.get()->rules, f.clock.now());
  policy.batch_rows = 4;
  auto run = storage::prune(f.app.writer, policy);
  REQUIRE(run.ok);
  CHECK(run.deleted["episodes"] == 20);
  // All but the newest decision of the table and its request (kept so no id is reused).
  CHECK(run.deleted["decisions"] == 39);
  CHECK(f.count("SELECT count(*) FROM episodes") == 10);  // every third one is still open
  CHECK(f.count("SELECT count(*) FROM inbound") == 11);
  CHECK(run.batches > 5 * 3);  // 20 episodes, 50 decisions, 50 requests in batches of 4
}

TEST_CASE("retention: the noise window after pruning equals a recompute over what is kept") {
  Fixture f;
  const auto cfg = f.app.rules.get()->rules->noise;
  // Day 0–2: an alarm flaps every 30 minutes, opening ~100 episodes; then it is quiet, so its
  // stored noise window still counts all of them (the window slides at its next change).
  for (int i = 0; i < 100; ++i) {
    f.clock.set(k_t0 + i * 30min);
    f.send("flappy", SignalState::firing);
    f.clock.advance(3min);
    f.send("flappy", SignalState::resolved);
  }
  f.clock.set(k_t0 + 13 * 24h);
  REQUIRE(run_retention(f.app).ok);
  CHECK(f.rows_of("generic:flappy", "episodes") == 0);

  // Day 13: it fires again and flaps a little.
  for (int i = 0; i < 4; ++i) {
    f.send("flappy", i % 2 == 0 ? SignalState::firing : SignalState::resolved);
    f.clock.advance(5min);
  }
  auto view = f.app.reader.list_alerts({});
  storage::AlertRecord alert;
  for (const auto& a : view.alerts)
    if (a.alert.fingerprint == "generic:flappy") alert = a.alert;
  REQUIRE(alert.id != 0);
  const auto now = f.clock.now();
  const auto [observations, episodes] = f.app.reader.noise_history(alert.id);
  const rules::NoiseState fresh =
      rules::recompute(observations, episodes, alert.last_episode_number, cfg, now);
  const rules::NoiseState incremental =
      f.app.reader.noise_at(alert, rules::window_cutoff(cfg, now));
  CHECK(incremental.window_first == fresh.window_first);
  CHECK(incremental.episodes == fresh.episodes);
  CHECK(incremental.episodes == 2);
  CHECK(incremental.ended == fresh.ended);
  CHECK(incremental.transient == fresh.transient);
  CHECK(incremental.ignored == fresh.ignored);
  CHECK(rules::score(incremental, cfg, alert.first_seen, now).score ==
        rules::score(fresh, cfg, alert.first_seen, now).score);
}

TEST_CASE("retention: export after pruning lists exactly the requests kept") {
  Fixture f;
  f.send("quiet-old", SignalState::firing);
  f.send("quiet-old", SignalState::resolved);
  f.clock.set(k_t0 + 9 * 24h);
  f.send("quiet-new", SignalState::firing);
  f.clock.set(k_t0 + 11 * 24h);
  REQUIRE(run_retention(f.app).ok);
  std::vector<TimePoint> exported;
  f.app.reader.export_since(
      TimePoint{}, [&](const storage::InboundRecord& r) { exported.push_back(r.received_at); },
      [](const storage::DecisionRecord&) {});
  REQUIRE(exported.size() == 1);
  CHECK(exported.front() == k_t0 + 9 * 24h);
}

TEST_CASE("migration 6 adds the retention indexes and keeps version 5 data") {
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    storage::migrate(db, 5);
    db.exec(
        "INSERT INTO decisions (at, kind, outcome, reason, rules_hash) VALUES "
        "(5, 'event', 'created', 'r', 'h')");
  }
  { storage::Writer w(path, storage::Durability::full); }
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == storage::current_schema_version());
  CHECK(db.execAndGet("SELECT count(*) FROM decisions").getInt() == 1);
  for (const char* index : {"decisions_at", "episodes_closed", "outbox_created", "outbox_about"}) {
    CAPTURE(index);
    CHECK(db.execAndGet(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                                    "name = '") +
                        index + "'")
              .getInt() == 1);
  }
}

// SQLite gives a new row max(id) + 1 (no AUTOINCREMENT): pruning the newest outbox row would
// hand its id, the receivers' X-Tocsin-Event-Id and a meta-alert's alias, out again.
TEST_CASE("pruning never lets a new notification reuse an old outbox id") {
  Fixture f;
  f.send("paged-old", SignalState::firing);
  f.attempt_all("generic:paged-old", "sent");
  f.clock.advance(1min);
  f.send("paged-old", SignalState::resolved);
  f.attempt_all("generic:paged-old", "sent");
  const auto max_before = f.count("SELECT max(id) FROM outbox");
  REQUIRE(max_before >= 2);
  f.clock.set(k_t0 + 11 * 24h);  // a quiet week and more: every outbox row is past the horizon
  REQUIRE(run_retention(f.app).ok);
  CHECK(f.count("SELECT count(*) FROM outbox") == 1);  // all but the newest went
  f.send("paged-new", SignalState::firing);
  CHECK(f.count("SELECT count(*) FROM outbox WHERE fingerprint = 'generic:paged-new'") >= 1);
  CHECK(f.count("SELECT min(id) FROM outbox WHERE fingerprint = 'generic:paged-new'") > max_before);
}

// A run that meets a database fault (here the file removed under the server) says so in its
// result, and leaves the logging to the writer, which logs the fault once when it starts: the
// retention loop's own error line made it two (seen as a flaky count in
// tests/e2e/db_faults_test.cpp when the first run started late).
TEST_CASE("retention: a run stopped by a database fault leaves the error line to the writer") {
  Fixture f;
  f.send("quiet-old", SignalState::firing, "ev-old");
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(f.db + suffix);
  LogCapture log;
  const auto run = run_retention(f.app);
  CHECK_FALSE(run.ok);
  CHECK(run.fault == storage::DatabaseFault::file_replaced);
  const std::string text = log.text();
  INFO(text);
  CHECK(text.find("[error] retention") == std::string::npos);
}

}  // namespace storage_retention_test
