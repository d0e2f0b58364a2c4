#include <doctest/doctest.h>

#include "rules/rules.hpp"

namespace rules_matcher_test {

using tocsin::NormalizedEvent;
using tocsin::Severity;
using tocsin::Source;
using tocsin::rules::Match;
using tocsin::rules::Rule;
using tocsin::rules::Rules;
using tocsin::rules::ValueMatcher;

TEST_CASE("ValueMatcher: exact, glob and /regex/") {
  struct Case {
    const char* intent;
    const char* pattern;
    const char* value;
    bool matches;
  };
  const Case cases[] = {
      {"exact equal", "ApproximateAgeOfOldestMessage", "ApproximateAgeOfOldestMessage", true},
      {"exact is case-sensitive", "prod", "Prod", false},
      {"exact is not a substring search", "cpu", "high-cpu", false},
      {"empty exact matches only empty", "", "", true},
      {"empty exact does not match text", "", "x", false},
      {"glob in the middle", "*cpu*", "prod-db-cpu-high", true},
      {"glob needs the literal parts", "*cpu*", "prod-db-memory", false},
      {"glob star matches nothing too", "*cpu*", "cpu", true},
      {"glob prefix", "prod-*", "prod-api", true},
      {"glob anchored at both ends", "prod-*", "preprod-api", false},
      {"glob suffix", "*-high", "cpu-high", true},
      {"glob backtracks", "a*b*c", "axxbyybzzc", true},
      {"glob fails when the tail is missing", "a*b*c", "axxbyyb", false},
      {"lone star matches anything", "*", "", true},
      {"glob treats regex characters literally", "a.b*", "axb", false},
      {"regex searched unanchored", "/^prod-/", "prod-db-1", true},
      {"regex anchored by the author", "/^prod-/", "preprod-db-1", false},
      {"regex unanchored finds a substring", "/cpu/", "db-cpu-high", true},
      {"regex with alternation", "/^(eu|us)-west-[12]$/", "us-west-2", true},
      {"regex alternation rejects others", "/^(eu|us)-west-[12]$/", "ap-southeast-2", false},
      {"regex dot is one UTF-8 character, not one byte", "/^.$/", "\xC3\xA9", true},
      {"regex is case-sensitive", "/^prod/", "PROD-db", false},
      {"(?i) makes a regex case-insensitive", "/(?i)^prod/", "PROD-db", true},
      {"regex dot does not match a newline", "/^a.b$/", "a\nb", false},
      {"a lone slash is exact text", "/", "/", true},
      {"slash only at the start is exact text", "/var", "/var", true},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto m = ValueMatcher::parse(c.pattern);
      REQUIRE(m.has_value());
      CHECK(m->matches(c.value) == c.matches);
      CHECK(m->spelled() == c.pattern);
    }
  }
}

TEST_CASE("ValueMatcher: kind follows the spelling") {
  CHECK(ValueMatcher::parse("x")->kind() == ValueMatcher::Kind::exact);
  CHECK(ValueMatcher::parse("x*")->kind() == ValueMatcher::Kind::glob);
  CHECK(ValueMatcher::parse("/x*/")->kind() == ValueMatcher::Kind::regex);
}

TEST_CASE("ValueMatcher: a regex RE2 refuses is an error naming RE2's reason") {
  const std::string hint =
      " (RE2 syntax has no lookaround or backreferences; a named group is (?P<name>...))";
  struct Case {
    const char* intent;
    const char* pattern;
    std::string reason;
  };
  const Case cases[] = {
      {"an unclosed class", "/[unclosed/", "missing ]: [unclosed"},
      {"a backreference", "/(a)\\1/", "invalid escape sequence: \\1" + hint},
      {"a lookahead", "/(?=x)/", "invalid perl operator: (?=" + hint},
      {"a lookbehind", "/(?<!x)y/", "invalid perl operator: (?<" + hint},
      {"a pattern too large for the memory bound", "/\\pL{200}/",
       "pattern too large - compile failed"},
      {"a newline in the pattern stays on one line", "/(\n/", "missing ): (\\x0a"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto m = ValueMatcher::parse(c.pattern);
      REQUIRE_FALSE(m.has_value());
      CHECK(m.error() == c.reason);
    }
  }
}

TEST_CASE("ValueMatcher: a regex runs in time linear in the value, whatever its length") {
  // A backtracking matcher recursed once per character of the value (a 40 KB alert name
  // overflowed the writer thread's stack) and went exponential on nested quantifiers.
  const std::string mib(std::size_t{1} << 20, 'a');
  struct Case {
    const char* intent;
    const char* pattern;
    std::string value;
    bool matches;
  };
  const Case cases[] = {
      {"dot-star before a literal, found at the end", "/.*x/", mib + "x", true},
      {"dot-star before a literal, absent", "/.*x/", mib, false},
      {"a run between two literals", "/prod.*db/", "prod-" + mib + "-db", true},
      {"a starred group over the whole value", "/(a|b)*c/", mib + "bc", true},
      {"a starred group, no final literal", "/(a|b)*c/", mib, false},
      {"a nested quantifier on a short value", "/(a*)*b/", std::string(30, 'a'), false},
      {"a nested quantifier on a long value", "/(a*)*b/", mib, false},
      {"a nested quantifier that matches", "/^(a+)+$/", mib, true},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto m = ValueMatcher::parse(c.pattern);
      REQUIRE(m.has_value());
      CHECK(m->matches(c.value) == c.matches);
    }
  }
}

namespace {

NormalizedEvent queue_alarm() {
  NormalizedEvent e;
  e.source = Source::cloudwatch;
  e.name = "queue-worker-oldest-message";
  e.metric = "ApproximateAgeOfOldestMessage";
  e.namespace_ = "AWS/SQS";
  e.account = "123456789012";
  e.region = "ap-southeast-2";
  e.labels = {{"QueueName", "hooks-worker"}};
  return e;
}

Match match_of(std::initializer_list<std::pair<const char*, const char*>> fields,
               std::initializer_list<std::pair<const char*, const char*>> labels = {}) {
  Match m;
  for (const auto& [key, value] : fields) {
    const std::string k = key;
    auto v = ValueMatcher::parse(value).value();
    if (k == "source") m.source = v;
    if (k == "name") m.name = v;
    if (k == "severity") m.severity = v;
    if (k == "metric") m.metric = v;
    if (k == "namespace") m.namespace_ = v;
    if (k == "account") m.account = v;
    if (k == "region") m.region = v;
  }
  for (const auto& [key, value] : labels)
    m.labels.emplace_back(key, ValueMatcher::parse(value).value());
  return m;
}

}  // namespace

TEST_CASE("Match: every present key must match") {
  const auto e = queue_alarm();
  struct Case {
    const char* intent;
    Match match;
    bool matches;
  };
  const Case cases[] = {
      {"empty match matches everything", Match{}, true},
      {"source and metric (the §1 rule)",
       match_of({{"source", "cloudwatch"}, {"metric", "ApproximateAgeOfOldestMessage"}}), true},
      {"wrong source", match_of({{"source", "alertmanager"}}), false},
      {"one failing key fails the match",
       match_of({{"source", "cloudwatch"}, {"metric", "CPUUtilization"}}), false},
      {"name glob", match_of({{"name", "queue-*"}}), true},
      {"namespace exact", match_of({{"namespace", "AWS/SQS"}}), true},
      {"account exact", match_of({{"account", "123456789012"}}), true},
      {"region regex", match_of({{"region", "/^ap-/"}}), true},
      {"region regex miss", match_of({{"region", "/^us-/"}}), false},
      {"label exact", match_of({}, {{"QueueName", "hooks-worker"}}), true},
      {"label mismatch", match_of({}, {{"QueueName", "other"}}), false},
      {"absent label never matches, even with *", match_of({}, {{"Env", "*"}}), false},
      {"severity \"\" matches an event without severity", match_of({{"severity", ""}}), true},
      {"severity set in match needs one on the event", match_of({{"severity", "critical"}}), false},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      CHECK(c.match.matches(e) == c.matches);
    }
  }
}

TEST_CASE("Match: severity compares the event's own severity") {
  auto e = queue_alarm();
  e.severity = Severity::critical;
  CHECK(match_of({{"severity", "critical"}}).matches(e));
  CHECK(match_of({{"severity", "/^(critical|high)$/"}}).matches(e));
  CHECK_FALSE(match_of({{"severity", "warning"}}).matches(e));
}

TEST_CASE("Rules::matching: first match wins unless it says continue") {
  const auto e = queue_alarm();
  const auto rule = [](const char* name, Match m, bool cont) {
    Rule r;
    r.name = name;
    r.match = std::move(m);
    r.continue_matching = cont;
    return r;
  };
  const auto names = [](const std::vector<const Rule*>& rules) {
    std::vector<std::string> out;
    for (const auto* r : rules)
      out.push_back(r->name);
    return out;
  };
  using Names = std::vector<std::string>;

  SUBCASE("the first matching rule, and only it") {
    Rules rules;
    rules.rules = {rule("other", match_of({{"source", "generic"}}), false),
                   rule("queue", match_of({{"metric", "Approx*"}}), false),
                   rule("catch-all", Match{}, false)};
    CHECK(names(rules.matching(e)) == Names{"queue"});
  }
  SUBCASE("continue: true lets following matching rules apply too") {
    Rules rules;
    rules.rules = {
        rule("audit", Match{}, true), rule("not-this", match_of({{"source", "generic"}}), false),
        rule("queue", match_of({{"metric", "Approx*"}}), false), rule("catch-all", Match{}, false)};
    CHECK(names(rules.matching(e)) == Names{"audit", "queue"});
  }
  SUBCASE("a chain of continues ends at the first rule without it") {
    Rules rules;
    rules.rules = {rule("a", Match{}, true), rule("b", Match{}, true), rule("c", Match{}, false),
                   rule("d", Match{}, false)};
    CHECK(names(rules.matching(e)) == Names{"a", "b", "c"});
  }
  SUBCASE("no rule matches: empty") {
    Rules rules;
    rules.rules = {rule("other", match_of({{"source", "generic"}}), false)};
    CHECK(rules.matching(e).empty());
  }
}

TEST_CASE("to_string spells enums as the rules file does") {
  using namespace tocsin::rules;
  CHECK(to_string(InsufficientDataPolicy::resolve) == "resolve");
  CHECK(to_string(ChannelType::pagerduty) == "pagerduty");
  CHECK(to_string(Scope::write) == "write");
  CHECK(to_string(Synchronous::normal) == "normal");
}

}  // namespace rules_matcher_test
