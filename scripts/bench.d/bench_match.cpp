// scripts/bench --only match: every /regex/ match value of a rules file against one value of
// 1 KiB, 40 KiB and 1 MiB, timing the matching alone (no HTTP, no database). The target
// bench_match of CMakeLists.txt (not part of `all`), built and run by scripts/bench.d/match.py.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "rules/loader.hpp"

using namespace tocsin::rules;
using Clock = std::chrono::steady_clock;

// Every /regex/ match value of the file, in rule order.
std::vector<const ValueMatcher*> regexes_of(const Rules& rules) {
  std::vector<const ValueMatcher*> out;
  for (const auto& rule : rules.rules) {
    const auto& m = rule.match;
    for (const auto* field : {&m.source, &m.name, &m.severity, &m.metric, &m.namespace_,
                              &m.account, &m.region}) {
      if (*field && (*field)->kind() == ValueMatcher::Kind::regex) out.push_back(&**field);
    }
    for (const auto& [key, matcher] : m.labels) {
      if (matcher.kind() == ValueMatcher::Kind::regex) out.push_back(&matcher);
    }
  }
  return out;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const std::string path = argv[1];
  const int runs = std::max(1, std::atoi(argv[2]));
  const auto loaded = load_rules_file(path);
  for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.format().c_str());
  if (!loaded.ok()) return 1;
  std::printf("%s: %zu regexes; a pass runs every one against one value\n\n", path.c_str(),
              regexes_of(*loaded.rules).size());

  std::mt19937 random(7);
  const auto random_text = [&](std::size_t n) {
    std::string s(n, ' ');
    for (auto& c : s) c = static_cast<char>(' ' + random() % 95);
    return s;
  };
  struct Value {
    const char* kind;
    std::string text;
  };
  std::printf("%-22s %9s %12s %12s %8s\n", "value", "bytes", "cold ms", "warm ms", "matched");
  for (const std::size_t size : {std::size_t{1} << 10, std::size_t{40} << 10, std::size_t{1} << 20}) {
    const Value values[] = {
        {"'a' repeated", std::string(size, 'a')},
        {"random printable", random_text(size)},
        {"ends in a match", "prod-" + std::string(size - 12, 'a') + "-db-bx"},
    };
    for (const auto& v : values) {
      // A fresh load per value, so "cold" includes building the automata for it.
      const auto fresh = load_rules_file(path);
      const auto regexes = regexes_of(*fresh.rules);
      const auto pass = [&](int& matched) {
        matched = 0;
        const auto start = Clock::now();
        for (const auto* m : regexes) matched += m->matches(v.text) ? 1 : 0;
        return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      };
      int matched = 0;
      const double cold = pass(matched);
      std::vector<double> warm;
      for (int i = 0; i < runs; ++i) warm.push_back(pass(matched));
      std::sort(warm.begin(), warm.end());
      std::printf("%-22s %9zu %12.3f %12.3f %5d/%zu\n", v.kind, v.text.size(), cold,
                  warm[warm.size() / 2], matched, regexes.size());
    }
  }

  // Where the time goes: each regex alone on the largest values, warm.
  std::printf("\nper regex, warm ms on 1 MiB ('a' repeated / random printable):\n");
  const std::string repeated(std::size_t{1} << 20, 'a');
  const std::string printable = random_text(std::size_t{1} << 20);
  for (const auto* m : regexes_of(*loaded.rules)) {
    double ms[2];
    int i = 0;
    for (const auto* text : {&repeated, &printable}) {
      m->matches(*text);
      const auto start = Clock::now();
      m->matches(*text);
      ms[i++] = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    std::printf("  %8.3f %8.3f  %s\n", ms[0], ms[1], m->spelled().c_str());
  }
  return 0;
}
