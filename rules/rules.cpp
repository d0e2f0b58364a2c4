#include "rules/rules.hpp"

namespace tocsin::rules {
namespace {

// `*` matches any run of characters, including none; everything else is literal and
// case-sensitive. Iterative with single backtrack point: linear in practice, and no
// recursion depth to worry about for long values.
bool glob_matches(std::string_view pattern, std::string_view value) {
  std::size_t p = 0, v = 0;
  std::optional<std::size_t> star;  // position in pattern of the last `*` seen
  std::size_t star_v = 0;           // where in value that `*` currently stops
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_v = v;
    } else if (p < pattern.size() && pattern[p] == value[v]) {
      ++p;
      ++v;
    } else if (star) {
      p = *star + 1;
      v = ++star_v;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

bool matches_field(const std::optional<ValueMatcher>& matcher, std::string_view value) {
  return !matcher || matcher->matches(value);
}

}  // namespace

std::string_view to_string(InsufficientDataPolicy p) {
  switch (p) {
    case InsufficientDataPolicy::ignore:
      return "ignore";
    case InsufficientDataPolicy::firing:
      return "firing";
    case InsufficientDataPolicy::resolve:
      return "resolve";
  }
  return "ignore";
}

std::string_view to_string(ChannelType t) {
  switch (t) {
    case ChannelType::opsgenie:
      return "opsgenie";
    case ChannelType::pagerduty:
      return "pagerduty";
    case ChannelType::slack:
      return "slack";
    case ChannelType::webhook:
      return "webhook";
  }
  return "webhook";
}

std::string_view to_string(Scope s) {
  switch (s) {
    case Scope::read:
      return "read";
    case Scope::write:
      return "write";
  }
  return "read";
}

std::string_view to_string(Synchronous s) {
  switch (s) {
    case Synchronous::full:
      return "full";
    case Synchronous::normal:
      return "normal";
  }
  return "full";
}

ValueMatcher ValueMatcher::parse(const std::string& spelled) {
  ValueMatcher m;
  m.m_spelled = spelled;
  if (spelled.size() >= 2 && spelled.front() == '/' && spelled.back() == '/') {
    m.m_kind = Kind::regex;
    m.m_pattern = spelled.substr(1, spelled.size() - 2);
    m.m_regex = std::make_shared<const std::regex>(m.m_pattern, std::regex::ECMAScript);
  } else if (spelled.find('*') != std::string::npos) {
    m.m_kind = Kind::glob;
    m.m_pattern = spelled;
  } else {
    m.m_kind = Kind::exact;
    m.m_pattern = spelled;
  }
  return m;
}

bool ValueMatcher::matches(std::string_view value) const {
  switch (m_kind) {
    case Kind::exact:
      return value == m_pattern;
    case Kind::glob:
      return glob_matches(m_pattern, value);
    case Kind::regex:
      return std::regex_search(value.begin(), value.end(), *m_regex);
  }
  return false;
}

bool Match::matches(const NormalizedEvent& e) const {
  const std::string_view severity_text = e.severity ? to_string(*e.severity) : "";
  if (!matches_field(source, to_string(e.source)) || !matches_field(name, e.name) ||
      !matches_field(severity, severity_text) || !matches_field(metric, e.metric) ||
      !matches_field(namespace_, e.namespace_) || !matches_field(account, e.account) ||
      !matches_field(region, e.region)) {
    return false;
  }
  for (const auto& [key, matcher] : labels) {
    const auto it = e.labels.find(key);
    if (it == e.labels.end() || !matcher.matches(it->second)) return false;
  }
  return true;
}

std::vector<const Rule*> Rules::matching(const NormalizedEvent& e) const {
  std::vector<const Rule*> out;
  for (const auto& rule : rules) {
    if (!rule.match.matches(e)) continue;
    out.push_back(&rule);
    if (!rule.continue_matching) break;
  }
  return out;
}

const Rule* Rules::find_rule(const std::string& name) const {
  for (const auto& r : rules) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

}  // namespace tocsin::rules
