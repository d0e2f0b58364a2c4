// storage::Transaction's statements give the same results on every backend
// (tests/support/backends.hpp): the SQL is written once, and where the dialects differ
// (storage/detail/dialect.hpp) both spellings are exercised here. Each case says which
// statement it covers and what a wrong translation would change.

#include "storage/transaction.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "storage/reader.hpp"
#include "storage/sql.hpp"
#include "storage/vocabulary.hpp"
#include "support/backends.hpp"

namespace storage_transaction_test {

using namespace tocsin;
using namespace tocsin::storage;
using tocsin::testing::for_each_backend;
using tocsin::testing::in_transaction;
using tocsin::testing::TestDatabase;

namespace {

const TimePoint k_t0 = from_unix_ms(1'790'000'000'000);

AlertRecord new_alert(const std::string& fingerprint) {
  AlertRecord a;
  a.fingerprint = fingerprint;
  a.name = fingerprint;
  a.labels = {{"team", "db"}};
  a.first_seen = a.last_seen = k_t0;
  a.last_episode_number = 1;
  a.noise_score = 0.5;
  return a;
}

rules::Episode open_episode() {
  rules::Episode e;
  e.opened_at = e.last_activity_at = e.escalation_base = k_t0;
  e.escalation = {"oncall"};
  e.noise = 0.25;
  return e;
}

OutboxRecord notification(std::int64_t alert_id, const std::string& alias,
                          const std::string& channel, int priority) {
  OutboxRecord n;
  n.created_at = n.due_at = k_t0;
  n.alert_id = alert_id;
  n.episode = 1;
  n.fingerprint = alias;
  n.alias = alias;
  n.channel = channel;
  n.priority = Priority{priority};
  return n;
}

std::int64_t count(sql::Connection& db, const std::string& query) {
  auto q = db.prepare(query);
  REQUIRE(q->step());
  return q->get_int64(0);
}

}  // namespace

TEST_CASE("transaction: an alert, its episode and its members round-trip") {
  for_each_backend([](TestDatabase& t) {
    std::int64_t id = 0;
    in_transaction(t.db(), [&](Transaction& tx) {
      id = tx.save_alert(new_alert("fp-1"));
      tx.save_episode(id, "fp-1", open_episode(), true);
      rules::Member m;
      m.fingerprint = "member-a";
      m.changed_at = m.last_seen_at = k_t0;
      tx.save_member(id, m);
      // Saved again: replaced (INSERT OR REPLACE, now ON CONFLICT DO UPDATE), not a second row.
      m.state = SignalState::resolved;
      m.last_seen_at = k_t0 + std::chrono::minutes(1);
      tx.save_member(id, m);
    });
    CHECK(id > 0);
    in_transaction(t.db(), [&](Transaction& tx) {
      auto loaded = tx.load_alert("fp-1");
      REQUIRE(loaded);
      CHECK(loaded->first.id == id);
      CHECK(loaded->first.labels == std::map<std::string, std::string>{{"team", "db"}});
      CHECK(loaded->first.noise_score == 0.5);
      REQUIRE(loaded->second.active);
      CHECK(loaded->second.active->escalation == std::vector<std::string>{"oncall"});
      CHECK(loaded->second.active->noise == 0.25);
      rules::AlertState state;
      tx.load_members(id, "member-a", state);
      REQUIRE(state.member);
      CHECK(state.member->state == SignalState::resolved);
      CHECK(state.member->last_seen_at == k_t0 + std::chrono::minutes(1));
      auto episode = tx.load_episode(id, 1);
      REQUIRE(episode);
      CHECK(episode->opened_at == k_t0);
    });
    CHECK(count(t.db(), "SELECT count(*) FROM alert_members") == 1);
  });
}

TEST_CASE(
    "transaction: the alert's own member is stored as '' and a long description compressed, both "
    "read back") {
  for_each_backend([](TestDatabase& t) {
    std::string description;
    for (int i = 0; i < 8; ++i)
      description += "Threshold Crossed: 3 out of the last 5 datapoints were greater than 900. ";
    std::int64_t id = 0;
    in_transaction(t.db(), [&](Transaction& tx) {
      AlertRecord a = new_alert("fp-1");
      a.description = description;
      id = tx.save_alert(a);
      rules::Member m;
      m.fingerprint = "fp-1";
      m.changed_at = m.last_seen_at = k_t0;
      tx.save_member(id, m);
      m.fingerprint = "member-b";
      tx.save_member(id, m);
    });
    CHECK(count(t.db(), "SELECT count(*) FROM alert_members WHERE member = ''") == 1);
    CHECK(count(t.db(), "SELECT max(length(description)) FROM alerts") <
          static_cast<std::int64_t>(description.size()) / 2);
    in_transaction(t.db(), [&](Transaction& tx) {
      auto loaded = tx.load_alert("fp-1");
      REQUIRE(loaded);
      CHECK(loaded->first.description == description);
      rules::AlertState state;
      tx.load_members(id, "fp-1", state);
      REQUIRE(state.member);
      CHECK(state.member->fingerprint == "fp-1");
      CHECK(state.other_firing == 1);  // member-b, not itself
    });
    Reader reader(t.location());
    const auto detail = reader.get_alert(id);
    REQUIRE(detail);
    CHECK(detail->view.alert.description == description);
    std::vector<std::string> members;
    for (const auto& m : detail->members)
      members.push_back(m.fingerprint);
    CHECK(members == std::vector<std::string>{"fp-1", "member-b"});  // ties: by fingerprint
  });
}

TEST_CASE("transaction: a subscription is stored once per MessageId (INSERT OR IGNORE)") {
  for_each_backend([](TestDatabase& t) {
    SubscriptionRecord s;
    s.topic_arn = "arn:aws:sns:eu-west-1:1:t";
    s.url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription";
    s.message_id = "m-1";
    s.received_at = s.updated_at = k_t0;
    in_transaction(t.db(), [&](Transaction& tx) {
      CHECK(tx.save_subscription(s));
      CHECK_FALSE(tx.save_subscription(s));
    });
    CHECK(count(t.db(), "SELECT count(*) FROM subscriptions") == 1);
  });
}

TEST_CASE("transaction: a heartbeat's last ping never goes back in time (two-argument max)") {
  for_each_backend([](TestDatabase& t) {
    in_transaction(t.db(), [&](Transaction& tx) {
      tx.record_heartbeat_ping("nightly", k_t0 + std::chrono::minutes(5));
      tx.record_heartbeat_ping("nightly", k_t0);  // late, out of order
    });
    in_transaction(t.db(), [&](Transaction& tx) {
      auto ping = tx.heartbeat_ping("nightly");
      REQUIRE(ping);
      CHECK(ping->pings == 2);
      CHECK(ping->first_ping_at == k_t0 + std::chrono::minutes(5));
      CHECK(ping->last_ping_at == k_t0 + std::chrono::minutes(5));
    });
  });
}

TEST_CASE("transaction: the delivery claim skips channels given as JSON, heads of queues only") {
  for_each_backend([](TestDatabase& t) {
    in_transaction(t.db(), [&](Transaction& tx) {
      const std::int64_t id = tx.save_alert(new_alert("fp-1"));
      tx.insert_notification(notification(id, "a-1", "slack", 3));
      tx.insert_notification(notification(id, "a-1", "slack", 1));  // behind the first
      tx.insert_notification(notification(id, "a-2", "pager", 2));
      tx.insert_notification(notification(id, "a-3", "mail", 1));
    });
    in_transaction(t.db(), [&](Transaction& tx) {
      auto due = tx.due_notifications(k_t0, 10);
      REQUIRE(due.size() == 3);
      CHECK(due[0].alias == "a-3");  // priority 1 first
      CHECK(due[1].alias == "a-2");
      CHECK(due[2].alias == "a-1");
      auto skipped = tx.due_notifications(k_t0, 10, {"mail", "pager"});
      REQUIRE(skipped.size() == 1);
      CHECK(skipped[0].channel == "slack");
      CHECK(tx.due_notifications(k_t0 - std::chrono::milliseconds(1), 10).empty());
    });
  });
}

TEST_CASE("transaction: an attempt taken back never counts below zero (two-argument max)") {
  for_each_backend([](TestDatabase& t) {
    in_transaction(t.db(), [&](Transaction& tx) {
      const std::int64_t alert = tx.save_alert(new_alert("fp-1"));
      const std::int64_t id = tx.insert_notification(notification(alert, "a-1", "slack", 3));
      tx.count_attempt(id, "me", k_t0);
      t.db().exec("UPDATE outbox SET attempts = 0");  // as no counted attempt would leave it
      CHECK(tx.uncount_attempt(id, "me"));
      CHECK(tx.load_notification(id)->attempts == 0);
      tx.count_attempt(id, "me", k_t0);
      CHECK(tx.load_notification(id)->attempts == 1);
    });
  });
}

TEST_CASE("transaction: timers, digests and digest numbers") {
  for_each_backend([](TestDatabase& t) {
    in_transaction(t.db(), [&](Transaction& tx) {
      const std::int64_t alert = tx.save_alert(new_alert("fp-1"));
      tx.insert_timer(
          alert, rules::Timer{rules::TimerKind::escalation, k_t0 + std::chrono::minutes(2), 1, 0});
      tx.set_heartbeat_deadline("nightly", k_t0 + std::chrono::minutes(1));
      CHECK(tx.next_timer_due() == k_t0 + std::chrono::minutes(1));
      auto timer = tx.next_due_timer(k_t0 + std::chrono::minutes(3));
      REQUIRE(timer);
      CHECK(timer->name == "nightly");
      CHECK(tx.arm_digest("slack", k_t0));
      CHECK_FALSE(tx.arm_digest("slack", k_t0));
      CHECK(tx.next_digest_number("slack") == 1);
      CHECK(tx.next_digest_number("slack") == 2);
      CHECK(tx.next_digest_number("mail") == 1);
      DigestItem item;
      item.notification = notification(alert, "a-1", "slack", 3);
      item.summary = "disk full";
      tx.insert_digest_item(item);
      auto items = tx.take_digest_items("slack");
      REQUIRE(items.size() == 1);
      CHECK(items[0].summary == "disk full");
      CHECK(tx.take_digest_items("slack").empty());
    });
  });
}

TEST_CASE("transaction: retention prunes what may go, in batches, on every table") {
  for_each_backend([](TestDatabase& t) {
    in_transaction(t.db(), [&](Transaction& tx) {
      const std::int64_t alert = tx.save_alert(new_alert("fp-1"));
      for (int i = 0; i < 3; ++i) {
        InboundRecord in;
        in.received_at = k_t0 + std::chrono::seconds(i);
        in.hook = "generic";
        in.body = "{}";
        tx.insert_inbound(in);
        OutboxRecord n = notification(alert, "a-" + std::to_string(i), "slack", 3);
        n.episode = std::nullopt;
        n.status = i == 1 ? OutboxStatus::pending : OutboxStatus::sent;
        tx.insert_notification(n);
        SubscriptionRecord s;
        s.message_id = "m-" + std::to_string(i);
        s.received_at = s.updated_at = k_t0;
        s.status = i == 1 ? SubscriptionStatus::pending : SubscriptionStatus::confirmed;
        tx.save_subscription(s);
      }
      for (int i = 0; i < 5; ++i) {
        rules::Member m;
        m.fingerprint = "m-" + std::to_string(i);
        m.state = i == 4 ? SignalState::firing : SignalState::resolved;
        m.changed_at = m.last_seen_at = k_t0 + std::chrono::seconds(i % 2);  // ties in time
        tx.save_member(alert, m);
      }
      for (int i = 0; i < 4; ++i) {
        DecisionRecord d;
        d.at = k_t0 + std::chrono::seconds(i);
        d.reason = "r";
        d.rules_hash = "h";
        tx.insert_decision(d);
      }
    });
    RetentionPolicy policy;
    policy.cutoff = k_t0 + std::chrono::hours(1);
    policy.batch_rows = 2;
    for (PruneTable table : {PruneTable::alert_members, PruneTable::decisions, PruneTable::inbound,
                             PruneTable::outbox, PruneTable::subscriptions}) {
      PruneCursor cursor;
      for (int guard = 0; guard < 10; ++guard) {
        PruneBatch batch;
        in_transaction(t.db(),
                       [&](Transaction& tx) { batch = tx.prune_batch(table, policy, cursor); });
        if (batch.done()) break;
        cursor = batch.next;
      }
    }
    CHECK(count(t.db(), "SELECT count(*) FROM alert_members") == 1);  // the firing one
    CHECK(count(t.db(), "SELECT count(*) FROM decisions") == 1);      // the newest stays
    CHECK(count(t.db(), "SELECT count(*) FROM inbound") == 1);        // the newest stays
    // The pending one and the newest stay.
    CHECK(count(t.db(), "SELECT count(*) FROM outbox") == 2);
    CHECK(count(t.db(), "SELECT count(*) FROM subscriptions") == 1);  // the pending one
  });
}

// docs/postgres.md "Instances and claims": what one instance claims, another leaves alone
// until the claim runs out or its instance stops beating.
TEST_CASE("transaction: a claimed row is left to its instance until the claim ends") {
  using std::chrono::seconds;
  for_each_backend([](TestDatabase& t) {
    std::int64_t id = 0;
    in_transaction(t.db(), [&](Transaction& tx) {
      const std::int64_t alert = tx.save_alert(new_alert("fp-1"));
      id = tx.insert_notification(notification(alert, "a-1", "slack", 3));
      tx.save_instance({"b", "host-b", ":8080", "0.1.0", "h", k_t0, k_t0});
      tx.count_attempt(id, "b", k_t0 + seconds(60));
    });
    in_transaction(t.db(), [&](Transaction& tx) {
      const TimePoint now = k_t0 + seconds(10);
      // b beat at k_t0: alive when the bound is at or before it.
      CHECK(tx.due_notifications(now, 10, {}, k_t0).empty());
      CHECK(tx.due_notifications(now, 10).empty());  // no bound: every registered one lives
      // b not seen since the bound: presumed dead, its row taken over.
      CHECK(tx.due_notifications(now, 10, {}, k_t0 + seconds(1)).size() == 1);
      // The claim ran out.
      CHECK(tx.due_notifications(k_t0 + seconds(60), 10, {}, k_t0).size() == 1);
      // An instance that is not registered at all is not alive.
      tx.delete_instance("b");
      CHECK(tx.due_notifications(now, 10).size() == 1);
    });
    in_transaction(t.db(), [&](Transaction& tx) {
      tx.save_instance({"b", "host-b", ":8080", "0.1.0", "h", k_t0, k_t0});
      tx.uncount_attempt(id, "b");  // the claim goes with the attempt taken back
      CHECK(tx.due_notifications(k_t0, 10, {}, k_t0).size() == 1);
      tx.count_attempt(id, "b", k_t0 + seconds(60));
      auto row = *tx.load_notification(id);
      row.attempts = 1;
      row.due_at = k_t0 + seconds(5);
      tx.record_attempt({id, k_t0, std::nullopt, "refused", 3, AttemptOutcome::retry}, row, "b");
      CHECK(tx.due_notifications(k_t0 + seconds(5), 10, {}, k_t0).size() == 1);
      CHECK(count(t.db(), "SELECT count(*) FROM outbox WHERE claimed_by IS NOT NULL") == 0);
    });
  });
}

// docs/postgres.md "Instances and claims": a claimer presumed dead and taken over that wakes
// up must not undo what the instance that took over settled (a trigger back to pending after
// its resolve went out would reopen the page downstream).
TEST_CASE("transaction: a claimer whose row was taken over and settled leaves it as settled") {
  using std::chrono::seconds;
  for_each_backend([](TestDatabase& t) {
    for (const bool uncount : {false, true}) {
      CAPTURE(uncount);
      std::int64_t id = 0;
      in_transaction(t.db(), [&](Transaction& tx) {
        const std::int64_t alert = tx.save_alert(new_alert(uncount ? "fp-u" : "fp-r"));
        id = tx.insert_notification(notification(alert, "a-1", "slack", 3));
        tx.count_attempt(id, "a", k_t0 + seconds(4));   // a claims it, then stalls
        tx.count_attempt(id, "b", k_t0 + seconds(30));  // b takes it over and sends it
        auto sent = *tx.load_notification(id);
        sent.status = OutboxStatus::sent;
        sent.sent_at = k_t0 + seconds(20);
        sent.last_status = 200;
        CHECK(tx.record_attempt({id, k_t0 + seconds(20), 200, "", 5, AttemptOutcome::sent}, sent,
                                "b"));
      });
      in_transaction(t.db(), [&](Transaction& tx) {
        // a wakes up with its 503 (a retry) or with an attempt it never made.
        if (uncount) {
          CHECK_FALSE(tx.uncount_attempt(id, "a"));
        } else {
          auto retry = *tx.load_notification(id);
          retry.status = OutboxStatus::pending;
          retry.sent_at.reset();
          retry.last_status = 503;
          retry.last_error = "HTTP 503";
          retry.due_at = k_t0 + seconds(40);
          CHECK_FALSE(tx.record_attempt(
              {id, k_t0 + seconds(25), 503, "HTTP 503", 5000, AttemptOutcome::retry}, retry, "a"));
        }
        const auto row = *tx.load_notification(id);
        CHECK(row.status == OutboxStatus::sent);
        CHECK(row.attempts == 2);
        CHECK(row.last_status == 200);
        CHECK(tx.due_notifications(k_t0 + seconds(60), 10).empty());
      });
      // The attempt a made is stored all the same: it happened.
      CHECK(count(t.db(), "SELECT count(*) FROM delivery_attempts WHERE outbox_id = " +
                              std::to_string(id)) == (uncount ? 1 : 2));
    }
  });
}

// A claimer still holding its claim is not mistaken for a stale one (a single SQLite instance
// always is).
TEST_CASE("transaction: the claim's holder records and takes back attempts as before") {
  for_each_backend([](TestDatabase& t) {
    in_transaction(t.db(), [&](Transaction& tx) {
      const std::int64_t alert = tx.save_alert(new_alert("fp-1"));
      const std::int64_t id = tx.insert_notification(notification(alert, "a-1", "slack", 3));
      tx.count_attempt(id, "a", k_t0 + std::chrono::seconds(4));
      tx.count_attempt(id, "b", k_t0 + std::chrono::seconds(4));
      CHECK(tx.uncount_attempt(id, "b"));
      CHECK(tx.load_notification(id)->attempts == 1);
      tx.count_attempt(id, "b", k_t0 + std::chrono::seconds(4));
      auto after = *tx.load_notification(id);
      after.status = OutboxStatus::failed;
      CHECK(tx.record_attempt({id, k_t0, 400, "HTTP 400", 5, AttemptOutcome::failed}, after, "b"));
      CHECK(tx.load_notification(id)->status == OutboxStatus::failed);
      CHECK(count(t.db(), "SELECT count(*) FROM outbox WHERE claimed_by IS NOT NULL") == 0);
    });
  });
}

// Two instances claiming at once on PostgreSQL: the rows and the timer one transaction holds
// are skipped by the other's, not waited for and not taken twice.
TEST_CASE("transaction: concurrent claims skip what another transaction holds (PostgreSQL)") {
  for_each_backend([](TestDatabase& t) {
    if (t.backend() != sql::Backend::postgres) return;  // SQLite has one writer at a time
    in_transaction(t.db(), [&](Transaction& tx) {
      const std::int64_t alert = tx.save_alert(new_alert("fp-1"));
      tx.insert_notification(notification(alert, "a-1", "slack", 1));
      tx.insert_notification(notification(alert, "a-2", "slack", 2));
      rules::Timer first;
      first.due = k_t0;
      first.kind = rules::TimerKind::escalation;
      first.episode = 1;
      tx.insert_timer(alert, first);
      rules::Timer second = first;
      second.due = k_t0 + std::chrono::seconds(1);
      tx.insert_timer(alert, second);
    });
    sql::Connection& other = t.another();
    t.db().begin();
    other.begin();
    Transaction a(t.db());
    Transaction b(other);
    // Both read the same candidates; a claims the first, b's claim of it is refused at once
    // (skipped, not waited for) and b takes the second.
    const auto a_rows = a.due_notifications(k_t0, 10);
    const auto b_rows = b.due_notifications(k_t0, 10);
    REQUIRE(a_rows.size() == 2);
    REQUIRE(b_rows.size() == 2);
    CHECK(a.count_attempt(a_rows[0].id, "a", k_t0 + std::chrono::minutes(1), k_t0));
    CHECK_FALSE(b.count_attempt(a_rows[0].id, "b", k_t0 + std::chrono::minutes(1), k_t0));
    CHECK(b.count_attempt(b_rows[1].id, "b", k_t0 + std::chrono::minutes(1), k_t0));

    const TimePoint later = k_t0 + std::chrono::seconds(5);
    const auto a_timer = a.next_due_timer_id(later);
    REQUIRE(a_timer);
    CHECK(a.next_due_timer(later)->id == *a_timer);  // its own lock does not skip it
    const auto b_timer = b.next_due_timer_id(later);
    REQUIRE(b_timer);
    CHECK(*b_timer != *a_timer);
    other.rollback();
    t.db().rollback();
  });
}

// A resolve on one instance while another instance's transaction claims the episode's trigger:
// waiting for that claim could close a cycle with a row this transaction holds (a deadlock,
// broken only after deadlock_timeout). The trigger is left alone and counts as told.
TEST_CASE(
    "transaction: a resolve waits for no trigger another transaction is claiming (PostgreSQL)") {
  for_each_backend([](TestDatabase& t) {
    if (t.backend() != sql::Backend::postgres) return;  // SQLite has one writer at a time
    std::int64_t alert = 0;
    in_transaction(t.db(), [&](Transaction& tx) {
      alert = tx.save_alert(new_alert("fp-1"));
      tx.insert_notification(notification(alert, "a-1", "slack", 1));
    });
    sql::Connection& other = t.another();
    other.begin();
    Transaction claimer(other);
    const auto due = claimer.due_notifications(k_t0, 10);
    REQUIRE(due.size() == 1);
    REQUIRE(claimer.count_attempt(due[0].id, "claimer", k_t0 + std::chrono::minutes(1), k_t0));
    // Claimed (locked) in a transaction not yet committed.

    t.db().exec("SET lock_timeout = '2s'");  // waiting fails the test instead of hanging it
    t.db().begin();
    Transaction resolver(t.db());
    OutboxRecord resolve = notification(alert, "a-1", "slack", 1);
    resolve.action = rules::NotifyAction::resolve;
    resolver.insert_notification(resolve);
    CHECK(count(t.db(), "SELECT count(*) FROM outbox WHERE status = 'pending'") == 2);
    t.db().rollback();
    other.rollback();
    t.db().exec("SET lock_timeout = 0");
  });
}

// A claim reads many candidates but locks only the rows it takes: a resolve running meanwhile
// on another instance still supersedes the triggers it did not take (were every row read
// locked, the resolve would skip them and they would be sent, then resolved).
TEST_CASE("transaction: a claim locks only the rows it takes (PostgreSQL)") {
  for_each_backend([](TestDatabase& t) {
    if (t.backend() != sql::Backend::postgres) return;  // SQLite has one writer at a time
    std::int64_t first = 0, second = 0;
    in_transaction(t.db(), [&](Transaction& tx) {
      first = tx.save_alert(new_alert("fp-1"));
      second = tx.save_alert(new_alert("fp-2"));
      tx.insert_notification(notification(first, "a-1", "slack", 1));
      tx.insert_notification(notification(second, "a-2", "slack", 2));
    });
    sql::Connection& other = t.another();
    other.begin();
    Transaction claimer(other);
    const auto due = claimer.due_notifications(k_t0, 10);
    REQUIRE(due.size() == 2);
    REQUIRE(claimer.count_attempt(due[0].id, "claimer", k_t0 + std::chrono::minutes(1), k_t0));

    t.db().exec("SET lock_timeout = '2s'");  // waiting fails the test instead of hanging it
    in_transaction(t.db(), [&](Transaction& resolver) {
      OutboxRecord resolve = notification(second, "a-2", "slack", 2);
      resolve.action = rules::NotifyAction::resolve;
      resolver.insert_notification(resolve);
    });
    CHECK(count(t.db(),
                "SELECT count(*) FROM outbox WHERE alias = 'a-2' AND action = 'trigger' "
                "AND status = 'superseded'") == 1);
    other.rollback();
    t.db().exec("SET lock_timeout = 0");
  });
}

// Items committed by another instance while one takes the channel's items are either taken
// (returned) or left for the next digest, never deleted unreturned (SELECT then DELETE under
// READ COMMITTED deleted those committed in between). Arming twice from two connections arms once.
TEST_CASE("transaction: taking digest items races inserts from another connection, none lost") {
  for_each_backend([](TestDatabase& t) {
    std::int64_t alert = 0;
    in_transaction(t.db(), [&](Transaction& tx) { alert = tx.save_alert(new_alert("fp-1")); });
    sql::Connection& other = t.another();
    in_transaction(t.db(), [&](Transaction& tx) { CHECK(tx.arm_digest("mail", k_t0)); });
    in_transaction(other, [&](Transaction& tx) { CHECK_FALSE(tx.arm_digest("mail", k_t0)); });
    if (t.backend() != sql::Backend::postgres) return;  // SQLite has one writer at a time
    constexpr int k_items = 400;
    std::atomic<bool> done{false};
    std::thread inserter([&] {
      for (int i = 0; i < k_items; ++i) {
        in_transaction(other, [&](Transaction& tx) {
          DigestItem item;
          item.notification = notification(alert, "a-" + std::to_string(i), "slack", 3);
          item.summary = "item " + std::to_string(i);
          tx.insert_digest_item(item);
        });
      }
      done = true;
    });
    std::size_t taken = 0;
    std::int64_t last_id = 0;
    bool ordered = true;
    while (true) {
      const bool last_round = done;
      in_transaction(t.db(), [&](Transaction& tx) {
        for (const DigestItem& item : tx.take_digest_items("slack")) {
          ordered = ordered && item.id > last_id;
          last_id = item.id;
          ++taken;
        }
      });
      if (last_round) break;
    }
    inserter.join();
    CHECK(ordered);
    CHECK(taken == k_items);
  });
}

// docs/behaviour.md "Delivery": reminders of one episode still queued for a channel collapse
// into the newest; one already being sent (counted attempt), another channel's, and other
// actions stay.
TEST_CASE("transaction: a reminder supersedes the queued reminders of its episode and channel") {
  for_each_backend([](TestDatabase& t) {
    in_transaction(t.db(), [&](Transaction& tx) {
      const std::int64_t alert = tx.save_alert(new_alert("fp-1"));
      auto row = [&](rules::NotifyAction action, const std::string& channel) {
        OutboxRecord n = notification(alert, "a-1", channel, 2);
        n.action = action;
        return tx.insert_notification(n);
      };
      const auto trigger = row(rules::NotifyAction::trigger, "slack");
      const auto first = row(rules::NotifyAction::reminder, "slack");
      const auto in_flight = row(rules::NotifyAction::reminder, "slack");
      REQUIRE(tx.count_attempt(in_flight, "me", k_t0 + std::chrono::minutes(1), k_t0));
      const auto elsewhere = row(rules::NotifyAction::reminder, "pager");
      const auto newest = row(rules::NotifyAction::reminder, "slack");
      auto status = [&](std::int64_t id) {
        return std::string(to_text(tx.load_notification(id)->status));
      };
      CHECK(status(trigger) == "pending");
      CHECK(status(first) == "superseded");
      CHECK(status(in_flight) == "pending");
      CHECK(status(elsewhere) == "pending");
      CHECK(status(newest) == "pending");
    });
  });
}

TEST_CASE("transaction: a channel's health is written whole and read back") {
  for_each_backend([](TestDatabase& t) {
    in_transaction(t.db(), [&](Transaction& tx) {
      CHECK(tx.channel_health().empty());
      ChannelHealth h;
      h.channel = "oncall";
      h.down_since = k_t0;
      h.failures = 5;
      h.last_error = "connection refused: http://127.0.0.1:9/x";
      h.changed_at = k_t0;
      h.probe_at = k_t0 + std::chrono::seconds(1);
      h.probes = 2;
      h.hold_until = k_t0 + std::chrono::seconds(30);
      tx.save_channel_health(h);
      CHECK(tx.channel_health().at("oncall") == h);
      h.down_since.reset();
      h.probe_at.reset();
      h.hold_until.reset();
      h.pace_at = k_t0 + std::chrono::seconds(2);
      tx.save_channel_health(h);
      const auto all = tx.channel_health();
      CHECK(all.size() == 1);
      CHECK(all.at("oncall") == h);
    });
  });
}

}  // namespace storage_transaction_test
