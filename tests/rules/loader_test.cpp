#include "rules/loader.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string_view>

#include "storage/database.hpp"

namespace rules_loader_test {

using namespace std::chrono_literals;
using namespace tocsin::rules;
using tocsin::Priority;
using tocsin::Severity;

namespace {

std::optional<std::string> every_var_set(const std::string&) {
  return "value";
}
std::optional<std::string> no_var_set(const std::string&) {
  return std::nullopt;
}

LoadResult load(std::string_view text, const EnvLookup& env = every_var_set) {
  return load_rules_text(std::string(text), "rules.yaml", env);
}

std::vector<Diagnostic> of_level(const LoadResult& r, Diagnostic::Level level) {
  std::vector<Diagnostic> out;
  for (const auto& d : r.diagnostics) {
    if (d.level == level) out.push_back(d);
  }
  return out;
}
std::vector<Diagnostic> errors_of(const LoadResult& r) {
  return of_level(r, Diagnostic::Level::error);
}
std::vector<Diagnostic> warnings_of(const LoadResult& r) {
  return of_level(r, Diagnostic::Level::warning);
}

std::string all_messages(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics)
    out += d.format() + "\n";
  return out;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Ends inside the channels map, so a case may add channels ("  x: {...}") or start new
// sections at column 1; the case's first line is line 4 of the file.
constexpr std::string_view k_head =
    "version: 1\n"
    "channels:\n"
    "  alerts: {type: slack, url: \"https://hooks.example/a\"}\n";

struct BadCase {
  const char* intent;
  const char* yaml;  // appended to k_head unless `whole`
  int line;
  int column;
  const char* message;  // a substring of the one error expected
  bool whole = false;
};

void check_bad_cases(std::initializer_list<BadCase> cases) {
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto text = c.whole ? std::string(c.yaml) : std::string(k_head) + c.yaml;
      const auto r = load(text);
      INFO(all_messages(r));
      CHECK_FALSE(r.ok());
      const auto errors = errors_of(r);
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].line == c.line);
      CHECK(errors[0].column == c.column);
      CHECK(contains(errors[0].message, c.message));
    }
  }
}

// fread rather than istreambuf_iterator, which trips g++ 12's -Wnull-dereference at -O2.
std::string read_file(const std::string& path) {
  std::string out;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
      out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  char buf[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    out += buf;
  }
  return out;
}

}  // namespace

TEST_CASE("bad files: the document and the top level") {
  check_bad_cases({
      {"unknown top-level key, with a hint", "rule: []\n", 4, 1,
       "unknown key \"rule\" in the top level of the file (did you mean \"rules\"?)"},
      {"version must be 1", "version: 2\n", 1, 10, "unsupported rules file version \"2\"", true},
      {"version is required", "rules: []\n", 1, 1, "missing required key \"version\"", true},
      {"a YAML syntax error is one error at the parser's mark", "version: 1\nrules: [\n", 3, 1,
       "invalid YAML: end of sequence flow not found", true},
      {"tabs get a hint", "version: 1\nrules:\n\t- name: x\n", 3, 2,
       "indented with a tab; YAML needs spaces", true},
      {"an empty file", "", 1, 1, "the rules file is empty", true},
      {"a file of comments is empty", "# nothing yet\n", 1, 1, "the rules file is empty", true},
      {"a second YAML document", "version: 1\n---\nversion: 1\n", 3, 1, "a single YAML document",
       true},
      // yaml-cpp 0.7 (jbeder/yaml-cpp#1040) returns an empty document for these forever.
      {"a lone comma is invalid, not a hang", ",\n", 1, 1, "invalid YAML: unexpected \",\"", true},
      {"a comma after a flow list is invalid, not a hang", "[version],\n", 1, 10,
       "invalid YAML: unexpected \",\"", true},
      {"a comma in a second document is invalid, not a hang", "version: 1\n---\n,\n", 3, 1,
       "invalid YAML: unexpected \",\"", true},
      {"the top level must be a map", "- version: 1\n", 1, 1,
       "expected a map for the top level of the file, got a list", true},
      {"a duplicate key is an error, not silently one of them", "rules: []\nrules: []\n", 5, 1,
       "duplicate key \"rules\" in the top level of the file (first set at line 4)"},
      {"YAML merge keys are refused with a reason", "defaults:\n  <<: {severity: high}\n", 5, 3,
       "YAML merge keys (<<) are not supported"},
  });
}

TEST_CASE("bad files: defaults, durations and enums") {
  check_bad_cases({
      {"a duration in words", "defaults: {stale_after: soon}\n", 4, 25,
       "expected a duration like 30s, 5m, 2h, 7d for \"stale_after\", got \"soon\""},
      {"a bare number is ambiguous", "defaults: {max_open_age: 72}\n", 4, 26,
       "a bare number is ambiguous"},
      {"zero where it makes no sense", "defaults: {stale_after: 0s}\n", 4, 25,
       "\"stale_after\" must be longer than 0s"},
      {"severity typo, with a hint", "defaults: {severity: critcal}\n", 4, 22,
       "expected one of critical, high, warning, info for \"severity\", got \"critcal\" (did you "
       "mean \"critical\"?)"},
      {"priority out of range", "defaults: {priority: P6}\n", 4, 22,
       "expected one of P1, P2, P3, P4, P5 for \"priority\", got \"P6\""},
      {"insufficient_data value", "defaults: {insufficient_data: alarm}\n", 4, 31,
       "expected one of ignore, firing, resolve for \"insufficient_data\""},
      {"actions_suppressed value", "defaults: {actions_suppressed: fire}\n", 4, 32,
       "expected one of ignore, firing for \"actions_suppressed\", got \"fire\""},
      {"unknown key in defaults, with a hint", "defaults: {stale_afer: 1h}\n", 4, 12,
       "unknown key \"stale_afer\" in defaults (did you mean \"stale_after\"?)"},
      {"a map where a string is expected", "defaults: {severity: {level: high}}\n", 4, 22,
       "for \"severity\", got a map"},
      {"a key with no value points at the key", "defaults:\n  stale_after:\n", 5, 3,
       "for \"stale_after\", got nothing"},
  });
}

TEST_CASE("bad files: sources") {
  check_bad_cases({
      {"an empty topic list", "sources:\n  sns: {topics: []}\n", 5, 17,
       "\"topics\" must list at least one ARN, or be omitted to allow any"},
      {"a topic that is not an ARN", "sources:\n  sns: {topics: [\"alerts\"]}\n", 5, 18,
       "topic \"alerts\" is not an ARN"},
      {"YAML 1.1 booleans are refused", "sources:\n  sns: {auto_confirm: yes}\n", 5, 23,
       "expected true or false for \"auto_confirm\", got \"yes\""},
      {"signature version 1 or 2", "sources:\n  sns: {min_signature_version: 3}\n", 5, 32,
       "\"min_signature_version\" must be between 1 and 2, got 3"},
      {"an inline token is refused",
       "sources:\n  generic: {token: abc, allow_unauthenticated: true}\n", 5, 13,
       "secrets never live in the rules file"},
      {"an unknown source", "sources:\n  cloudwatch: {}\n", 5, 3,
       "unknown key \"cloudwatch\" in sources; allowed keys: sns, opsgenie, eventbridge"},
      {"a listed source says how it authenticates", "sources:\n  generic: {}\n", 5, 3,
       "sources.generic needs \"token_env\""},
      {"a source listed with nothing", "sources:\n  alertmanager:\n", 5, 3,
       "or \"allow_unauthenticated: true\""},
      {"a token and allow_unauthenticated together",
       "sources:\n  generic: {token_env: T, allow_unauthenticated: true}\n", 5, 50,
       "set either \"token_env\" or \"allow_unauthenticated: true\", not both"},
      {"unsigned SNS must be allowed explicitly", "sources:\n  sns: {verify_signature: false}\n", 5,
       27, "add \"allow_unauthenticated: true\""},
      {"heartbeats need their source", "heartbeats:\n  - {name: hb, every: 5m}\n", 4, 1,
       "add sources.heartbeat with token_env (or allow_unauthenticated: true)"},
      {"token_env must name a variable", "sources:\n  generic: {token_env: \"s3cr3t-value\"}\n", 5,
       24, "\"token_env\" must be the name of an environment variable"},
  });
}

TEST_CASE("bad files: channels") {
  check_bad_cases({
      {"unknown key", "  pager: {type: slack, url: \"https://x.example\", foo: 1}\n", 4, 50,
       "unknown key \"foo\" in channel \"pager\""},
      {"misspelt key, with a hint",
       "  pager: {type: slack, url: \"https://x.example\", digest_evry: 1h}\n", 4, 50,
       "unknown key \"digest_evry\" in channel \"pager\" (did you mean \"digest_every\"?)"},
      {"type is required", "  pager: {url: \"https://x.example\"}\n", 4, 10,
       "missing required key \"type\" in channel \"pager\""},
      {"unknown type", "  pager: {type: teams, url: \"https://x.example\"}\n", 4, 17,
       "expected one of opsgenie, pagerduty, slack, webhook for \"type\", got \"teams\""},
      {"url and url_env together",
       "  pager: {type: slack, url: \"https://x.example\", url_env: X}\n", 4, 59,
       "set either \"url\" or \"url_env\", not both"},
      {"neither url nor url_env", "  pager: {type: slack}\n", 4, 3,
       "channel \"pager\" needs \"url\""},
      {"url must be http or https", "  pager: {type: slack, url: \"ftp://x.example\"}\n", 4, 29,
       "\"url\" must be an http:// or https:// URL, got \"ftp://x.example\""},
      {"url given as a map", "  pager: {type: slack, url: {host: x}}\n", 4, 29,
       "expected a URL for \"url\", got a map"},
      {"a key of another channel type",
       "  pager: {type: slack, url: \"https://x.example\", routing_key_env: PD_KEY}\n", 4, 67,
       "\"routing_key_env\" is for channels of type pagerduty, and this channel is of type slack"},
      {"opsgenie needs api_key_env", "  og: {type: opsgenie, url: \"https://api.opsgenie.com\"}\n",
       4, 7, "missing required key \"api_key_env\" in channel \"og\""},
      {"pagerduty needs routing_key_env", "  pd: {type: pagerduty, url: \"https://x.example\"}\n",
       4, 7, "missing required key \"routing_key_env\" in channel \"pd\""},
      {"an inline api_key points to api_key_env",
       "  og: {type: opsgenie, url: \"https://api.opsgenie.com\", api_key_env: K, api_key: abc}\n",
       4, 73, "set \"api_key_env\" to the name of an environment variable"},
      {"an inline password is refused too",
       "  wh: {type: webhook, url: \"https://x.example\", password: abc}\n", 4, 49,
       "secrets never live in the rules file"},
      {"digest_every must be positive",
       "  pager: {type: slack, url: \"https://x.example\", digest_every: 0s}\n", 4, 64,
       "\"digest_every\" must be longer than 0s"},
      {"a channel must be a map", "  pager: slack\n", 4, 10,
       "expected a map for channel \"pager\", got \"slack\""},
      {"a channel defined twice", "  alerts: {type: slack, url: \"https://x.example\"}\n", 4, 3,
       "duplicate key \"alerts\" in channels (first set at line 3)"},
  });
}

TEST_CASE("bad files: delivery and escalations") {
  check_bad_cases({
      {"undefined fallback channel", "delivery: {fallback: pager}\n", 4, 22,
       "undefined channel \"pager\" in delivery.fallback"},
      {"max_attempts at least 1", "delivery: {max_attempts: 0}\n", 4, 26,
       "\"max_attempts\" must be at least 1, got 0"},
      {"max_attempts is a number", "delivery: {max_attempts: many}\n", 4, 26,
       "expected a whole number for \"max_attempts\", got \"many\""},
      {"backoff_max below backoff_initial", "delivery: {backoff_initial: 10m, backoff_max: 1m}\n",
       4, 47, "\"backoff_max\" (1m) must not be shorter than \"backoff_initial\" (10m)"},
      {"steps out of order",
       "escalations:\n  p:\n    steps:\n      - {after: 20m, notify: [alerts]}\n"
       "      - {after: 10m, notify: [alerts]}\n",
       8, 17, "\"after\" 10m comes before the previous step's 20m"},
      {"a step needs after", "escalations:\n  p: {steps: [{notify: [alerts]}]}\n", 5, 15,
       "missing required key \"after\" in step 1 of escalation policy \"p\""},
      {"a step needs notify", "escalations:\n  p: {steps: [{after: 0m}]}\n", 5, 15,
       "missing required key \"notify\" in step 1 of escalation policy \"p\""},
      {"at least one step", "escalations:\n  p: {steps: []}\n", 5, 14,
       "\"steps\" must list at least one step"},
      {"steps are required", "escalations:\n  p: {repeat_every: 30m}\n", 5, 6,
       "missing required key \"steps\" in escalation policy \"p\""},
      {"undefined channel in a step",
       "escalations:\n  p: {steps: [{after: 0m, notify: [pager]}]}\n", 5, 36,
       "undefined channel \"pager\" in step 1 of escalation policy \"p\""},
      {"names of synthesized policies are reserved",
       "escalations:\n  \"rule:x\": {steps: [{after: 0m, notify: [alerts]}]}\n", 5, 3,
       "reserved for the policies made from \"notify\""},
      {"notify must be a list", "escalations:\n  p: {steps: [{after: 0m, notify: alerts}]}\n", 5,
       35, "expected a list for \"notify\", like [oncall, alerts], got \"alerts\""},
      {"a channel listed twice",
       "escalations:\n  p: {steps: [{after: 0m, notify: [alerts, alerts]}]}\n", 5, 44,
       "channel \"alerts\" is listed twice in step 1 of escalation policy \"p\""},
  });
}

TEST_CASE("bad files: rules and match") {
  check_bad_cases({
      {"rules must be a list", "rules:\n  name: x\n", 5, 3, "expected a list of rules"},
      {"a rule needs a name", "rules:\n  - match: {}\n", 5, 5,
       "missing required key \"name\" in rule #1"},
      {"actions_suppressed in a rule, misspelt",
       "rules:\n  - {name: r, match: {}, actions_suppressed: page}\n", 5, 46,
       "expected one of ignore, firing for \"actions_suppressed\", got \"page\""},
      {"a rule needs a match", "rules:\n  - name: r\n", 5, 5,
       "missing required key \"match\" in rule \"r\""},
      {"an empty match is not match-all", "rules:\n  - name: r\n    match:\n", 6, 5,
       "\"match\" is empty; give it keys, or write \"match: {}\""},
      {"duplicate rule names", "rules:\n  - {name: r, match: {}}\n  - {name: r, match: {}}\n", 6,
       12, "duplicate rule name (first used at line 5)"},
      {"notify and escalation together",
       "escalations:\n  p: {steps: [{after: 0m, notify: [alerts]}]}\n"
       "rules:\n  - {name: r, match: {}, notify: [alerts], escalation: p}\n",
       7, 56, "set either \"notify\" (a one-step route) or \"escalation\" (a policy), not both"},
      {"undefined channel in notify",
       "rules:\n  - name: queue-backlog\n    match: {}\n    notify: [pager]\n", 7, 14,
       "undefined channel \"pager\" in notify of rule \"queue-backlog\""},
      {"undefined escalation policy", "rules:\n  - name: y\n    match: {}\n    escalation: x\n", 7,
       17, "undefined escalation policy \"x\" used in rule \"y\""},
      {"undefined low_priority channel", "rules:\n  - {name: r, match: {}, low_priority: digest}\n",
       5, 40, "undefined channel \"digest\" in low_priority of rule \"r\""},
      {"an undefined channel gets a hint", "rules:\n  - {name: r, match: {}, notify: [alert]}\n", 5,
       35, "undefined channel \"alert\" in notify of rule \"r\" (did you mean \"alerts\"?)"},
      {"unknown match key", "rules:\n  - {name: r, match: {metrc: X}}\n", 5, 23,
       "unknown key \"metrc\" in match of rule \"r\" (did you mean \"metric\"?)"},
      {"source sns is explained", "rules:\n  - {name: r, match: {source: sns}}\n", 5, 31,
       "got \"sns\" (CloudWatch alarms have source cloudwatch"},
      {"source typo, with a hint", "rules:\n  - {name: r, match: {source: cloudwach}}\n", 5, 31,
       "(did you mean \"cloudwatch\"?)"},
      {"an invalid regex", "rules:\n  - {name: r, match: {name: \"/[a/\"}}\n", 5, 29,
       "invalid regex \"/[a/\" for \"name\""},
      {"a backreference is refused, with RE2's reason",
       "rules:\n  - {name: r, match: {name: '/(a)\\1/'}}\n", 5, 29,
       "invalid regex \"/(a)\\\\1/\" for \"name\": invalid escape sequence: \\1"},
      {"a lookahead in a label value is refused, with RE2's reason",
       "rules:\n  - {name: r, match: {labels: {env: '/(?=x)/'}}}\n", 5, 37,
       "invalid regex \"/(?=x)/\" for \"env\": invalid perl operator: (?="},
      {"labels must be a map", "rules:\n  - {name: r, match: {labels: [a]}}\n", 5, 31,
       "expected a map for labels in match of rule \"r\", got a list"},
      {"a label value must be a string", "rules:\n  - {name: r, match: {labels: {env: {a: b}}}}\n",
       5, 37, "expected a value, glob or /regex/ for \"env\", got a map"},
      {"an exact severity must exist", "rules:\n  - {name: r, match: {severity: urgent}}\n", 5, 33,
       "expected one of critical, high, warning, info for \"severity\""},
      {"continue is a boolean", "rules:\n  - {name: r, match: {}, continue: yes}\n", 5, 36,
       "expected true or false for \"continue\""},
      {"dedup_key placeholder typo",
       "rules:\n  - {name: r, match: {}, dedup_key: \"{source}:{nmae}\"}\n", 5, 37,
       "uses unknown placeholder {nmae}"},
      {"dedup_key brace never closed", "rules:\n  - {name: r, match: {}, dedup_key: \"{source\"}\n",
       5, 37, "has a \"{\" that is never closed"},
      {"drop cannot notify", "rules:\n  - {name: r, match: {}, notify: [alerts], drop: true}\n", 5,
       50, "\"drop: true\" records alerts without notifying anyone"},
      {"hold_for must be positive", "rules:\n  - {name: r, match: {}, hold_for: 0s}\n", 5, 36,
       "\"hold_for\" must be longer than 0s"},
      {"notify must not be empty", "rules:\n  - {name: r, match: {}, notify: []}\n", 5, 34,
       "\"notify\" must list at least one channel"},
      {"a rule's stale_after", "rules:\n  - {name: r, match: {}, stale_after: soon}\n", 5, 39,
       "rule \"r\": expected a duration like 30s, 5m, 2h, 7d for \"stale_after\", got \"soon\""},
      {"unknown rule key names the rule", "rules:\n  - {name: r, match: {}, notfy: [alerts]}\n", 5,
       26, "unknown key \"notfy\" in rule \"r\" (did you mean \"notify\"?)"},
  });
}

TEST_CASE("bad files: noise, heartbeats, watchdog, api, storage") {
  check_bad_cases({
      {"weights must add up to 1",
       "noise:\n  weights: {flap: 0.5, rate: 0.3, transient: 0.2, ignored: 0.1}\n", 5, 12,
       "\"weights\" must add up to 1, got 1.1"},
      {"a weight above 1", "noise:\n  weights: {flap: 1.5}\n", 5, 19,
       "\"flap\" must be between 0 and 1, got 1.5"},
      {"flap_low below flap_high", "noise: {flap_low: 60}\n", 4, 19,
       "\"flap_low\" (60) must be below \"flap_high\" (50)"},
      {"demote_above is a percentage", "noise: {demote_above: 150}\n", 4, 23,
       "\"demote_above\" must be between 0 and 100, got 150"},
      {"flap_history at least 2", "noise: {flap_history: 1}\n", 4, 23,
       "\"flap_history\" must be at least 2, got 1"},
      {"rate_ceiling above 0", "noise: {rate_ceiling: 0}\n", 4, 23,
       "\"rate_ceiling\" must be above 0"},
      {"a number in words", "noise: {demote_above: high}\n", 4, 23,
       "expected a number for \"demote_above\", got \"high\""},
      {"heartbeat names are URL-safe",
       "heartbeats:\n  - {name: \"a/b\", every: 5m}\n"
       "sources: {heartbeat: {allow_unauthenticated: true}}\n",
       5, 12, "heartbeat names go in the URL"},
      {"a heartbeat needs every",
       "heartbeats:\n  - {name: hb}\nsources: {heartbeat: {allow_unauthenticated: true}}\n", 5, 5,
       "missing required key \"every\" in heartbeat \"hb\""},
      {"duplicate heartbeat names",
       "heartbeats:\n  - {name: hb, every: 5m}\n  - {name: hb, every: 5m}\n"
       "sources: {heartbeat: {allow_unauthenticated: true}}\n",
       6, 12, "duplicate heartbeat name (first used at line 5)"},
      {"heartbeat notify and escalation together",
       "heartbeats:\n  - {name: hb, every: 5m, notify: [alerts], escalation: p}\n"
       "escalations:\n  p: {steps: [{after: 0m, notify: [alerts]}]}\nsources: {heartbeat: "
       "{allow_unauthenticated: true}}\n",
       5, 57, "set either \"notify\" (a one-step route) or \"escalation\" (a policy), not both"},
      {"undefined channel in a heartbeat's notify",
       "heartbeats:\n  - {name: hb, every: 5m, notify: [pager]}\nsources: {heartbeat: "
       "{allow_unauthenticated: true}}\n",
       5, 36, "undefined channel \"pager\" in notify of heartbeat \"hb\""},
      {"undefined escalation in a heartbeat",
       "heartbeats:\n  - {name: hb, every: 5m, escalation: p}\nsources: {heartbeat: "
       "{allow_unauthenticated: true}}\n",
       5, 39, "undefined escalation policy \"p\" used in heartbeat \"hb\""},
      {"negative grace",
       "heartbeats:\n  - {name: hb, every: 5m, grace: -1m}\n"
       "sources: {heartbeat: {allow_unauthenticated: true}}\n",
       5, 34, "expected a duration like 30s, 5m, 2h, 7d for \"grace\", got \"-1m\""},
      {"watchdog needs a url", "watchdog: {every: 1m}\n", 4, 11, "watchdog needs \"url\""},
      {"watchdog url scheme", "watchdog: {url: \"hc-ping.example/abc\"}\n", 4, 17,
       "\"url\" must be an http:// or https:// URL"},
      {"watchdog every positive", "watchdog: {url: \"https://hc.example\", every: 0s}\n", 4, 46,
       "\"every\" must be longer than 0s"},
      {"duplicate api token names",
       "api:\n  tokens:\n    - {name: t, token_env: A}\n    - {name: t, token_env: B}\n", 7, 14,
       "duplicate api token name (first used at line 6)"},
      {"api token scope", "api:\n  tokens:\n    - {name: t, token_env: A, scope: admin}\n", 6, 38,
       "expected one of read, write for \"scope\", got \"admin\""},
      {"an inline api token", "api:\n  tokens:\n    - {name: t, token_env: A, token: abc}\n", 6, 31,
       "secrets never live in the rules file"},
      {"api token needs token_env", "api:\n  tokens:\n    - {name: t}\n", 6, 7,
       "missing required key \"token_env\" in api token \"t\""},
      {"storage synchronous", "storage: {synchronous: fast}\n", 4, 24,
       "expected one of full, normal for \"synchronous\", got \"fast\""},
      {"storage retention", "storage: {retain_events: forever}\n", 4, 26,
       "expected a duration like 30s, 5m, 2h, 7d for \"retain_events\""},
      {"silences that last forever", "silences: {max_duration: forever}\n", 4, 26,
       "expected a duration like 30s, 5m, 2h, 7d for \"max_duration\""},
      {"silences of no length", "silences: {max_duration: 0s}\n", 4, 26, "must be longer than 0s"},
      {"a silences key that does not exist", "silences: {default_duration: 1h}\n", 4, 12,
       "unknown key \"default_duration\""},
      {"storage startup check", "storage: {startup_check: full}\n", 4, 26,
       "expected one of quick, off for \"startup_check\", got \"full\""},
      {"storage url_env holds the location itself",
       "storage: {url_env: \"postgresql://u:pw@h/db\"}\n", 4, 20,
       "\"url_env\" must be the name of an environment variable"},
  });
}

TEST_CASE("every problem of a file is reported at once, in file order") {
  const auto r = load(
      "version: 1\n"                                                              // 1
      "defaults: {stale_after: soon}\n"                                           // 2
      "channels:\n"                                                               // 3
      "  alerts: {type: slack, url: \"https://hooks.example/a\", foo: 1}\n"       // 4
      "rules:\n"                                                                  // 5
      "  - name: queue-backlog\n"                                                 // 6
      "    match: {source: cloudwatch, metric: ApproximateAgeOfOldestMessage}\n"  // 7
      "    notify: [pager]\n"                                                     // 8
      "  - name: queue-backlog\n"                                                 // 9
      "    match: {}\n"                                                           // 10
      "noise: {demote_above: 150}\n");                                            // 11
  INFO(all_messages(r));
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.unreadable);
  const auto errors = errors_of(r);
  struct Expected {
    int line, column;
    const char* message;
  };
  const Expected expected[] = {
      {2, 25, "expected a duration"},
      {4, 57, "unknown key \"foo\" in channel \"alerts\""},
      {8, 14, "undefined channel \"pager\" in notify of rule \"queue-backlog\""},
      {9, 11, "duplicate rule name"},
      {11, 23, "\"demote_above\" must be between 0 and 100"},
  };
  REQUIRE(errors.size() == std::size(expected));
  for (std::size_t i = 0; i < errors.size(); ++i) {
    CAPTURE(i);
    CHECK(errors[i].line == expected[i].line);
    CHECK(errors[i].column == expected[i].column);
    CHECK(contains(errors[i].message, expected[i].message));
  }
}

TEST_CASE("Diagnostic::format is PATH:LINE:COL: level: MESSAGE") {
  const auto r = load("version: 1\nrule: []\n");
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].format() ==
        "rules.yaml:2:1: error: unknown key \"rule\" in the top level of the file (did you mean "
        "\"rules\"?)");
  const Diagnostic no_position{Diagnostic::Level::warning, "r.yaml", 0, 0, "m"};
  CHECK(no_position.format() == "r.yaml: warning: m");
}

TEST_CASE("aliases may share parts of the file, but not multiply it") {
  SUBCASE("300 rules aliasing a match of 300 regexes are refused at the alias") {
    // A 15 KB file the loader would walk as 90,000 matchers (a 97 KB one took a minute and
    // 5 GB).
    std::string text = "version: 1\nrules:\n  - name: r0\n    match: &m {labels: {";
    for (int i = 0; i < 300; ++i)
      text += (i ? ", k" : "k") + std::to_string(i) + ": \"/x.*y/\"";
    text += "}}\n";
    for (int i = 1; i < 300; ++i)
      text += "  - {name: r" + std::to_string(i) + ", match: *m}\n";
    const auto r = load(text);
    INFO(all_messages(r));
    CHECK_FALSE(r.ok());
    const auto errors = errors_of(r);
    REQUIRE(errors.size() == 1);
    CHECK(contains(errors[0].message, "aliases expand the file past 100000 nodes"));
    CHECK(errors[0].line > 4);  // at the alias that crosses the limit
  }
  SUBCASE("a shared notify list or match is fine") {
    const auto r = load(std::string(k_head) +
                        "rules:\n"
                        "  - {name: a, match: &prod {labels: {env: prod}}, notify: &to [alerts]}\n"
                        "  - {name: b, match: *prod, notify: *to}\n");
    INFO(all_messages(r));
    CHECK(r.ok());
  }
}

TEST_CASE("a diagnostic stays on one line whatever bytes the file holds") {
  // `tocsin check` prints one diagnostic per line; a control character copied from the file
  // (yaml-cpp quotes the offending one) would split it or rewrite the terminal.
  struct Case {
    const char* intent;
    std::string yaml;
    const char* shown;  // how the message shows the byte
  };
  const Case cases[] = {
      {"a carriage return after a backslash in a double-quoted scalar",
       "version: 1\nrules: \"\\\r\"\n", "\\x0d"},
      {"an escape character after a backslash", "version: 1\nrules: \"\\\x1b[2J\"\n", "\\x1b"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto r = load(c.yaml);
      REQUIRE_FALSE(r.diagnostics.empty());
      for (const auto& d : r.diagnostics) {
        INFO(d.format());
        const auto control = [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
        };
        CHECK(std::none_of(d.message.begin(), d.message.end(), control));
      }
      CHECK(contains(r.diagnostics[0].message, c.shown));
    }
  }
}

TEST_CASE("an unreadable file is one positionless error") {
  SUBCASE("missing file") {
    const auto r = load_rules_file("/nonexistent/rules.yaml", every_var_set);
    CHECK(r.unreadable);
    CHECK_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].line == 0);
    CHECK(r.diagnostics[0].format() ==
          "/nonexistent/rules.yaml: error: cannot read the rules file: No such file or directory");
  }
  SUBCASE("a directory") {
    const auto r = load_rules_file(TOCSIN_SOURCE_DIR "/tests", every_var_set);
    CHECK(r.unreadable);
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(contains(r.diagnostics[0].message, "Is a directory"));
  }
}

TEST_CASE("the shipped rules.yaml loads with no errors") {
  const std::string path = TOCSIN_SOURCE_DIR "/rules.yaml";
  const auto r = load_rules_file(path, no_var_set);
  INFO(all_messages(r));
  REQUIRE(r.ok());
  CHECK(errors_of(r).empty());
  const auto& rules = *r.rules;
  CHECK(rules.source_path == path);
  CHECK(rules.hash == sha256_hex(read_file(path)));
  // Shipped secure: SNS messages verified, certificates fetched (nothing pinned by default).
  CHECK(rules.sources.sns.verify_signature);
  CHECK(rules.sources.sns.fetch_certs);
  CHECK_FALSE(rules.sources.sns.cert_dir.has_value());

  SUBCASE("the incident's alarm pages through the critical policy") {
    tocsin::NormalizedEvent e;
    e.source = tocsin::Source::cloudwatch;
    e.name = "hooks-worker-queue-age";
    e.metric = "ApproximateAgeOfOldestMessage";
    const auto matched = rules.matching(e);
    REQUIRE(matched.size() == 1);
    CHECK(matched[0]->name == "queue-backlog");
    CHECK(matched[0]->never_suppress);
    CHECK(matched[0]->policy.severity == Severity::critical);
    CHECK(matched[0]->escalation == "queue-critical");
    CHECK(rules.escalations.at("queue-critical").steps.size() == 2);
  }
  SUBCASE("anything else still reaches the team channel") {
    tocsin::NormalizedEvent e;
    e.source = tocsin::Source::generic;
    e.name = "disk-full";
    const auto matched = rules.matching(e);
    REQUIRE(matched.size() == 1);
    CHECK(matched[0]->name == "everything-else");
    CHECK(rules.escalations.at(matched[0]->escalation).steps[0].notify ==
          std::vector<std::string>{"alerts"});
  }
}

TEST_CASE("the full rules file example loads and every section is read") {
  const auto r =
      load_rules_file(TOCSIN_SOURCE_DIR "/tests/fixtures/rules/spec_example.yaml", every_var_set);
  INFO(all_messages(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
  const auto& rules = *r.rules;

  CHECK(rules.defaults.severity == Severity::warning);
  CHECK(rules.defaults.priority == Priority{3});
  CHECK(rules.defaults.stale_after == 24h);
  CHECK(rules.defaults.max_open_age == 72h);
  CHECK(rules.defaults.insufficient_data == InsufficientDataPolicy::ignore);
  CHECK(rules.defaults.actions_suppressed == ActionsSuppressedPolicy::ignore);

  const auto& sns = rules.sources.sns;
  CHECK(sns.verify_signature);
  CHECK(sns.min_signature_version == 1);
  REQUIRE(sns.topics.has_value());
  CHECK(*sns.topics == std::vector<std::string>{"arn:aws:sns:ap-southeast-2:123456789012:alerts"});
  CHECK(sns.cert_dir == "/etc/tocsin/sns-certs");
  CHECK(sns.fetch_certs);
  CHECK_FALSE(sns.auto_confirm);
  CHECK(rules.sources.opsgenie.token_env == "TOCSIN_OPSGENIE_TOKEN");
  CHECK(rules.sources.generic.token_env == "TOCSIN_GENERIC_TOKEN");
  CHECK(rules.sources.heartbeat.token_env == "TOCSIN_HEARTBEAT_TOKEN");

  REQUIRE(rules.channels.size() == 5);
  const auto& oncall = rules.channels.at("oncall");
  CHECK(oncall.type == ChannelType::opsgenie);
  CHECK(oncall.url == "https://api.opsgenie.com");
  CHECK(oncall.api_key_env == "OPSGENIE_API_KEY");
  CHECK(rules.channels.at("cto").routing_key_env == "PD_CTO_KEY");
  CHECK(rules.channels.at("alerts").url_env == "SLACK_ALERTS_URL");
  CHECK_FALSE(rules.channels.at("alerts").url.has_value());
  CHECK(rules.channels.at("digest").secret_env == "DIGEST_SECRET");
  CHECK(rules.channels.at("digest").digest_every == 1h);

  CHECK(rules.delivery.fallback == "fallback");
  CHECK(rules.delivery.timeout == 10s);
  CHECK(rules.delivery.max_attempts == 12);
  CHECK(rules.delivery.backoff_initial == 1s);
  CHECK(rules.delivery.backoff_max == 5min);

  const auto& policy = rules.escalations.at("queue-critical");
  REQUIRE(policy.steps.size() == 2);
  CHECK(policy.steps[0].after == 0min);
  CHECK(policy.steps[0].notify == std::vector<std::string>{"oncall", "alerts"});
  CHECK(policy.steps[1].after == 20min);
  CHECK(policy.repeat_every == 30min);

  REQUIRE(rules.rules.size() == 3);
  const auto& db = rules.rules[1];
  CHECK(db.name == "database-cpu");
  CHECK(db.line == 51);
  CHECK(db.escalation == "rule:database-cpu");
  CHECK(db.low_priority == "digest");
  CHECK(db.hold_for == 5min);
  REQUIRE(db.match.labels.size() == 1);
  CHECK(db.match.labels[0].first == "DBInstanceIdentifier");
  CHECK(db.match.labels[0].second.kind() == ValueMatcher::Kind::regex);

  CHECK(rules.noise.window == 24h * 7);
  CHECK(rules.noise.flap_history == 21);
  CHECK(rules.noise.flap_high == 50);
  CHECK(rules.noise.flap_low == 25);
  CHECK(rules.noise.rate_ceiling == 24);
  CHECK(rules.noise.transient_within == 5min);
  CHECK(rules.noise.weights.transient == doctest::Approx(0.2));
  CHECK(rules.noise.demote_above == 60);

  REQUIRE(rules.heartbeats.size() == 1);
  CHECK(rules.heartbeats[0].name == "hooks-worker");
  CHECK(rules.heartbeats[0].every == 5min);
  CHECK(rules.heartbeats[0].grace == 2min);
  CHECK(rules.heartbeats[0].severity == Severity::critical);
  CHECK(rules.heartbeats[0].priority == Priority{1});
  CHECK(rules.heartbeats[0].escalation == "queue-critical");

  REQUIRE(rules.watchdog.has_value());
  CHECK(rules.watchdog->url == "https://hc-ping.example/abc");
  CHECK(rules.watchdog->every == 1min);

  REQUIRE(rules.api_tokens.size() == 2);
  CHECK(rules.api_tokens[1].name == "sre-admin");
  CHECK(rules.api_tokens[1].token_env == "TOCSIN_ADMIN_TOKEN");
  CHECK(rules.api_tokens[1].scope == Scope::write);

  CHECK(rules.storage.synchronous == Synchronous::full);
  CHECK(rules.storage.retain_events == 24h * 30);
  CHECK(rules.storage.startup_check == StartupCheck::quick);  // the default: check
  CHECK(rules.silences.max_duration == 24h * 7);
}

TEST_CASE("good files: the smallest valid file and what the schema allows") {
  struct Case {
    const char* intent;
    const char* yaml;
  };
  const Case cases[] = {
      {"version alone", "version: 1\n"},
      {"sections left empty are empty", "version: 1\nchannels:\nrules:\nheartbeats:\nnoise:\n"},
      {"a source glob or regex needs no known value",
       "version: 1\nrules:\n  - {name: r, match: {source: \"cloud*\"}}\n"
       "  - {name: s, match: {source: \"/^(generic|opsgenie)$/\"}}\n"},
      {"severity \"\" matches alerts without one",
       "version: 1\nrules:\n  - {name: r, match: {severity: \"\"}}\n"},
      {"a heartbeat token and heartbeat notify",
       "version: 1\nsources:\n  heartbeat: {token_env: HB}\nchannels:\n"
       "  a: {type: slack, url: \"https://x.example\"}\n"
       "heartbeats:\n  - {name: hb, every: 1m, notify: [a]}\n"},
      {"a heartbeat routed nowhere",
       "version: 1\nsources: {heartbeat: {token_env: HB}}\nheartbeats:\n  - {name: hb, every: "
       "1m}\n"},
      {"a webhook without a secret, url_env on any channel",
       "version: 1\nchannels:\n  w: {type: webhook, url_env: W_URL}\n"},
      {"watchdog with url_env", "version: 1\nwatchdog: {url_env: WD_URL}\n"},
      {"steps with equal after are in order",
       "version: 1\nchannels:\n  a: {type: slack, url: \"https://x.example\"}\n"
       "escalations:\n  p: {steps: [{after: 0m, notify: [a]}, {after: 0m, notify: [a]}]}\n"},
      {"weights within rounding of 1",
       "version: 1\nnoise: {weights: {flap: 0.1, rate: 0.2, transient: 0.3, ignored: 0.4}}\n"},
      {"dedup_key with every placeholder",
       "version: 1\nrules:\n  - name: r\n    match: {}\n"
       "    dedup_key: \"{source}/{account}/{region}/{name}/{labels.QueueName}\"\n"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto r = load(c.yaml);
      INFO(all_messages(r));
      CHECK(r.ok());
      CHECK(errors_of(r).empty());
    }
  }
}

TEST_CASE("unset environment variables are warnings, not errors") {
  const auto r = load(
      "version: 1\n"
      "sources:\n"
      "  generic: {token_env: TOCSIN_GENERIC_TOKEN}\n"
      "channels:\n"
      "  oncall: {type: opsgenie, url: \"https://api.opsgenie.com\", api_key_env: "
      "OPSGENIE_API_KEY}\n"
      "  alerts: {type: slack, url_env: SLACK_ALERTS_URL}\n"
      "watchdog: {url_env: WATCHDOG_URL}\n"
      "api:\n"
      "  tokens: [{name: sre-read, token_env: READ_TOKEN}]\n",
      [](const std::string& name) -> std::optional<std::string> {
        if (name == "SLACK_ALERTS_URL") return "https://hooks.slack.com/services/x";
        return std::nullopt;
      });
  INFO(all_messages(r));
  REQUIRE(r.ok());
  const auto warnings = warnings_of(r);
  REQUIRE(warnings.size() == 4);
  CHECK(warnings[0].format() ==
        "rules.yaml:3:24: warning: sources.generic: environment variable TOCSIN_GENERIC_TOKEN is "
        "not set; requests to /hooks/generic will be refused until it is set");
  CHECK(warnings[1].format() ==
        "rules.yaml:5:74: warning: channel \"oncall\": environment variable OPSGENIE_API_KEY is "
        "not set; deliveries to this channel will fail");
  CHECK(contains(warnings[2].message, "watchdog: environment variable WATCHDOG_URL is not set"));
  CHECK(contains(warnings[3].message,
                 "api token \"sre-read\": environment variable READ_TOKEN is not set"));
}

TEST_CASE("an empty environment variable is as good as unset") {
  const auto r = load("version: 1\nsources:\n  generic: {token_env: T}\n",
                      [](const std::string&) -> std::optional<std::string> { return ""; });
  REQUIRE(r.ok());
  REQUIRE(warnings_of(r).size() == 1);
  CHECK(contains(warnings_of(r)[0].message, "environment variable T is empty"));
}

TEST_CASE("a secret pasted into an *_env key is not echoed back") {
  const auto r = load(std::string(k_head) +
                      "  og: {type: opsgenie, url: \"https://x.example\", api_key_env: "
                      "\"0123-abcd-SECRET\"}\n");
  REQUIRE(errors_of(r).size() == 1);
  CHECK(contains(errors_of(r)[0].message, "not the secret itself"));
  CHECK_FALSE(contains(all_messages(r), "SECRET"));
}

TEST_CASE("notify: becomes a one-step escalation policy") {
  const auto r = load(
      "version: 1\n"
      "channels:\n"
      "  a: {type: slack, url: \"https://x.example\"}\n"
      "  b: {type: webhook, url: \"https://y.example\"}\n"
      "rules:\n"
      "  - {name: db, match: {}, notify: [a, b]}\n"
      "sources: {heartbeat: {token_env: HB}}\n"
      "heartbeats:\n"
      "  - {name: worker, every: 5m, notify: [b]}\n");
  INFO(all_messages(r));
  REQUIRE(r.ok());
  const auto& rules = *r.rules;

  SUBCASE("for a rule, named rule:<name>, after 0") {
    CHECK(rules.rules[0].escalation == "rule:db");
    const auto& policy = rules.escalations.at("rule:db");
    CHECK(policy.name == "rule:db");
    REQUIRE(policy.steps.size() == 1);
    CHECK(policy.steps[0].after == 0ms);
    CHECK(policy.steps[0].notify == std::vector<std::string>{"a", "b"});
    CHECK_FALSE(policy.repeat_every.has_value());
  }
  SUBCASE("for a heartbeat, named heartbeat:<name>") {
    CHECK(rules.heartbeats[0].escalation == "heartbeat:worker");
    const auto& policy = rules.escalations.at("heartbeat:worker");
    REQUIRE(policy.steps.size() == 1);
    CHECK(policy.steps[0].notify == std::vector<std::string>{"b"});
  }
  SUBCASE("a rule without notify or escalation notifies nobody") {
    const auto quiet = load("version: 1\nrules:\n  - {name: q, match: {}}\n");
    REQUIRE(quiet.ok());
    CHECK(quiet.rules->rules[0].escalation.empty());
    CHECK(quiet.rules->escalations.empty());
  }
}

TEST_CASE("rules inherit defaults and override them one key at a time") {
  const auto r = load(
      "version: 1\n"
      "defaults:\n"
      "  severity: high\n"
      "  priority: P2\n"
      "  stale_after: 12h\n"
      "  ack_timeout: 4h\n"
      "  insufficient_data: resolve\n"
      "  actions_suppressed: firing\n"
      "rules:\n"
      "  - {name: inherits, match: {}, continue: true}\n"
      "  - name: overrides\n"
      "    match: {}\n"
      "    severity: critical\n"
      "    stale_after: 6h\n"
      "    auto_resolve_after: 7d\n"
      "    insufficient_data: firing\n"
      "    actions_suppressed: ignore\n"
      "sources: {heartbeat: {token_env: HB}}\n"
      "heartbeats:\n"
      "  - {name: hb, every: 1m}\n");
  INFO(all_messages(r));
  REQUIRE(r.ok());
  const auto& inherits = r.rules->rules[0].policy;
  CHECK(inherits.severity == Severity::high);
  CHECK(inherits.priority == Priority{2});
  CHECK(inherits.stale_after == 12h);
  CHECK(inherits.max_open_age == 72h);  // built-in default, untouched by `defaults:`
  CHECK(inherits.ack_timeout == 4h);
  CHECK_FALSE(inherits.auto_resolve_after.has_value());
  CHECK(inherits.insufficient_data == InsufficientDataPolicy::resolve);
  CHECK(inherits.actions_suppressed == ActionsSuppressedPolicy::firing);
  CHECK(r.rules->rules[0].continue_matching);

  const auto& overrides = r.rules->rules[1].policy;
  CHECK(overrides.severity == Severity::critical);
  CHECK(overrides.priority == Priority{2});
  CHECK(overrides.stale_after == 6h);
  CHECK(overrides.ack_timeout == 4h);
  CHECK(overrides.auto_resolve_after == 24h * 7);
  CHECK(overrides.insufficient_data == InsufficientDataPolicy::firing);
  CHECK(overrides.actions_suppressed == ActionsSuppressedPolicy::ignore);
  CHECK(r.rules->rules[1].line == 11);

  // Heartbeats take their severity and priority from `defaults:` too.
  CHECK(r.rules->heartbeats[0].severity == Severity::high);
  CHECK(r.rules->heartbeats[0].priority == Priority{2});
}

TEST_CASE("priority: derived from the effective severity unless a rule or the defaults set it") {
  SUBCASE("nothing set: each severity implies its priority") {
    const auto r = load(
        "version: 1\n"
        "sources: {heartbeat: {allow_unauthenticated: true}}\n"
        "rules:\n"
        "  - {name: all, match: {}}\n"
        "heartbeats:\n"
        "  - {name: critical-hb, every: 1m, severity: critical}\n"
        "  - {name: info-hb, every: 1m, severity: info}\n"
        "  - {name: pinned-hb, every: 1m, severity: info, priority: P4}\n");
    INFO(all_messages(r));
    REQUIRE(r.ok());
    CHECK_FALSE(r.rules->defaults.priority.has_value());
    const auto& policy = r.rules->rules[0].policy;
    CHECK_FALSE(policy.priority.has_value());
    CHECK(policy.priority_given(Severity::critical) == Priority{1});
    CHECK(policy.priority_given(Severity::high) == Priority{2});
    CHECK(policy.priority_given(Severity::warning) == Priority{3});
    CHECK(policy.priority_given(Severity::info) == Priority{5});
    CHECK(r.rules->heartbeats[0].priority == Priority{1});
    CHECK(r.rules->heartbeats[1].priority == Priority{5});
    CHECK(r.rules->heartbeats[2].priority == Priority{4});
  }
  SUBCASE("set in defaults: it wins over every severity, and a rule's own wins over it") {
    const auto r = load(
        "version: 1\n"
        "defaults: {priority: P2}\n"
        "sources: {heartbeat: {allow_unauthenticated: true}}\n"
        "rules:\n"
        "  - {name: inherits, match: {}, continue: true}\n"
        "  - {name: own, match: {}, priority: P5}\n"
        "heartbeats:\n"
        "  - {name: hb, every: 1m, severity: critical}\n");
    INFO(all_messages(r));
    REQUIRE(r.ok());
    CHECK(r.rules->rules[0].policy.priority_given(Severity::critical) == Priority{2});
    CHECK(r.rules->rules[0].policy.priority_given(Severity::info) == Priority{2});
    CHECK(r.rules->rules[1].policy.priority_given(Severity::critical) == Priority{5});
    CHECK(r.rules->heartbeats[0].priority == Priority{2});
  }
  SUBCASE("the shipped rules set no default priority: a critical alert is P1") {
    const auto r = load_rules_file(TOCSIN_SOURCE_DIR "/rules.yaml", no_var_set);
    REQUIRE(r.ok());
    CHECK_FALSE(r.rules->defaults.priority.has_value());
    tocsin::NormalizedEvent e;
    e.source = tocsin::Source::generic;
    e.name = "hooks-worker-backlog";
    const auto matched = r.rules->matching(e);
    REQUIRE(matched.size() == 1);
    CHECK(matched[0]->policy.priority_given(Severity::critical) == Priority{1});
  }
}

TEST_CASE("hold_for with never_suppress is a warning: it would never apply") {
  const auto r = load(
      "version: 1\nrules:\n  - {name: r, match: {}, never_suppress: true, "
      "hold_for: 5m}\n");
  REQUIRE(r.ok());
  REQUIRE(warnings_of(r).size() == 1);
  CHECK(contains(warnings_of(r)[0].message, "\"hold_for\" has no effect"));
}

TEST_CASE("the rules hash is the SHA-256 of the file's bytes") {
  const std::string text = "version: 1\n";
  const auto a = load(text);
  const auto b = load(text);
  const auto commented = load("version: 1  # a comment changes the bytes\n");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(commented.ok());
  CHECK(a.rules->hash == b.rules->hash);
  CHECK(a.rules->hash == sha256_hex(text));
  CHECK(a.rules->hash.size() == 64);
  CHECK(a.rules->hash != commented.rules->hash);
  CHECK(a.rules->source_path == "rules.yaml");
}

TEST_CASE("sources: unlisted ones are disabled, listed ones say how they authenticate") {
  const auto r = load(
      "version: 1\n"
      "sources:\n"
      "  generic: {token_env: T}\n"
      "  heartbeat: {allow_unauthenticated: true}\n"
      "  sns: {}\n");
  INFO(all_messages(r));
  REQUIRE(r.ok());
  const auto& s = r.rules->sources;
  CHECK(s.generic.enabled);
  CHECK(s.generic.token_env == "T");
  CHECK_FALSE(s.generic.allow_unauthenticated);
  CHECK(s.heartbeat.enabled);
  CHECK(s.heartbeat.allow_unauthenticated);
  CHECK(s.sns.enabled);
  CHECK(s.sns.verify_signature);
  CHECK_FALSE(s.opsgenie.enabled);
  CHECK_FALSE(s.eventbridge.enabled);
  CHECK_FALSE(s.alertmanager.enabled);
  CHECK_FALSE(load("version: 1\n").rules->sources.sns.enabled);
}

TEST_CASE("an open hook is said once, as a note that is neither error nor warning") {
  const auto r = load(
      "version: 1\nsources:\n  alertmanager: {allow_unauthenticated: true}\n"
      "  sns: {verify_signature: false, allow_unauthenticated: true}\n");
  INFO(all_messages(r));
  REQUIRE(r.ok());
  CHECK(warnings_of(r).empty());
  REQUIRE(r.diagnostics.size() == 2);
  CHECK(r.diagnostics[0].format() ==
        "rules.yaml:3:41: note: sources.alertmanager: /hooks/alertmanager accepts "
        "unauthenticated requests (allow_unauthenticated: true): anyone who can reach it can "
        "open and resolve alerts");
  CHECK(contains(r.diagnostics[1].message, "/hooks/sns accepts unauthenticated requests"));
}

TEST_CASE("allow_unauthenticated on verified SNS changes nothing, and says so") {
  const auto r = load("version: 1\nsources:\n  sns: {allow_unauthenticated: true}\n");
  INFO(all_messages(r));
  REQUIRE(r.ok());
  REQUIRE(warnings_of(r).size() == 1);
  CHECK(contains(warnings_of(r)[0].message, "signatures authenticate /hooks/sns"));
}

TEST_CASE("a rule after a catch-all without continue can never be the first match") {
  struct Case {
    const char* intent;
    const char* rules;
    std::size_t warnings;
  };
  const Case cases[] = {
      {"every rule after match: {} is named",
       "  - {name: all, match: {}}\n  - {name: a, match: {source: generic}}\n"
       "  - {name: b, match: {}}\n",
       2},
      {"continue: true lets the next rules apply",
       "  - {name: all, match: {}, continue: true}\n"
       "  - {name: a, match: {source: generic}}\n",
       0},
      {"a catch-all last is fine",
       "  - {name: a, match: {source: generic}}\n  - {name: all, match: {}}\n", 0},
  };
  for (const auto& c : cases) {
    SUBCASE(c.intent) {
      const auto r = load(std::string("version: 1\nrules:\n") + c.rules);
      INFO(all_messages(r));
      REQUIRE(r.ok());
      const auto warnings = warnings_of(r);
      REQUIRE(warnings.size() == c.warnings);
      if (c.warnings > 0) {
        CHECK(warnings[0].format() ==
              "rules.yaml:4:5: warning: rule \"a\" can never be the first match: rule \"all\" "
              "(line 3) matches every alert and has no \"continue: true\"");
      }
    }
  }
}

TEST_CASE("an undefined escalation is reported even when the rule also sets notify") {
  const auto r = load(std::string(k_head) +
                      "rules:\n  - {name: r, match: {}, notify: [alerts], escalation: nope}\n"
                      "heartbeats:\n  - {name: hb, every: 5m, notify: [alerts], escalation: gone}\n"
                      "sources: {heartbeat: {token_env: HB}}\n");
  INFO(all_messages(r));
  CHECK_FALSE(r.ok());
  CHECK(contains(all_messages(r), "rules.yaml:5:56: error: undefined escalation policy \"nope\""));
  CHECK(contains(all_messages(r), "rules.yaml:7:57: error: undefined escalation policy \"gone\""));
}

TEST_CASE("without an environment to look at, nothing is said about *_env variables") {
  const auto text =
      "version: 1\nsources:\n  generic: {token_env: T}\n"
      "channels:\n  og: {type: opsgenie, url: \"https://x.example\", api_key_env: K}\n";
  CHECK(warnings_of(load(text, no_var_set)).size() == 2);
  const auto r = load_rules_text(text, "rules.yaml", LoadOptions{.env = nullptr});
  INFO(all_messages(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
}

TEST_CASE("offline (replay) loading skips what only matters to a served hook") {
  const auto text =
      "version: 1\nsources:\n  sns: {verify_signature: false}\n  generic: {}\n"
      "heartbeats:\n  - {name: hb, every: 5m}\n";
  CHECK_FALSE(load(text).ok());
  const auto r = load_rules_text(text, "rules.yaml", LoadOptions{.env = nullptr, .serving = false});
  INFO(all_messages(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
}

// storage.url_env names a variable; when it is set, its value must be a location Tocsin can use,
// and the error says why without quoting it (a URI may carry a password).
TEST_CASE("storage.url_env: the location its variable holds is checked, never quoted") {
  struct Case {
    const char* intent;
    const char* value;
    const char* error;  // nullptr: valid
  };
  const Case cases[] = {
      {"a file path", "/var/lib/tocsin/tocsin.db", nullptr},
      {"a postgresql:// URI", "postgresql://tocsin:pw-123456@db.example/tocsin", nullptr},
      {"several hosts, read-write",
       "postgresql://tocsin:pw-123456@db1:5432,db2:5432/tocsin?target_session_attrs=read-write",
       nullptr},
      {"the short scheme", "postgres://tocsin@db.example/tocsin", nullptr},
      {"another database's URI", "mysql://tocsin:pw-123456@db.example/tocsin",
       "is neither a file path nor a postgresql:// URI"},
      {"an option libpq does not know",
       "postgresql://tocsin:pw-123456@db.example/tocsin?colour=red",
       "is not a connection URI libpq can parse"},
      {"a broken percent-encoding", "postgresql://tocsin:pw-123456%zz@db.example/tocsin",
       "is not a connection URI libpq can parse"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    LoadOptions options;
    options.env = [&](const std::string& name) -> std::optional<std::string> {
      if (name == "TOCSIN_DB_URL") return std::string(c.value);
      return std::nullopt;
    };
    options.location_problem = tocsin::storage::location_problem;
    const auto r = load_rules_text(std::string(k_head) + "storage: {url_env: TOCSIN_DB_URL}\n",
                                   "rules.yaml", options);
    INFO(all_messages(r));
    CHECK_FALSE(contains(all_messages(r), "pw-123456"));
    const auto errors = errors_of(r);
    if (c.error == nullptr) {
      CHECK(errors.empty());
      continue;
    }
    REQUIRE(errors.size() == 1);
    CHECK(contains(errors[0].message, "\"url_env\""));
    CHECK(contains(errors[0].message, "TOCSIN_DB_URL"));
    CHECK(contains(errors[0].message, c.error));
  }
}

TEST_CASE("storage.synchronous beside a PostgreSQL location is pointed out as not applying") {
  LoadOptions options;
  options.env = [](const std::string&) -> std::optional<std::string> {
    return "postgresql://tocsin@db.example/tocsin";
  };
  const auto r = load_rules_text(
      std::string(k_head) + "storage: {url_env: TOCSIN_DB_URL, synchronous: normal}\n",
      "rules.yaml", options);
  INFO(all_messages(r));
  CHECK(r.ok());
  const auto warnings = warnings_of(r);
  REQUIRE(warnings.size() == 1);
  CHECK(contains(warnings[0].message, "\"synchronous\" does not apply to PostgreSQL"));
  CHECK(r.rules->storage.url_env == std::optional<std::string>("TOCSIN_DB_URL"));
}

}  // namespace rules_loader_test
