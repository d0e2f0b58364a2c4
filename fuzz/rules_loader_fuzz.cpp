// rules/loader.hpp load_rules_text on an arbitrary rules file.
// The loader's contract is that of `tocsin check` and of a reload: any text gives an answer,
// without crashing, hanging or throwing. Every diagnostic is one line with a position in the
// file and a message; a file is accepted exactly when no diagnostic is an error; and an
// accepted snapshot holds only what the engine takes on trust (rules/rules.hpp): references
// that resolve, steps in order, a hash of the text. Its matchers then run, on a value built
// from the input, as the writer thread would.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "invariants.hpp"
#include "rules/loader.hpp"

namespace {

using namespace tocsin;
using namespace tocsin::rules;

constexpr const char* k_path = "rules.yaml";

// Variables named with an even length are set, the others not: both the warning for an unset
// `*_env` and the silence for a set one are reached.
std::optional<std::string> some_vars_set(const std::string& name) {
  if (name.size() % 2 == 0) return std::string("value");
  return std::nullopt;
}

void check_diagnostic(const Diagnostic& d, std::size_t text_lines) {
  TOCSIN_FUZZ_CHECK(d.path == k_path);
  TOCSIN_FUZZ_CHECK(!d.message.empty());
  TOCSIN_FUZZ_CHECK(d.line >= 0 && d.column >= 0);
  TOCSIN_FUZZ_CHECK(static_cast<std::size_t>(d.line) <= text_lines + 1);
  // `tocsin check` prints one diagnostic per line, for editors to jump to, and no byte of the
  // file may drive the terminal.
  const std::string line = d.format();
  TOCSIN_FUZZ_CHECK(std::none_of(line.begin(), line.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  }));
}

bool has_channel(const Rules& r, const std::string& name) {
  return r.channels.count(name) == 1;
}

void check_policy_reference(const Rules& r, const std::string& escalation) {
  TOCSIN_FUZZ_CHECK(escalation.empty() || r.escalations.count(escalation) == 1);
}

void check_snapshot(const Rules& r, std::string_view text) {
  TOCSIN_FUZZ_CHECK(r.version == 1);
  TOCSIN_FUZZ_CHECK(r.source_path == k_path);
  TOCSIN_FUZZ_CHECK(r.hash.size() == 64);
  TOCSIN_FUZZ_CHECK(!text.empty());
  for (const auto& [name, channel] : r.channels) {
    TOCSIN_FUZZ_CHECK(channel.name == name);
    TOCSIN_FUZZ_CHECK(channel.url.has_value() != channel.url_env.has_value());
  }
  TOCSIN_FUZZ_CHECK(!r.delivery.fallback || has_channel(r, *r.delivery.fallback));
  for (const auto& [name, policy] : r.escalations) {
    TOCSIN_FUZZ_CHECK(policy.name == name);
    TOCSIN_FUZZ_CHECK(!policy.steps.empty());
    TOCSIN_FUZZ_CHECK(std::is_sorted(
        policy.steps.begin(), policy.steps.end(),
        [](const EscalationStep& a, const EscalationStep& b) { return a.after < b.after; }));
    for (const auto& step : policy.steps) {
      for (const auto& channel : step.notify)
        TOCSIN_FUZZ_CHECK(has_channel(r, channel));
    }
  }
  for (const auto& rule : r.rules) {
    TOCSIN_FUZZ_CHECK(!rule.name.empty());
    TOCSIN_FUZZ_CHECK(r.find_rule(rule.name) != nullptr);
    check_policy_reference(r, rule.escalation);
    TOCSIN_FUZZ_CHECK(!rule.low_priority || has_channel(r, *rule.low_priority));
  }
  for (const auto& heartbeat : r.heartbeats) {
    TOCSIN_FUZZ_CHECK(heartbeat.every.count() > 0);
    check_policy_reference(r, heartbeat.escalation);
  }
}

// An event whose every matched field is a slice of the input (which may be anything: long,
// not UTF-8, full of regex syntax), labelled with the keys the rules ask for.
NormalizedEvent event_from(const Rules& r, std::string_view text) {
  const std::string value(text.substr(text.size() / 2));
  NormalizedEvent e;
  e.source = Source::cloudwatch;
  e.name = e.account = e.region = e.metric = e.namespace_ = value;
  e.severity = Severity::critical;
  for (const auto& rule : r.rules) {
    for (const auto& [key, matcher] : rule.match.labels)
      e.labels[key] = value;
  }
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(fuzz::as_text(data, size));
  try {
    const LoadResult result = load_rules_text(text, k_path, some_vars_set);
    TOCSIN_FUZZ_CHECK(!result.unreadable);
    const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    bool any_error = false;
    for (const auto& d : result.diagnostics) {
      check_diagnostic(d, lines);
      any_error = any_error || d.level == Diagnostic::Level::error;
    }
    TOCSIN_FUZZ_CHECK(result.ok() == !any_error);
    if (!result.ok()) return 0;

    const Rules& rules = *result.rules;
    check_snapshot(rules, text);
    for (const Rule* rule : rules.matching(event_from(rules, text)))
      TOCSIN_FUZZ_CHECK(rules.find_rule(rule->name) == rule);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "load_rules_text threw: %s\n", e.what());
    TOCSIN_FUZZ_CHECK(!"load_rules_text throws");
  } catch (...) {
    TOCSIN_FUZZ_CHECK(!"load_rules_text throws something not a std::exception");
  }
  return 0;
}
