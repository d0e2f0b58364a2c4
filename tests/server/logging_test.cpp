// The real logging setup: whatever a message carries, one call logs one line.
#include "server/logging.hpp"

#include <doctest/doctest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <vector>

#include "core/json.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

namespace server_logging_test {

using namespace tocsin;
using namespace tocsin::server;
using namespace tocsin::testing;

namespace {

// The lines that setup_logging(format) writes to stderr for `log()`; the previous default
// logger is restored afterwards.
template <typename Log>
std::vector<std::string> logged_lines(LogFormat format, Log log) {
  TempDir dir;
  const std::string path = dir.file("stderr.txt");
  auto previous = spdlog::default_logger();
  std::fflush(stderr);
  const int saved = dup(2);
  REQUIRE(saved >= 0);
  FILE* file = std::fopen(path.c_str(), "w");
  REQUIRE(file != nullptr);
  dup2(fileno(file), 2);
  setup_logging(format, "info");
  log();
  spdlog::default_logger()->flush();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(file);
  spdlog::set_default_logger(previous);
  std::vector<std::string> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("logging: control characters in a message cannot forge or hide a line") {
  struct Case {
    const char* intent;
    std::string value;
    std::string text_shows;  // in the text format
  };
  const std::vector<Case> cases = {
      {"a newline followed by a genuine-looking line", "disk\n2026-11-29T10:00:00.000Z info forged",
       R"(disk\n2026-11-29T10:00:00.000Z info forged)"},
      {"a carriage return that would overwrite the line on a terminal", "a\rb", R"(a\rb)"},
      {"a tab", "a\tb", R"(a\tb)"},
      {"other C0 controls and DEL (a terminal escape sequence)", "a\x1b[2J\x01\x7f",
       R"(a\x1b[2J\x01\x7f)"},
      {"C1 controls, and U+2028 which some viewers break lines at", "a\xc2\x85\xc2\x9b\xe2\x80\xa8",
       R"(a\u0085\u009b\u2028)"},
      {"invalid UTF-8", "a\xff\xc3", R"(a\xff\xc3)"},
      {"printable UTF-8 is kept", "caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const auto text =
        logged_lines(LogFormat::text, [&] { spdlog::info("alert {} fired", c.value); });
    REQUIRE(text.size() == 1);
    CHECK(text[0].find("alert " + c.text_shows + " fired") != std::string::npos);

    const auto json =
        logged_lines(LogFormat::json, [&] { spdlog::info("alert {} fired", c.value); });
    REQUIRE(json.size() == 1);
    // The JSON line is plain ASCII where the message is not printable, and means the same.
    CHECK(json[0].find_first_of("\r\x1b\x7f") == std::string::npos);
    CHECK(json[0].find("\xc2\x85") == std::string::npos);
    const Json parsed = Json::parse(json[0]);
    if (c.value.find('\xff') == std::string::npos)
      CHECK(parsed["msg"] == "alert " + c.value + " fired");
  }
}

TEST_CASE("logging: log_suppressed writes one warning per kind whose minute ended, or all") {
  const TimePoint t0 = from_unix_ms(1'700'000'000'000);
  struct Case {
    const char* intent;
    Duration at;
    bool all;
    std::vector<std::string> lines;
  };
  const Case cases[] = {
      {"nothing while the minute lasts", std::chrono::seconds(30), false, {}},
      {"the count once it is over",
       std::chrono::seconds(61),
       false,
       {"/hooks/generic: 2 more 'refused' lines suppressed in the last 1m1s"}},
      {"every count as the server stops",
       std::chrono::seconds(30),
       true,
       {"/hooks/generic: 2 more 'refused' lines suppressed in the last 30s"}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      LogLimiter limiter;
      for (int i = 0; i < 3; ++i)
        (void)limiter.admit("/hooks/generic: refused", t0);
      const auto lines =
          logged_lines(LogFormat::text, [&] { log_suppressed(limiter, t0 + c.at, c.all); });
      REQUIRE(lines.size() == c.lines.size());
      for (std::size_t i = 0; i < lines.size(); ++i) {
        CHECK(lines[i].find("warning") != std::string::npos);
        CHECK(lines[i].find(c.lines[i]) != std::string::npos);
      }
    }
  }
}

}  // namespace server_logging_test
