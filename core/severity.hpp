#pragma once
// Severity and priority as the rules file and the API spell them.

#include <optional>
#include <string_view>
#include <utility>

namespace tocsin {

// Ordered: a greater value is more severe (`severity_raised` compares with <).
enum class Severity { info = 0, warning = 1, high = 2, critical = 3 };

constexpr std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::info:
      return "info";
    case Severity::warning:
      return "warning";
    case Severity::high:
      return "high";
    case Severity::critical:
      return "critical";
  }
  return "warning";
}

// Every severity with its name, most severe first: the choices a rules file may write.
inline constexpr std::pair<std::string_view, Severity> k_severity_names[] = {
    {"critical", Severity::critical},
    {"high", Severity::high},
    {"warning", Severity::warning},
    {"info", Severity::info}};

constexpr std::optional<Severity> parse_severity(std::string_view s) {
  if (s == "info") return Severity::info;
  if (s == "warning") return Severity::warning;
  if (s == "high") return Severity::high;
  if (s == "critical") return Severity::critical;
  return std::nullopt;
}

// P1 (most urgent) .. P5, stored as the number.
struct Priority {
  int level = 3;
  friend bool operator==(Priority, Priority) = default;
};

// The priority a severity implies when the rules set none (docs/behaviour.md "The rules file"):
// critical P1, high P2, warning P3, info P5. P4 is only ever chosen by a person.
constexpr Priority priority_for(Severity s) {
  switch (s) {
    case Severity::critical:
      return Priority{1};
    case Severity::high:
      return Priority{2};
    case Severity::warning:
      return Priority{3};
    case Severity::info:
      return Priority{5};
  }
  return Priority{3};
}

constexpr std::optional<Priority> parse_priority(std::string_view s) {
  if (s.size() == 2 && s[0] == 'P' && s[1] >= '1' && s[1] <= '5') return Priority{s[1] - '0'};
  return std::nullopt;
}

}  // namespace tocsin
