#pragma once
// Hooks are disabled unless the rules file lists their source
// (docs/behaviour.md "Inbound endpoints"). Tests about something other than hook authentication
// enable every hook with this one section.

#include <string>

namespace tocsin::testing {

// A `sources:` section listing every hook's source. `listed` holds the test's own entries, one
// `  NAME: {...}` line each (a token, SNS settings); every source it does not name is enabled
// without a token (`allow_unauthenticated: true`), and SNS with signature verification on.
inline std::string sources_section(const std::string& listed = "") {
  std::string out = "sources:\n" + listed;
  for (const char* name :
       {"opsgenie", "eventbridge", "alertmanager", "grafana", "generic", "heartbeat"}) {
    if (listed.find("  " + std::string(name) + ":") != std::string::npos) continue;
    out += "  " + std::string(name) + ": {allow_unauthenticated: true}\n";
  }
  if (listed.find("  sns:") == std::string::npos) out += "  sns: {}\n";
  return out;
}

}  // namespace tocsin::testing
