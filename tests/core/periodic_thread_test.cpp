#include "core/periodic_thread.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>

namespace core_periodic_thread_test {

using namespace tocsin;

TEST_CASE("a periodic thread runs its task at once and stop() cuts a long wait short") {
  std::promise<void> ran;
  std::atomic<int> runs{0};
  PeriodicThread thread([&] {
    if (runs.fetch_add(1) == 0) ran.set_value();
    return Duration(std::chrono::hours(1));
  });
  REQUIRE(ran.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  // Without the wake-up this would wait an hour; the test's own timeout would fail it.
  auto stopped = std::async(std::launch::async, [&] { thread.stop(); });
  CHECK(stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(runs.load() == 1);
  thread.stop();  // idempotent
}

TEST_CASE("a periodic thread runs its task again after the wait the task asks for") {
  std::atomic<int> runs{0};
  std::promise<void> third;
  PeriodicThread thread([&] {
    if (runs.fetch_add(1) == 2) third.set_value();
    return Duration(0);
  });
  REQUIRE(third.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  thread.stop();
  CHECK(runs.load() >= 3);
}

}  // namespace core_periodic_thread_test
