#pragma once
// The active rules: an immutable snapshot swapped atomically on reload (SIGHUP or the API),
// so a request in flight keeps the version it started with. What is derived from a snapshot
// (the SNS certificate source built from its `sources.sns`) is swapped with it.

#include <atomic>
#include <memory>

#include "ingest/sns_verify.hpp"
#include "rules/rules.hpp"

namespace tocsin::engine {

struct ActiveRules {
  rules::RulesSnapshot rules;
  TimePoint loaded_at{};
  std::shared_ptr<ingest::CertificateProvider> sns_certificates;
};

class RulesHolder {
 public:
  explicit RulesHolder(ActiveRules initial)
      : m_active(std::make_shared<const ActiveRules>(std::move(initial))) {}

  std::shared_ptr<const ActiveRules> get() const { return m_active.load(); }
  void set(ActiveRules next) {
    m_active.store(std::make_shared<const ActiveRules>(std::move(next)));
  }

 private:
  std::atomic<std::shared_ptr<const ActiveRules>> m_active;
};

}  // namespace tocsin::engine
