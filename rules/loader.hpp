#pragma once
// Strict loading of rules.yaml: every problem is collected (not just the first) as a
// Diagnostic with the line and column where it is, so `tocsin check` can list them all.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/expected.hpp"
#include "rules/rules.hpp"

namespace tocsin::rules {

struct Diagnostic {
  // A note is neither a problem nor a doubt: a choice the file makes on purpose that the reader
  // should still hear about once (a hook open to unauthenticated requests).
  enum class Level { error, warning, note };
  Level level = Level::error;
  std::string path;
  int line = 0;    // 1-based; 0 when the problem has no position (unreadable file)
  int column = 0;  // 1-based
  std::string message;

  // `PATH:LINE:COL: error: MESSAGE` (the format compilers use, so editors can jump to it);
  // `warning:` and `note:` likewise.
  std::string format() const;
};

struct LoadResult {
  RulesSnapshot rules;                  // null when there is at least one error
  std::vector<Diagnostic> diagnostics;  // errors and warnings, in file order
  bool unreadable = false;  // the file could not be read at all (`tocsin check` exits 2)

  bool ok() const { return rules != nullptr; }
};

// Looks up an environment variable; injectable so tests need not touch the real environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

struct LoadOptions {
  // Where *_env variables are looked up, to warn about unset ones. Empty: no lookups and no
  // warnings about them (`tocsin check --no-env` in CI without the secrets, `tocsin replay`,
  // which sends nothing).
  EnvLookup env = process_env();
  // Whether the file is read to serve its hooks (`serve`, `check`, reloads): then every listed
  // source must say how it authenticates, declared heartbeats need the heartbeat source, and an
  // open hook is noted. `tocsin replay` receives nothing over HTTP and reads the file offline.
  bool serving = true;
  // Why a database location (the value of storage.url_env's variable, when `env` finds it set)
  // cannot be used, never quoting a password; nullopt when it can. Empty: only its form is
  // checked (parsing a postgresql:// URI is libpq's, in storage/; `tocsin check` passes
  // storage::location_problem).
  std::function<std::optional<std::string>(const std::string&)> location_problem = nullptr;
};

// Parses and validates `text` as if read from `path` (used in messages only).
LoadResult load_rules_text(const std::string& text, const std::string& path,
                           const LoadOptions& options);
LoadResult load_rules_text(const std::string& text, const std::string& path,
                           const EnvLookup& env = process_env());

// Reads and validates a file. An unreadable file is one error diagnostic with line 0.
LoadResult load_rules_file(const std::string& path, const LoadOptions& options);
LoadResult load_rules_file(const std::string& path, const EnvLookup& env = process_env());

}  // namespace tocsin::rules
