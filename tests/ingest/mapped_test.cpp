#include "ingest/mapped.hpp"

#include <doctest/doctest.h>

#include "core/time.hpp"

namespace ingest_mapped_test {

using namespace tocsin;
using namespace tocsin::ingest;
using namespace tocsin::mapping;

namespace {

JsonPointer P(std::string_view spelled) {
  auto p = JsonPointer::parse(spelled);
  REQUIRE(p.has_value());
  return *p;
}

Template T(std::string_view spelled) {
  auto t = Template::parse(spelled);
  REQUIRE(t.has_value());
  return *t;
}

// A mapping with every field set, over events like k_event.
Mapping full_mapping() {
  Mapping m;
  m.identity = T("{/host}:{/check}");
  m.name = T("{/check}");
  m.status = StatusSpec{P("/state"), {"DOWN", "FLAPPING"}, {"UP"}, {"PAUSED"}};
  m.severity = SeveritySpec{
      P("/level"), {{"HIGH", Severity::critical}, {"LOW", Severity::info}}, Severity::warning};
  m.summary = T("{/check} on {/host} is {/state}");
  m.timestamp = TimestampSpec{P("/at"), TimeFormat::rfc3339};
  m.labels = {{"host", T("{/host}")}, {"team", T("{/meta/team}")}, {"port", T("{/port}")}};
  m.annotations = {{"description", T("{/details}")}, {"link", T("https://x/{/check}")}};
  m.delivery_id = T("{/id}");
  return m;
}

const Json k_event = Json::parse(R"({
  "host": "db1", "check": "disk", "state": "DOWN", "level": "HIGH",
  "at": "2026-03-02T10:03:41Z", "meta": {"team": "storage"}, "port": 5432,
  "details": "95% full", "id": "d-1"})");

Json with(const char* key, const Json& value) {
  Json e = k_event;
  if (value.is_discarded()) {
    e.erase(key);
  } else {
    e[key] = value;
  }
  return e;
}

const Json k_removed = Json(Json::value_t::discarded);

MappedBody map_body(const Mapping& m, const Json& body) {
  auto out = apply_mapping(m, "tool", body);
  REQUIRE_MESSAGE(out.has_value(), out.error().detail);
  return std::move(*out);
}

std::string error_of(const Mapping& m, const Json& body) {
  auto out = apply_mapping(m, "tool", body);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().status == 400);
  CHECK(out.error().code == "mapped_payload_invalid");
  return out.error().detail;
}

}  // namespace

TEST_CASE("a mapped event fills every field its mapping names") {
  const auto body = map_body(full_mapping(), k_event);
  REQUIRE(body.events.size() == 1);
  const auto& e = body.events.front();
  CHECK(e.source == Source::generic);
  CHECK(e.fingerprint == "mapped:tool:db1:disk");
  CHECK(e.name == "disk");
  CHECK(e.state == SignalState::firing);
  CHECK(e.severity == Severity::critical);
  CHECK(e.summary == "disk on db1 is DOWN");
  REQUIRE(e.source_time.has_value());
  CHECK(format_timestamp(*e.source_time) == "2026-03-02T10:03:41.000Z");
  CHECK(e.labels ==
        std::map<std::string, std::string>{{"host", "db1"}, {"team", "storage"}, {"port", "5432"}});
  CHECK(e.description == "95% full");
  // The delivery id, for the identity and the status it was sent with.
  CHECK(e.source_event_id == "d-1\ndb1:disk\nfiring");
  CHECK(body.delivery_id == e.source_event_id);
  CHECK(body.ignored.empty());
}

TEST_CASE("a delivery id reused for another alert or status is not a repeat of the first") {
  // A template that is not unique, or a tool that reuses an id for the resolve, must not make a
  // second alert's event (or the resolve) a redelivery of the first: that would lose it.
  Mapping m = full_mapping();
  m.events = P("/items");
  Json other = with("host", "db2");
  Json resolve = with("state", "UP");
  const auto body = map_body(m, Json{{"items", Json::array({k_event, other, resolve, k_event})}});
  REQUIRE(body.events.size() == 4);
  const auto key = [&](std::size_t i) { return body.events[i].source_event_id; };
  CHECK(key(0) != key(1));  // another alert, same id
  CHECK(key(0) != key(2));  // the same alert's resolve, same id
  CHECK(key(1) != key(2));
  CHECK(key(0) == key(3));  // the same event again: a repeat
}

TEST_CASE("a minimal mapping defaults the name and summary to the identity") {
  Mapping m;
  m.identity = T("{/id}");
  m.status = StatusSpec{P("/s"), {"on"}, {"off"}, {}};
  const auto body = map_body(m, Json::parse(R"({"id": 17, "s": "off"})"));
  REQUIRE(body.events.size() == 1);
  const auto& e = body.events.front();
  CHECK(e.fingerprint == "mapped:tool:17");
  CHECK(e.name == "17");
  CHECK(e.summary == "17");
  CHECK(e.state == SignalState::resolved);
  CHECK_FALSE(e.severity.has_value());
  CHECK_FALSE(e.source_time.has_value());
  CHECK(e.labels.empty());
  CHECK(e.source_event_id.empty());
  CHECK(body.delivery_id.empty());
}

TEST_CASE("status values map to firing, resolved, ignored, or a 400 naming path and value") {
  const Mapping m = full_mapping();
  CHECK(map_body(m, with("state", "FLAPPING")).events.front().state == SignalState::firing);
  CHECK(map_body(m, with("state", "UP")).events.front().state == SignalState::resolved);
  const auto ignored = map_body(m, with("state", "PAUSED"));
  CHECK(ignored.events.empty());
  CHECK(ignored.ignored == std::vector<std::string>{"mapped_ignored_paused"});
  CHECK(error_of(m, with("state", "down")) ==
        "status: /state is \"down\", which the mapping does not list (firing \"DOWN\", "
        "\"FLAPPING\"; resolved \"UP\"; ignore \"PAUSED\")");
  CHECK(error_of(m, with("state", k_removed)) == "status: /state is missing");
  CHECK(error_of(m, with("state", Json::object())) ==
        "status: /state is an object; expected a string, a number or a boolean");
  // Numbers and booleans are compared as their JSON text; null as "null".
  Mapping numeric = m;
  numeric.status = StatusSpec{P("/state"), {"0", "false"}, {"1"}, {"null"}};
  CHECK(map_body(numeric, with("state", 0)).events.front().state == SignalState::firing);
  CHECK(map_body(numeric, with("state", false)).events.front().state == SignalState::firing);
  CHECK(map_body(numeric, with("state", 1)).events.front().state == SignalState::resolved);
  CHECK(map_body(numeric, with("state", nullptr)).ignored ==
        std::vector<std::string>{"mapped_ignored_null"});
  CHECK(error_of(numeric, with("state", 1.0)).starts_with("status: /state is \"1.0\""));
}

TEST_CASE("severity comes from the value map, the default, or the severity names") {
  const Mapping m = full_mapping();
  CHECK(map_body(m, with("level", "LOW")).events.front().severity == Severity::info);
  CHECK(map_body(m, with("level", "OTHER")).events.front().severity == Severity::warning);
  CHECK(map_body(m, with("level", k_removed)).events.front().severity == Severity::warning);
  CHECK(map_body(m, with("level", nullptr)).events.front().severity == Severity::warning);

  Mapping no_default = m;
  no_default.severity->fallback.reset();
  CHECK(error_of(no_default, with("level", "OTHER")) ==
        "severity: /level is \"OTHER\", which the mapping's map does not list (and the mapping "
        "has no default)");
  CHECK_FALSE(map_body(no_default, with("level", k_removed)).events.front().severity.has_value());

  Mapping names = m;
  names.severity = SeveritySpec{P("/level"), {}, std::nullopt};
  CHECK(map_body(names, with("level", "high")).events.front().severity == Severity::high);
  CHECK(error_of(names, with("level", "HIGH")) ==
        "severity: /level is \"HIGH\", not critical, high, warning or info (and the mapping has "
        "no default)");
  CHECK(error_of(names, with("level", Json::array())) ==
        "severity: /level is an array; expected a string, a number or a boolean");
}

TEST_CASE("timestamps are read in each format, and a wrong one is a 400") {
  struct Case {
    TimeFormat format;
    Json value;
    const char* expected;  // formatted, or the error detail
    bool ok;
  };
  const Case cases[] = {
      {TimeFormat::rfc3339, "2026-03-02T10:03:41.5+01:00", "2026-03-02T09:03:41.500Z", true},
      {TimeFormat::rfc3339, "2023-10-24T11:09:17.732249+00:00", "2023-10-24T11:09:17.732Z", true},
      {TimeFormat::rfc3339, "yesterday",
       "timestamp: /at is \"yesterday\", not an RFC 3339 timestamp (1970..9999)", false},
      {TimeFormat::rfc3339, 1498861543,
       "timestamp: /at is \"1498861543\", not an RFC 3339 timestamp (1970..9999)", false},
      // The fuzzer's find: an offset carries a time before 1970 (or past 9999).
      {TimeFormat::rfc3339, "1970-01-01T00:30:00+01:00",
       "timestamp: /at is \"1970-01-01T00:30:00+01:00\", not an RFC 3339 timestamp (1970..9999)",
       false},
      {TimeFormat::rfc3339, "1969-12-31T23:59:59Z",
       "timestamp: /at is \"1969-12-31T23:59:59Z\", not an RFC 3339 timestamp (1970..9999)", false},
      {TimeFormat::rfc3339, "9999-12-31T23:59:59-01:00",
       "timestamp: /at is \"9999-12-31T23:59:59-01:00\", not an RFC 3339 timestamp (1970..9999)",
       false},
      {TimeFormat::rfc3339, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z", true},
      {TimeFormat::epoch_seconds, 1498861543, "2017-06-30T22:25:43.000Z", true},
      {TimeFormat::epoch_seconds, 1566248777.677, "2019-08-19T21:06:17.677Z", true},
      {TimeFormat::epoch_seconds, "1579559444", "2020-01-20T22:30:44.000Z", true},
      {TimeFormat::epoch_seconds, "1579559444.25", "2020-01-20T22:30:44.250Z", true},
      {TimeFormat::epoch_seconds, -1, "timestamp: /at is \"-1\", not epoch seconds (1970..9999)",
       false},
      {TimeFormat::epoch_seconds, 253402300800LL,
       "timestamp: /at is \"253402300800\", not epoch seconds (1970..9999)", false},
      {TimeFormat::epoch_seconds, "12a",
       "timestamp: /at is \"12a\", not epoch seconds (1970..9999)", false},
      {TimeFormat::epoch_seconds, ".5", "timestamp: /at is \".5\", not epoch seconds (1970..9999)",
       false},
      {TimeFormat::epoch_seconds, true,
       "timestamp: /at is \"true\", not epoch seconds (1970..9999)", false},
      {TimeFormat::epoch_millis, 1713769708699LL, "2024-04-22T07:08:28.699Z", true},
      {TimeFormat::epoch_millis, "1759343824000", "2025-10-01T18:37:04.000Z", true},
      {TimeFormat::epoch_millis, "1759343824000.5",
       "timestamp: /at is \"1759343824000.5\", not epoch milliseconds (1970..9999)", false},
      {TimeFormat::epoch_millis, Json::object(),
       "timestamp: /at is an object, not epoch milliseconds (1970..9999)", false},
      {TimeFormat::epoch_millis, 18446744073709551615ULL,
       "timestamp: /at is \"18446744073709551615\", not epoch milliseconds (1970..9999)", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.value.dump());
    Mapping m = full_mapping();
    m.timestamp = TimestampSpec{P("/at"), c.format};
    if (c.ok) {
      const auto e = map_body(m, with("at", c.value)).events.front();
      REQUIRE(e.source_time.has_value());
      CHECK(format_timestamp(*e.source_time) == c.expected);
    } else {
      CHECK(error_of(m, with("at", c.value)) == c.expected);
    }
  }
  // Absent or null: no time, not an error.
  CHECK_FALSE(
      map_body(full_mapping(), with("at", k_removed)).events.front().source_time.has_value());
  CHECK_FALSE(map_body(full_mapping(), with("at", nullptr)).events.front().source_time.has_value());
}

TEST_CASE("templates render scalars, skip what is absent, and refuse objects") {
  const Mapping m = full_mapping();
  // An absent or null value renders as nothing; a label that renders empty is left out.
  auto e = map_body(m, with("meta", k_removed)).events.front();
  CHECK(e.labels.count("team") == 0);
  e = map_body(m, with("details", nullptr)).events.front();
  CHECK(e.description.empty());
  CHECK(error_of(m, with("meta", Json{{"team", Json::object()}})) ==
        "labels.team: /meta/team is an object; expected a string, a number or a boolean");
  CHECK(error_of(m, with("details", Json::array({1}))) ==
        "annotations.description: /details is an array; expected a string, a number or a "
        "boolean");
  // Output is bounded: a long value is cut at a UTF-8 boundary.
  std::string long_text;
  for (int i = 0; i < 3000; ++i)
    long_text += "é";
  e = map_body(m, with("details", long_text)).events.front();
  CHECK(e.description.size() <= k_max_rendered_bytes);
  CHECK(e.description.ends_with("…"));
}

TEST_CASE("identity and delivery id must render whole, non-empty and short") {
  const Mapping m = full_mapping();
  CHECK(error_of(m, with("host", k_removed)) == "identity: /host is missing");
  CHECK(error_of(m, with("host", nullptr)) == "identity: /host is missing");
  CHECK(error_of(m, with("id", k_removed)) == "delivery_id: /id is missing");
  Mapping single = m;
  single.identity = T("{/host}");
  CHECK(error_of(single, with("host", "")) == "identity: {/host} renders as nothing");
  CHECK(error_of(single, with("host", std::string(600, 'h'))) ==
        "identity: {/host} renders longer than 512 bytes");
  CHECK(map_body(single, with("host", std::string(512, 'h'))).events.front().fingerprint.size() ==
        std::string("mapped:tool:").size() + 512);
}

TEST_CASE("a number in an identity or delivery id is kept exactly or refused") {
  // Parsed from the text, as the hook parses it: an integer of 64 bits stays exact; any other
  // number is a double, which cannot tell ids apart past about 16 digits.
  Mapping m;
  m.identity = T("{/id}");
  m.status = StatusSpec{P("/state"), {"DOWN"}, {}, {}};
  m.delivery_id = T("d-{/delivery}");
  struct Case {
    const char* number;
    const char* identity;  // the rendered identity, or "" when refused
    const char* error;     // the detail when refused
  };
  const char* const k_too_large =
      "identity: /id is a number too large to keep exactly; send it as a string";
  const Case cases[] = {
      {"42", "42", ""},
      {"-7", "-7", ""},
      {"12345678901234567891", "12345678901234567891", ""},
      {"12345678901234567892", "12345678901234567892", ""},
      {"18446744073709551615", "18446744073709551615", ""},  // 2^64 - 1
      {"-9223372036854775808", "-9223372036854775808", ""},  // -2^63
      {"18446744073709551616", "", k_too_large},             // 2^64
      {"123456789012345678901234", "", k_too_large},
      {"123456789012345678901235", "", k_too_large},
      {"-9223372036854775809", "", k_too_large},
      {"9007199254740993.0", "", k_too_large},
      {"1e300", "", k_too_large},
      {"-1E20", "", k_too_large},
      {"1.5", "",
       "identity: /id is 1.5, a number with a fraction or an exponent, which an identity does not "
       "take; send it as a string"},
      {"1e3", "",
       "identity: /id is 1000.0, a number with a fraction or an exponent, which an identity does "
       "not take; send it as a string"},
  };
  for (const auto& c : cases) {
    const std::string body =
        std::string(R"({"state": "DOWN", "delivery": 1, "id": )") + c.number + "}";
    CAPTURE(body);
    auto out = parse_mapped(m, "tool", body);
    if (*c.identity) {
      REQUIRE_MESSAGE(out.has_value(), out.error().detail);
      CHECK(out->events.front().fingerprint == std::string("mapped:tool:") + c.identity);
    } else {
      REQUIRE_FALSE(out.has_value());
      CHECK(out.error().code == "mapped_payload_invalid");
      CHECK(out.error().detail == c.error);
    }
  }
  // The delivery id likewise; a text shown to people keeps such a number as JSON writes it.
  auto out = parse_mapped(m, "tool", R"({"state": "DOWN", "id": "a", "delivery": 1e20})");
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().detail ==
        "delivery_id: /delivery is a number too large to keep exactly; send it as a string");
  m.summary = T("{/value}");
  out = parse_mapped(m, "tool", R"({"state": "DOWN", "id": "a", "delivery": 1, "value": 1.5})");
  REQUIRE_MESSAGE(out.has_value(), out.error().detail);
  CHECK(out->events.front().summary == "1.5");
  // As a string, any id is kept as sent.
  out = parse_mapped(m, "tool",
                     R"({"state": "DOWN", "id": "123456789012345678901234", "delivery": 1})");
  REQUIRE_MESSAGE(out.has_value(), out.error().detail);
  CHECK(out->events.front().fingerprint == "mapped:tool:123456789012345678901234");
}

TEST_CASE("events inside an array are mapped one by one, and errors name the event") {
  Mapping m = full_mapping();
  m.events = P("/items");
  Json body = {{"items", Json::array({k_event, with("state", "UP"), with("state", "PAUSED")})}};
  auto out = map_body(m, body);
  REQUIRE(out.events.size() == 2);
  CHECK(out.events[0].state == SignalState::firing);
  CHECK(out.events[1].state == SignalState::resolved);
  CHECK(out.ignored == std::vector<std::string>{"mapped_ignored_paused"});
  CHECK(out.delivery_id.empty());

  body["items"].push_back(with("host", k_removed));
  CHECK(error_of(m, body) == "event 3: identity: /host is missing");
  CHECK(error_of(m, Json{{"other", 1}}) == "events: /items is missing");
  CHECK(error_of(m, Json{{"items", "x"}}) == "events: /items is a string; expected an array");
  auto empty = map_body(m, Json{{"items", Json::array()}});
  CHECK(empty.events.empty());
  CHECK(empty.ignored == std::vector<std::string>{"mapped_no_events"});
  Json many = {{"items", Json::array()}};
  for (std::size_t i = 0; i <= k_max_events; ++i)
    many["items"].push_back(k_event);
  CHECK(error_of(m, many) == "events: /items holds 1001 events; at most 1000 are taken at once");

  // The whole body as the array.
  m.events = P("");
  CHECK(map_body(m, Json::array({k_event})).events.size() == 1);
}

TEST_CASE("a mapped body must be strict JSON, and an object when it is one event") {
  const Mapping m = full_mapping();
  auto bad = parse_mapped(m, "tool", "{\"a\": 1, \"a\": 2}");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == "duplicate_key");
  bad = parse_mapped(m, "tool", "[1]");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == "not_an_object");
  bad = parse_mapped(m, "tool", "");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == "empty_body");
  auto ok = parse_mapped(m, "tool", k_event.dump());
  REQUIRE(ok.has_value());
  CHECK(ok->events.size() == 1);
}

TEST_CASE("a value quoted in an error is cut short and its control characters escaped") {
  const auto detail = error_of(full_mapping(), with("state", std::string(200, 'x') + "\n"));
  CHECK(detail.find('\n') == std::string::npos);
  CHECK(detail.size() < 250);
}

}  // namespace ingest_mapped_test
