// The test runner. Unit tests are quiet: the default spdlog logger drops everything, so a
// failing case's report is not buried under the engine's and the worker's own lines. A test
// that asserts on log output installs its own logger and restores this one afterwards
// (tests/server/logging_test.cpp). The end-to-end tests read the server's log file, written
// by another process, and are unaffected.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <memory>

int main(int argc, char** argv) {
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("tests", std::make_shared<spdlog::sinks::null_sink_mt>()));
  doctest::Context context(argc, argv);
  return context.run();
}
