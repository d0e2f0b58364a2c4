#include "cli/progress.hpp"

#include <unistd.h>

#include <iostream>
#include <ostream>

#include "cli/report.hpp"
#include "core/text.hpp"

namespace tocsin::cli {

namespace {

// Below this the rate is noise, and the time left with it.
constexpr Duration k_rate_after{500};

}  // namespace

std::string group_digits(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_progress(std::string_view what, std::string_view unit, std::uint64_t done,
                            std::optional<std::uint64_t> total, Duration elapsed) {
  std::string line = std::string(what) + ": " + group_digits(done);
  if (total) {
    line += "/" + group_digits(*total) + " " + std::string(unit);
    const std::uint64_t percent =
        *total == 0 ? 100 : std::min<std::uint64_t>(done, *total) * 100 / *total;
    line += " (" + std::to_string(percent) + "%)";
  } else {
    line += " " + std::string(unit);
  }
  if (elapsed < k_rate_after) return line;
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double rate = static_cast<double>(done) / seconds;
  line += "  " + group_digits(static_cast<std::uint64_t>(rate)) + "/s";
  if (total && rate > 0 && done < *total) {
    const double left = static_cast<double>(*total - done) / rate;
    line += "  " +
            format_age(
                std::chrono::duration_cast<Duration>(std::chrono::duration<double>(left + 0.999))) +
            " left";
  }
  return line;
}

Progress::Progress(std::ostream* terminal, const Clock& clock, std::string what, std::string unit,
                   std::optional<std::uint64_t> total)
    : m_terminal(terminal),
      m_clock(clock),
      m_what(std::move(what)),
      m_unit(std::move(unit)),
      m_total(total),
      m_started(clock.now()) {}

Progress::~Progress() {
  finish();
}

void Progress::update(std::uint64_t done) {
  if (!m_terminal) return;
  const TimePoint now = m_clock.now();
  if (m_drawn_at && now - *m_drawn_at < k_redraw_every) return;
  m_drawn_at = now;
  draw(format_progress(m_what, m_unit, done, m_total, now - m_started));
}

void Progress::finish() {
  if (!m_terminal || m_drawn_width == 0) return;
  *m_terminal << '\r' << std::string(m_drawn_width, ' ') << '\r' << std::flush;
  m_drawn_width = 0;
}

void Progress::make_room() {
  finish();
  m_drawn_at.reset();
}

AboveProgress::AboveProgress(Progress& progress, std::ostream& target)
    : std::ostream(nullptr), m_buffer(progress, target.rdbuf()) {
  rdbuf(&m_buffer);
}

AboveProgress::Buffer::int_type AboveProgress::Buffer::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  m_progress.make_room();
  return m_target->sputc(traits_type::to_char_type(c));
}

std::streamsize AboveProgress::Buffer::xsputn(const char* s, std::streamsize n) {
  m_progress.make_room();
  return m_target->sputn(s, n);
}

int AboveProgress::Buffer::sync() {
  return m_target->pubsync();
}

void Progress::draw(const std::string& line) {
  const std::size_t width = utf8_length(line);
  // A shorter line than the last leaves the old tail on screen unless blanked.
  const std::size_t pad = m_drawn_width > width ? m_drawn_width - width : 0;
  *m_terminal << '\r' << line << std::string(pad, ' ') << std::flush;
  m_drawn_width = width + pad;
}

std::ostream* terminal_stderr() {
  return ::isatty(STDERR_FILENO) && !::isatty(STDOUT_FILENO) ? &std::cerr : nullptr;
}

}  // namespace tocsin::cli
