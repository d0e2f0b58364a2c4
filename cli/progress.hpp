#pragma once
// Progress of long work on a terminal (README "Export"): `tocsin replay` and
// `tocsin export` redraw one status line on stderr, at most a few times a second, with `\r`,
// and clear it at the end. When stderr is not a terminal (a pipe, a file, a test) nothing is
// written at all, so scripts and logs see exactly what they saw before; nor when stdout is the
// terminal too (terminal_stderr).

#include <cstdint>
#include <optional>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace tocsin::cli {

// The status line, a pure function of the counts and the time taken:
//   "replay: 12,345/100,000 events (12%)  4,115/s  20s left"   (total known)
//   "export: 12,345 lines  4,115/s"                             (total unknown)
// The rate and the time left are left out until a little time has passed (a rate over a few
// milliseconds says nothing).
std::string format_progress(std::string_view what, std::string_view unit, std::uint64_t done,
                            std::optional<std::uint64_t> total, Duration elapsed);

// `n` with a comma every three digits: 1234567 -> "1,234,567".
std::string group_digits(std::uint64_t n);

// One status line, redrawn on `terminal` as work is done. A null terminal makes every call do
// nothing. Time comes from `clock` (elapsed time for the rate, and the redraw throttle).
class Progress {
 public:
  Progress(std::ostream* terminal, const Clock& clock, std::string what, std::string unit,
           std::optional<std::uint64_t> total = std::nullopt);
  ~Progress();  // clears the line if finish() was not called
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` units so far; redraws when k_redraw_every has passed since the last redraw.
  void update(std::uint64_t done);
  // Erases the line, so what follows on stderr starts on a clean line. Idempotent.
  void finish();
  // Erases the line for a message (a warning) written mid-run; the next update draws it again,
  // under the message, whatever the throttle says.
  void make_room();

  static constexpr Duration k_redraw_every{250};

 private:
  void draw(const std::string& line);

  std::ostream* m_terminal;
  const Clock& m_clock;
  std::string m_what, m_unit;
  std::optional<std::uint64_t> m_total;
  TimePoint m_started;
  std::optional<TimePoint> m_drawn_at;
  std::size_t m_drawn_width = 0;  // columns of the line on screen, to blank it out
};

// A stream of the messages written while a Progress line may be shown (a replay's warnings):
// each write to it first erases the line, so the message starts at the beginning of a line of
// its own instead of after the status text. Passes everything on to `target`.
class AboveProgress : public std::ostream {
 public:
  AboveProgress(Progress& progress, std::ostream& target);

 private:
  class Buffer : public std::streambuf {
   public:
    Buffer(Progress& progress, std::streambuf* target) : m_progress(progress), m_target(target) {}

   protected:
    int_type overflow(int_type c) override;
    std::streamsize xsputn(const char* s, std::streamsize n) override;
    int sync() override;

   private:
    Progress& m_progress;
    std::streambuf* m_target;
  };
  Buffer m_buffer;
};

// Where Progress draws: std::cerr when standard error is a terminal and standard output is
// not (`tocsin replay ... > out.jsonl`); else null. With the output on the same terminal its
// lines already show the work going on, and a status line would be torn by them.
std::ostream* terminal_stderr();

}  // namespace tocsin::cli
