#pragma once
// A real `tocsin serve` on a random loopback port, with a rules file the test writes: the
// fixture of the end-to-end listener tests. Every client it hands out has bounded timeouts,
// so a server that never answers fails a test instead of hanging it.

#include <httplib.h>

#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace tocsin::testing {

struct RulesServer {
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::string db = dir.file("tocsin.db");
  std::optional<ServerProcess> server;

  // `rules_yaml` is the whole rules file; `flags` are added to `serve`'s arguments and `env`
  // ("NAME=value") to its environment.
  explicit RulesServer(const std::string& rules_yaml, const std::vector<std::string>& flags = {},
                       const std::vector<std::string>& env = {}) {
    std::ofstream(rules) << rules_yaml;
    std::vector<std::string> args{"--rules", rules, "--db", db};
    args.insert(args.end(), flags.begin(), flags.end());
    server.emplace(dir.file("server.log"), args, env);
  }

  // A rules file with this `server:` section (or other top-level keys) and one catch-all rule.
  // Without a `sources:` section of their own, every hook is enabled without a token
  // (sources_section()).
  static std::string with_sections(const std::string& sections) {
    const bool has_sources =
        sections.starts_with("sources:") || sections.find("\nsources:") != std::string::npos;
    return "version: 1\n" + sections + (has_sources ? "" : sources_section()) +
           "rules:\n  - {name: everything, match: {}}\n";
  }

  int port() const { return server->port(); }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port());
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(3, 0);
    c.set_write_timeout(3, 0);
    return c;
  }

  // tocsin_http_connections_cut_total{reason="REASON"}, or -1 when absent.
  long cuts(const std::string& reason) const {
    auto r = client().Get("/metrics");
    if (!r) return -1;
    std::smatch m;
    const std::regex line("tocsin_http_connections_cut_total\\{reason=\"" + reason +
                          "\"\\} (\\d+)");
    return std::regex_search(r->body, m, line) ? std::stol(m[1]) : -1;
  }
};

}  // namespace tocsin::testing
