#include "server/app.hpp"

#include <spdlog/spdlog.h>

#include <variant>

#include "server/sns_certificates.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::server {

namespace {

storage::Durability durability_of(const rules::Rules& r) {
  return r.storage.synchronous == rules::Synchronous::full ? storage::Durability::full
                                                           : storage::Durability::normal;
}

// The engine's commits, counted: events by source and outcome, other decisions, noise routing
// and queued notifications (docs/behaviour.md "REST API", `GET /metrics`).
void count_commit(Metrics& metrics, Doorbell& doorbell, const engine::Committed& committed) {
  bool queued = false;
  for (const auto& [source, outcome] : committed.events)
    metrics.count_event(source, outcome);
  for (const auto& entry : committed.journal) {
    if (const auto* d = std::get_if<storage::DecisionRecord>(&entry)) {
      if (d->kind == storage::DecisionKind::event) continue;  // counted with the request, above
      metrics.count_decision(storage::to_text(d->outcome));
      // A rule's `drop: true` is also stored as "dropped"; only a hold's drop is noise.
      if (d->note && rules::is_noise_routing(*d->note))
        metrics.count_noise(storage::to_text(d->outcome));
    } else if (const auto* n = std::get_if<storage::OutboxRecord>(&entry)) {
      metrics.count_queued(n->channel, storage::to_text(n->action));
      queued = true;
    }
  }
  if (queued) doorbell.ring();
}

}  // namespace

Expected<engine::ActiveRules, std::string> activate(rules::RulesSnapshot snapshot,
                                                    const Clock& clock) {
  auto certificates =
      make_certificate_provider(snapshot->sources.sns, clock, fetch_certificate_https);
  if (!certificates) return unexpected("sources.sns.cert_dir: " + certificates.error());
  engine::ActiveRules active;
  active.rules = std::move(snapshot);
  active.loaded_at = clock.now();
  active.sns_certificates = std::shared_ptr<ingest::CertificateProvider>(std::move(*certificates));
  return active;
}

void log_diagnostic(const rules::Diagnostic& d, std::string_view prefix, bool quiet_notes) {
  if (d.level == rules::Diagnostic::Level::error) {
    spdlog::error("{}{}", prefix, d.format());
  } else if (d.level == rules::Diagnostic::Level::note && quiet_notes) {
    spdlog::info("{}{}", prefix, d.format());
  } else {
    spdlog::warn("{}{}", prefix, d.format());
  }
}

namespace {

engine::ActiveRules activate_or_throw(rules::RulesSnapshot snapshot, const Clock& clock) {
  auto active = activate(std::move(snapshot), clock);
  if (!active) throw std::runtime_error(active.error());
  return std::move(*active);
}

}  // namespace

App::App(std::string rules_path_, std::string db_path_, const Clock& clock_,
         rules::RulesSnapshot initial_rules, std::optional<storage::Durability> durability)
    : rules_path(std::move(rules_path_)),
      db_path(std::move(db_path_)),
      clock(clock_),
      rules(activate_or_throw(initial_rules, clock_)),
      writer(
          db_path, durability.value_or(durability_of(*initial_rules)),
          [this](const storage::WriterStats& s) { metrics.observe_group(s); }, clock_),
      reader(db_path),
      engine(writer, clock, rules,
             [this](const engine::Committed& c) { count_commit(metrics, delivery_doorbell, c); }) {
  metrics.watch_database([this] { return writer.health(); });
  metrics.set_storage_source([this] { return reader.storage_stats(); });
  metrics.set_silences_source([this] { return reader.count_active_silences(clock.now()); });
}

void App::set_rules_warnings(const std::vector<rules::Diagnostic>& diagnostics) {
  auto warnings = std::make_shared<std::vector<std::string>>();
  for (const auto& d : diagnostics) {
    if (d.level != rules::Diagnostic::Level::error) warnings->push_back(d.format());
  }
  m_rules_warnings.store(std::move(warnings));
}

rules::LoadResult App::reload_rules() {
  rules::LoadResult result = rules::load_rules_file(rules_path);
  std::optional<engine::ActiveRules> next;
  if (result.ok()) {
    auto active = activate(result.rules, clock);
    if (active) {
      next = std::move(*active);
    } else {
      result.diagnostics.push_back(
          {rules::Diagnostic::Level::error, rules_path, 0, 0, active.error()});
      result.rules = nullptr;
    }
  }
  for (const auto& d : result.diagnostics)
    log_diagnostic(d, "rules reload: ");
  if (!result.ok()) {
    spdlog::error("rules reload rejected; the previous rules ({}) stay active",
                  rules.get()->rules->hash.substr(0, 12));
    metrics.count_rules_reload(false);
    return result;
  }
  if (result.rules->storage.synchronous != rules.get()->rules->storage.synchronous) {
    spdlog::warn("storage.synchronous changed; it takes effect at the next restart");
  }
  if (result.rules->server != rules.get()->rules->server) {
    spdlog::warn("server limits changed; they take effect at the next restart");
  }
  rules.set(std::move(*next));
  set_rules_warnings(result.diagnostics);
  metrics.count_rules_reload(true);
  spdlog::info("rules reloaded from {} (sha256 {})", rules_path, result.rules->hash.substr(0, 12));
  return result;
}

}  // namespace tocsin::server
