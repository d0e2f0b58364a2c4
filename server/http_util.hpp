#pragma once
// Small pieces shared by the HTTP handlers: JSON responses and error bodies.

#include <httplib.h>

#include <string>

#include "core/json.hpp"
#include "storage/database.hpp"

namespace tocsin::server {

inline void reply_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

// The error shape of every answer (docs/behaviour.md "Inbound endpoints"):
// `{"error": CODE, "detail": TEXT}`.
inline void reply_error(httplib::Response& res, int status, const std::string& code,
                        const std::string& detail) {
  reply_json(res, status, Json{{"error", code}, {"detail", detail}});
}

// 503 with Retry-After: the fault is ours and transient, so senders should retry.
inline void reply_unavailable(httplib::Response& res, const std::string& detail,
                              int retry_after_seconds = 5,
                              const std::string& code = "unavailable") {
  res.set_header("Retry-After", std::to_string(retry_after_seconds));
  reply_error(res, 503, code, detail);
}

// The error code of a 503 caused by the database: `database_disk_full`, ...
inline std::string database_error_code(storage::DatabaseFault f) {
  if (f == storage::DatabaseFault::none) return "unavailable";
  return "database_" + std::string(storage::to_string(f));
}

}  // namespace tocsin::server
