#include "server/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/json.hpp"
#include "core/redact.hpp"
#include "core/time.hpp"

namespace tocsin::server {

namespace {

// One JSON object per line. The message goes through a JSON serializer, so quotes, newlines
// and control characters in alarm names cannot break the line or forge fields.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    Json line;
    line["time"] = format_timestamp(std::chrono::time_point_cast<Duration>(msg.time));
    line["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                                spdlog::level::to_string_view(msg.level).size());
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    // DEL, C1 and the like are valid JSON unescaped, but would reach a terminal raw.
    std::string text =
        escape_json_controls(line.dump(-1, ' ', false, Json::error_handler_t::replace));
    text += '\n';
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// The text format: `inner` (a pattern) formats the message with its payload escaped by
// printable_line, so that no value a call site logs — an alarm name with a newline, a terminal
// escape sequence — can end the line early or forge the one after it.
class EscapingFormatter final : public spdlog::formatter {
 public:
  explicit EscapingFormatter(std::unique_ptr<spdlog::formatter> inner)
      : m_inner(std::move(inner)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const bool plain = std::all_of(payload.begin(), payload.end(), [](char c) {
      const auto b = static_cast<unsigned char>(c);
      return b >= 0x20 && b < 0x7f;
    });
    if (plain) return m_inner->format(msg, dest);
    const std::string escaped = printable_line(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    m_inner->format(copy, dest);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<EscapingFormatter>(m_inner->clone());
  }

 private:
  std::unique_ptr<spdlog::formatter> m_inner;
};

}  // namespace

std::optional<LogFormat> parse_log_format(const std::string& s) {
  if (s == "text") return LogFormat::text;
  if (s == "json") return LogFormat::json;
  return std::nullopt;
}

void setup_logging(LogFormat format, const std::string& level) {
  auto logger =
      std::make_shared<spdlog::logger>("tocsin", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == LogFormat::json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_formatter(
        std::make_unique<EscapingFormatter>(std::make_unique<spdlog::pattern_formatter>(
            "%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc)));
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

void log_suppressed(LogLimiter& limiter, TimePoint now, bool all) {
  for (const auto& lines : all ? limiter.flush_all(now) : limiter.flush(now))
    spdlog::warn("{}", lines.summary());
}

}  // namespace tocsin::server
