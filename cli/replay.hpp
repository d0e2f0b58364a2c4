#pragma once
// `tocsin replay` (docs/behaviour.md "Replay"; lines: docs/formats.md §13): recorded events through
// the engine on a virtual clock. Input: one JSON object per line, in time order. Output: one JSON
// line per decision and per notification, deterministic (same input, same rules: byte-identical
// output).

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

#include "core/time.hpp"
#include "engine/engine.hpp"

namespace tocsin::server {
struct App;
}

namespace tocsin::cli {

struct ReplayOptions {
  std::string rules_path;
  std::string events_path;  // "-" reads standard input
  // Read the lines from here instead (events_path then only names them in messages): how
  // `tocsin test` (cli/rules_test.cpp) runs a test's inputs through the same replay.
  std::istream* events_stream = nullptr;
  std::string db_path;  // empty: a temporary database, removed afterwards
  // Where the virtual clock runs on to after the last line (timers fire on the way): a time, or
  // a duration after the last line (`--until +2h`). Lines after `until` are not replayed.
  std::optional<TimePoint> until;
  std::optional<Duration> until_after_last;
  bool verify = false;  // check SNS signatures (off by default: recorded messages may be old)
  // After the run, a what-if summary on the error stream: outcomes, pages and notifications
  // by channel, demotions, holds and drops (the output lines stay as they are).
  bool summary = false;
  // A terminal to show progress on while the lines run (cli/progress.hpp); null: none.
  std::ostream* progress = nullptr;
  // For a caller that reads the run itself rather than its output (`tocsin check
  // --against-db`, cli/check_against.cpp): `print_lines` false writes no output line;
  // `observe` gets every journal of the run, in order; `inspect` is called once after the
  // last line and timer ran, with the replay's database still open.
  bool print_lines = true;
  std::function<void(const engine::Journal&)> observe;
  std::function<void(server::App&)> inspect;
};

// Why `text` is not a valid input line (docs/formats.md §13.1), or nullopt when it is.
std::optional<std::string> replay_line_problem(const std::string& text);

// Returns the exit status: 0 done, 1 invalid rules or input (every problem on `err` as
// PATH:LINE: error: ...), 2 I/O error.
int run_replay(const ReplayOptions& options, std::ostream& out, std::ostream& err);

}  // namespace tocsin::cli
