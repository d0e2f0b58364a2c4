#pragma once
// The web console (README "Web console"): the files of console/, compiled into the binary by
// CMake (TOCSIN_CONSOLE_FILES in CMakeLists.txt) and served at `/` with a strict
// Content-Security-Policy. The console only reads and acts through the REST API; nothing here knows
// an alert.

#include <cstddef>
#include <span>
#include <string_view>

#include "http/http_routes.hpp"

namespace tocsin::server {

// One file of console/ as compiled in: the path it is served at, its bytes and its ETag (a
// quoted prefix of its SHA-256, so a new build with changed files is never answered 304).
struct ConsoleAsset {
  std::string_view path;
  std::string_view content_type;
  const unsigned char* bytes;
  std::size_t size;
  std::string_view etag;
};

std::span<const ConsoleAsset> console_assets();

// The policy every console answer carries: scripts and styles only from the console's own
// files (none inline), requests only to this server, no frames, forms, plugins or base URL.
inline constexpr std::string_view k_console_csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Whether an If-None-Match value names `etag` (a list of tags, weak ones too, or `*`).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// GET (and HEAD) of every console asset at its path; every other path stays unknown (404).
void register_console(http::Routes& routes);

}  // namespace tocsin::server
