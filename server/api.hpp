#pragma once
// The REST API (docs/behaviour.md "REST API") and the operational endpoints: /healthz, /readyz,
// /metrics.

#include <httplib.h>

#include "http/http_routes.hpp"
#include "server/app.hpp"

namespace tocsin::server {

void register_api(http::Routes& routes, App& app);

// Whether `authorization_header` presents, in the Bearer scheme (its name in any case, RFC 9110
// §11.1), one of the configured tokens with at least `needed` scope.
// Compared in constant time, and every configured token is compared, so timing reveals
// neither the token nor which one matched.
enum class AuthResult { ok, missing, invalid, forbidden };
AuthResult check_bearer(const rules::Rules& rules, const std::string& authorization_header,
                        rules::Scope needed, const rules::EnvLookup& env);

// The name of the configured token `authorization_header` presents (compared as check_bearer
// does), or nullopt: no Bearer token, or none matches. Who acted, when the body does not say.
std::optional<std::string> bearer_name(const rules::Rules& rules,
                                       const std::string& authorization_header,
                                       const rules::EnvLookup& env);

// The token an Authorization header presents in the Bearer scheme (its name in any case), as
// sent; nullopt for another scheme or none. Hooks take a token this way too.
std::optional<std::string> presented_token(std::string_view authorization_header);

}  // namespace tocsin::server
