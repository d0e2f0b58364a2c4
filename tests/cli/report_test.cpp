// tocsin report: rendering from hand-built reports (text and JSON), and gathering from a
// database written by the storage writer. tests/e2e/report_cli_test.cpp runs the binary.
#include "cli/report.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "rules/loader.hpp"
#include "storage/writer.hpp"
#include "support/replay_run.hpp"
#include "support/temp_dir.hpp"

namespace cli_report_test {

using namespace tocsin;
using namespace tocsin::cli;
using namespace std::chrono_literals;
using tocsin::testing::TempDir;
using OrderedJson = nlohmann::ordered_json;

namespace {

const TimePoint k_now = *parse_timestamp("2026-03-02T10:00:00Z");

const char* const k_headings[] = {
    "NOISIEST ALERTS",
    "STALE OPEN EPISODES",
    "RULES NEVER THE FIRST MATCH",
    "ALERTS THAT MATCHED NO RULE",
    "ALERTS WITH NO ESCALATION",
    "FAILED DELIVERIES",
    "SILENCES",
};

Report empty_report() {
  Report r;
  r.at = k_now;
  r.since = 7 * 24h;
  r.rules_hash = "0123456789abcdef0123";
  return r;
}

// One entry in every section, as gathering would fill them.
Report full_report() {
  Report r = empty_report();

  NoisyEntry n;
  n.alert_id = 7;
  n.fingerprint = "generic:cpu-high";
  n.rule = "cpu";
  n.episode = 72;
  n.status = EpisodeStatus::resolved;
  n.score.score = 79.4;
  n.score.flap = {100, 40};
  n.score.flapping = true;
  n.score.rate = {23.5, 29.4};
  n.score.ignored = {1, 10};
  n.score.episodes = n.score.ended = n.score.ignored_count = 72;
  n.demoted_to = "digest";
  n.routing = "demoted to digest";
  n.advice = {"flapping 100%: widen the evaluation period or add datapoints-to-alarm",
              "23.5 episodes/day: raise the threshold"};
  r.noisiest.push_back(n);
  NoisyEntry quiet = n;
  quiet.fingerprint = "generic:x";
  quiet.rule.clear();
  quiet.score.score = 1.3;
  quiet.demoted_to.reset();
  quiet.routing = "no rule: nobody";
  quiet.advice.clear();
  r.noisiest.push_back(quiet);

  StaleEntry s;
  s.alert_id = 3;
  s.fingerprint = "cloudwatch:1:us-east-1:queue-age";
  s.source = Source::cloudwatch;
  s.episode = 1;
  s.alias = "tocsin-abc-1";
  s.rule = "queue";
  s.opened_at = k_now - 62 * 24h - 5h;
  s.last_activity_at = k_now - 3 * 24h;
  s.max_open_age = 72h;
  s.flagged_stale_at = k_now - 1h;
  s.advice = "open 62d5h, idle 3d: resolve it or fix the alarm that never sends OK";
  r.stale.push_back(s);

  r.unmatched_rules.push_back(UnmatchedRule{"never-used", 12, {}, std::nullopt, "delete it"});
  r.unmatched_rules.push_back(
      UnmatchedRule{"after-all", 20, {"tagger"}, std::string("everything"), "can never match"});

  NoRuleEntry nr;
  nr.alert.alert_id = 4;
  nr.alert.fingerprint = "generic:disk-full";
  nr.alert.name = "disk-full";
  nr.alert.events = 5;
  nr.alert.last_at = k_now - 2h;
  nr.alert.status = EpisodeStatus::open;
  nr.advice = "recorded, nobody notified: add a rule";
  r.no_rule.push_back(nr);

  NoEscalationEntry ne;
  ne.episodes.alert_id = 5;
  ne.episodes.fingerprint = "generic:batch-nightly";
  ne.episodes.name = "batch-nightly";
  ne.episodes.rule = "batch";
  ne.episodes.episodes = 2;
  ne.episodes.last_episode = 2;
  ne.episodes.last_opened_at = k_now - 24h;
  ne.advice = "rule batch matched it and notifies nobody";
  r.no_escalation.push_back(ne);

  FailedEntry f;
  f.channel.channel = "oncall";
  f.channel.failed = 4;
  f.channel.last_at = k_now - 30min;
  f.channel.last_status = 401;
  f.channel.last_error = "HTTP 401";
  f.channel.aliases = {"tocsin-abc-2", "tocsin-def-1"};
  f.advice = "the channel refused the credentials: check OPSGENIE_API_KEY";
  r.failed_deliveries.push_back(f);

  SilenceEntry se;
  se.view.silence.id = 12;
  se.view.silence.created_by = "alice";
  se.view.silence.comment = "forms upgrade";
  se.view.silence.spelled = {{"name", "forms-*"}};
  se.view.silence.starts_at = k_now - 1h;
  se.view.silence.ends_at = k_now + 1h;
  se.view.withheld = 2;
  se.active = true;
  se.advice = {"in force until 2026-03-02T11:00:00.000Z"};
  r.silences.push_back(se);
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    out.push_back(line);
  return out;
}

std::size_t line_index(const std::vector<std::string>& lines, const std::string& needle) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find(needle) != std::string::npos) return i;
  }
  return lines.size();
}

}  // namespace

TEST_CASE("report text: every section in order, an empty one says nothing to report") {
  const std::string text = report_text(empty_report());
  INFO(text);
  std::size_t previous = 0;
  for (const char* heading : k_headings) {
    const auto at = text.find(std::string("\n") + heading + "\n");
    REQUIRE(at != std::string::npos);
    CHECK(at > previous);
    previous = at;
  }
  std::size_t nothing = 0;
  for (auto at = text.find("nothing to report"); at != std::string::npos;
       at = text.find("nothing to report", at + 1))
    ++nothing;
  CHECK(nothing == 7);
  CHECK(text.rfind("tocsin report at 2026-03-02T10:00:00.000Z\n", 0) == 0);
  CHECK(text.find("since 2026-02-23T10:00:00.000Z (7d)") != std::string::npos);
  CHECK(text.find("rules sha256 0123456789ab\n") != std::string::npos);
  // The noise score has its own window, and the reader is told so.
  CHECK(text.find("noise window (7d, not --since)") != std::string::npos);
}

TEST_CASE("report text: aligned columns, each row followed by its advice") {
  const Report r = full_report();
  const std::string text = report_text(r);
  INFO(text);
  CHECK(text.find("nothing to report") == std::string::npos);
  const auto lines = lines_of(text);

  // Noisiest: the header and both rows start their ALERT and ROUTING columns at one offset.
  const auto header = line_index(lines, "SCORE");
  REQUIRE(header + 4 < lines.size());
  const auto alert_col = lines[header].find("ALERT");
  const auto routing_col = lines[header].find("ROUTING");
  CHECK(lines[header + 1].find("generic:cpu-high") == alert_col);
  CHECK(lines[header + 1].find("demoted to digest") == routing_col);
  CHECK(lines[header + 1].find("100.0% flapping (40.0)") != std::string::npos);
  CHECK(lines[header + 1].find("23.5/day (29.4)") != std::string::npos);
  CHECK(lines[header + 1].rfind("  79.4", 0) == 0);
  // Its advice comes right under it, most telling first; the quiet one has none.
  CHECK(lines[header + 2] ==
        "    - flapping 100%: widen the evaluation period or add datapoints-to-alarm");
  CHECK(lines[header + 3] == "    - 23.5 episodes/day: raise the threshold");
  CHECK(lines[header + 4].find("generic:x") == alert_col);
  CHECK(lines[header + 4].find("  -  ") != std::string::npos);  // no rule

  // Stale: times as RFC 3339, ages as durations, then the advice.
  const auto stale = line_index(lines, "cloudwatch:1:us-east-1:queue-age");
  REQUIRE(stale + 1 < lines.size());
  CHECK(lines[stale].find("2025-12-30T05:00:00.000Z") != std::string::npos);
  CHECK(lines[stale].find("62d5h") != std::string::npos);
  CHECK(lines[stale].find("3d") != std::string::npos);
  CHECK(lines[stale].find("tocsin-abc-1") != std::string::npos);
  CHECK(lines[stale + 1] ==
        "    - open 62d5h, idle 3d: resolve it or fix the alarm that never sends OK");

  const auto never = line_index(lines, "never-used");
  CHECK(lines[never + 1] == "    - delete it");
  CHECK(text.find("continue: true is not recorded as a match") != std::string::npos);

  const auto disk = line_index(lines, "generic:disk-full");
  CHECK(lines[disk + 1] == "    - recorded, nobody notified: add a rule");
  CHECK(lines[disk].find("open") != std::string::npos);

  const auto batch = line_index(lines, "generic:batch-nightly");
  CHECK(lines[batch + 1] == "    - rule batch matched it and notifies nobody");

  const auto oncall = line_index(lines, "  oncall");
  REQUIRE(oncall + 2 < lines.size());
  CHECK(lines[oncall].find("401") != std::string::npos);
  CHECK(lines[oncall].find("HTTP 401") != std::string::npos);
  CHECK(lines[oncall + 1] == "    - latest: tocsin-abc-2, tocsin-def-1");
  CHECK(lines[oncall + 2] == "    - the channel refused the credentials: check OPSGENIE_API_KEY");

  // Sections keep their order with content too, and no line ends in spaces.
  CHECK(line_index(lines, "NOISIEST") < stale);
  CHECK(stale < never);
  CHECK(never < disk);
  CHECK(disk < batch);
  CHECK(batch < oncall);
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK((line.empty() || line.back() != ' '));
  }
}

TEST_CASE("report json: top-level keys in section order, every entry explained") {
  const OrderedJson doc = OrderedJson::parse(report_json(full_report()));
  std::vector<std::string> keys;
  for (auto it = doc.begin(); it != doc.end(); ++it)
    keys.push_back(it.key());
  CHECK(keys == std::vector<std::string>{"at", "since", "rules_hash", "noisiest", "stale",
                                         "unmatched_rules", "no_rule", "no_escalation",
                                         "failed_deliveries", "silences"});
  CHECK(doc["at"] == "2026-03-02T10:00:00.000Z");
  CHECK(doc["since"] == "2026-02-23T10:00:00.000Z");
  CHECK(doc["rules_hash"] == "0123456789abcdef0123");

  const auto& noisy = doc["noisiest"];
  REQUIRE(noisy.size() == 2);
  CHECK(noisy[0]["fingerprint"] == "generic:cpu-high");
  CHECK(noisy[0]["rule"] == "cpu");
  CHECK(noisy[0]["demoted"] == true);
  CHECK(noisy[0]["demoted_to"] == "digest");
  CHECK(noisy[0]["noise"]["score"] == 79.4);
  CHECK(noisy[0]["noise"]["factors"]["flap"]["points"] == 40.0);
  CHECK(noisy[0]["noise"]["factors"]["flap"]["flapping"] == true);
  CHECK(noisy[0]["advice"][0].get<std::string>().rfind("flapping 100%:", 0) == 0);
  CHECK(noisy[1]["rule"].is_null());
  CHECK(noisy[1]["demoted"] == false);
  CHECK(noisy[1]["advice"].empty());

  const auto& stale = doc["stale"][0];
  CHECK(stale["alias"] == "tocsin-abc-1");
  CHECK(stale["status"] == "open");
  CHECK(stale["age"] == "62d5h");
  CHECK(stale["idle"] == "3d");
  CHECK(stale["max_open_age"] == "3d");
  CHECK(stale["flagged_stale_at"] == "2026-03-02T09:00:00.000Z");
  CHECK(stale["acknowledged_by"].is_null());

  CHECK(doc["unmatched_rules"][0]["rule"] == "never-used");
  CHECK(doc["unmatched_rules"][0]["shadowed_by"].is_null());
  CHECK(doc["unmatched_rules"][1]["after_continue"] == OrderedJson::array({"tagger"}));
  CHECK(doc["unmatched_rules"][1]["shadowed_by"] == "everything");
  CHECK(doc["no_rule"][0]["events"] == 5);
  CHECK(doc["no_rule"][0]["status"] == "open");
  CHECK(doc["no_escalation"][0]["rule"] == "batch");
  CHECK(doc["no_escalation"][0]["episodes"] == 2);
  CHECK(doc["failed_deliveries"][0]["last_http_status"] == 401);
  CHECK(doc["failed_deliveries"][0]["aliases"].size() == 2);

  const OrderedJson empty = OrderedJson::parse(report_json(empty_report()));
  for (const char* section :
       {"noisiest", "stale", "unmatched_rules", "no_rule", "no_escalation", "failed_deliveries"}) {
    CAPTURE(section);
    CHECK(empty[section] == OrderedJson::array());
  }
}

TEST_CASE("report ages read as durations, rounded to what matters") {
  CHECK(format_age(0ms) == "0s");
  CHECK(format_age(45s + 300ms) == "45s");
  CHECK(format_age(59min + 59s) == "59m59s");
  CHECK(format_age(3h + 12min + 40s) == "3h12m");
  CHECK(format_age(62 * 24h + 3h + 59min) == "62d3h");
  CHECK(format_age(-5s) == "0s");  // a clock behind the database's
}

TEST_CASE("report gathering: failed deliveries per channel, silent episodes, stale, no rule") {
  TempDir dir;
  const auto path = dir.file("t.db");
  const auto loaded = rules::load_rules_text(R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall", secret_env: ONCALL_SECRET}
  fallback: {type: webhook, url: "http://127.0.0.1:9/fallback"}
delivery: {fallback: fallback}
rules:
  - {name: tagger, match: {source: generic}, continue: true}
  - {name: queue, match: {name: "queue-*"}, notify: [oncall], max_open_age: 1d}
  - {name: quiet, match: {name: "quiet-*"}}
  - {name: everything, match: {}, notify: [oncall]}
  - {name: after-all, match: {name: "x"}, notify: [oncall]}
)",
                                             "rules.yaml");
  REQUIRE(loaded.ok());
  const rules::Rules& rules = *loaded.rules;

  storage::Writer w(path, storage::Durability::normal);
  // An alert opened 5 days ago, never heard from since; one whose rule notifies nobody; one
  // that matched no rule.
  auto save = [&](storage::Transaction& tx, const std::string& name, const std::string& rule,
                  TimePoint opened, std::vector<std::string> escalation) {
    storage::AlertRecord a;
    a.fingerprint = "generic:" + name;
    a.name = name;
    a.rule = rule;
    a.first_seen = a.last_seen = opened;
    a.last_episode_number = 1;
    a.id = tx.save_alert(a);
    rules::Episode e;
    e.opened_at = e.last_activity_at = e.escalation_base = opened;
    e.escalation = std::move(escalation);
    tx.save_episode(a.id, a.fingerprint, e, true);
    storage::DecisionRecord d;
    d.at = opened;
    d.alert_id = a.id;
    d.episode = 1;
    d.outcome = storage::DecisionOutcome::created;
    d.reason = rule.empty() ? "first_occurrence;no_rule_matched" : "first_occurrence";
    d.rule = rule;
    d.rules_hash = rules.hash;
    d.fingerprint = a.fingerprint;
    tx.insert_decision(d);
    return a.id;
  };
  const storage::WriteStatus written =
      w.submit([&](storage::Transaction& tx) {
         const auto queue = save(tx, "queue-age", "queue", k_now - 5 * 24h, {"rule:queue"});
         save(tx, "quiet-batch", "quiet", k_now - 24h, {});
         save(tx, "lost", "", k_now - 2h, {});
         // Three failed rows for oncall (the latest a 401), one older than the period.
         int n = 0;
         for (TimePoint at : {k_now - 8 * 24h, k_now - 3h, k_now - 2h, k_now - 1h}) {
           storage::OutboxRecord o;
           o.created_at = o.due_at = at;
           o.alert_id = queue;
           o.episode = 1;
           o.alias = "tocsin-q-" + std::to_string(++n);
           o.channel = "oncall";
           o.action = rules::NotifyAction::trigger;
           o.id = tx.insert_notification(o);
           tx.count_attempt(o.id, "me", at);
           storage::OutboxRecord after = o;
           after.status = storage::OutboxStatus::failed;
           after.last_status = n == 4 ? 401 : 500;
           after.last_error = "HTTP " + std::to_string(*after.last_status);
           tx.record_attempt(storage::DeliveryAttempt{o.id, at, after.last_status, after.last_error,
                                                      5, storage::AttemptOutcome::failed},
                             after, "me");
         }
       }).get();
  INFO((written ? written->message : std::string()));
  REQUIRE_FALSE(written);
  w.stop();

  storage::Reader reader(path);
  CHECK(reader.schema_version() > 0);
  const Report r = gather_report(reader, rules, k_now, 7 * 24h);
  INFO(report_text(r));

  REQUIRE(r.failed_deliveries.size() == 1);
  const auto& f = r.failed_deliveries[0];
  CHECK(f.channel.channel == "oncall");
  CHECK(f.channel.failed == 3);
  CHECK(f.channel.last_status == 401);
  CHECK(f.channel.last_error == "HTTP 401");
  CHECK(f.channel.aliases == std::vector<std::string>{"tocsin-q-4", "tocsin-q-3", "tocsin-q-2"});
  CHECK(f.advice.find("refused the credentials") != std::string::npos);

  REQUIRE(r.stale.size() == 1);
  CHECK(r.stale[0].fingerprint == "generic:queue-age");
  CHECK(r.stale[0].max_open_age == 24h);
  CHECK(r.stale[0].advice.rfind("open 5d, idle 5d: resolve it or fix the alarm that never sends "
                                "OK",
                                0) == 0);

  REQUIRE(r.no_rule.size() == 1);
  CHECK(r.no_rule[0].alert.fingerprint == "generic:lost");
  CHECK(r.no_rule[0].advice ==
        "recorded, nobody notified: add a rule matching {source: generic, name: \"lost\"}");

  // The alert that matched no rule is not listed twice.
  REQUIRE(r.no_escalation.size() == 1);
  CHECK(r.no_escalation[0].episodes.fingerprint == "generic:quiet-batch");
  CHECK(r.no_escalation[0].advice.find("rule quiet matched it and notifies nobody") !=
        std::string::npos);

  // tagger, everything and after-all were never the first match; queue and quiet were.
  std::vector<std::string> unmatched;
  for (const auto& u : r.unmatched_rules)
    unmatched.push_back(u.name);
  CHECK(unmatched == std::vector<std::string>{"tagger", "everything", "after-all"});
  CHECK(r.unmatched_rules[1].after_continue == std::vector<std::string>{"tagger"});
  CHECK_FALSE(r.unmatched_rules[1].shadowed_by);
  CHECK(r.unmatched_rules[2].shadowed_by == std::optional<std::string>("everything"));
  CHECK(r.unmatched_rules[2].advice.rfind("can never match", 0) == 0);
}

TEST_CASE("report gathering: silences active now, outlived by their episodes, matching nothing") {
  TempDir dir;
  const std::string rules_text = R"(version: 1
channels:
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
rules:
  - {name: queue, match: {name: "hooks-queue-*"}, never_suppress: true, notify: [alerts]}
  - {name: forms, match: {name: "forms-*"}, notify: [alerts]}
)";
  const auto loaded = rules::load_rules_text(rules_text, "rules.yaml");
  REQUIRE(loaded.ok());
  using Json = nlohmann::json;
  auto silence = [](const char* at, const char* name, const char* duration, const char* why) {
    return Json{{"at", at},
                {"silence",
                 {{"matchers", {{"name", name}}},
                  {"duration", duration},
                  {"by", "alice"},
                  {"comment", why}}}};
  };
  auto generic = [](const char* at, const char* key, const char* status) {
    return Json{{"at", at}, {"hook", "generic"}, {"body", {{"key", key}, {"status", status}}}};
  };
  const std::vector<Json> input = {
      silence("2026-03-01T08:00:00Z", "forms-*", "2h", "upgrade"),        // 1: outlived
      silence("2026-03-01T08:00:00Z", "froms-*", "2h", "typo"),           // 2: matches nothing
      silence("2026-03-01T08:00:00Z", "hooks-*", "2h", "queue by glob"),  // 3: never_suppress
      silence("2026-03-01T08:00:00Z", "forms-web", "3h", "web restart"),  // 4: fine, not listed
      generic("2026-03-01T08:30:00Z", "forms-api", "firing"),
      generic("2026-03-01T08:35:00Z", "forms-web", "firing"),
      generic("2026-03-01T08:40:00Z", "forms-web", "resolved"),
      generic("2026-03-01T09:00:00Z", "hooks-queue-age", "firing"),
      silence("2026-03-02T09:00:00Z", "forms-*", "4h", "failover"),  // 5: active
      generic("2026-03-02T09:30:00Z", "forms-db", "firing"),
  };
  // On PostgreSQL too when the suite runs there (support/test_database.hpp).
  const testing::TestDatabaseLocation db(dir, "t.db");
  const auto replayed =
      testing::run_replay_lines(rules_text, input, "2026-03-02T10:00:00Z", db.location());
  INFO(replayed.err);
  REQUIRE(replayed.status == 0);

  storage::Reader reader(db.location());
  const Report r = gather_report(reader, *loaded.rules, k_now, 7 * 24h);
  const std::string text = report_text(r);
  INFO(text);
  REQUIRE(r.silences.size() == 4);
  const auto& active = r.silences[0];
  CHECK(active.view.silence.id == 5);
  CHECK(active.active);
  CHECK(active.view.withheld == 1);
  CHECK_FALSE(active.matched_nothing);
  CHECK(active.advice[0].rfind("in force until 2026-03-02T13:00:00.000Z", 0) == 0);

  const auto& outlived = r.silences[1];
  CHECK(outlived.view.silence.id == 1);
  CHECK_FALSE(outlived.active);
  CHECK(outlived.view.paged == 1);
  CHECK(outlived.advice[0].find("were still firing at its end") != std::string::npos);

  struct Case {
    std::string intent;
    std::size_t index;
    std::int64_t id;
  };
  const Case nothing[] = {
      {"a typo in the matchers", 2, 2},
      {"a glob never quiets a never_suppress alert, so it matched nothing", 3, 3},
  };
  for (const auto& c : nothing) {
    CAPTURE(c.intent);
    CHECK(r.silences[c.index].view.silence.id == c.id);
    CHECK(r.silences[c.index].matched_nothing);
    CHECK(r.silences[c.index].advice.back() == "matched no alert: check the matchers");
  }
  CHECK(text.find("\nSILENCES\n") != std::string::npos);
  CHECK(text.find("- matched no alert: check the matchers") != std::string::npos);
  const OrderedJson doc = OrderedJson::parse(report_json(r));
  REQUIRE(doc["silences"].size() == 4);
  CHECK(doc["silences"][0]["state"] == "active");
  CHECK(doc["silences"][1]["paged_at_end"] == 1);
  CHECK(doc["silences"][2]["matched_nothing"] == true);
  CHECK(doc["silences"][2]["matchers"] == OrderedJson{{"name", "froms-*"}});
}

}  // namespace cli_report_test
