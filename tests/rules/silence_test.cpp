// Silences, the pure parts (docs/behaviour.md "Silences"): the request and its bounds, matching,
// the never_suppress rule, which silence applies, and what the decision core withholds.
#include "rules/silence.hpp"

#include <doctest/doctest.h>

#include "rules/lifecycle.hpp"

namespace rules_silence_test {

using namespace tocsin;
using namespace tocsin::rules;
using namespace std::chrono_literals;

namespace {

const TimePoint k_now = *parse_timestamp("2026-11-30T12:00:00Z");

Json request(Json overrides) {
  Json r = {{"matchers", {{"name", "forms-*"}}},
            {"duration", "2h"},
            {"by", "alice"},
            {"comment", "forms stack upgrade"}};
  for (auto it = overrides.begin(); it != overrides.end(); ++it) {
    if (it.value().is_null()) {
      r.erase(it.key());
    } else {
      r[it.key()] = it.value();
    }
  }
  return r;
}

NormalizedEvent alert(const std::string& name, std::map<std::string, std::string> labels = {}) {
  NormalizedEvent e;
  e.source = Source::cloudwatch;
  e.name = name;
  e.fingerprint = "cloudwatch:123:eu-west-1:" + name;
  e.account = "123";
  e.region = "eu-west-1";
  e.severity = Severity::critical;
  e.labels = std::move(labels);
  return e;
}

Silence silence_of(Json matchers, TimePoint starts, TimePoint ends, std::int64_t id = 1) {
  Silence s;
  s.id = id;
  s.spelled = matchers;
  auto m = parse_silence_matchers(matchers);
  REQUIRE_MESSAGE(m, (m ? "" : m.error().field + " " + m.error().message));
  s.matchers = std::move(*m);
  s.starts_at = starts;
  s.ends_at = ends;
  s.created_by = "alice";
  s.comment = "why";
  return s;
}

}  // namespace

TEST_CASE("silences: every refused request names its field") {
  const SilenceLimits limits;  // max 7d, 90d ahead
  struct Case {
    const char* intent;
    Json overrides;
    const char* field;
  };
  const Case cases[] = {
      {"no matchers", {{"matchers", nullptr}}, "matchers"},
      {"matchers of nothing: a silence of everything", {{"matchers", Json::object()}}, "matchers"},
      {"matchers not an object", {{"matchers", "forms-*"}}, "matchers"},
      {"a glob of everything", {{"matchers", {{"name", "*"}}}}, "matchers"},
      {"regexes of everything",
       {{"matchers", {{"source", "/.*/"}, {"fingerprint", "/x?/"}}}},
       "matchers"},
      {"an unknown matcher key", {{"matchers", {{"team", "x"}}}}, "matchers.team"},
      {"a matcher value not a string", {{"matchers", {{"name", 3}}}}, "matchers.name"},
      {"an invalid regex", {{"matchers", {{"name", "/(/"}}}}, "matchers.name"},
      {"a label with an invalid regex",
       {{"matchers", {{"labels", {{"env", "/[/"}}}}}},
       "matchers.labels.env"},
      {"empty labels", {{"matchers", {{"labels", Json::object()}}}}, "matchers.labels"},
      {"an unknown severity", {{"matchers", {{"severity", "sev1"}}}}, "matchers.severity"},
      {"no by", {{"by", nullptr}}, "by"},
      {"a blank by", {{"by", "  "}}, "by"},
      {"no comment", {{"comment", nullptr}}, "comment"},
      {"a comment too long", {{"comment", std::string(2001, 'x')}}, "comment"},
      {"neither ends_at nor duration", {{"duration", nullptr}}, "ends_at"},
      {"both ends_at and duration", {{"ends_at", "2026-11-30T13:00:00Z"}}, "duration"},
      {"a duration without unit", {{"duration", "5"}}, "duration"},
      {"a duration of zero", {{"duration", "0s"}}, "duration"},
      {"a duration past max_duration", {{"duration", "8d"}}, "duration"},
      {"ends_at not a time", {{"duration", nullptr}, {"ends_at", "tomorrow"}}, "ends_at"},
      {"ends_at in the past",
       {{"duration", nullptr}, {"ends_at", "2026-11-30T11:00:00Z"}},
       "ends_at"},
      {"ends_at past max_duration",
       {{"duration", nullptr}, {"ends_at", "2026-12-08T12:00:01Z"}},
       "ends_at"},
      {"ends_at before starts_at",
       {{"duration", nullptr},
        {"ends_at", "2026-11-30T14:00:00Z"},
        {"starts_at", "2026-11-30T15:00:00Z"}},
       "ends_at"},
      {"starts_at too far ahead", {{"starts_at", "2027-03-30T12:00:00Z"}}, "starts_at"},
      {"an unknown field", {{"forever", true}}, "forever"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto s = parse_silence_request(request(c.overrides), k_now, limits);
    REQUIRE_FALSE(s);
    CHECK(s.error().field == c.field);
    CHECK_FALSE(s.error().message.empty());
  }
  CHECK_FALSE(parse_silence_request(Json::array(), k_now, limits));
}

TEST_CASE("silences: a request's times, from a table") {
  SilenceLimits limits;
  limits.max_duration = 4h;
  struct Case {
    const char* intent;
    Json overrides;
    const char *starts, *ends;
  };
  const Case cases[] = {
      {"a duration counts from now", {}, "2026-11-30T12:00:00.000Z", "2026-11-30T14:00:00.000Z"},
      {"ends_at as given",
       {{"duration", nullptr}, {"ends_at", "2026-11-30T13:30:00Z"}},
       "2026-11-30T12:00:00.000Z",
       "2026-11-30T13:30:00.000Z"},
      {"a window ahead",
       {{"starts_at", "2026-12-01T02:00:00Z"}},
       "2026-12-01T02:00:00.000Z",
       "2026-12-01T04:00:00.000Z"},
      {"a start in the past counts from now",
       {{"starts_at", "2026-11-29T00:00:00Z"}},
       "2026-11-30T12:00:00.000Z",
       "2026-11-30T14:00:00.000Z"},
      {"exactly max_duration is allowed",
       {{"duration", "4h"}},
       "2026-11-30T12:00:00.000Z",
       "2026-11-30T16:00:00.000Z"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto s = parse_silence_request(request(c.overrides), k_now, limits);
    REQUIRE_MESSAGE(s, (s ? "" : s.error().field + " " + s.error().message));
    CHECK(format_timestamp(s->starts_at) == c.starts);
    CHECK(format_timestamp(s->ends_at) == c.ends);
    CHECK(s->created_at == k_now);
    CHECK(s->created_by == "alice");
  }
}

TEST_CASE("silences: matching an alert, from a table") {
  const auto queue = alert("forms-queue-age", {{"stack", "forms"}, {"env", "prod"}});
  struct Case {
    const char* intent;
    Json matchers;
    bool matches;
  };
  const Case cases[] = {
      {"exact name", {{"name", "forms-queue-age"}}, true},
      {"glob name", {{"name", "forms-*"}}, true},
      {"regex name, unanchored", {{"name", "/queue/"}}, true},
      {"another name", {{"name", "billing-*"}}, false},
      {"a label", {{"labels", {{"stack", "forms"}}}}, true},
      {"a label it lacks", {{"labels", {{"team", "*"}}}}, false},
      {"every key must match", {{"name", "forms-*"}, {"labels", {{"env", "staging"}}}}, false},
      {"the fingerprint", {{"fingerprint", "cloudwatch:123:eu-west-1:forms-queue-age"}}, true},
      {"a fingerprint glob", {{"fingerprint", "cloudwatch:123:*"}}, true},
      {"the source", {{"source", "cloudwatch"}}, true},
      {"the severity", {{"severity", "critical"}}, true},
      {"another severity", {{"severity", "warning"}}, false},
      {"account and region", {{"account", "123"}, {"region", "eu-*"}}, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const Silence s = silence_of(c.matchers, k_now, k_now + 1h);
    CHECK(silence_covers(s, queue, false) == c.matches);
  }
}

TEST_CASE("silences: a never_suppress alert is quieted only by a silence naming it exactly") {
  const auto queue = alert("forms-queue-age", {{"stack", "forms"}});
  struct Case {
    const char* intent;
    Json matchers;
    bool quiets;
  };
  const Case cases[] = {
      {"its exact name", {{"name", "forms-queue-age"}}, true},
      {"its exact fingerprint",
       {{"fingerprint", "cloudwatch:123:eu-west-1:forms-queue-age"}},
       true},
      {"exact name narrowed by a label",
       {{"name", "forms-queue-age"}, {"labels", {{"stack", "f*"}}}},
       true},
      {"a glob", {{"name", "forms-*"}}, false},
      {"a regex spelled like the name", {{"name", "/^forms-queue-age$/"}}, false},
      {"a label selector", {{"labels", {{"stack", "forms"}}}}, false},
      {"a fingerprint glob", {{"fingerprint", "cloudwatch:*"}}, false},
      {"the source alone", {{"source", "cloudwatch"}}, false},
      {"an exact name of another alert", {{"name", "forms-api"}}, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    const Silence s = silence_of(c.matchers, k_now, k_now + 1h);
    CHECK(silence_covers(s, queue, true) == c.quiets);
    // Without never_suppress, each of them but the other alert's name quiets it.
    CHECK(silence_covers(s, queue, false) ==
          (std::string(c.intent) != "an exact name of another alert"));
  }
}

TEST_CASE("silences: status and the one that applies") {
  const auto a = alert("forms-api");
  Silence pending = silence_of({{"name", "forms-*"}}, k_now + 1h, k_now + 2h, 1);
  Silence short_one = silence_of({{"name", "forms-*"}}, k_now - 1h, k_now + 1h, 2);
  Silence long_one = silence_of({{"name", "forms-*"}}, k_now - 1h, k_now + 3h, 3);
  Silence expired = silence_of({{"name", "forms-*"}}, k_now - 2h, k_now + 5h, 4);
  expired.expired_at = k_now - 1min;
  Silence other = silence_of({{"name", "billing-*"}}, k_now - 1h, k_now + 9h, 5);

  CHECK(pending.status(k_now) == SilenceStatus::pending);
  CHECK(pending.status(k_now + 1h) == SilenceStatus::active);
  CHECK(pending.status(k_now + 2h) == SilenceStatus::expired);  // ends_at is exclusive
  CHECK(expired.status(k_now) == SilenceStatus::expired);
  CHECK(expired.end() == k_now - 1min);

  const std::vector<Silence> all{pending, short_one, long_one, expired, other};
  const Silence* s = applying_silence(all, a, false, k_now);
  REQUIRE(s);
  CHECK(s->id == 3);  // the one that ends last
  CHECK(applying_silence({pending, expired, other}, a, false, k_now) == nullptr);
  CHECK(applying_silence(all, a, false, k_now + 4h) == nullptr);
  CHECK(ref_of(long_one).describe() == "silence 3 by alice until 2026-11-30T15:00:00.000Z: why");
}

TEST_CASE("silences: what the decision core withholds") {
  const SilenceRef silence{7, "alice", "upgrade", k_now + 2h};
  const Route route{{EscalationStep{0min, {"oncall"}}, EscalationStep{20min, {"cto"}}},
                    std::nullopt};
  Episode open;
  open.number = 1;
  open.opened_at = open.last_activity_at = open.escalation_base = k_now;
  open.escalation = {"page"};

  SUBCASE("a new episode opens, is recorded, and pages nobody") {
    Routing routing;
    routing.escalation = {"page"};
    routing.route = route;
    routing.silence = silence;
    NormalizedEvent e = alert("forms-api");
    e.state = SignalState::firing;
    const Decision d =
        decide(AlertPolicy{}, AlertState{}, e, Severity::critical, Priority{1}, k_now, routing);
    CHECK(d.outcome == Outcome::created);
    CHECK(d.opened);
    CHECK(d.effects.notifications.empty());
    CHECK_FALSE(would_page(d.effects));
    CHECK(d.effects.silence == 7);
    REQUIRE(d.effects.notes.size() == 1);
    CHECK(d.effects.notes[0].decision == NoteKind::silenced);
    CHECK(d.effects.notes[0].reason.starts_with("silence 7 by alice until"));
    // Its sweeps still run.
    REQUIRE(d.effects.timers.size() == 1);
    CHECK(d.effects.timers[0].kind == TimerKind::max_open_age);
  }
  SUBCASE("an escalation step is withheld and not rescheduled") {
    const Timer step{TimerKind::escalation, k_now + 20min, 1, 1};
    const TimerDecision plain =
        on_timer(AlertPolicy{}, route, open, {"oncall"}, step, k_now + 20min);
    CHECK(would_page(plain.effects));
    const TimerDecision d =
        on_timer(AlertPolicy{}, route, open, {"oncall"}, step, k_now + 20min, silence);
    CHECK(d.effects.notifications.empty());
    CHECK(d.effects.timers.empty());
    REQUIRE(d.effects.notes.size() == 1);
    CHECK(d.effects.notes[0].decision == NoteKind::silenced);
  }
  SUBCASE("the end of the silence pages an open episode as if it had just opened") {
    Episode e = open;
    e.level = 1;
    e.notified = {"oncall", "cto"};
    const TimerDecision d = on_silence_end(route, e, silence, k_now + 2h);
    REQUIRE(d.episode);
    CHECK(d.episode->escalation_base == k_now + 2h);
    CHECK(d.effects.cancel_escalation);
    REQUIRE(d.effects.notifications.size() == 1);
    CHECK(d.effects.notifications[0].channel == "oncall");
    CHECK(d.effects.notifications[0].action == NotifyAction::trigger);
    REQUIRE(d.effects.timers.size() == 1);
    CHECK(d.effects.timers[0].due == k_now + 2h + 20min);
    CHECK(d.effects.notes[0].decision == NoteKind::unsilenced);
  }
  SUBCASE("the end of the silence pages nothing acknowledged or ended") {
    Episode acked = open;
    acked.status = EpisodeStatus::acknowledged;
    CHECK_FALSE(on_silence_end(route, acked, silence, k_now).episode);
    Episode resolved = open;
    resolved.status = EpisodeStatus::resolved;
    CHECK_FALSE(on_silence_end(route, resolved, silence, k_now).episode);
  }
  SUBCASE("an acknowledgement and a resolve still reach the channels told before") {
    Episode told = open;
    told.level = 0;
    told.notified = {"oncall"};
    const AlertState state{1, told, {"oncall"}};
    const auto ack =
        on_action(AlertPolicy{}, route, state, HumanAction::ack, "bob", "", k_now, silence);
    REQUIRE(ack.effects.notifications.size() == 1);
    CHECK(ack.effects.notifications[0].action == NotifyAction::acknowledge);
    const auto resolve =
        on_action(AlertPolicy{}, route, state, HumanAction::resolve, "bob", "", k_now, silence);
    REQUIRE(resolve.effects.notifications.size() == 1);
    CHECK(resolve.effects.notifications[0].action == NotifyAction::resolve);
  }
}

}  // namespace rules_silence_test
