#include "rules/rules.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cstdint>

#include "core/text.hpp"

namespace tocsin::rules {
namespace {

// Per regex, for its compiled program and its cached automaton states (RE2's default is
// 8 MiB). A rules file holds dozens of regexes, each of which a hostile value could drive to
// fill its cache; 1 MiB compiles any realistic pattern, and an automaton that outgrows it
// falls back to RE2's slower but still linear NFA rather than failing.
constexpr std::int64_t k_regex_max_mem = std::int64_t{1} << 20;

RE2::Options regex_options() {
  RE2::Options o;
  // Values come from bodies validated as UTF-8, so `.` is one character, not one byte.
  o.set_encoding(RE2::Options::EncodingUTF8);
  o.set_max_mem(k_regex_max_mem);
  o.set_log_errors(false);    // a refused pattern is a diagnostic of `tocsin check`, not a log line
  o.set_never_capture(true);  // only "does it match" is ever asked
  o.set_case_sensitive(true);  // as exact and glob values; `(?i)` opts out
  return o;
}

// RE2's reason, kept on one line (its argument quotes the pattern, which may hold any byte),
// with a word on the constructs people bring from PCRE or JavaScript that RE2 refuses.
std::string regex_error_of(const RE2& re) {
  const std::string_view arg = re.error_arg();
  // RE2 names only "(?<" for all of (?<=, (?<! and (?<name>.
  const bool lookaround =
      re.error_code() == RE2::ErrorBadPerlOp && (arg == "(?=" || arg == "(?!" || arg == "(?<");
  const bool backreference = re.error_code() == RE2::ErrorBadEscape && arg.size() == 2 &&
                             ((arg[1] >= '1' && arg[1] <= '9') || arg[1] == 'k');
  std::string out = escape_control(re.error(), ControlEscape::hex);
  if (lookaround || backreference) {
    out += " (RE2 syntax has no lookaround or backreferences; a named group is (?P<name>...))";
  }
  return out;
}

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

Expected<ValueMatcher, std::string> ValueMatcher::parse(const std::string& spelled) {
  ValueMatcher m;
  m.m_spelled = spelled;
  if (spelled.size() >= 2 && spelled.front() == '/' && spelled.back() == '/') {
    m.m_kind = Kind::regex;
    m.m_pattern = spelled.substr(1, spelled.size() - 2);
    auto re = std::make_shared<const RE2>(m.m_pattern, regex_options());
    if (!re->ok()) return unexpected(regex_error_of(*re));
    m.m_regex = std::move(re);
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
      return RE2::PartialMatch(re2::StringPiece(value.data(), value.size()), *m_regex);
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

bool any_never_suppress(const std::vector<const Rule*>& matched) {
  return std::any_of(matched.begin(), matched.end(),
                     [](const Rule* r) { return r->never_suppress; });
}

const Rule* Rules::find_rule(const std::string& name) const {
  for (const auto& r : rules) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

}  // namespace tocsin::rules
