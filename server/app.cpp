#include "server/app.hpp"

#include <spdlog/spdlog.h>

namespace tocsin {

namespace {

storage::Durability durability_of(const rules::Rules& r) {
  return r.storage.synchronous == rules::Synchronous::full ? storage::Durability::full
                                                           : storage::Durability::normal;
}

}  // namespace

App::App(std::string rules_path_, std::string db_path_, const Clock& clock_,
         rules::RulesSnapshot initial_rules)
    : rules_path(std::move(rules_path_)),
      db_path(std::move(db_path_)),
      clock(clock_),
      rules(initial_rules, clock_.now()),
      writer(db_path, durability_of(*initial_rules),
             [this](const storage::WriterStats& s) { metrics.observe_group(s); }),
      reader(db_path),
      engine(writer, clock, rules, metrics) {}

std::vector<std::string> unsupported_by_this_build(const rules::Rules& r) {
  std::vector<std::string> problems;
  if (r.sources.sns.verify_signature) {
    problems.push_back(
        "sources.sns.verify_signature is true, but this build cannot verify SNS signatures yet; "
        "refusing to accept unverified messages as if they were verified. Set "
        "verify_signature: false only if /hooks/sns is reachable by trusted senders alone.");
  }
  return problems;
}

rules::LoadResult App::reload_rules() {
  rules::LoadResult result = rules::load_rules_file(rules_path);
  if (result.ok()) {
    for (auto& problem : unsupported_by_this_build(*result.rules)) {
      result.diagnostics.push_back({rules::Diagnostic::Level::error, rules_path, 0, 0, problem});
      result.rules = nullptr;
    }
  }
  for (const auto& d : result.diagnostics) {
    if (d.level == rules::Diagnostic::Level::error) {
      spdlog::error("rules reload: {}", d.format());
    } else {
      spdlog::warn("rules reload: {}", d.format());
    }
  }
  if (!result.ok()) {
    spdlog::error("rules reload rejected; the previous rules ({}) stay active",
                  rules.get()->rules->hash.substr(0, 12));
    metrics.count_rules_reload(false);
    return result;
  }
  if (result.rules->storage.synchronous != rules.get()->rules->storage.synchronous) {
    spdlog::warn("storage.synchronous changed; it takes effect at the next restart");
  }
  rules.set(result.rules, clock.now());
  metrics.count_rules_reload(true);
  spdlog::info("rules reloaded from {} (sha256 {})", rules_path, result.rules->hash.substr(0, 12));
  return result;
}

}  // namespace tocsin
