// Silences on a real PostgreSQL with two instances (docs/behaviour.md "Silences"): a silence's
// end and a decision withholding a page on it, at the same moment in two instances, never leave
// that episode withheld for good. Either the end waits for the decision and settles its hit, or
// the decision waits for the end and finds the silence gone.

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "storage/postgres/connection.hpp"
#include "storage/transaction.hpp"
#include "storage/writer.hpp"
#include "support/postgres.hpp"

using namespace tocsin;
using namespace tocsin::storage;
using namespace std::chrono_literals;
using tocsin::testing::ScratchSchema;
using tocsin::testing::test_postgres_uri;

namespace {

const TimePoint k_now(std::chrono::seconds(1'700'000'000));

// Waits (at most 10 s) until some session of the database waits for a row lock.
bool someone_waits_for_a_lock(ScratchSchema& schema) {
  auto watch = schema.connect();
  for (int i = 0; i < 1000; ++i) {
    if (watch
            .exec("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                  "datname = current_database()")
            .int64(0, 0) > 0)
      return true;
    std::this_thread::sleep_for(10ms);  // polling the server's state, not the clock under test
  }
  return false;
}

struct Setup {
  std::int64_t alert_id = 0;
  std::int64_t silence_id = 0;
};

Setup seed(Writer& writer) {
  Setup s;
  REQUIRE_FALSE(writer
                    .submit([&](Transaction& tx) {
                      AlertRecord a;
                      a.fingerprint = "generic:forms-api";
                      a.name = "forms-api";
                      a.first_seen = a.last_seen = k_now;
                      s.alert_id = tx.save_alert(a);
                      rules::Silence silence;
                      silence.spelled = Json{{"name", "forms-*"}};
                      silence.created_at = silence.starts_at = k_now - 1h;
                      silence.ends_at = k_now + 1h;
                      silence.created_by = "alice";
                      silence.comment = "upgrade";
                      s.silence_id = tx.insert_silence(silence);
                    })
                    .get()
                    .has_value());
  return s;
}

}  // namespace

TEST_CASE("postgres silences: an end waits for the decision holding the silence, and settles it") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer a(schema.location(), Durability::full);
  Writer b(schema.location(), Durability::full);
  const Setup s = seed(a);

  std::promise<void> holds;
  bool held = false;
  auto decision = a.submit([&](Transaction& tx) {
    held = tx.hold_silence(s.silence_id, k_now);
    holds.set_value();
    // Commits only once the other instance's end is waiting for it.
    CHECK(someone_waits_for_a_lock(schema));
    tx.record_silence_hit(s.silence_id, s.alert_id, 1, k_now);
  });
  holds.get_future().wait();
  std::size_t seen = 0;
  bool settled = false;
  auto end = b.submit([&](Transaction& tx) {
    settled = tx.settle_silence(s.silence_id, k_now);
    seen = tx.unsettled_silence_hits(s.silence_id).size();
  });
  CHECK_FALSE(decision.get().has_value());
  CHECK_FALSE(end.get().has_value());
  CHECK(held);
  CHECK(settled);
  CHECK(seen == 1);  // without the shared hold, the end read before the hit committed: 0
}

TEST_CASE("postgres silences: a decision waits for an end in progress, and finds it gone") {
  const auto uri = test_postgres_uri();
  if (!uri) return;
  ScratchSchema schema(*uri);
  Writer a(schema.location(), Durability::full);
  Writer b(schema.location(), Durability::full);
  const Setup s = seed(a);

  std::promise<void> settling;
  auto end = b.submit([&](Transaction& tx) {
    CHECK(tx.settle_silence(s.silence_id, k_now));
    settling.set_value();
    CHECK(someone_waits_for_a_lock(schema));
  });
  settling.get_future().wait();
  bool held = true;
  std::size_t active = 99;
  auto decision = a.submit([&](Transaction& tx) {
    held = tx.hold_silence(s.silence_id, k_now);
    active = tx.active_silences(k_now).size();
  });
  CHECK_FALSE(end.get().has_value());
  CHECK_FALSE(decision.get().has_value());
  CHECK_FALSE(held);  // it pages instead: the silence's end already settled what it withheld
  CHECK(active == 0);
  // And a second end of the same silence changes nothing.
  bool again = true;
  REQUIRE_FALSE(b.submit([&](Transaction& tx) { again = tx.settle_silence(s.silence_id, k_now); })
                    .get()
                    .has_value());
  CHECK_FALSE(again);
}
