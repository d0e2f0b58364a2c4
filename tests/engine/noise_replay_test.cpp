// Noise routing (docs/behaviour.md "Noise") through `tocsin replay` on a virtual clock: weeks of a
// flapping CPU alarm are demoted while a never_suppress queue-age alarm in the same stream still
// pages at level 0; transient alerts are held and dropped; digests go out once per interval. And
// the engine's incremental noise state equals a from-scratch recomputation from the database.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "rules/loader.hpp"
#include "rules/noise.hpp"
#include "storage/reader.hpp"
#include "support/replay_run.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"

namespace engine_noise_replay_test {

using namespace tocsin;
using namespace tocsin::cli;
using namespace tocsin::testing;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

const char* const k_rules = R"(version: 1
channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
  alerts: {type: webhook, url: "http://127.0.0.1:9/alerts"}
  lowprio: {type: webhook, url: "http://127.0.0.1:9/lowprio"}
  digest: {type: webhook, url: "http://127.0.0.1:9/digest", digest_every: 1h}
escalations:
  queue-critical:
    steps:
      - {after: 0m, notify: [oncall, alerts]}
      - {after: 20m, notify: [cto]}
rules:
  - name: queue-backlog
    match: {source: generic, name: "*oldest-message-age*"}
    severity: critical
    priority: P1
    never_suppress: true
    escalation: queue-critical
    low_priority: lowprio
  - name: database-cpu
    match: {source: generic, name: "*cpu*"}
    notify: [alerts]
    low_priority: lowprio
  - name: batch
    match: {source: generic, name: "batch-*"}
    notify: [alerts]
    hold_for: 5m
  - name: disks
    match: {source: generic, name: "disk-*"}
    notify: [digest]
  - name: random
    match: {source: generic, name: "random-*"}
    notify: [alerts]
    low_priority: lowprio
    hold_for: 10m
    auto_resolve_after: 6h
noise:
  window: 7d
  demote_above: 60
)";

Json generic(TimePoint at, const std::string& key, const std::string& status) {
  return Json{{"at", format_timestamp(at)},
              {"hook", "generic"},
              {"body", {{"key", key}, {"status", status}, {"summary", key + " " + status}}}};
}

const TimePoint k_t0 = *parse_timestamp("2026-10-01T00:00:00Z");

}  // namespace

TEST_CASE(
    "noise: a CPU alarm flapping every 30 minutes for weeks is demoted, the queue alarm "
    "still pages at level 0") {
  std::vector<Json> input;
  const TimePoint end = k_t0 + 14 * 24h;
  // The CPU alarm fires every 30 minutes and clears 3 minutes later, for two weeks.
  for (TimePoint t = k_t0; t < end; t += 30min) {
    input.push_back(generic(t, "prod-db-cpu-high", "firing"));
    input.push_back(generic(t + 3min, "prod-db-cpu-high", "resolved"));
  }
  // On the last day the queue-age alarm flaps for six hours, then fires for real.
  const TimePoint queue_start = end - 24h;
  for (TimePoint t = queue_start; t < queue_start + 6h; t += 30min) {
    input.push_back(generic(t + 1min, "hooks-worker-oldest-message-age", "firing"));
    input.push_back(generic(t + 4min, "hooks-worker-oldest-message-age", "resolved"));
  }
  const TimePoint incident = end - 2h + 7min;
  input.push_back(generic(incident, "hooks-worker-oldest-message-age", "firing"));
  std::stable_sort(input.begin(), input.end(),
                   [](const Json& a, const Json& b) { return a["at"] < b["at"]; });

  ReplayRun r = run_replay_lines(k_rules, input, format_timestamp(end));
  REQUIRE(r.status == 0);

  const std::string cpu = "generic:prod-db-cpu-high";
  const std::string queue = "generic:hooks-worker-oldest-message-age";
  auto cpu_notes = r.where("notify", "fingerprint", cpu);
  int cpu_prioritized = 0, cpu_demoted = 0;
  for (const auto& n : cpu_notes) {
    if (n["action"] != "trigger") continue;
    if (n["channel"] == "alerts") ++cpu_prioritized;
    if (n["channel"] == "lowprio") ++cpu_demoted;
  }
  // 672 episodes: the first few page the prioritized channel while the history builds up;
  // every later one goes to the low-priority channel.
  CHECK(cpu_prioritized + cpu_demoted == 14 * 48);
  CHECK(cpu_prioritized <= 6);
  CHECK(cpu_demoted >= 14 * 48 - 6);

  // Every demotion is a decision that explains itself with numbers.
  auto demotions = r.where("decision", "decision", "demoted");
  REQUIRE(static_cast<int>(demotions.size()) == cpu_demoted);
  for (const auto& d : demotions) {
    CHECK(d["fingerprint"] == cpu);
    const std::string reason = d["reason"];
    CHECK(reason.find("above demote_above 60.0: to lowprio (rule database-cpu)") !=
          std::string::npos);
    CHECK(reason.find("% (flapping)") != std::string::npos);
    CHECK(reason.find("rate ") != std::string::npos);
  }
  // The notifications carry the score at decision time: the demoted ones are above 60.
  for (const auto& n : cpu_notes) {
    REQUIRE(n["noise"].is_number());
    if (n["channel"] == "lowprio" && n["action"] == "trigger") CHECK(n["noise"] > 60.0);
  }

  // The queue alarm is noisy too, but never_suppress: every episode pages oncall at level 0,
  // including the real one at the end, and none is demoted.
  auto queue_triggers = r.where("notify", "fingerprint", queue);
  int oncall_triggers = 0;
  for (const auto& n : queue_triggers) {
    CHECK(n["channel"] != "lowprio");
    if (n["channel"] == "oncall" && n["action"] == "trigger") {
      CHECK(n["level"] == 0);
      ++oncall_triggers;
    }
  }
  CHECK(oncall_triggers == 12 + 1);
  const Json& last = [&]() -> const Json& {
    for (auto it = r.lines.rbegin(); it != r.lines.rend(); ++it) {
      if ((*it)["type"] == "notify" && (*it)["fingerprint"] == queue &&
          (*it)["channel"] == "oncall" && (*it)["action"] == "trigger")
        return *it;
    }
    FAIL("no trigger for the queue alarm");
    return r.lines.front();
  }();
  CHECK(last["at"] == format_timestamp(incident));
  CHECK(last["noise"] > 60.0);  // it would have been demoted without never_suppress
  for (const auto& d : r.where("decision", "fingerprint", queue)) {
    CHECK(d["decision"] != "demoted");
    CHECK(d["decision"] != "held");
  }
  // And CTO hears about the real incident 20 minutes later.
  bool cto = false;
  for (const auto& n : queue_triggers) {
    if (n["channel"] == "cto" && n["at"] == format_timestamp(incident + 20min)) cto = true;
  }
  CHECK(cto);
}

TEST_CASE("noise: a historically transient alert is held, and dropped when it clears meanwhile") {
  const std::string key = "batch-nightly";
  std::vector<Json> input = {
      // Two transient episodes: each pages at once (no history yet).
      generic(k_t0, key, "firing"),
      generic(k_t0 + 2min, key, "resolved"),
      generic(k_t0 + 1h, key, "firing"),
      generic(k_t0 + 1h + 2min, key, "resolved"),
      // Now 2 of 2 ended episodes were transient: the third is held, and clears in 3 minutes.
      generic(k_t0 + 2h, key, "firing"),
      generic(k_t0 + 2h + 3min, key, "resolved"),
      // The fourth is held too, but is still firing when the hold ends: it pages then.
      generic(k_t0 + 3h, key, "firing"),
  };
  ReplayRun r = run_replay_lines(k_rules, input, format_timestamp(k_t0 + 4h));
  REQUIRE(r.status == 0);
  const std::string fp = "generic:" + key;

  std::vector<std::string> triggers;
  for (const auto& n : r.where("notify", "fingerprint", fp)) {
    if (n["action"] == "trigger")
      triggers.push_back(n["at"].get<std::string>() + " #" + n["episode"].dump());
  }
  CHECK(triggers == std::vector<std::string>{
                        format_timestamp(k_t0) + " #1",
                        format_timestamp(k_t0 + 1h) + " #2",
                        format_timestamp(k_t0 + 3h + 5min) + " #4",
                    });
  // Episode 3 was never announced, so nothing is resolved downstream either.
  for (const auto& n : r.where("notify", "fingerprint", fp))
    CHECK(n["episode"] != 3);

  auto held = r.where("decision", "decision", "held");
  REQUIRE(held.size() == 2);
  CHECK(held[0]["episode"] == 3);
  CHECK(held[0]["at"] == format_timestamp(k_t0 + 2h));
  CHECK(held[0]["reason"] ==
        "historically transient: 2 of 2 episodes in 7d resolved by the source within 5m "
        "unacknowledged; first notification held 5m (rule batch)");
  CHECK(held[1]["episode"] == 4);
  auto dropped = r.where("decision", "decision", "dropped");
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0]["episode"] == 3);
  CHECK(dropped[0]["at"] == format_timestamp(k_t0 + 2h + 3min));
  CHECK(dropped[0]["reason"] == "ended 3m after opening, while held until " +
                                    format_timestamp(k_t0 + 2h + 5min) + ": never notified");
}

TEST_CASE("replay --summary: what a rules file would page, demote, hold and drop") {
  const std::string key = "batch-nightly";
  std::vector<Json> input;
  for (int i = 0; i < 4; ++i) {
    input.push_back(generic(k_t0 + std::chrono::hours(i), key, "firing"));
    input.push_back(generic(k_t0 + std::chrono::hours(i) + 2min, key, "resolved"));
  }
  ReplayRun r = run_replay_lines(k_rules, input, "", "", "", true);
  REQUIRE(r.status == 0);
  CHECK(r.err == "summary: 8 input line(s), " + format_timestamp(k_t0) + " to " +
                     format_timestamp(k_t0 + 3h + 2min) +
                     "\n"
                     "  event outcomes: created 4 resolved 4\n"
                     "  first notifications (trigger, level 0) by channel: alerts 2\n"
                     "  notifications by channel and action:\n"
                     "    alerts: resolve 2 trigger 2\n"
                     "  noise routing: demoted 0 held 2 dropped 2\n"
                     "  other decisions: none\n");
  // The output lines are the same with or without the summary.
  CHECK(run_replay_lines(k_rules, input).out == r.out);
}

TEST_CASE("noise: a digest channel gets one message per interval, on the virtual clock") {
  TempDir dir;
  const TestDatabaseLocation db(dir, "replay.db");
  std::vector<Json> input = {
      generic(k_t0 + 10h, "disk-a-full", "firing"),
      generic(k_t0 + 10h + 10min, "disk-b-full", "firing"),
      generic(k_t0 + 10h + 20min, "disk-a-full", "resolved"),
      generic(k_t0 + 11h + 30min, "disk-c-full", "firing"),
  };
  ReplayRun r = run_replay_lines(k_rules, input, format_timestamp(k_t0 + 14h), db);
  REQUIRE(r.status == 0);
  // No message per alert: one digest an hour after the first item, the next an hour after
  // the first item that followed it.
  std::vector<std::string> sent;
  for (const auto& n : r.where("notify"))
    sent.push_back(n["at"].get<std::string>() + " " + n["channel"].get<std::string>() + " " +
                   n["action"].get<std::string>());
  CHECK(sent == std::vector<std::string>{
                    format_timestamp(k_t0 + 11h) + " digest digest",
                    format_timestamp(k_t0 + 12h + 30min) + " digest digest",
                });

  storage::Reader reader(db);
  storage::NotificationQuery q;
  q.channel = "digest";
  auto rows = reader.list_notifications(q);  // newest first
  REQUIRE(rows.size() == 2);
  const Json first = Json::parse(rows[1].digest);
  CHECK(first["notifications"] == 3);
  CHECK(first["since"] == format_timestamp(k_t0 + 10h));
  CHECK(first["until"] == format_timestamp(k_t0 + 11h));
  REQUIRE(first["alerts"].size() == 2);
  // Same severity: the alert with more notifications first.
  CHECK(first["alerts"][0]["fingerprint"] == "generic:disk-a-full");
  CHECK(first["alerts"][0]["notifications"] == 2);
  CHECK(first["alerts"][0]["actions"] == Json{{"resolve", 1}, {"trigger", 1}});
  CHECK(first["alerts"][0]["noise"].is_number());
  CHECK(first["alerts"][1]["fingerprint"] == "generic:disk-b-full");
  CHECK(rows[1].why ==
        "digest of 3 notifications about 2 alerts since " + format_timestamp(k_t0 + 10h));
  const Json second = Json::parse(rows[0].digest);
  CHECK(second["alerts"].size() == 1);
  CHECK(second["alerts"][0]["fingerprint"] == "generic:disk-c-full");
}

TEST_CASE("noise: the engine's incremental state equals a from-scratch recomputation") {
  // Random traffic over five weeks (longer than the 7d window, so episodes leave it), with
  // acknowledgements, people resolving, holds and expiry (auto_resolve_after 6h).
  std::mt19937 rng(1126);
  std::vector<Json> input;
  TimePoint t = k_t0;
  const std::vector<std::string> keys = {"random-a", "random-b", "random-c", "random-d-cpu"};
  for (int i = 0; i < 1500; ++i) {
    // Quiet stretches and bursts; one alert takes half the traffic, so it gets noisy.
    t += std::chrono::minutes(i % 300 < 150 ? 1 + rng() % 4 : 1 + rng() % 120);
    const std::string& key = rng() % 2 ? keys[0] : keys[rng() % keys.size()];
    switch (rng() % 10) {
      case 0:
        input.push_back(Json{{"at", format_timestamp(t)},
                             {"ack", {{"fingerprint", "generic:" + key}, {"by", "alice"}}}});
        break;
      case 1:
        input.push_back(Json{{"at", format_timestamp(t)},
                             {"resolve", {{"fingerprint", "generic:" + key}, {"by", "bob"}}}});
        break;
      case 2:
      case 3:
      case 4:
      case 5:
        input.push_back(generic(t, key, "resolved"));
        break;
      default:
        input.push_back(generic(t, key, "firing"));
        break;
    }
  }
  TempDir dir;
  const TestDatabaseLocation db(dir, "replay.db");
  const TimePoint until = t + 1h;
  ReplayRun r = run_replay_lines(k_rules, input, format_timestamp(until), db);
  REQUIRE(r.status == 0);
  // The traffic exercises every path that changes the counters.
  REQUIRE(r.where("decision", "decision", "demoted").size() > 0);
  REQUIRE(r.where("decision", "decision", "held").size() > 0);
  REQUIRE(r.where("decision", "decision", "expired").size() > 0);

  const auto loaded = rules_or_fail(k_rules);
  const rules::Noise& cfg = loaded->noise;
  storage::Reader reader(db);
  storage::AlertQuery all;
  all.limit = 100;
  auto page = reader.list_alerts(all);
  REQUIRE(page.alerts.size() == keys.size());
  for (const auto& view : page.alerts) {
    const auto& alert = view.alert;
    CAPTURE(alert.fingerprint);
    // The stored state, slid to the end of the replay as the API reads it.
    const auto [observations, episodes] = reader.noise_history(alert.id);
    const rules::NoiseState fresh =
        rules::recompute(observations, episodes, alert.last_episode_number, cfg, until);
    const rules::NoiseState incremental = reader.noise_at(alert, rules::window_cutoff(cfg, until));
    CHECK(incremental == fresh);
    CHECK(rules::score(incremental, cfg, alert.first_seen, until).score ==
          rules::score(fresh, cfg, alert.first_seen, until).score);
    CHECK(alert.noise.episodes > 0);
  }
}

TEST_CASE("digest: every digest of a channel has an alias of its own, across restarts") {
  // Downstream (OpsGenie, PagerDuty) deduplicates by alias: a reused alias folds the next
  // digest into the first one still open there, unseen.
  TempDir dir;
  const TestDatabaseLocation db(dir, "replay.db");
  auto digest_aliases = [](const ReplayRun& r) {
    std::vector<std::string> aliases;
    for (const auto& n : r.where("notify", "action", "digest"))
      aliases.push_back(n["alias"]);
    return aliases;
  };
  // Each digest empties the channel's kept items before the next one is kept.
  ReplayRun first = run_replay_lines(
      k_rules,
      {generic(k_t0 + 10h, "disk-a-full", "firing"), generic(k_t0 + 12h, "disk-b-full", "firing")},
      format_timestamp(k_t0 + 14h), db);
  REQUIRE(first.status == 0);
  const auto before = digest_aliases(first);
  CHECK(before == std::vector<std::string>{"digest:digest:1", "digest:digest:2"});

  SUBCASE("the same database, run again later (a restart): the count goes on") {
    ReplayRun second = run_replay_lines(k_rules, {generic(k_t0 + 20h, "disk-c-full", "firing")},
                                        format_timestamp(k_t0 + 22h), db);
    REQUIRE(second.status == 0);
    CHECK(digest_aliases(second) == std::vector<std::string>{"digest:digest:3"});
  }
  SUBCASE("the digests' outbox rows pruned: the count still goes on") {
    db.exec("DELETE FROM delivery_attempts; DELETE FROM outbox");
    ReplayRun second = run_replay_lines(k_rules, {generic(k_t0 + 20h, "disk-c-full", "firing")},
                                        format_timestamp(k_t0 + 22h), db);
    REQUIRE(second.status == 0);
    CHECK(digest_aliases(second) == std::vector<std::string>{"digest:digest:3"});
  }
}

TEST_CASE("noise: a held episode that ends during its hold never reaches the digest") {
  // docs/behaviour.md "Noise": a digest lists notifications, and a held-then-dropped episode has
  // none.
  const char* const rules = R"(version: 1
channels:
  digest: {type: webhook, url: "http://127.0.0.1:9/digest", digest_every: 1h}
rules:
  - {name: flaky, match: {}, notify: [digest], hold_for: 5m}
)";
  TempDir dir;
  const TestDatabaseLocation db(dir, "replay.db");
  const std::string key = "flaky-job";
  std::vector<Json> input = {
      // Two transient episodes, told at once (no history yet): kept for the digest.
      generic(k_t0, key, "firing"),
      generic(k_t0 + 2min, key, "resolved"),
      generic(k_t0 + 10min, key, "firing"),
      generic(k_t0 + 12min, key, "resolved"),
      // The third is held 5m and clears in 3: dropped, never notified.
      generic(k_t0 + 20min, key, "firing"),
      generic(k_t0 + 23min, key, "resolved"),
  };
  ReplayRun r = run_replay_lines(rules, input, format_timestamp(k_t0 + 2h), db);
  REQUIRE(r.status == 0);
  auto dropped = r.where("decision", "decision", "dropped");
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0]["episode"] == 3);

  storage::Reader reader(db);
  storage::NotificationQuery q;
  q.channel = "digest";
  auto rows = reader.list_notifications(q);
  REQUIRE(rows.size() == 1);
  const Json digest = Json::parse(rows[0].digest);
  REQUIRE(digest["alerts"].size() == 1);
  CHECK(digest["notifications"] == 4);
  CHECK(digest["alerts"][0]["actions"] == Json{{"resolve", 2}, {"trigger", 2}});
  CHECK(digest["alerts"][0]["episode"] == 2);
}

}  // namespace engine_noise_replay_test
