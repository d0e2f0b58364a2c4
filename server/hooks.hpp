#pragma once
// Inbound webhooks (docs/behaviour.md "Inbound endpoints"). Each handler: parse with the pure
// source adapter, hand the normalized events to the engine, answer after the commit.

#include <httplib.h>

#include "http/http_routes.hpp"
#include "server/app.hpp"

namespace tocsin::server {

void register_hooks(http::Routes& routes, App& app);

}  // namespace tocsin::server
