#include "core/log_limit.hpp"

#include "core/duration.hpp"

namespace tocsin {

namespace {

// 1234567 -> "1,234,567": counts in a flood are large, and read at a glance.
std::string format_count(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Whole seconds: "1m", "1m5s"; the milliseconds are noise here.
std::string format_over(Duration over) {
  return format_duration(std::chrono::duration_cast<std::chrono::seconds>(over));
}

// The time counted over; none when the clock went back.
Duration since(TimePoint start, TimePoint now) {
  return now >= start ? now - start : Duration{0};
}

}  // namespace

std::string LogPermit::suffix() const {
  if (suppressed == 0) return {};
  return " (and " + format_count(suppressed) + " more like this in the last " + format_over(over) +
         ")";
}

std::string SuppressedLines::summary() const {
  const auto colon = key.find(": ");
  const std::string lead = colon == std::string::npos ? "" : key.substr(0, colon + 2);
  const std::string kind = colon == std::string::npos ? key : key.substr(colon + 2);
  return lead + format_count(count) + " more '" + kind + "' " + (count == 1 ? "line" : "lines") +
         " suppressed in the last " + format_over(over);
}

LogLimiter::LogLimiter(Duration window, std::size_t max_keys)
    : m_window(window), m_max_keys(max_keys) {}

bool LogLimiter::ended(const Window& w, TimePoint now) const {
  return now >= w.start + m_window || now < w.start;
}

LogPermit LogLimiter::admit(std::string_view key, TimePoint now) {
  MutexLock lock(m_mutex);
  auto it = m_windows.find(key);
  if (it == m_windows.end() && m_windows.size() >= m_max_keys) {
    key = k_other_key;  // may be the one kind past the cap
    it = m_windows.find(key);
  }
  if (it == m_windows.end()) {
    m_windows.emplace(std::string(key), Window{now, 0});
    return {true, 0, {}};
  }
  Window& w = it->second;
  if (!ended(w, now)) {
    ++w.suppressed;
    return {};
  }
  LogPermit permit{true, w.suppressed, since(w.start, now)};
  w = Window{now, 0};
  return permit;
}

std::vector<SuppressedLines> LogLimiter::flush(TimePoint now) {
  return take(now, false);
}

std::vector<SuppressedLines> LogLimiter::flush_all(TimePoint now) {
  return take(now, true);
}

std::vector<SuppressedLines> LogLimiter::take(TimePoint now, bool all) {
  MutexLock lock(m_mutex);
  std::vector<SuppressedLines> out;
  for (auto it = m_windows.begin(); it != m_windows.end();) {
    const Window& w = it->second;
    if (!all && !ended(w, now)) {
      ++it;
      continue;
    }
    if (w.suppressed > 0) out.push_back({it->first, w.suppressed, since(w.start, now)});
    it = m_windows.erase(it);
  }
  return out;
}

std::size_t LogLimiter::kinds() const {
  MutexLock lock(m_mutex);
  return m_windows.size();
}

}  // namespace tocsin
