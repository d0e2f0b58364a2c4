#pragma once
// Repeated log lines, summarised (docs/behaviour.md "Logs"): a flood of the same warning that an
// outsider can set off (cut connections, refused requests and hooks) writes the first line of
// its kind in each window and counts the rest, so a broken client or an attacker cannot bury the
// log, and the count is still told. Pure: the caller passes the time and writes the lines.
//
// For one kind, while lines keep coming: the first is written; the others within the window
// (a minute) are counted, not written; the first after the window is written with the count
// (" (and 1,234 more like this in the last 1m)"). When the lines stop, flush() reports the
// count of a window that ended (one summary line), so a count is never lost. So at most two
// lines of a kind are written per window: a summary, and the next line in full.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_annotations.hpp"
#include "core/time.hpp"

namespace tocsin {

// Whether to write one line, and what it adds.
struct LogPermit {
  bool write = false;
  // Lines of the kind not written since the last one written, and the time since that one.
  std::uint64_t suppressed = 0;
  Duration over{};

  explicit operator bool() const { return write; }
  // " (and 1,234 more like this in the last 1m)" after suppressed lines, else "".
  std::string suffix() const;
};

// Lines of one kind counted and not written, reported by flush().
struct SuppressedLines {
  std::string key;
  std::uint64_t count = 0;
  Duration over{};  // the time they were counted over

  // "http: 1,234 more 'cut connection' lines suppressed in the last 1m" for the key
  // "http: cut connection" (the part before ": " leads, as in the lines themselves).
  std::string summary() const;
};

// Thread-safe: one limiter serves every thread of a process.
class LogLimiter {
 public:
  static constexpr Duration k_window = std::chrono::minutes(1);
  // Kinds are a fixed vocabulary written in the code; past this many (a key built from input
  // by mistake), new kinds share k_other_key, so memory stays bounded.
  static constexpr std::size_t k_max_keys = 256;
  static constexpr std::string_view k_other_key = "log: other";

  explicit LogLimiter(Duration window = k_window, std::size_t max_keys = k_max_keys);

  // `key` names the kind of line ("http: cut connection"), never its details: 10,000 peers
  // cut give one line a window, not one each. A clock that went back ends the window.
  LogPermit admit(std::string_view key, TimePoint now) EXCLUDES(m_mutex);

  // The kinds whose window ended with lines counted and not yet told, one each; every kind
  // whose window ended starts afresh (its next line is written in full). Call it every few
  // seconds, so a count is told soon after the lines stop.
  std::vector<SuppressedLines> flush(TimePoint now) EXCLUDES(m_mutex);
  // Every kind with lines counted, its window ended or not, and forgets them all: when the
  // process stops.
  std::vector<SuppressedLines> flush_all(TimePoint now) EXCLUDES(m_mutex);

  std::size_t kinds() const EXCLUDES(m_mutex);

 private:
  struct Window {
    TimePoint start;  // when its first line was written
    std::uint64_t suppressed = 0;
  };
  bool ended(const Window& w, TimePoint now) const;
  std::vector<SuppressedLines> take(TimePoint now, bool all) EXCLUDES(m_mutex);

  const Duration m_window;
  const std::size_t m_max_keys;
  mutable Mutex m_mutex;
  std::map<std::string, Window, std::less<>> m_windows GUARDED_BY(m_mutex);
};

}  // namespace tocsin
