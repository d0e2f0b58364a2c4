// copy_database (`tocsin copy-db`): a database filled by the real engine (a replay) copied to
// PostgreSQL and back, or to another SQLite file, keeps every row of every table with its id and
// type; what it refuses it refuses before writing anything, naming why.
#include "storage/copy.hpp"

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "storage/sqlite/database.hpp"
#include "storage/migrations.hpp"
#include "storage/postgres/sql_connection.hpp"
#include "storage/reader.hpp"
#include "storage/transaction.hpp"
#include "support/fixtures.hpp"
#include "support/postgres.hpp"
#include "support/replay_run.hpp"
#include "support/temp_dir.hpp"

namespace storage_copy_test {

using namespace tocsin;
using namespace tocsin::storage;
using tocsin::testing::ScratchSchema;
using tocsin::testing::TempDir;
using Json = nlohmann::json;

namespace {

const TimePoint k_now = from_unix_ms(1'800'000'000'000);

const char* const k_rules = R"(version: 1
defaults: {stale_after: 24h, max_open_age: 72h}
sources:
  sns: {verify_signature: false}
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
escalations:
  queue-critical:
    steps:
      - {after: 0m, notify: [oncall, alerts]}
      - {after: 20m, notify: [alerts]}
    repeat_every: 30m
heartbeats:
  - {name: hooks-worker, every: 5m, grace: 2m, severity: critical, priority: P1, notify: [oncall]}
rules:
  - name: queue-backlog
    match: {source: cloudwatch, metric: ApproximateAgeOfOldestMessage}
    severity: critical
    priority: P1
    escalation: queue-critical
  - name: batch
    match: {source: generic, name: "batch-*"}
    notify: [alerts]
    ack_timeout: 30m
)";

Json alarm(const std::string& at, const std::string& message_id, const std::string& state) {
  Json body = Json::parse(tocsin::testing::fixture("sns_notification_alarm.json"));
  Json message = Json::parse(body["Message"].get<std::string>());
  message["NewStateValue"] = state;
  message["StateChangeTime"] = at.substr(0, 19) + ".000+0000";
  body["Message"] = message.dump();
  body["MessageId"] = message_id;
  return Json{{"at", at}, {"hook", "sns"}, {"body", body}};
}

Json generic(const std::string& at, const std::string& key, const std::string& status) {
  return Json{
      {"at", at},
      {"hook", "generic"},
      {"body", {{"key", key}, {"status", status}, {"summary", key + " \xc3\xa9t\xc3\xa9"}}}};
}

// A database as the engine leaves it after some traffic, plus the rows a replay does not write
// (a subscription, delivery attempts, a claim, digest items, members, an instance), with gaps in
// the ids, NULLs, a REAL that does not print short, and bodies both compressed and not.
void fill(const std::string& path) {
  const auto run = tocsin::testing::run_replay_lines(
      k_rules,
      {alarm("2026-11-01T00:00:00Z", "m-1", "ALARM"),
       generic("2026-11-01T00:01:00Z", "batch-nightly", "firing"),
       Json{{"at", "2026-11-01T00:02:00Z"}, {"hook", "heartbeat"}, {"name", "hooks-worker"}},
       generic("2026-11-01T00:03:00Z", "batch-hourly", "firing"),
       alarm("2026-11-01T00:50:00Z", "m-2", "OK"),
       generic("2026-11-01T01:00:00Z", "batch-nightly", "resolved")},
      "2026-11-01T02:00:00Z", path);
  REQUIRE_MESSAGE(run.status == 0, run.err);
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  db.exec("PRAGMA foreign_keys = ON");  // the deleted request's decisions keep no dangling id
  db.exec(R"sql(
INSERT INTO subscriptions (id, topic_arn, kind, url, message_id, received_at, status, updated_at)
  VALUES (7, 'arn:aws:sns:eu-west-1:1:t', 'subscribe', 'https://sns/confirm', 'sub-1', 5, 'confirmed', 6);
INSERT INTO outbox (id, created_at, due_at, alias, channel, action, level, severity, priority,
                    status, claimed_by, claimed_until, noise)
  VALUES (500, 10, 11, 'x:1', 'oncall', 'trigger', 0, 'critical', 1, 'pending', 'web-1:8080:ab', 99, 0.1);
INSERT INTO delivery_attempts (outbox_id, at, http_status, duration_ms, outcome)
  VALUES (500, 12, 503, 40, 'retry'), (500, 13, NULL, 41, 'retry');
INSERT INTO digest_items (channel, created_at, fingerprint, alias, action, severity, priority, noise)
  VALUES ('alerts', 14, 'f', 'a:1', 'trigger', 'warning', 3, 0.30000000000000004);
INSERT INTO digest_sequence (channel, last) VALUES ('alerts', 4), ('Zeta', 1);
INSERT INTO instances (id, host, listen, version, rules_hash, started_at, last_seen)
  VALUES ('web-1:8080:ab', 'web-1', ':8080', '1.0', 'abc', 1, 2);
INSERT INTO channel_health (channel, down_since, failures, last_error, changed_at, probe_at,
                            probes, hold_until, pace_at)
  VALUES ('oncall', 5, 7, 'connection refused', 5, 9, 2, NULL, NULL),
         ('alerts', NULL, 0, '', 6, NULL, 0, 8, 11);
UPDATE alerts SET noise_state = '{"flaps":3}', noise_score = 0.7000000000000001 WHERE id = 1;
INSERT INTO alert_members (alert_id, member, state, changed_at, last_seen_at)
  VALUES (1, 'i-0b', 'firing', 1, 2), (1, 'i-0a', 'resolved', 1, 3);
INSERT INTO silences (id, created_at, starts_at, ends_at, created_by, comment, matchers,
                      expired_at, expired_by)
  VALUES (3, 20, 20, 7200020, 'alice', 'db upgrade', '{"name":"forms-*"}', 3600, 'bob');
INSERT INTO silence_hits (silence_id, alert_id, episode, at, released_at, paged)
  VALUES (3, 1, 1, 21, 3600, 1);
INSERT INTO inbound (id, received_at, hook, body) VALUES (900, 20, 'generic', '{"text":"kept"}');
DELETE FROM inbound WHERE id = 2;
)sql");
}

// Every row of every table, in key order, each value with SQLite's storage class.
using Dump = std::map<std::string, std::vector<std::string>>;

Dump dump(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  Dump out;
  for (const auto& table : copied_tables()) {
    SQLite::Statement q(db, "SELECT * FROM " + table + " ORDER BY 1, 2");
    auto& rows = out[table];
    while (q.executeStep()) {
      std::string row;
      for (int i = 0; i < q.getColumnCount(); ++i) {
        const auto c = q.getColumn(i);
        char real[40];
        switch (c.getType()) {
          case SQLITE_NULL:
            row += "|null";
            break;
          case SQLITE_INTEGER:
            row += "|i" + std::to_string(c.getInt64());
            break;
          case SQLITE_FLOAT:
            std::snprintf(real, sizeof real, "|r%.17g", c.getDouble());
            row += real;
            break;
          case SQLITE_BLOB:
            row += "|b" + std::string(static_cast<const char*>(c.getBlob()),
                                      static_cast<std::size_t>(c.getBytes()));
            break;
          default:
            row += "|t" + c.getString();
        }
      }
      rows.push_back(row);
    }
  }
  return out;
}

std::vector<std::string> exported(const std::string& location) {
  std::vector<std::string> out;
  Reader(location).export_since(
      TimePoint{},
      [&](const InboundRecord& r) {
        out.push_back(std::to_string(to_unix_ms(r.received_at)) + " " + r.hook + " " +
                      r.delivery_id + " " + r.headers_json + " " + r.body);
      },
      [&](const DecisionRecord& d) { out.push_back("action " + d.reason); });
  return out;
}

// A PostgreSQL location whose tables go in `schema`.
std::string in_schema(const std::string& uri, const ScratchSchema& schema) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema.name();
}

CopyOptions options() {
  CopyOptions o;
  o.now = k_now;
  return o;
}

std::string refusal(const std::string& source, const std::string& destination,
                    CopyOptions o = options()) {
  try {
    copy_database(source, destination, o);
  } catch (const CopyError& e) {
    return e.what();
  }
  return "copied";
}

}  // namespace

TEST_CASE("copy-db: SQLite to PostgreSQL and back keeps every row, id, type and body") {
  const auto uri = tocsin::testing::test_postgres_uri();
  if (!uri) return;
  TempDir dir;
  const std::string original = dir.file("original.db");
  fill(original);
  const Dump before = dump(original);
  for (const auto& [table, rows] : before) {
    CAPTURE(table);
    CHECK_FALSE(rows.empty());  // every table takes part in the comparison
  }
  SQLite::Database raw(original, SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("SELECT count(*) FROM inbound WHERE typeof(body) = 'blob'").getInt() > 0);

  ScratchSchema schema(*uri);
  const std::string postgres = in_schema(*uri, schema);
  std::map<std::string, std::int64_t> counted;
  CopyOptions o = options();
  o.on_table = [&](const std::string& table, std::int64_t rows) { counted[table] = rows; };
  const CopySummary there = copy_database(original, postgres, o);
  CHECK(there.tables == static_cast<std::int64_t>(copied_tables().size()));
  for (const auto& [table, rows] : before) {
    CAPTURE(table);
    CHECK(counted[table] == static_cast<std::int64_t>(rows.size()));
  }
  CHECK(exported(postgres) == exported(original));

  const std::string back = dir.file("back.db");
  copy_database(postgres, back, options());
  CHECK(dump(back) == before);
  CHECK(exported(back) == exported(original));

  // The next rows on the PostgreSQL copy take ids past the copied ones.
  auto connection = schema.connect();
  postgres::SqlConnection db(connection);
  db.begin();
  Transaction tx(db);
  InboundRecord r;
  r.hook = "generic";
  r.received_at = k_now;
  r.body = "{}";
  CHECK(tx.insert_inbound(r) == 901);
  auto alert = db.prepare(
      "INSERT INTO alerts (fingerprint, source, name, first_seen, last_seen) "
      "VALUES ('new', 'generic', 'new', 1, 1) RETURNING id");
  REQUIRE(alert->step());
  CHECK(alert->get_int64(0) == raw.execAndGet("SELECT max(id) FROM alerts").getInt64() + 1);
  db.commit();
}

TEST_CASE("copy-db: SQLite to a new SQLite file is the same database") {
  TempDir dir;
  const std::string original = dir.file("original.db");
  fill(original);
  const std::string copy = dir.file("copy.db");
  copy_database(original, copy, options());
  CHECK(dump(copy) == dump(original));
  CHECK(exported(copy) == exported(original));
}

TEST_CASE("copy-db: a source or destination it cannot use is refused, and nothing is written") {
  TempDir dir;
  const std::string original = dir.file("original.db");
  fill(original);
  const std::string fresh = dir.file("fresh.db");

  // A destination that holds rows, named by table.
  const std::string used = dir.file("used.db");
  copy_database(original, used, options());
  CHECK(refusal(original, used).find("table inbound has rows") != std::string::npos);
  {
    const std::string one = dir.file("one.db");
    open_for_writing(one, Durability::normal);
    SQLite::Database(one, SQLite::OPEN_READWRITE)
        .exec("INSERT INTO digest_sequence (channel, last) VALUES ('c', 1)");
    CHECK(refusal(original, one).find("table digest_sequence has rows") != std::string::npos);
  }
  {
    // An instance seen 5 s ago is a server running on the destination; one gone for a minute is
    // not, and its row does not survive the copy.
    const std::string live = dir.file("live.db");
    open_for_writing(live, Durability::normal);
    SQLite::Database(live, SQLite::OPEN_READWRITE)
        .exec(
            "INSERT INTO instances (id, host, version, rules_hash, started_at, last_seen) "
            "VALUES ('db-2:8080:cd', 'db-2', '1', 'h', 0, " +
            std::to_string(to_unix_ms(k_now) - 5000) + ")");
    CHECK(refusal(original, live).find("instance db-2:8080:cd was seen 5 s ago") !=
          std::string::npos);
    CopyOptions later = options();
    later.now = k_now + std::chrono::minutes(1);
    copy_database(original, live, later);
    CHECK(dump(live) == dump(original));
  }

  // Sources: missing, not a database, not Tocsin's, another schema version, the destination.
  const std::string text = dir.file("notes.txt");
  std::ofstream(text) << std::string(4096, 'x');
  const std::string foreign = dir.file("foreign.db");
  SQLite::Database(foreign, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE)
      .exec("CREATE TABLE t (x)");
  const std::string older = dir.file("older.db");
  {
    SQLite::Database db(older, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    migrate(db, current_schema_version() - 1);
  }
  const std::string newer = dir.file("newer.db");
  std::filesystem::copy_file(original, newer);
  SQLite::Database(newer, SQLite::OPEN_READWRITE).exec("PRAGMA user_version = 99");
  struct Case {
    const char* intent;
    std::string source;
    std::string destination;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"no file", dir.file("missing.db"), fresh, "no database at " + dir.file("missing.db")},
      {"not SQLite", text, fresh, "is not a Tocsin database"},
      {"not Tocsin's", foreign, fresh, "is not a Tocsin database (schema version 0)"},
      {"older", older, fresh, "by running this version's `tocsin serve --db` on it once"},
      {"newer", newer, fresh, "copy it with the version of tocsin that wrote it"},
      {"itself", original, original, "are the same database"},
      {"itself, spelled otherwise", original, dir.path().string() + "/./original.db",
       "are the same database"},
  };
  for (const auto& c : cases) {
    const std::string intent = c.intent;
    CAPTURE(intent);
    const std::string why = refusal(c.source, c.destination);
    CHECK_MESSAGE(why.find(c.says) != std::string::npos, why);
    CHECK_FALSE(std::filesystem::exists(fresh));  // created, then removed again
  }
  CHECK(dump(original) == dump(dir.file("used.db")));
}

TEST_CASE("copy-db: columns that differ are named, and a failure mid-way writes nothing") {
  TempDir dir;
  const std::string original = dir.file("original.db");
  fill(original);
  const std::string wider = dir.file("wider.db");
  open_for_writing(wider, Durability::normal);
  SQLite::Database(wider, SQLite::OPEN_READWRITE).exec("ALTER TABLE alerts ADD COLUMN extra TEXT");
  CHECK(refusal(original, wider).find("table alerts: column extra") != std::string::npos);

  // A decision naming an alert that does not exist (written without foreign keys) fails in the
  // destination's transaction, after the tables before it were written.
  SQLite::Database(original, SQLite::OPEN_READWRITE)
      .exec(
          "INSERT INTO decisions (at, alert_id, kind, outcome, reason, rules_hash) "
          "VALUES (1, 12345, 'decision', 'created', 'r', 'h')");
  const std::string fresh = dir.file("fresh.db");
  CHECK(refusal(original, fresh).find("nothing was written") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(fresh));
  const auto uri = tocsin::testing::test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  CHECK(refusal(original, in_schema(*uri, schema)).find("nothing was written") !=
        std::string::npos);
  auto connection = schema.connect();
  postgres::SqlConnection db(connection);
  auto q = db.prepare("SELECT count(*) FROM inbound");
  REQUIRE(q->step());
  CHECK(q->get_int64(0) == 0);
}

TEST_CASE("copy-db: PostgreSQL destinations holding rows are refused, passwords stay out") {
  const auto uri = tocsin::testing::test_postgres_uri();
  if (!uri) return;
  TempDir dir;
  const std::string original = dir.file("original.db");
  fill(original);
  ScratchSchema schema(*uri);
  const std::string postgres = in_schema(*uri, schema);
  copy_database(original, postgres, options());
  CHECK(refusal(original, postgres).find("table inbound has rows") != std::string::npos);
  CHECK(refusal(postgres, postgres).find("are the same database") != std::string::npos);
  // The same database under another spelling of its location.
  CHECK(refusal(postgres, postgres + "&application_name=other").find("are the same database") !=
        std::string::npos);

  tocsin::testing::ClosedPort closed;
  const std::string secret = "postgresql://tocsin:s3cret-Pa55word@127.0.0.1:" + closed.port() +
                             "/tocsin?connect_timeout=2";
  for (const auto& why : {refusal(original, secret), refusal(secret, dir.file("x.db"))}) {
    CHECK(why.find("s3cret-Pa55word") == std::string::npos);
    CHECK(why.find("[redacted]") != std::string::npos);
  }
}

TEST_CASE("copy-db: a server still running on the source is warned about, not refused") {
  TempDir dir;
  const std::string original = dir.file("original.db");
  fill(original);
  SQLite::Database(original, SQLite::OPEN_READWRITE)
      .exec("UPDATE instances SET last_seen = " + std::to_string(to_unix_ms(k_now) - 3000));
  std::vector<std::string> warnings;
  CopyOptions o = options();
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  copy_database(original, dir.file("copy.db"), o);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("has a running tocsin (instance web-1:8080:ab was seen 3 s ago)") !=
        std::string::npos);
  warnings.clear();
  o.now = k_now + std::chrono::minutes(1);
  copy_database(original, dir.file("later.db"), o);
  CHECK(warnings.empty());
}

}  // namespace storage_copy_test
