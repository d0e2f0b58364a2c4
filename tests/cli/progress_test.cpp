// The progress line of `tocsin replay` and `tocsin export` (cli/progress.hpp): its text as a
// pure function of counts and time, the redraw throttle on an injected clock, and silence when
// there is no terminal.
#include "cli/progress.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <sstream>

namespace cli_progress_test {

using namespace tocsin;
using namespace tocsin::cli;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("progress: the status line from counts and elapsed time") {
  struct Case {
    const char* intent;
    std::uint64_t done;
    std::optional<std::uint64_t> total;
    Duration elapsed;
    const char* line;
  };
  const Case cases[] = {
      {"at the start nothing but the counts: a rate over no time says nothing", 0, 100'000,
       milliseconds(0), "replay: 0/100,000 events (0%)"},
      {"a known total gives the share, the rate and the time left", 12'345, 100'000, seconds(3),
       "replay: 12,345/100,000 events (12%)  4,115/s  22s left"},
      {"minutes left are written as minutes", 1'000, 100'000, seconds(10),
       "replay: 1,000/100,000 events (1%)  100/s  16m30s left"},
      {"all done: no time left shown", 500, 500, seconds(2),
       "replay: 500/500 events (100%)  250/s"},
      {"an empty input is complete", 0, 0, milliseconds(0), "replay: 0/0 events (100%)"},
      {"no total (export): the count and the rate only", 1'234'567, std::nullopt, seconds(2),
       "export: 1,234,567 lines  617,283/s"},
      {"below half a second the rate is left out", 10, std::nullopt, milliseconds(499),
       "export: 10 lines"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const char* what = c.total ? "replay" : "export";
    const char* unit = c.total ? "events" : "lines";
    CHECK(format_progress(what, unit, c.done, c.total, c.elapsed) == c.line);
  }
}

TEST_CASE("progress: digits grouped by three") {
  CHECK(group_digits(0) == "0");
  CHECK(group_digits(999) == "999");
  CHECK(group_digits(1000) == "1,000");
  CHECK(group_digits(1234567) == "1,234,567");
}

TEST_CASE("progress: redrawn at most every 250 ms with \\r, and cleared at the end") {
  ManualClock clock(TimePoint{seconds(1000)});
  std::ostringstream terminal;
  {
    Progress p(&terminal, clock, "replay", "events", 10);
    p.update(1);  // the first update draws
    CHECK(terminal.str() == "\rreplay: 1/10 events (10%)");
    p.update(2);  // too soon: nothing
    clock.advance(milliseconds(249));
    p.update(3);
    CHECK(terminal.str() == "\rreplay: 1/10 events (10%)");
    clock.advance(milliseconds(1));
    p.update(4);
    CHECK(terminal.str() == "\rreplay: 1/10 events (10%)\rreplay: 4/10 events (40%)");
    terminal.str("");
    p.finish();
    // Blanked over its width, the cursor back at the start of the line.
    CHECK(terminal.str() == "\r" + std::string(25, ' ') + "\r");
    terminal.str("");
  }
  CHECK(terminal.str().empty());  // finished once: the destructor adds nothing
}

TEST_CASE("progress: a shorter line blanks the tail of the longer one before it") {
  ManualClock clock(TimePoint{seconds(1000)});
  std::ostringstream terminal;
  Progress p(&terminal, clock, "export", "lines");
  clock.advance(seconds(1));
  p.update(100'000);  // "export: 100,000 lines  100,000/s"
  clock.advance(seconds(99));
  terminal.str("");
  p.update(100'001);  // "export: 100,001 lines  1,000/s": 2 columns shorter
  CHECK(terminal.str() == "\rexport: 100,001 lines  1,000/s  ");
}

TEST_CASE(
    "progress: a warning mid-run gets a line of its own, and the status comes back under it") {
  ManualClock clock(TimePoint{seconds(1000)});
  std::ostringstream terminal;
  Progress p(&terminal, clock, "replay", "events", 10);
  AboveProgress warnings(p, terminal);
  p.update(1);
  warnings << "events.jsonl:2: warning: not applied\n";
  p.update(2);  // at once, though the throttle's 250 ms have not passed
  CHECK(terminal.str() ==
        "\rreplay: 1/10 events (10%)\r" + std::string(25, ' ') +
            "\revents.jsonl:2: warning: not applied\n\rreplay: 2/10 events (20%)");
}

TEST_CASE("progress: without a terminal, warnings pass through unchanged") {
  ManualClock clock(TimePoint{seconds(1000)});
  std::ostringstream err;
  Progress p(nullptr, clock, "replay", "events", 10);
  AboveProgress warnings(p, err);
  p.update(1);
  warnings << "line " << 2 << ": warning\n";
  p.update(2);
  p.finish();
  CHECK(err.str() == "line 2: warning\n");
}

TEST_CASE("progress: without a terminal nothing is written, ever") {
  ManualClock clock(TimePoint{seconds(1000)});
  Progress p(nullptr, clock, "replay", "events", 3);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    clock.advance(seconds(1));
    p.update(i);  // would crash on a null stream if it drew
  }
  p.finish();
}

}  // namespace cli_progress_test
