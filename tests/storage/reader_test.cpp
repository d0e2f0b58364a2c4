// storage::Reader gives the same answers on every backend (tests/support/backends.hpp): rows
// written through a Transaction read back alike from an SQLite file and a PostgreSQL URI,
// including the queries whose SQL differs by dialect (text search, text order, GROUP BY, the
// report's queries, the export's snapshot) and the backend-specific ones (schema version,
// storage size).

#include "storage/reader.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "storage/sql.hpp"
#include "storage/transaction.hpp"
#include "support/backends.hpp"

namespace storage_reader_test {

using namespace tocsin;
using namespace tocsin::storage;
using tocsin::testing::for_each_backend;
using tocsin::testing::in_transaction;
using tocsin::testing::TestDatabase;

namespace {

const TimePoint k_t0 = from_unix_ms(1'790'000'000'000);

AlertRecord new_alert(const std::string& fingerprint, const std::string& summary) {
  AlertRecord a;
  a.fingerprint = fingerprint;
  a.name = fingerprint;
  a.summary = summary;
  a.first_seen = a.last_seen = k_t0;
  a.last_episode_number = 1;
  return a;
}

DecisionRecord decision(std::int64_t alert, const std::string& reason, const std::string& rule) {
  DecisionRecord d;
  d.at = k_t0;
  d.alert_id = alert;
  d.episode = 1;
  d.kind = DecisionKind::event;
  d.outcome = DecisionOutcome::created;
  d.reason = reason;
  d.rule = rule;
  d.rules_hash = "h";
  return d;
}

// Two alerts (one matching no rule), members, pings, a failed notification, an inbound request.
void fill(sql::Connection& db) {
  in_transaction(db, [](Transaction& tx) {
    const std::int64_t disk = tx.save_alert(new_alert("disk-full", "Disk Full on db-1"));
    const std::int64_t cpu = tx.save_alert(new_alert("cpu-high", "CPU high"));
    rules::Episode e;
    e.opened_at = e.last_activity_at = e.escalation_base = k_t0;
    tx.save_episode(disk, "disk-full", e, true);
    tx.save_episode(cpu, "cpu-high", e, true);
    for (const char* member : {"b-member", "B-member", "a-member"}) {
      rules::Member m;
      m.fingerprint = member;
      m.changed_at = m.last_seen_at = k_t0;
      tx.save_member(disk, m);
    }
    tx.record_heartbeat_ping("nightly", k_t0);
    tx.record_heartbeat_ping("Hourly", k_t0);
    InboundRecord in;
    in.received_at = k_t0;
    in.hook = "generic";
    in.delivery_id = "d-1";
    in.body = "{}";
    const std::int64_t inbound = tx.insert_inbound(in);
    DecisionRecord first = decision(disk, "created", "paged");
    first.inbound_id = inbound;
    tx.insert_decision(first);
    tx.insert_decision(decision(cpu, "created;no_rule_matched", ""));
    tx.insert_decision(decision(cpu, "sync_ack", "paged"));
    OutboxRecord n;
    n.created_at = n.due_at = k_t0;
    n.alert_id = disk;
    n.episode = 1;
    n.alias = "disk-full:1";
    n.channel = "slack";
    n.status = OutboxStatus::failed;
    tx.insert_notification(n);
  });
}

}  // namespace

TEST_CASE("reader: alerts, their members and pings read alike on every backend") {
  for_each_backend([](TestDatabase& t) {
    fill(t.db());
    Reader reader(t.location());
    AlertQuery all;
    CHECK(reader.list_alerts(all).total == 2);
    AlertQuery text;
    text.text = "Disk";  // case-sensitive in both: instr / strpos
    auto page = reader.list_alerts(text);
    REQUIRE(page.alerts.size() == 1);
    CHECK(page.alerts[0].alert.fingerprint == "disk-full");
    text.text = "disk full";
    CHECK(reader.list_alerts(text).total == 0);

    auto detail = reader.get_alert(page.alerts[0].alert.id);
    REQUIRE(detail);
    CHECK(detail->members_total == 3);
    CHECK(detail->members_firing == 3);
    std::vector<std::string> members;
    for (const auto& m : detail->members)
      members.push_back(m.fingerprint);
    // Byte order, whatever PostgreSQL's collation: upper case first.
    CHECK(members == std::vector<std::string>{"B-member", "a-member", "b-member"});

    auto pings = reader.list_heartbeat_pings();
    REQUIRE(pings.size() == 2);
    CHECK(pings[0].name == "Hourly");
    CHECK(pings[1].name == "nightly");

    NotificationQuery failed;
    failed.status = OutboxStatus::failed;
    auto notifications = reader.list_notifications(failed);
    REQUIRE(notifications.size() == 1);
    CHECK(notifications[0].channel == "slack");
    CHECK(reader.outbox_stats().pending == 0);
  });
}

TEST_CASE("reader: the report's queries and the schema version on every backend") {
  for_each_backend([](TestDatabase& t) {
    fill(t.db());
    Reader reader(t.location());
    CHECK(reader.schema_version() == reader.known_schema_version());
    CHECK(reader.schema_version() > 0);

    auto unrouted = reader.unrouted_alerts(k_t0, 10);
    REQUIRE(unrouted.size() == 1);
    CHECK(unrouted[0].fingerprint == "cpu-high");
    CHECK(unrouted[0].status == EpisodeStatus::open);

    auto counts = reader.first_match_counts(k_t0);
    CHECK(counts == std::map<std::string, std::int64_t>{{"paged", 1}});  // not the sync_ack

    auto silent = reader.silent_episodes(k_t0, 10);
    REQUIRE(silent.size() == 2);
    CHECK(silent[0].fingerprint == "cpu-high");
    CHECK(silent[1].fingerprint == "disk-full");
    CHECK(silent[1].rule == "paged");

    auto failed = reader.failed_deliveries(k_t0, 3);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].channel == "slack");
    CHECK(failed[0].aliases == std::vector<std::string>{"disk-full:1"});
    CHECK(reader.active_episodes(10).size() == 2);

    const StorageStats stats = reader.storage_stats();
    CHECK(stats.database_bytes > 0);
    CHECK(stats.oldest_event == k_t0);
  });
}

TEST_CASE("reader: export reads requests in one snapshot on every backend") {
  for_each_backend([](TestDatabase& t) {
    fill(t.db());
    Reader reader(t.location());
    std::vector<std::string> requests;
    int actions = 0;
    reader.export_since(
        k_t0, [&](const InboundRecord& r) { requests.push_back(r.delivery_id); },
        [&](const DecisionRecord&) { ++actions; });
    CHECK(requests == std::vector<std::string>{"d-1"});
    CHECK(actions == 0);
  });
}

// The delivery worker reads, per notification, the alert and when the row's episode opened.
TEST_CASE("reader: a notification's alert and its episode's opening, on every backend") {
  for_each_backend([](TestDatabase& t) {
    fill(t.db());
    Reader reader(t.location());
    AlertQuery text;
    text.text = "Disk";
    const std::int64_t disk = reader.list_alerts(text).alerts.at(0).alert.id;
    struct Case {
      const char* intent;
      std::int64_t alert;
      std::optional<int> episode;
      bool found;
      std::optional<TimePoint> opened_at;
    };
    for (const Case& c : std::vector<Case>{
             {"the row's episode", disk, 1, true, k_t0},
             {"an episode the alert does not have", disk, 7, true, std::nullopt},
             {"a row naming no episode", disk, std::nullopt, true, std::nullopt},
             {"an alert that is gone", disk + 100, 1, false, std::nullopt},
         }) {
      CAPTURE(c.intent);
      const auto d = reader.delivery_alert(c.alert, c.episode);
      REQUIRE(d.has_value() == c.found);
      if (!d) continue;
      CHECK(d->alert.fingerprint == "disk-full");
      CHECK(d->alert.summary == "Disk Full on db-1");
      CHECK(d->episode_opened_at == c.opened_at);
    }
  });
}

}  // namespace storage_reader_test
