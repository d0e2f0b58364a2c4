#pragma once
// `tocsin receive` (README "Quick start (Debian 12)"): a tiny webhook receiver for trying Tocsin
// out. It answers every POST with 200 and prints one line a person can read, then the body as it
// came. It verifies nothing (no signature check) and keeps nothing: a demo and debugging aid, never
// a production receiver.

#include <iosfwd>
#include <string>

namespace tocsin::cli {

struct ReceiveOptions {
  std::string listen = "127.0.0.1:9099";  // HOST:PORT, or :PORT for 127.0.0.1
};

// One line about a POSTed body: for a `tocsin.notification/v1` body
//   "demo: trigger level 0: generic:db-down episode 1 (critical, P1): primary is down"
// (a digest: "demo: digest: <why>"); for anything else, what it was and how long.
std::string describe_notification(const std::string& body);

// What `tocsin receive` prints for a POSTed body: describe_notification's line, then the body,
// each line ending in '\n', control characters escaped (core/redact.hpp printable_line): a
// sender must not drive the terminal.
std::string received_text(const std::string& body);

// Serves until killed. Logs "tocsin listening on HOST:PORT" to `log` once bound; writes the
// line and the body of every POST to `out`, flushed. Returns 1 when the address cannot be
// bound, 2 when it is not an address.
int run_receive(const ReceiveOptions& options, std::ostream& out, std::ostream& log);

}  // namespace tocsin::cli
