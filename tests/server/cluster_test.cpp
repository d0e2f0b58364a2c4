// The registry of instances (server/cluster.hpp): two instances on one database see each other,
// a warning names them when their rules differ, and an instance that stops beating is presumed
// dead, then forgotten.

#include "server/cluster.hpp"

#include <doctest/doctest.h>

#include <future>
#include <thread>

#include "server/app.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"
#include "support/test_database.hpp"

namespace server_cluster_test {

using namespace tocsin;
using namespace tocsin::server;
using namespace tocsin::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint k_t0 = *parse_timestamp("2026-12-22T04:00:00Z");

engine::ActiveRules active(const std::string& yaml, const Clock& clock) {
  return *activate(rules_or_fail(yaml), clock);
}

constexpr const char* k_rules_a = "version: 1\n";
constexpr const char* k_rules_b = "version: 1\n# edited\n";

struct Rig {
  TempDir dir;
  ManualClock clock{k_t0};
  TestDatabaseLocation db{dir, "t.db"};
  storage::Writer writer{db, storage::Durability::normal, {}, clock};
  engine::RulesHolder rules_a{active(k_rules_a, clock)};
  engine::RulesHolder rules_b{active(k_rules_b, clock)};
  Cluster a{writer, clock, rules_a, "host-a:8080:00000001", "host-a", "0.0.0.0:8080"};
  Cluster b{writer, clock, rules_b, "host-b:8080:00000002", "host-b", "0.0.0.0:8080"};
};

const ClusterInstance* find(const ClusterView& view, const std::string& id) {
  for (const auto& i : view.instances)
    if (i.record.id == id) return &i;
  return nullptr;
}

}  // namespace

TEST_CASE("cluster: instances on one database list each other, differing rules are warned") {
  Rig rig;
  REQUIRE(rig.a.beat());
  auto view = rig.b.beat();
  REQUIRE(view);
  REQUIRE(view->instances.size() == 2);
  CHECK(view->self == "host-b:8080:00000002");
  const auto* a = find(*view, "host-a:8080:00000001");
  REQUIRE(a);
  CHECK(a->live);
  CHECK_FALSE(a->self);
  CHECK(a->record.host == "host-a");
  CHECK(a->record.rules_hash == rig.rules_a.get()->rules->hash);
  CHECK(find(*view, "host-b:8080:00000002")->self);
  REQUIRE(view->warnings.size() == 1);
  CHECK(view->warnings[0].find("different rules") != std::string::npos);
  CHECK(view->warnings[0].find(rig.rules_a.get()->rules->hash.substr(0, 12)) != std::string::npos);
  CHECK(view->warnings[0].find(rig.rules_b.get()->rules->hash.substr(0, 12)) != std::string::npos);
}

TEST_CASE("cluster: an instance that stops beating is presumed dead, then forgotten") {
  Rig rig;
  REQUIRE(rig.a.beat());
  rig.clock.advance(Cluster::k_live_within);
  auto view = rig.b.beat();
  REQUIRE(view);
  CHECK(find(*view, "host-a:8080:00000001")->live);  // exactly at the bound: still live

  rig.clock.advance(1ms);
  view = rig.b.view();
  REQUIRE(view);
  CHECK_FALSE(find(*view, "host-a:8080:00000001")->live);
  CHECK(view->warnings.empty());  // a dead instance's rules do not count

  rig.clock.advance(Cluster::k_forget_after);
  view = rig.b.beat();
  REQUIRE(view);
  CHECK(find(*view, "host-a:8080:00000001") == nullptr);
}

TEST_CASE("cluster: an instance that stops cleanly leaves the registry") {
  Rig rig;
  REQUIRE(rig.a.beat());
  REQUIRE(rig.b.beat());
  rig.a.leave();
  const auto view = rig.b.view();
  REQUIRE(view);
  CHECK(view->instances.size() == 1);
  CHECK(find(*view, "host-a:8080:00000001") == nullptr);
}

TEST_CASE("cluster: instance ids are unique per start") {
  CHECK(new_instance_id("h", 8080) != new_instance_id("h", 8080));
  CHECK(new_instance_id("h", 8080).rfind("h:8080:", 0) == 0);
}

// A beat that waited in a slow writer queue records the time its job ran, not the time it was
// queued: otherwise the others see an old last_seen and presume a live instance dead.
TEST_CASE("cluster: a beat is stamped when the writer runs it") {
  Rig rig;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto gate = rig.writer.submit([released](storage::Transaction&) { released.wait(); });
  auto beat = std::async(std::launch::async, [&] { return rig.a.beat(); });
  // Time for the beat to reach the queue behind the gate; a shorter wait only lets the old
  // behaviour pass, never fails the new one.
  std::this_thread::sleep_for(200ms);
  rig.clock.advance(10s);
  release.set_value();
  CHECK_FALSE(gate.get().has_value());
  const auto view = beat.get();
  REQUIRE(view);
  const auto* a = find(*view, "host-a:8080:00000001");
  REQUIRE(a);
  CHECK(a->record.last_seen == k_t0 + 10s);
}

}  // namespace server_cluster_test
