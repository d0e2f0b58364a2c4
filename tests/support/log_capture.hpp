#pragma once
// What spdlog's default logger writes while a LogCapture lives, for tests of what is logged
// (and what must never be: a password, a line per request).

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

namespace tocsin::testing {

// Everything logged while it lives.
class LogCapture {
 public:
  LogCapture() : m_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(m_out)) {
    spdlog::default_logger()->sinks().push_back(m_sink);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), m_sink), sinks.end());
  }
  std::string text() {
    m_sink->flush();
    return m_out.str();
  }

 private:
  std::ostringstream m_out;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> m_sink;
};

}  // namespace tocsin::testing
