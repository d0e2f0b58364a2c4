// SNS subscriptions confirmed or rejected by a person, on the injected clock with real storage
// (docs/behaviour.md "SNS subscriptions"): the claim that keeps two confirms from both visiting,
// a claim left by a crash taken over after a minute, and what a failed visit leaves behind.
#include <doctest/doctest.h>

#include "engine/engine.hpp"
#include "server/app.hpp"
#include "storage/reader.hpp"
#include "storage/vocabulary.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

namespace engine_engine_subscriptions_test {

using namespace tocsin;
using namespace tocsin::engine;
using namespace tocsin::server;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-12-22T04:00:00Z");

struct Node {
  ManualClock& clock;
  RulesHolder rules;
  storage::Writer writer;
  Engine engine;
  storage::Reader reader;

  Node(const std::string& db, ManualClock& c)
      : clock(c),
        rules(
            *activate(rules_or_fail("version: 1\nrules:\n  - {name: everything, match: {}}\n"), c)),
        writer(db, storage::Durability::normal),
        engine(writer, clock, rules),
        reader(db) {}

  std::int64_t store(const std::string& message_id,
                     storage::SubscriptionKind kind = storage::SubscriptionKind::subscribe) {
    storage::SubscriptionRecord s;
    s.topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts-critical";
    s.kind = kind;
    s.url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t";
    s.message_id = message_id;
    s.received_at = s.updated_at = clock.now();
    s.status = kind == storage::SubscriptionKind::subscribe ? storage::SubscriptionStatus::pending
                                                            : storage::SubscriptionStatus::noted;
    REQUIRE_FALSE(engine.write([&](storage::Transaction& tx) { tx.save_subscription(s); }));
    for (const auto& stored : reader.list_subscriptions()) {
      if (stored.message_id == message_id) return stored.id;
    }
    FAIL("not stored");
    return 0;
  }

  storage::SubscriptionRecord get(std::int64_t id) {
    for (auto& s : reader.list_subscriptions()) {
      if (s.id == id) return s;
    }
    FAIL("no subscription " << id);
    return {};
  }
};

SubscriptionVisit visit_by(const std::string& by, std::optional<std::string> failure = {}) {
  SubscriptionVisit v;
  v.by = by;
  v.failure = std::move(failure);
  if (!v.failure) v.subscription_arn = "arn:aws:sns:us-east-1:123456789012:alerts-critical:abc";
  return v;
}

std::vector<std::string> outcomes(const Journal& journal) {
  std::vector<std::string> out;
  for (const auto& entry : journal) {
    if (const auto* d = std::get_if<storage::DecisionRecord>(&entry))
      out.push_back(std::string(storage::to_text(d->outcome)) + ": " + d->reason);
  }
  return out;
}

}  // namespace

TEST_CASE(
    "engine: subscriptions: a claim keeps a second confirm out until it is settled or a minute "
    "old") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  const auto id = node.store("m-1");

  auto first = node.engine.claim_subscription(SubscriptionRef{id, ""}, "alice");
  REQUIRE(first);
  CHECK(first->before.status == storage::SubscriptionStatus::pending);
  CHECK(node.get(id).status == storage::SubscriptionStatus::confirming);
  CHECK(node.get(id).detail == "being confirmed by alice");

  clock.set(k_t0 + 59s);
  auto second = node.engine.claim_subscription(SubscriptionRef{id, ""}, "bob");
  REQUIRE_FALSE(second);
  CHECK(second.error().status == 409);
  CHECK(node.engine.reject_subscription(id, "bob", "").error().status == 409);

  // The first visit's process is gone: a minute after its claim, the subscription is pending
  // again for anyone.
  clock.set(k_t0 + 60s);
  auto taken = node.engine.claim_subscription(SubscriptionRef{id, ""}, "bob");
  REQUIRE(taken);
  CHECK(taken->before.status == storage::SubscriptionStatus::confirming);

  // The first visit, settling late, finds its claim taken over: it records nothing.
  auto late = node.engine.settle_subscription(*first, visit_by("alice"));
  REQUIRE_FALSE(late);
  CHECK(late.error().status == 409);
  CHECK(node.get(id).status == storage::SubscriptionStatus::confirming);

  // Bob's visit fails: pending again, the failure named, confirmable.
  clock.set(k_t0 + 61s);
  auto failed = node.engine.settle_subscription(*taken, visit_by("bob", "SNS answered HTTP 500"));
  REQUIRE(failed);
  CHECK(failed->status == storage::SubscriptionStatus::pending);
  CHECK(failed->detail ==
        "confirmation by bob at 2026-12-22T04:01:01.000Z failed: SNS answered HTTP 500");
  CHECK(failed->decided_by.empty());

  auto retry = node.engine.claim_subscription(SubscriptionRef{id, ""}, "alice");
  REQUIRE(retry);
  Journal journal;
  auto confirmed = node.engine.settle_subscription(*retry, visit_by("alice"), &journal);
  REQUIRE(confirmed);
  const auto stored = node.get(id);
  CHECK(stored.status == storage::SubscriptionStatus::confirmed);
  CHECK(stored.decided_by == "alice");
  CHECK(stored.subscription_arn == "arn:aws:sns:us-east-1:123456789012:alerts-critical:abc");
  CHECK(stored.updated_at == k_t0 + 61s);
  CHECK(outcomes(journal) ==
        std::vector<std::string>{"subscription_confirmed: subscription " + std::to_string(id) +
                                 " to arn:aws:sns:us-east-1:123456789012:alerts-critical "
                                 "confirmed by alice (SubscriptionArn "
                                 "arn:aws:sns:us-east-1:123456789012:alerts-critical:abc)"});

  auto again = node.engine.claim_subscription(SubscriptionRef{id, ""}, "bob");
  REQUIRE_FALSE(again);
  CHECK(again.error().status == 409);
  CHECK(again.error().detail.find("already confirmed by alice") != std::string::npos);
}

TEST_CASE("engine: subscriptions: rejecting, and what cannot be confirmed or rejected") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  const auto id = node.store("m-1");
  const auto unsubscribed = node.store("m-2", storage::SubscriptionKind::unsubscribe);

  Journal journal;
  auto rejected = node.engine.reject_subscription(id, "bob", "not ours", &journal);
  REQUIRE(rejected);
  CHECK(rejected->status == storage::SubscriptionStatus::rejected);
  CHECK(node.get(id).decided_by == "bob");
  CHECK(node.get(id).detail == "not ours");
  CHECK(outcomes(journal) ==
        std::vector<std::string>{"subscription_rejected: subscription " + std::to_string(id) +
                                 " to arn:aws:sns:us-east-1:123456789012:alerts-critical "
                                 "rejected by bob: not ours"});

  struct Case {
    const char* intent;
    std::int64_t id;
    int status;
  };
  for (const Case& c : {Case{"rejected already", id, 409}, Case{"unknown", 999, 404},
                        Case{"an unsubscribe confirmation", unsubscribed, 409}}) {
    CAPTURE(c.intent);
    auto claim = node.engine.claim_subscription(SubscriptionRef{c.id, ""}, "alice");
    REQUIRE_FALSE(claim);
    CHECK(claim.error().status == c.status);
    auto reject = node.engine.reject_subscription(c.id, "alice", "");
    REQUIRE_FALSE(reject);
    CHECK(reject.error().status == c.status);
  }
  CHECK(node.get(unsubscribed).status == storage::SubscriptionStatus::noted);
}

TEST_CASE(
    "engine: subscriptions: auto_confirm's failed visit leaves it failed, still confirmable") {
  TempDir dir;
  const TestDatabaseLocation db(dir);
  ManualClock clock(k_t0);
  Node node(db, clock);
  const auto id = node.store("m-auto");

  auto claim = node.engine.claim_subscription(SubscriptionRef{std::nullopt, "m-auto"},
                                              std::string(k_auto_confirm));
  REQUIRE(claim);
  CHECK(claim->before.id == id);
  auto settled =
      node.engine.settle_subscription(*claim, visit_by(std::string(k_auto_confirm), "timed out"));
  REQUIRE(settled);
  CHECK(settled->status == storage::SubscriptionStatus::failed);

  // A person's failed retry leaves it as it found it; a person's success confirms it.
  auto retry = node.engine.claim_subscription(SubscriptionRef{id, ""}, "alice");
  REQUIRE(retry);
  CHECK(
      node.engine.settle_subscription(*retry, visit_by("alice", "TLS: handshake failed"))->status ==
      storage::SubscriptionStatus::failed);
  auto last = node.engine.claim_subscription(SubscriptionRef{id, ""}, "alice");
  REQUIRE(last);
  CHECK(node.engine.settle_subscription(*last, visit_by("alice"))->status ==
        storage::SubscriptionStatus::confirmed);
  CHECK_FALSE(node.engine.claim_subscription(SubscriptionRef{std::nullopt, "m-unknown"}, "x"));
}

}  // namespace engine_engine_subscriptions_test
