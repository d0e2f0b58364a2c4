#include "ingest/generic.hpp"

#include <doctest/doctest.h>

#include "support/fixtures.hpp"

namespace ingest_generic_test {

using namespace tocsin;
using namespace tocsin::ingest;
using tocsin::testing::fixture;

namespace {

// Every documented field set.
const Json k_full = {
    {"key", "nightly-backup"},
    {"status", "firing"},
    {"severity", "high"},
    {"summary", "backup of orders-db failed"},
    {"labels", {{"team", "db"}, {"env", "prod"}}},
    {"annotations", {{"description", "pg_dump exited 1"}, {"runbook", "https://r.example/b"}}},
    {"timestamp", "2026-03-02T10:03:41+05:30"},
    {"id", "run-8812"},
};

const Json k_removed = Json(Json::value_t::discarded);

// k_full with `key` replaced, or removed when `value` is discarded.
std::string with(const char* key, const Json& value) {
  Json event = k_full;
  if (value.is_discarded()) {
    event.erase(key);
  } else {
    event[key] = value;
  }
  return event.dump();
}

NormalizedEvent only_event(const std::string& body) {
  auto events = parse_generic_event(body);
  REQUIRE(events.has_value());
  REQUIRE(events->size() == 1);
  return events->front();
}

}  // namespace

TEST_CASE("a generic event with every field normalizes field by field") {
  auto e = only_event(k_full.dump());
  CHECK(e.source == Source::generic);
  CHECK(e.hook == "generic");
  CHECK(e.fingerprint == "generic:nightly-backup");
  CHECK(e.name == "nightly-backup");
  CHECK(e.state == SignalState::firing);
  CHECK(e.severity == Severity::high);
  CHECK(e.summary == "backup of orders-db failed");
  CHECK(e.description == "pg_dump exited 1");
  CHECK(e.labels == std::map<std::string, std::string>{{"env", "prod"}, {"team", "db"}});
  REQUIRE(e.source_time.has_value());
  CHECK(format_timestamp(*e.source_time) == "2026-03-02T04:33:41.000Z");
  CHECK(e.source_event_id == "run-8812");
}

TEST_CASE("a minimal generic event needs only key and status") {
  struct Case {
    const char* intent;
    const char* body;
    SignalState state;
  };
  const Case cases[] = {
      {"firing", R"({"key": "k", "status": "firing"})", SignalState::firing},
      {"resolved", R"({"key": "k", "status": "resolved"})", SignalState::resolved},
      {"null optional fields count as absent",
       R"({"key": "k", "status": "firing", "severity": null, "summary": null, "labels": null,
           "annotations": null, "timestamp": null, "id": null})",
       SignalState::firing},
      {"unknown keys are the sender's own business",
       R"({"key": "k", "status": "firing", "host": {"name": "db-1"}, "count": 3})",
       SignalState::firing},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = only_event(c.body);
    CHECK(e.fingerprint == "generic:k");
    CHECK(e.state == c.state);
    CHECK(e.summary == "k");
    CHECK_FALSE(e.severity.has_value());
    CHECK_FALSE(e.source_time.has_value());
    CHECK(e.source_event_id.empty());
    CHECK(e.labels.empty());
  }
}

TEST_CASE("a generic summary falls back to annotations.summary, then to the key") {
  struct Case {
    const char* intent;
    const char* body;
    const char* summary;
  };
  const Case cases[] = {
      {"the summary field wins",
       R"({"key": "k", "status": "firing", "summary": "s", "annotations": {"summary": "a"}})", "s"},
      {"annotations.summary stands in",
       R"({"key": "k", "status": "firing", "annotations": {"summary": "a"}})", "a"},
      {"an empty summary is no summary",
       R"({"key": "k", "status": "firing", "summary": "", "annotations": {"summary": "a"}})", "a"},
      {"the key is the last resort", R"({"key": "k", "status": "firing"})", "k"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CHECK(only_event(c.body).summary == c.summary);
  }
}

TEST_CASE("broken generic events are refused with the field named") {
  struct Case {
    const char* intent;
    std::string body;
    const char* code;
    const char* field;  // must appear in the detail
  };
  const Case cases[] = {
      {"an empty body", "", "empty_body", nullptr},
      {"not JSON", fixture("bad/not_json.txt"), "invalid_json", nullptr},
      {"trailing garbage", k_full.dump() + " x", "invalid_json", nullptr},
      {"nested 10,000 deep", fixture("bad/deeply_nested_arrays_10000.json"), "json_too_deep",
       nullptr},
      {"a duplicate key", R"({"key": "a", "key": "b", "status": "firing"})", "duplicate_key",
       nullptr},
      {"invalid UTF-8", "{\"key\": \"\xFF\", \"status\": \"firing\"}", "invalid_utf8", nullptr},
      {"an array of events (one event per request)", "[" + k_full.dump() + "]", "not_an_object",
       nullptr},
      {"no key", with("key", k_removed), "invalid_generic_event", "key"},
      {"an empty key", with("key", ""), "invalid_generic_event", "key"},
      {"a numeric key", with("key", 42), "invalid_generic_event", "key"},
      {"a null key", with("key", nullptr), "invalid_generic_event", "key"},
      {"no status", with("status", k_removed), "invalid_generic_event", "status"},
      {"a status that does not exist", with("status", "ok"), "invalid_generic_event", "\"ok\""},
      {"a status in the wrong case", with("status", "FIRING"), "invalid_generic_event", "status"},
      {"a severity we cannot read", with("severity", "urgent"), "invalid_generic_event",
       "severity"},
      {"a severity that is a number", with("severity", 1), "invalid_generic_event", "severity"},
      {"a summary that is an object", with("summary", Json::object()), "invalid_generic_event",
       "summary"},
      {"labels that are an array", with("labels", Json::array()), "invalid_generic_event",
       "labels"},
      {"a label value that is a number", with("labels", {{"team", 1}}), "invalid_generic_event",
       "labels.team"},
      {"an annotation value that is a bool", with("annotations", {{"description", true}}),
       "invalid_generic_event", "annotations.description"},
      {"a timestamp without an offset", with("timestamp", "2026-03-02T10:03:41"),
       "invalid_generic_event", "timestamp"},
      {"a timestamp as epoch seconds", with("timestamp", 1772445821), "invalid_generic_event",
       "timestamp"},
      {"an empty id", with("id", ""), "invalid_generic_event", "id"},
      {"a numeric id", with("id", 8812), "invalid_generic_event", "id"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    auto e = parse_generic_event(c.body);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().status == 400);
    CHECK(e.error().code == c.code);
    if (c.field) CHECK(e.error().detail.find(c.field) != std::string::npos);
  }
}

}  // namespace ingest_generic_test
