#pragma once
// The first step of every adapter: an untrusted request body must be one strict JSON object.

#include <string>
#include <string_view>

#include "core/expected.hpp"
#include "core/json.hpp"
#include "ingest/ingest_error.hpp"

namespace tocsin::ingest {

// parse_json_strict's errors become 400s with its code (empty_body, invalid_utf8,
// invalid_json, json_too_deep, duplicate_key); any other top level is 400 `not_an_object`,
// naming `what` ("SNS body", "OpsGenie webhook", ...).
inline Expected<Json, IngestError> parse_object_body(std::string_view body, std::string_view what) {
  auto parsed = parse_json_strict(body);
  if (!parsed) return unexpected(bad_request(parsed.error().code, parsed.error().detail));
  if (!parsed->is_object()) {
    return unexpected(bad_request(
        "not_an_object", std::string(what) + " must be a JSON object, got " + parsed->type_name()));
  }
  return std::move(*parsed);
}

}  // namespace tocsin::ingest
