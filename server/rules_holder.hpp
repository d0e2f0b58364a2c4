#pragma once
// The active rules: an immutable snapshot swapped atomically on reload (SIGHUP or the API),
// so a request in flight keeps the version it started with.

#include <atomic>
#include <memory>

#include "rules/rules.hpp"

namespace tocsin {

struct ActiveRules {
  rules::RulesSnapshot rules;
  TimePoint loaded_at{};
};

class RulesHolder {
 public:
  RulesHolder(rules::RulesSnapshot initial, TimePoint loaded_at)
      : m_active(std::make_shared<const ActiveRules>(ActiveRules{std::move(initial), loaded_at})) {}

  std::shared_ptr<const ActiveRules> get() const { return m_active.load(); }
  void set(rules::RulesSnapshot rules, TimePoint loaded_at) {
    m_active.store(std::make_shared<const ActiveRules>(ActiveRules{std::move(rules), loaded_at}));
  }

 private:
  std::atomic<std::shared_ptr<const ActiveRules>> m_active;
};

}  // namespace tocsin
