// `tocsin test RULES TESTS.yaml` (README "Rules as code"; the file: docs/formats.md §13.3): each
// test's inputs run through `tocsin replay` itself (a throwaway database, the virtual clock), and
// the notifications it sends are compared with the ones expected.
#include "cli/rules_test.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/replay.hpp"
#include "core/duration.hpp"
#include "core/json.hpp"
#include "rules/test_file.hpp"

namespace tocsin::cli {

namespace {

struct ActualNotification {
  TimePoint at{};
  std::string channel, action, fingerprint, severity, priority;
  int level = 0;
};

struct ActualDecision {
  TimePoint at{};
  std::string what, reason, fingerprint;
};

struct Run {
  std::vector<ActualNotification> notifications;
  std::vector<ActualDecision> decisions;
  std::string warnings;  // what the replay said on its error stream
  std::optional<std::string> failed;
};

Run replay_test(const std::string& rules_path, const std::string& tests_path,
                const rules::RulesTest& t) {
  std::stringstream lines;
  for (const auto& in : t.inputs)
    lines << in.json << '\n';
  ReplayOptions options;
  options.rules_path = rules_path;
  options.events_path = tests_path + " (test \"" + t.name + "\")";
  options.events_stream = &lines;
  options.until = t.until;
  std::ostringstream out, err;
  Run run;
  const int status = run_replay(options, out, err);
  run.warnings = err.str();
  if (status != 0) {
    run.failed = "the replay failed (exit " + std::to_string(status) + ")";
    return run;
  }
  std::istringstream produced(out.str());
  std::string line;
  while (std::getline(produced, line)) {
    const Json j = Json::parse(line);
    const auto at = parse_timestamp(string_or_empty(j, "at"));
    if (!at) continue;
    const std::string type = string_or_empty(j, "type");
    if (type == "notify") {
      ActualNotification n;
      n.at = *at;
      n.channel = string_or_empty(j, "channel");
      n.action = string_or_empty(j, "action");
      n.fingerprint = string_or_empty(j, "fingerprint");
      n.severity = string_or_empty(j, "severity");
      n.priority = string_or_empty(j, "priority");
      if (j.contains("level") && j["level"].is_number_integer()) n.level = j["level"].get<int>();
      run.notifications.push_back(std::move(n));
    } else {
      ActualDecision d;
      d.at = *at;
      d.what = string_or_empty(j, type == "event" ? "outcome" : "decision");
      d.reason = string_or_empty(j, "reason");
      d.fingerprint = string_or_empty(j, "fingerprint");
      run.decisions.push_back(std::move(d));
    }
  }
  return run;
}

std::string when(TimePoint at, TimePoint start) {
  if (at < start) return format_timestamp(at);
  return "+" + format_duration(at - start);
}

bool within(TimePoint expected, TimePoint actual, Duration tolerance) {
  const auto d = expected > actual ? expected - actual : actual - expected;
  return d <= tolerance;
}

bool matches(const rules::ExpectedNotification& e, const ActualNotification& a,
             Duration tolerance) {
  return within(e.at, a.at, tolerance) && e.channel == a.channel && e.action == a.action &&
         (!e.level || *e.level == a.level) && (!e.fingerprint || *e.fingerprint == a.fingerprint) &&
         (!e.severity || *e.severity == a.severity) && (!e.priority || *e.priority == a.priority);
}

std::string describe(const rules::ExpectedNotification& e, TimePoint start) {
  std::string s = when(e.at, start) + " " + e.action + " " + e.channel;
  if (e.level) s += " level " + std::to_string(*e.level);
  if (e.severity) s += " severity " + *e.severity;
  if (e.priority) s += " priority " + *e.priority;
  if (e.fingerprint) s += " fingerprint " + *e.fingerprint;
  return s + "  (line " + std::to_string(e.line) + ")";
}

std::string describe(const ActualNotification& a, TimePoint start) {
  return when(a.at, start) + " " + a.action + " " + a.channel + " level " +
         std::to_string(a.level) + " severity " + a.severity + " priority " + a.priority +
         (a.fingerprint.empty() ? std::string() : " fingerprint " + a.fingerprint);
}

// The expected and actual notifications aligned (longest common subsequence): lines both have,
// lines only expected (-), lines only sent (+). Empty when they agree.
std::vector<std::string> notification_diff(const rules::RulesTest& t,
                                           const std::vector<ActualNotification>& actual) {
  const auto& expected = t.notifications;
  const std::size_t n = expected.size(), m = actual.size();
  std::vector<std::vector<std::size_t>> lcs(n + 1, std::vector<std::size_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      lcs[i][j] = matches(expected[i], actual[j], t.tolerance)
                      ? lcs[i + 1][j + 1] + 1
                      : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  if (lcs[0][0] == n && n == m) return {};
  std::vector<std::string> out;
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && matches(expected[i], actual[j], t.tolerance)) {
      out.push_back("      " + describe(actual[j], t.start));
      ++i;
      ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push_back("    - " + describe(expected[i], t.start));
      ++i;
    } else {
      out.push_back("    + " + describe(actual[j], t.start));
      ++j;
    }
  }
  return out;
}

// Expected decisions must appear in order among the actual ones (others may come between).
std::optional<std::string> decisions_problem(const rules::RulesTest& t,
                                             const std::vector<ActualDecision>& actual) {
  std::size_t from = 0;
  for (const auto& e : *t.decisions) {
    bool found = false;
    for (std::size_t k = from; k < actual.size(); ++k) {
      const auto& a = actual[k];
      if (a.what == e.what && (!e.at || within(*e.at, a.at, t.tolerance)) &&
          (!e.reason || a.reason.starts_with(*e.reason)) &&
          (!e.fingerprint || *e.fingerprint == a.fingerprint)) {
        from = k + 1;
        found = true;
        break;
      }
    }
    if (!found) {
      std::string s = "expected decision (line " + std::to_string(e.line) + ") " + e.what;
      if (e.at) s += " at " + when(*e.at, t.start);
      if (e.fingerprint) s += " fingerprint " + *e.fingerprint;
      if (e.reason) s += " reason " + *e.reason + "...";
      s += " not found after the decisions matched before it; the decisions were:";
      for (const auto& a : actual) {
        s += "\n      " + when(a.at, t.start) + " " + a.what + " " +
             (a.fingerprint.empty() ? std::string("-") : a.fingerprint) + " " + a.reason;
      }
      return s;
    }
  }
  return std::nullopt;
}

}  // namespace

int run_rules_tests(const RulesTestOptions& options, std::ostream& out, std::ostream& err) {
  rules::LoadResult loaded = rules::load_rules_file(
      options.rules_path, rules::LoadOptions{.env = nullptr, .serving = false});
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) {
      if (d.level == rules::Diagnostic::Level::error) err << d.format() << '\n';
    }
    err << "tocsin test: " << options.rules_path << " is not a valid rules file\n";
    return 2;
  }
  rules::RulesTestFile file = rules::load_rules_tests_file(options.tests_path);
  std::size_t errors = 0;
  for (const auto& d : file.diagnostics) {
    err << d.format() << '\n';
    if (d.level == rules::Diagnostic::Level::error) ++errors;
  }
  // Every input must be a replay line (docs/formats.md §13.1), checked before any runs.
  for (const auto& t : file.tests) {
    for (const auto& in : t.inputs) {
      if (auto problem = replay_line_problem(in.json)) {
        err << options.tests_path << ":" << in.line << ":" << in.column
            << ": error: input of test \"" << t.name << "\": " << *problem << '\n';
        ++errors;
      }
    }
  }
  if (!file.ok() || errors > 0) {
    err << "tocsin test: " << options.tests_path << ": " << errors
        << " error(s); no test was run\n";
    return 2;
  }

  std::size_t failed = 0;
  for (const auto& t : file.tests) {
    Run run = replay_test(options.rules_path, options.tests_path, t);
    std::vector<std::string> problems;
    if (run.failed) problems.push_back(*run.failed);
    if (!run.failed) {
      auto diff = notification_diff(t, run.notifications);
      if (!diff.empty()) {
        std::string s = "notifications up to " + when(t.until, t.start) + " (" +
                        format_timestamp(t.until) + "), - expected, + sent" +
                        (t.tolerance.count() > 0 ? ", times within " + format_duration(t.tolerance)
                                                 : std::string()) +
                        ":";
        for (const auto& line : diff)
          s += "\n" + line;
        problems.push_back(s);
      }
      if (t.decisions) {
        if (auto p = decisions_problem(t, run.decisions)) problems.push_back(*p);
      }
      // An input the hook would refuse (a misspelt hook, a body that does not fit) tests
      // nothing: a test expecting silence would pass on it. It fails the test.
      std::istringstream warnings(run.warnings);
      std::string line;
      while (std::getline(warnings, line)) {
        if (line.find("warning: /hooks/") != std::string::npos)
          problems.push_back("an input the hook would refuse: " + line);
      }
    }
    if (problems.empty()) {
      out << "PASS " << t.name << '\n';
      // What the replay said (an acknowledge of an alert with nothing open, ...) is shown.
      std::istringstream warnings(run.warnings);
      std::string line;
      while (std::getline(warnings, line))
        out << "  replay: " << line << '\n';
      continue;
    }
    ++failed;
    out << "FAIL " << t.name << " (" << options.tests_path << ":" << t.line << ", start "
        << format_timestamp(t.start) << ")\n";
    for (const auto& p : problems)
      out << "  " << p << '\n';
    if (!run.warnings.empty()) {
      std::istringstream warnings(run.warnings);
      std::string line;
      while (std::getline(warnings, line))
        out << "  replay: " << line << '\n';
    }
  }
  out << file.tests.size() << " test(s), " << file.tests.size() - failed << " passed, " << failed
      << " failed\n";
  return failed == 0 ? 0 : 1;
}

Subcommand add_rules_test(CLI::App& cli) {
  auto opt = std::make_shared<RulesTestOptions>();
  auto* cmd = cli.add_subcommand(
      "test",
      "Run a rules file's unit tests: timed inputs through a replay, notifications compared; "
      "exit 0 all pass, 1 any fails, 2 bad rules or test file");
  cmd->add_option("RULES", opt->rules_path, "Rules file")->required();
  cmd->add_option("TESTS", opt->tests_path, "Test file (YAML)")->required();
  return {cmd, [opt] { return run_rules_tests(*opt, std::cout, std::cerr); }};
}

}  // namespace tocsin::cli
