#include "ingest/opsgenie.hpp"

#include <doctest/doctest.h>

#include "support/fixtures.hpp"

namespace ingest_opsgenie_test {

using namespace tocsin;
using namespace tocsin::ingest;
using tocsin::testing::fixture;
using tocsin::testing::mutated_fixture;

namespace {

constexpr const char* k_alert_id = "e903d645-97d3-56c6-b2d2-dde943931be7-1772445822305";
constexpr const char* k_cw_alias = "cw:123456789012:us-east-1:hooks-worker-oldest-message-age";
constexpr const char* k_tocsin_alias = "tocsin-0123456789ab-3";

const Json k_removed = Json(Json::value_t::discarded);

// A fixture with the value at `pointer` replaced, or removed when `value` is discarded.
std::string mutated(const char* file, const char* pointer, const Json& value) {
  return mutated_fixture(file, pointer, value);
}

OpsgenieWebhook webhook_of(const std::string& body) {
  auto w = parse_opsgenie_webhook(body);
  REQUIRE(w.has_value());
  return std::move(*w);
}

std::optional<std::string> formatted(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return format_timestamp(*t);
}

}  // namespace

TEST_CASE("every OpsGenie fixture is accepted and says what happened") {
  struct Case {
    const char* intent;
    const char* file;
    OpsgenieAction kind;
    std::optional<SignalState> event;  // nullopt: nothing to ingest
    const char* alias;
    std::optional<std::string> updated_at;
  };
  const Case cases[] = {
      {"Create ingests a firing alert", "opsgenie_create.json", OpsgenieAction::create,
       SignalState::firing, k_cw_alias, "2026-03-02T10:03:42.305Z"},
      {"Acknowledge is for an episode, not an event", "opsgenie_acknowledge.json",
       OpsgenieAction::acknowledge, std::nullopt, k_cw_alias, "2026-03-02T10:06:59.872Z"},
      {"AddNote carries the note only", "opsgenie_addnote.json", OpsgenieAction::add_note,
       std::nullopt, k_cw_alias, "2026-03-02T10:13:08.104Z"},
      {"Escalate carries only alertId", "opsgenie_escalate.json", OpsgenieAction::escalate,
       std::nullopt, "", std::nullopt},
      {"Close resolves", "opsgenie_close.json", OpsgenieAction::close, SignalState::resolved,
       k_cw_alias, "2026-03-02T10:41:31.530Z"},
      {"the legacy Create shape (integer priority, recipients)",
       "edge/opsgenie_create_legacy_shape.json", OpsgenieAction::create, SignalState::firing,
       "cw:123456789012:eu-west-1:rds-cpu-high", "2026-03-02T12:30:17.002Z"},
      {"AddTags with a comma-separated addedTags", "edge/opsgenie_add_tags.json",
       OpsgenieAction::add_tags, std::nullopt, k_cw_alias, "2026-03-02T10:15:00.000Z"},
      {"a custom action is recognisable as none of ours", "edge/opsgenie_custom_action.json",
       OpsgenieAction::other, std::nullopt, k_cw_alias, "2026-03-02T10:16:40.000Z"},
      {"a Close made through the API", "edge/opsgenie_close_by_api.json", OpsgenieAction::close,
       SignalState::resolved, k_cw_alias, "2026-03-02T10:41:12.114Z"},
      {"UnAcknowledge with its capital A", "edge/opsgenie_unacknowledge.json",
       OpsgenieAction::unacknowledge, std::nullopt, k_cw_alias, "2026-03-02T10:10:00.000Z"},
      {"AssignOwnership", "edge/opsgenie_assign_ownership.json", OpsgenieAction::assign_ownership,
       std::nullopt, k_cw_alias, "2026-03-02T10:11:40.000Z"},
      {"a note holding NUL and separators", "edge/opsgenie_note_with_nul_and_separators.json",
       OpsgenieAction::add_note, std::nullopt, k_cw_alias, "2026-03-02T10:13:08.104Z"},
      {"an action OpsGenie added later is accepted", "bad/opsgenie_unknown_action.json",
       OpsgenieAction::other, std::nullopt, k_cw_alias, "2026-03-02T10:06:59.872Z"},
      {"an updatedAt beyond int64 is unknown, not an error", "bad/opsgenie_updatedat_overflow.json",
       OpsgenieAction::acknowledge, std::nullopt, k_cw_alias, std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto w = webhook_of(fixture(c.file));
    CHECK(w.kind == c.kind);
    CHECK(w.alias == c.alias);
    CHECK(formatted(w.updated_at) == c.updated_at);
    CHECK_FALSE(w.tocsin_alias.has_value());
    CHECK_FALSE(w.delivery_id.empty());
    CHECK(w.integration_name == "Alert Engine Webhook");
    REQUIRE(w.event.has_value() == c.event.has_value());
    if (c.event) {
      CHECK(w.event->state == *c.event);
      CHECK(w.event->fingerprint == std::string("opsgenie:") + c.alias);
      CHECK(w.event->source_event_id == w.delivery_id);
    }
  }
}

TEST_CASE("an OpsGenie Create becomes a complete event") {
  auto w = webhook_of(fixture("opsgenie_create.json"));
  REQUIRE(w.event.has_value());
  const auto& e = *w.event;
  CHECK(e.source == Source::opsgenie);
  CHECK(e.hook == "opsgenie");
  CHECK(e.name == k_cw_alias);
  CHECK(e.severity == Severity::critical);
  CHECK(e.summary ==
        "[ALARM] hooks-worker-oldest-message-age: oldest SQS message > 900s (us-east-1)");
  CHECK(e.description.find("Runbook") != std::string::npos);
  CHECK(e.labels.at("queue") == "hooks-worker");
  CHECK(e.labels.size() == 5);
  CHECK(formatted(e.source_time) == "2026-03-02T10:03:42.305Z");  // createdAt
  CHECK(w.alert_id == k_alert_id);
  CHECK(w.user == "alert-engine");
  CHECK(w.alert_source == "alert-engine");
  CHECK(w.action_source_type == "API");
  CHECK(w.integration_id == "b56909d4-745e-5feb-a048-104fb589c840");
  CHECK(w.integration_type == "Webhook");
  CHECK(w.priority == Priority{1});
  CHECK(w.tiny_id == "1742");
}

TEST_CASE("OpsGenie fields that only some actions carry") {
  SUBCASE("the legacy integer priority 3 is P3, a warning") {
    auto w = webhook_of(fixture("edge/opsgenie_create_legacy_shape.json"));
    CHECK(w.priority == Priority{3});
    REQUIRE(w.event.has_value());
    CHECK(w.event->severity == Severity::warning);
    CHECK(w.action_source_name == "web");
  }
  SUBCASE("a note keeps its NUL and everything after it") {
    auto w = webhook_of(fixture("edge/opsgenie_note_with_nul_and_separators.json"));
    constexpr char k_note[] = "line1\0line2 \u2028 tab\tend";
    CHECK(w.note == std::string(k_note, sizeof k_note - 1));
  }
  SUBCASE("AssignOwnership names the new owner apart from the actor") {
    auto w = webhook_of(fixture("edge/opsgenie_assign_ownership.json"));
    CHECK(w.owner == "sam.lee@example.com");
    CHECK(w.user == "jane.doe@example.com");
  }
  SUBCASE("Escalate, with only alertId, is identified by it") {
    auto w = webhook_of(fixture("opsgenie_escalate.json"));
    CHECK(w.fingerprint == std::string("opsgenie:") + k_alert_id);
    CHECK(w.delivery_id == std::string(k_alert_id) + "|Escalate|");
    CHECK(w.action_source_type.empty());
  }
  SUBCASE("a Create without an alias falls back to the alertId") {
    auto w = webhook_of(mutated("opsgenie_create.json", "/alert/alias", k_removed));
    REQUIRE(w.event.has_value());
    CHECK(w.event->fingerprint == std::string("opsgenie:") + k_alert_id);
    CHECK(w.event->name == k_alert_id);
  }
  SUBCASE("Delete resolves, since nothing will ever close a deleted alert") {
    auto w = webhook_of(mutated("opsgenie_close.json", "/action", "Delete"));
    CHECK(w.kind == OpsgenieAction::delete_alert);
    REQUIRE(w.event.has_value());
    CHECK(w.event->state == SignalState::resolved);
  }
}

TEST_CASE("alerts Tocsin created update episodes and are never ingested again") {
  struct Case {
    const char* intent;
    const char* file;
    OpsgenieAction kind;
  };
  const Case cases[] = {
      {"our own Create echoed back", "opsgenie_create.json", OpsgenieAction::create},
      {"an acknowledgement of our alert", "opsgenie_acknowledge.json", OpsgenieAction::acknowledge},
      {"an unacknowledgement", "edge/opsgenie_unacknowledge.json", OpsgenieAction::unacknowledge},
      {"a close by a human", "opsgenie_close.json", OpsgenieAction::close},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto w = webhook_of(mutated(c.file, "/alert/alias", k_tocsin_alias));
    CHECK(w.kind == c.kind);
    REQUIRE(w.tocsin_alias.has_value());
    CHECK(w.tocsin_alias->first == "0123456789ab");
    CHECK(w.tocsin_alias->second == 3);
    CHECK_FALSE(w.event.has_value());
  }
}

TEST_CASE("Tocsin recognises its own actions echoed back") {
  struct Case {
    const char* intent;
    std::string body;
    const char* tocsin_user;
    bool echo;
  };
  const std::string own_close =
      mutated("edge/opsgenie_close_by_api.json", "/alert/alias", k_tocsin_alias);
  const Case cases[] = {
      {"our API close of our alert", own_close, "alert-engine", true},
      {"the same close when Tocsin uses another user name", own_close, "tocsin", false},
      {"no configured user recognises nothing", own_close, "", false},
      {"a human closing our alert in the web UI",
       mutated("opsgenie_close.json", "/alert/alias", k_tocsin_alias), "alert-engine", false},
      {"an API close of an alert that is not ours", fixture("edge/opsgenie_close_by_api.json"),
       "alert-engine", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(is_own_echo(webhook_of(c.body), c.tocsin_user) == c.echo);
  }
}

TEST_CASE("parse_tocsin_alias reads only the aliases Tocsin writes") {
  struct Case {
    const char* intent;
    const char* alias;
    std::optional<std::pair<std::string, int>> parsed;
  };
  const Case cases[] = {
      {"an episode alias", "tocsin-0123456789ab-1", std::pair<std::string, int>{"0123456789ab", 1}},
      {"a large episode number", "tocsin-abcdefabcdef-2147483647",
       std::pair<std::string, int>{"abcdefabcdef", 2147483647}},
      {"an episode number beyond int", "tocsin-abcdefabcdef-2147483648", std::nullopt},
      {"episode zero", "tocsin-0123456789ab-0", std::nullopt},
      {"a leading zero", "tocsin-0123456789ab-01", std::nullopt},
      {"a negative episode", "tocsin-0123456789ab--1", std::nullopt},
      {"no episode", "tocsin-0123456789ab-", std::nullopt},
      {"no episode separator", "tocsin-0123456789ab", std::nullopt},
      {"upper-case hex", "tocsin-0123456789AB-1", std::nullopt},
      {"a short hash", "tocsin-0123456789a-1", std::nullopt},
      {"a long hash", "tocsin-0123456789abc-1", std::nullopt},
      {"trailing text", "tocsin-0123456789ab-1x", std::nullopt},
      {"another prefix", "cw:123456789012:us-east-1:x", std::nullopt},
      {"empty", "", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(parse_tocsin_alias(c.alias) == c.parsed);
  }
}

TEST_CASE("the delivery id repeats for a retried delivery and differs between actions") {
  auto ack = webhook_of(fixture("opsgenie_acknowledge.json"));
  CHECK(ack.delivery_id == std::string(k_alert_id) + "|Acknowledge|1772446019872000331");
  CHECK(webhook_of(fixture("opsgenie_acknowledge.json")).delivery_id == ack.delivery_id);
  CHECK(webhook_of(fixture("opsgenie_close.json")).delivery_id != ack.delivery_id);
  CHECK(webhook_of(fixture("opsgenie_addnote.json")).delivery_id !=
        webhook_of(fixture("edge/opsgenie_note_with_nul_and_separators.json")).delivery_id);
  // An updatedAt that does not convert still identifies the delivery as sent.
  CHECK_FALSE(
      webhook_of(fixture("bad/opsgenie_updatedat_overflow.json")).delivery_id.ends_with("|"));
}

TEST_CASE("OpsGenie epoch times convert when they can and are unknown when they cannot") {
  struct Case {
    const char* intent;
    Json updated_at;
    std::optional<std::string> expected;
  };
  const Case cases[] = {
      {"nanoseconds above 2^53 keep their precision", 1772446019872999999,
       "2026-03-02T10:06:59.872Z"},
      {"milliseconds, as one documented sample sends", 1772446019872, "2026-03-02T10:06:59.872Z"},
      {"a double has lost its precision", 1.772446019872e18, std::nullopt},
      {"beyond int64 but within uint64", 18000000000000000000u, std::nullopt},
      {"zero", 0, std::nullopt},
      {"negative", -5, std::nullopt},
      {"milliseconds past year 9999", 999999999999999, std::nullopt},
      {"a string", "1772446019872000331", std::nullopt},
      {"null", nullptr, std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto w = webhook_of(mutated("opsgenie_acknowledge.json", "/alert/updatedAt", c.updated_at));
    CHECK(formatted(w.updated_at) == c.expected);
  }
}

TEST_CASE("OpsGenie action names are matched exactly as documented") {
  struct Case {
    const char* intent;
    const char* action;
    OpsgenieAction kind;
  };
  const Case cases[] = {
      {"Create", "Create", OpsgenieAction::create},
      {"UnAcknowledge with a capital A", "UnAcknowledge", OpsgenieAction::unacknowledge},
      {"Unacknowledge spelled otherwise is not it", "Unacknowledge", OpsgenieAction::other},
      {"lower case is not Close", "close", OpsgenieAction::other},
      {"TakeOwnership", "TakeOwnership", OpsgenieAction::take_ownership},
      {"RemoveTags", "RemoveTags", OpsgenieAction::remove_tags},
      {"AddRecipient", "AddRecipient", OpsgenieAction::add_recipient},
      {"AddTeam", "AddTeam", OpsgenieAction::add_team},
      {"a custom action with spaces", "Restart consumers", OpsgenieAction::other},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(parse_opsgenie_action(c.action) == c.kind);
  }
}

TEST_CASE("broken OpsGenie webhooks are refused with the field named") {
  struct Case {
    const char* intent;
    std::string body;
    const char* code;
    const char* field;  // must appear in the detail
  };
  const Case cases[] = {
      {"no alert", fixture("bad/opsgenie_missing_alert.json"), "invalid_opsgenie_payload", "alert"},
      {"no alertId", fixture("bad/opsgenie_missing_alert_id.json"), "invalid_opsgenie_payload",
       "alert.alertId"},
      {"action a number", fixture("bad/opsgenie_action_not_string.json"),
       "invalid_opsgenie_payload", "action"},
      {"invalid UTF-8 in a note", fixture("bad/opsgenie_invalid_utf8.json"), "invalid_utf8",
       nullptr},
      {"a lone surrogate escape", fixture("bad/opsgenie_lone_surrogate_escape.json"),
       "invalid_json", nullptr},
      {"nested 10,000 deep", fixture("bad/deeply_nested_arrays_10000.json"), "json_too_deep",
       nullptr},
      {"an empty body", fixture("bad/empty_body.txt"), "empty_body", nullptr},
      {"a top-level array", "[]", "not_an_object", nullptr},
      {"no action", mutated("opsgenie_close.json", "/action", k_removed),
       "invalid_opsgenie_payload", "action"},
      {"an empty action", mutated("opsgenie_close.json", "/action", ""), "invalid_opsgenie_payload",
       "action"},
      {"alert an array", mutated("opsgenie_close.json", "/alert", Json::array()),
       "invalid_opsgenie_payload", "alert"},
      {"alertId a number", mutated("opsgenie_close.json", "/alert/alertId", 7),
       "invalid_opsgenie_payload", "alert.alertId"},
      {"alertId empty", mutated("opsgenie_close.json", "/alert/alertId", ""),
       "invalid_opsgenie_payload", "alert.alertId"},
      {"alias an object", mutated("opsgenie_close.json", "/alert/alias", Json::object()),
       "invalid_opsgenie_payload", "alert.alias"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto w = parse_opsgenie_webhook(c.body);
    REQUIRE_FALSE(w.has_value());
    CHECK(w.error().status == 400);
    CHECK(w.error().code == c.code);
    if (c.field) CHECK(w.error().detail.find(c.field) != std::string::npos);
  }
}

TEST_CASE("informational OpsGenie fields never refuse a webhook") {
  struct Case {
    const char* intent;
    const char* pointer;
    Json value;
  };
  const Case cases[] = {
      {"message a number", "/alert/message", 5},
      {"priority P9", "/alert/priority", "P9"},
      {"priority 0", "/alert/priority", 0},
      {"details with a non-string value", "/alert/details/queue", 3},
      {"details an array", "/alert/details", Json::array()},
      {"source a string", "/source", "web"},
      {"createdAt a string", "/alert/createdAt", "yesterday"},
      {"integrationName missing", "/integrationName", k_removed},
      {"alias null", "/alert/alias", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto w = webhook_of(mutated("opsgenie_create.json", c.pointer, c.value));
    CHECK(w.kind == OpsgenieAction::create);
    CHECK(w.event.has_value());
  }
}

}  // namespace ingest_opsgenie_test
