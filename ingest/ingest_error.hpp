#pragma once
// Why an inbound payload was refused. Adapters are pure, so they only say what is wrong;
// the server turns this into the response (docs/behaviour.md "Inbound endpoints": 400 malformed,
// 401/403 auth, 413 size).

#include <string>

namespace tocsin::ingest {

struct IngestError {
  int status = 400;
  std::string code;    // machine-readable, e.g. invalid_alarm_payload
  std::string detail;  // names the field or position that is wrong
};

inline IngestError bad_request(std::string code, std::string detail) {
  return {400, std::move(code), std::move(detail)};
}

}  // namespace tocsin::ingest
