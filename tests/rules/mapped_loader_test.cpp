#include <doctest/doctest.h>

#include <string>

#include "rules/loader.hpp"
#include "support/fixtures.hpp"
#include "support/mappings.hpp"
#include "support/rules.hpp"

namespace rules_mapped_loader_test {

using namespace tocsin;
using namespace tocsin::rules;
using tocsin::testing::rules_or_fail;
using tocsin::testing::rules_with_mapping;
using tocsin::testing::shipped_mapping_text;
using tocsin::testing::shipped_mappings;

namespace {

LoadResult load(const std::string& text) {
  return load_rules_text(text, "rules.yaml", tocsin::testing::unset_env);
}

const std::string k_head = "version: 1\nsources:\n  mapped:\n";

}  // namespace

TEST_CASE("a mapped source compiles every key of its mapping") {
  const auto rules = rules_or_fail(k_head + R"(    tool:
      token_env: TOOL_TOKEN
      events: /alerts
      identity: "{/host}:{/check}"
      name: "{/check}"
      status: {path: /state, firing: [DOWN], resolved: [UP], ignore: ["null", "2"]}
      severity: {path: /level, map: {HIGH: critical}, default: info}
      summary: "{/check} is {/state}"
      timestamp: {path: /at, format: epoch_millis}
      labels: {host: "{/host}"}
      annotations: {description: "{/text}"}
      delivery_id: "{/id}"
)");
  REQUIRE(rules->sources.mapped.count("tool") == 1);
  const auto& source = rules->sources.mapped.at("tool");
  CHECK(source.auth.enabled);
  CHECK(source.auth.token_env == "TOOL_TOKEN");
  const auto& m = source.mapping;
  REQUIRE(m.events.has_value());
  CHECK(m.events->spelled() == "/alerts");
  CHECK(m.identity.spelled() == "{/host}:{/check}");
  CHECK(m.status.path.spelled() == "/state");
  CHECK(m.status.firing == std::vector<std::string>{"DOWN"});
  CHECK(m.status.resolved == std::vector<std::string>{"UP"});
  CHECK(m.status.ignore == std::vector<std::string>{"null", "2"});
  REQUIRE(m.severity.has_value());
  CHECK(m.severity->map.size() == 1);
  CHECK(m.severity->fallback == Severity::info);
  REQUIRE(m.timestamp.has_value());
  CHECK(m.timestamp->format == mapping::TimeFormat::epoch_millis);
  CHECK(m.labels.size() == 1);
  CHECK(m.annotations.size() == 1);
  REQUIRE(m.delivery_id.has_value());
  CHECK(m.delivery_id->spelled() == "{/id}");
}

TEST_CASE("a bad mapping is an error at its line and column") {
  struct Case {
    std::string body;  // under `sources.mapped:`, indented 4
    int line;
    int column;
    std::string message;
  };
  const Case cases[] = {
      {"    tool:\n      token_env: T\n      status: {path: /s, firing: [a]}\n", 5, 7,
       "missing required key \"identity\" in sources.mapped.tool"},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n", 5, 7,
       "missing required key \"status\""},
      {"    tool:\n      token_env: T\n      identity: \"x {/a\"\n      status: {path: /s, firing: "
       "[a]}\n",
       6, 20, "\"identity\": a placeholder opened here is not closed"},
      {"    tool:\n      token_env: T\n      identity: {/a}\n      status: {path: /s, firing: "
       "[a]}\n",
       6, 17, "expected a quoted template"},
      {"    tool:\n      token_env: T\n      identity: x}y\n      status: {path: /s, firing: "
       "[a]}\n",
       6, 18, "a literal \"}\" is written \"}}\""},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: s, firing: "
       "[a]}\n",
       7, 22, "\"path\": a JSON Pointer starts with \"/\""},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /a~2, "
       "firing: [a]}\n",
       7, 24, "~0"},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /s, firing: "
       "[]}\n",
       7, 34, "\"firing\" must list at least one value"},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /s, firing: "
       "[a], resolved: [a]}\n",
       7, 50, "\"a\" is listed twice"},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /s, firing: "
       "[a], when: b}\n",
       7, 39, "unknown key \"when\""},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /s, firing: "
       "[a]}\n"
       "      severity: {path: /l, map: {X: urgent}}\n",
       8, 37, "expected critical, high, warning or info for \"X\", got \"urgent\""},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /s, firing: "
       "[a]}\n"
       "      timestamp: {path: /t, format: iso}\n",
       8, 37, "expected one of rfc3339, epoch_seconds, epoch_millis for \"format\""},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /s, firing: "
       "[a]}\n"
       "      labels: {host: \"{host}\"}\n",
       8, 23, "\"host\": a placeholder holds a JSON Pointer"},
      {"    Tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /s, firing: "
       "[a]}\n",
       4, 5, "\"Tool\" cannot name a hook"},
      {"    tool:\n      identity: \"{/id}\"\n      status: {path: /s, firing: [a]}\n", 4, 5,
       "sources.mapped.tool needs \"token_env\""},
      {"    tool:\n      token_env: T\n      identity: \"{/id}\"\n      status: {path: /s, firing: "
       "[a]}\n"
       "      summery: \"{/x}\"\n",
       8, 7, "unknown key \"summery\""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    const auto r = load(k_head + c.body);
    CHECK_FALSE(r.ok());
    bool found = false;
    std::string all;
    for (const auto& d : r.diagnostics) {
      all += d.format() + "\n";
      if (d.level == Diagnostic::Level::error && d.message.find(c.message) != std::string::npos) {
        found = true;
        CHECK(d.line == c.line);
        CHECK(d.column == c.column);
      }
    }
    INFO(all);
    CHECK(found);
  }
}

TEST_CASE("every mapping the README ships loads, and the README shows it verbatim") {
  const auto names = shipped_mappings();
  REQUIRE(names.size() >= 5);
  const auto readme = tocsin::testing::read_file(std::string(TOCSIN_SOURCE_DIR) + "/README.md");
  for (const auto& name : names) {
    CAPTURE(name);
    const auto rules = rules_or_fail(rules_with_mapping(name));
    CHECK(rules->sources.mapped.count(name) == 1);
    CHECK(rules->sources.mapped.at(name).auth.token_env.has_value());
    CHECK(readme.find("```yaml\n" + shipped_mapping_text(name) + "```\n") != std::string::npos);
  }
}

}  // namespace rules_mapped_loader_test
