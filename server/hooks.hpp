#pragma once
// Inbound webhooks (SPEC §3). Each handler: parse with the pure source adapter, hand the
// normalized events to the engine, answer after the commit.

#include <httplib.h>

#include "server/app.hpp"

namespace tocsin {

void register_hooks(httplib::Server& server, App& app);

}  // namespace tocsin
