// Rules test files (docs/formats.md §13.3).
#include "rules/test_file.hpp"


#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/duration.hpp"
#include "core/json.hpp"
#include "rules/checked_yaml.hpp"

namespace tocsin::rules {

using namespace checked_yaml;

namespace {

constexpr std::string_view k_file_keys[] = {"tests"};
constexpr std::string_view k_test_keys[] = {"name",   "start",         "until",    "tolerance",
                                            "inputs", "notifications", "decisions"};
constexpr std::string_view k_notification_keys[] = {"at",          "channel",  "action",  "level",
                                                    "fingerprint", "severity", "priority"};
constexpr std::string_view k_decision_keys[] = {"at", "outcome", "decision", "reason",
                                                "fingerprint"};
constexpr std::string_view k_actions[] = {"trigger",     "escalate", "reminder",
                                          "acknowledge", "resolve",  "digest"};

// A YAML value as JSON: maps and lists as such; a quoted scalar is a string; a plain one is
// null, a boolean or a number when it reads as one, else a string.
Json to_json(const YAML::Node& node) {
  if (node.IsMap()) {
    Json out = Json::object();
    for (auto it = node.begin(); it != node.end(); ++it)
      out[it->first.Scalar()] = to_json(it->second);
    return out;
  }
  if (node.IsSequence()) {
    Json out = Json::array();
    for (const auto& item : node)
      out.push_back(to_json(item));
    return out;
  }
  if (!node.IsScalar()) return nullptr;
  const std::string& s = node.Scalar();
  if (node.Tag() != "?") return s;  // quoted, or tagged: a string as written
  if (s == "null" || s == "~") return nullptr;
  if (s == "true") return true;
  if (s == "false") return false;
  if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-')) {
    std::size_t used = 0;
    try {
      const long long i = std::stoll(s, &used);
      if (used == s.size()) return i;
      const double d = std::stod(s, &used);
      if (used == s.size()) return d;
    } catch (const std::exception&) {
    }
  }
  return s;
}

class TestsLoader {
 public:
  explicit TestsLoader(Reporter& report) : m_check(report, m_env) {}

  std::vector<RulesTest> load(const YAML::Node& root) {
    std::vector<RulesTest> out;
    auto file = m_check.fields(root, root.Mark(), "the test file", k_file_keys);
    if (!file) return out;
    if (!m_check.require(*file, "tests",
                         "tests: [{name: ..., inputs: [...], notifications: [...]}]"))
      return out;
    auto tests = m_check.list(*file, "tests", "[{name: ..., inputs: [...], notifications: [...]}]");
    if (!tests) return out;
    for (const auto& node : *tests) {
      if (auto t = test(node)) out.push_back(std::move(*t));
    }
    return out;
  }

 private:
  // An `at`, `start` or `until`: RFC 3339, or +DURATION after `start` (when `start` is given).
  std::optional<TimePoint> time(const Fields& f, std::string_view key,
                                std::optional<TimePoint> start) {
    auto text = m_check.text(f, key, "a time");
    if (!text) return std::nullopt;
    if (text->starts_with("+") && start) {
      if (text->size() > 1) {
        if (auto d = parse_duration(text->substr(1)); d && d->count() >= 0) return *start + *d;
      }
    } else if (auto t = parse_timestamp(*text)) {
      return *t;
    }
    m_check.error(*f.find(key), f,
                  "expected an RFC 3339 time (2026-12-02T03:00:00Z)" +
                      std::string(start ? " or +DURATION after the test's start (+20m)" : "") +
                      " for " + checked_yaml::in_quotes(key) + ", got " +
                      checked_yaml::in_quotes(*text));
    return std::nullopt;
  }

  std::optional<RulesTest> test(const YAML::Node& node) {
    auto f = m_check.fields(node, node.Mark(), "a test", k_test_keys);
    if (!f) return std::nullopt;
    RulesTest t;
    t.line = node.Mark().line + 1;
    bool ok = m_check.require(*f, "name", "name: december alarm pages") &&
              m_check.require(*f, "inputs", "inputs: [{at: +0s, hook: generic, body: {...}}]") &&
              m_check.require(*f, "notifications",
                              "notifications: [{at: +0s, channel: oncall, action: trigger}]");
    if (auto name = m_check.name(*f, "name", "the test's name")) {
      t.name = *name;
    } else {
      ok = false;
    }
    t.start = *parse_timestamp(k_default_test_start);
    if (f->find("start")) {
      if (auto s = time(*f, "start", std::nullopt)) {
        t.start = *s;
      } else {
        ok = false;
      }
    }
    if (f->find("tolerance")) {
      if (auto d = m_check.duration(*f, "tolerance", Zero::allowed)) {
        t.tolerance = *d;
      } else {
        ok = false;
      }
    }
    std::optional<TimePoint> until;
    if (f->find("until")) {
      until = time(*f, "until", t.start);
      ok = ok && until.has_value();
    }
    TimePoint latest = t.start;
    if (auto inputs = m_check.list(*f, "inputs", "[{at: +0s, hook: generic, body: {...}}]",
                                   Empty::is_empty)) {
      std::optional<TimePoint> previous;
      for (const auto& item : *inputs) {
        auto in = input(item, t.start, previous);
        if (!in) {
          ok = false;
          continue;
        }
        previous = in->at;
        latest = std::max(latest, in->at);
        t.inputs.push_back(std::move(*in));
      }
    } else {
      ok = false;
    }
    if (auto expected =
            m_check.list(*f, "notifications", "[{at: +0s, channel: oncall, action: trigger}]",
                         Empty::is_empty)) {
      for (const auto& item : *expected) {
        auto n = notification(item, t.start);
        if (!n) {
          ok = false;
          continue;
        }
        latest = std::max(latest, n->at);
        t.notifications.push_back(std::move(*n));
      }
    } else {
      ok = false;
    }
    if (f->find("decisions")) {
      auto expected =
          m_check.list(*f, "decisions", "[{at: +0s, outcome: opened}]", Empty::is_empty);
      if (!expected) {
        ok = false;
      } else {
        t.decisions.emplace();
        for (const auto& item : *expected) {
          auto d = decision(item, t.start);
          if (!d) {
            ok = false;
            continue;
          }
          if (d->at) latest = std::max(latest, *d->at);
          t.decisions->push_back(std::move(*d));
        }
      }
    }
    // An expectation may be met up to `tolerance` late: the clock runs that far past it.
    t.until = until.value_or(latest + t.tolerance);
    if (ok && until && *until < latest) {
      m_check.error(*f->find("until"), *f,
                    "\"until\" is before an input or an expectation of the test (" +
                        format_timestamp(latest) + ")");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return t;
  }

  std::optional<TestInput> input(const YAML::Node& node, TimePoint start,
                                 std::optional<TimePoint> previous) {
    if (!node.IsMap()) {
      m_check.report().error(node.Mark(),
                             "expected a map for an input (a replay line: {at: "
                             "+0s, hook: generic, body: {...}}), got " +
                                 describe(node));
      return std::nullopt;
    }
    auto f = m_check.entries(node, node.Mark(), "an input", Empty::is_error);
    if (!f) return std::nullopt;
    Fields fields("an input", node.Mark(), std::move(*f));
    if (!m_check.require(fields, "at", "at: +5m")) return std::nullopt;
    auto at = time(fields, "at", start);
    if (!at) return std::nullopt;
    if (previous && *at < *previous) {
      m_check.error(*fields.find("at"), fields,
                    "\"at\" " + format_timestamp(*at) + " is before the input above it (" +
                        format_timestamp(*previous) + "); inputs must be in time order");
      return std::nullopt;
    }
    Json line = to_json(node);
    line["at"] = format_timestamp(*at);
    TestInput in;
    in.line = node.Mark().line + 1;
    in.column = node.Mark().column + 1;
    in.at = *at;
    in.json = line.dump(-1, ' ', false, Json::error_handler_t::replace);
    return in;
  }

  std::optional<ExpectedNotification> notification(const YAML::Node& node, TimePoint start) {
    auto f = m_check.fields(node, node.Mark(), "an expected notification", k_notification_keys);
    if (!f) return std::nullopt;
    bool ok = m_check.require(*f, "at", "at: +20m") &&
              m_check.require(*f, "channel", "channel: oncall") &&
              m_check.require(*f, "action", "action: trigger");
    ExpectedNotification n;
    n.line = node.Mark().line + 1;
    if (auto at = time(*f, "at", start)) {
      n.at = *at;
    } else {
      ok = false;
    }
    if (auto c = m_check.name(*f, "channel", "a channel name")) n.channel = *c;
    if (auto a = m_check.text(*f, "action", "a notification action")) {
      if (std::find(std::begin(k_actions), std::end(k_actions), *a) == std::end(k_actions)) {
        m_check.error(*f->find("action"), *f,
                      "expected one of trigger, escalate, reminder, acknowledge, resolve, "
                      "digest for \"action\", got " +
                          checked_yaml::in_quotes(*a) + did_you_mean(*a, k_actions));
        ok = false;
      }
      n.action = *a;
    }
    if (f->find("level")) {
      auto l = m_check.integer(*f, "level", 0, 1000);
      ok = ok && l.has_value();
      if (l) n.level = static_cast<int>(*l);
    }
    for (const char* key : {"fingerprint", "severity", "priority"}) {
      if (!f->find(key)) continue;
      auto v = m_check.text(*f, key);
      if (!v) {
        ok = false;
        continue;
      }
      (std::string(key) == "fingerprint" ? n.fingerprint
       : std::string(key) == "severity"  ? n.severity
                                         : n.priority) = *v;
    }
    if (!ok || n.channel.empty() || n.action.empty()) return std::nullopt;
    return n;
  }

  std::optional<ExpectedDecision> decision(const YAML::Node& node, TimePoint start) {
    auto f = m_check.fields(node, node.Mark(), "an expected decision", k_decision_keys);
    if (!f) return std::nullopt;
    ExpectedDecision d;
    d.line = node.Mark().line + 1;
    bool ok = true;
    const bool outcome = f->find("outcome"), decision = f->find("decision");
    if (outcome == decision) {
      m_check.report().error(node.Mark(),
                             "an expected decision needs exactly one of \"outcome\" (of an "
                             "event: opened, deduplicated, ...) and \"decision\" (escalated, "
                             "demoted, held, ...)");
      ok = false;
    } else if (auto w = m_check.name(*f, outcome ? "outcome" : "decision", "a name")) {
      d.what = *w;
    } else {
      ok = false;
    }
    if (f->find("at")) {
      d.at = time(*f, "at", start);
      ok = ok && d.at.has_value();
    }
    if (f->find("reason")) {
      d.reason = m_check.text(*f, "reason");
      ok = ok && d.reason.has_value();
    }
    if (f->find("fingerprint")) {
      d.fingerprint = m_check.text(*f, "fingerprint");
      ok = ok && d.fingerprint.has_value();
    }
    if (!ok) return std::nullopt;
    return d;
  }

  EnvLookup m_env = nullptr;
  Checker m_check;
};

}  // namespace

bool RulesTestFile::ok() const {
  if (unreadable) return false;
  for (const auto& d : diagnostics) {
    if (d.level == Diagnostic::Level::error) return false;
  }
  return true;
}

RulesTestFile load_rules_tests_text(const std::string& text, const std::string& path) {
  Reporter report(path);
  RulesTestFile result;
  read_document(text, "test file", "\"tests: [...]\"", report, [&](const YAML::Node& root) {
    TestsLoader loader(report);
    result.tests = loader.load(root);
  });
  result.diagnostics = report.take_sorted();
  return result;
}

RulesTestFile load_rules_tests_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::string text;
  bool failed = f == nullptr;
  if (f) {
    char buffer[65536];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
      text.append(buffer, n);
    failed = std::ferror(f) != 0;
    std::fclose(f);
  }
  if (failed) {
    RulesTestFile result;
    result.unreadable = true;
    result.diagnostics.push_back(
        {Diagnostic::Level::error, path, 0, 0, "cannot read the test file"});
    return result;
  }
  return load_rules_tests_text(text, path);
}

}  // namespace tocsin::rules
