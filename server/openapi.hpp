#pragma once
// The OpenAPI 3.1 document of the HTTP API: docs/openapi.json, kept by hand and compiled into
// the binary by CMake, served at GET /api/v1/openapi.json (docs/behaviour.md "REST API").

#include <string_view>

namespace tocsin::server {

// The document's bytes, exactly as in docs/openapi.json.
std::string_view openapi_document();

}  // namespace tocsin::server
