#pragma once
// Checks against the OpenAPI document (docs/openapi.json): which routes it describes, and
// whether a real answer fits the schema it gives. The schema check is a small JSON Schema
// subset, enough for the document's schemas; a keyword it does not know is reported as a
// problem, so a schema it cannot check never passes silently.

#include <optional>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "http/http_routes.hpp"

namespace tocsin::testing {

// The registered routes the document need not describe: those outside the HTTP API (the web
// console's `/` and its assets). The API is everything under /api/ and /hooks/, and the
// operational /healthz, /readyz and /metrics.
bool outside_the_api(const std::string& pattern);

// Disagreements between the routes the server registers and the document's paths, both ways
// ("GET /api/v1/x is served but not documented", "... documented but not served"); empty when
// they agree. A route's `([^/]+)` matches a `{name}` of the document and `\.` a dot; a route
// pattern with any other regex syntax (an unescaped dot too: it would serve other paths) is
// reported, since the document could not name it.
std::vector<std::string> compare_routes(const Json& document,
                                        const std::vector<http::Routes::Registered>& routes);

// The document's operation for a request, as `#/paths/<template>/<method>`, or nullopt.
std::optional<std::string> find_operation(const Json& document, const std::string& method,
                                          const std::string& path);

// The schema of the `status` answer of an operation (its application/json content), with the
// response's $ref followed; nullopt when the operation does not document that status.
std::optional<Json> response_schema(const Json& document, const std::string& method,
                                    const std::string& path, int status);

// Problems of `value` against `schema`, each "<where>: <what>"; $refs resolve in `document`.
std::vector<std::string> schema_problems(const Json& document, const Json& schema,
                                         const Json& value);

// The document as compiled into the binary, parsed.
const Json& served_document();

}  // namespace tocsin::testing
