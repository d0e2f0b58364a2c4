// build_digest: the kept notifications of one channel become one `digest` outbox row whose
// list the channel formatters read (delivery/format.hpp), so its order and counts are a contract.
#include "delivery/digest.hpp"

#include <doctest/doctest.h>

#include "core/json.hpp"
#include "storage/vocabulary.hpp"

namespace delivery_digest_test {

using namespace tocsin;
using namespace tocsin::delivery;

namespace {

TimePoint at(const char* text) {
  return parse_timestamp(text).value();
}

struct Kept {
  std::int64_t id;
  const char* fingerprint;
  const char* action;
  Severity severity;
  int priority;
  std::optional<double> noise;
  const char* created_at;
  const char* summary;
};

storage::DigestItem item(const Kept& k) {
  storage::DigestItem d;
  d.id = k.id;
  d.summary = k.summary;
  auto& n = d.notification;
  n.id = 0;
  n.created_at = n.due_at = at(k.created_at);
  n.alert_id = k.id * 10;
  n.episode = 2;
  n.fingerprint = k.fingerprint;
  n.alias = std::string("tocsin-") + k.fingerprint + "-2";
  n.channel = "alerts";
  n.action = storage::parse_stored<rules::NotifyAction>(k.action);
  n.severity = k.severity;
  n.priority = Priority{k.priority};
  n.noise = k.noise;
  n.why = "kept for the digest";
  return d;
}

std::vector<storage::DigestItem> items(std::initializer_list<Kept> kept) {
  std::vector<storage::DigestItem> out;
  for (const auto& k : kept)
    out.push_back(item(k));
  return out;
}

Json digest_of(const storage::OutboxRecord& row) {
  auto parsed = parse_json_strict(row.digest);
  REQUIRE_MESSAGE(parsed.has_value(), row.digest);
  return *parsed;
}

std::vector<std::string> fingerprints(const Json& digest) {
  std::vector<std::string> out;
  for (const auto& a : digest["alerts"])
    out.push_back(a["fingerprint"].get<std::string>());
  return out;
}

const TimePoint k_now = at("2026-03-02T14:00:00Z");

}  // namespace

TEST_CASE("build_digest: alerts most severe first, then most notified, then by fingerprint") {
  using S = Severity;
  const auto row = build_digest(
      "alerts", 4,
      items({
          {11, "generic:disk", "trigger", S::warning, 3, 10.0, "2026-03-02T13:02:00Z", "disk 91%"},
          {12, "cw:queue", "trigger", S::critical, 1, 20.0, "2026-03-02T13:05:00Z", "queue old"},
          {13, "generic:disk", "reminder", S::warning, 3, 30.0, "2026-03-02T13:20:00Z", "disk 95%"},
          {14, "generic:cpu", "trigger", S::warning, 2, std::nullopt, "2026-03-02T13:30:00Z",
           "cpu 80%"},
          {15, "cw:queue", "escalate", S::critical, 1, 25.0, "2026-03-02T13:40:00Z", "queue old"},
          {16, "generic:api", "trigger", S::critical, 2, 5.0, "2026-03-02T13:45:00Z", "api 5xx"},
          {17, "generic:cache", "trigger", S::warning, 4, 1.0, "2026-03-02T13:50:00Z", "cache"},
      }),
      k_now);
  const auto digest = digest_of(row);

  // critical: queue (2) before api (1); warning: disk (2), then cache and cpu by fingerprint.
  CHECK(fingerprints(digest) == std::vector<std::string>{"cw:queue", "generic:api", "generic:disk",
                                                         "generic:cache", "generic:cpu"});
  CHECK(digest["channel"] == "alerts");
  CHECK(digest["since"] == "2026-03-02T13:02:00.000Z");  // the first kept notification
  CHECK(digest["until"] == "2026-03-02T14:00:00.000Z");
  CHECK(digest["notifications"] == 7);

  SUBCASE("one alert's line: counts, action breakdown, the latest summary and score") {
    CHECK(digest["alerts"][2] == Json{
                                     {"fingerprint", "generic:disk"},
                                     {"summary", "disk 95%"},
                                     {"episode", 2},
                                     {"alias", "tocsin-generic:disk-2"},
                                     {"severity", "warning"},
                                     {"priority", "P3"},
                                     {"noise", 30.0},
                                     {"notifications", 2},
                                     {"actions", {{"reminder", 1}, {"trigger", 1}}},
                                     {"last_action", "reminder"},
                                     {"first_at", "2026-03-02T13:02:00.000Z"},
                                     {"last_at", "2026-03-02T13:20:00.000Z"},
                                 });
    CHECK(digest["alerts"][0]["actions"] == Json{{"escalate", 1}, {"trigger", 1}});
    CHECK(digest["alerts"][0]["notifications"] == 2);
    CHECK(digest["alerts"][4]["noise"].is_null());  // never scored
  }

  SUBCASE("the row: about no alert, under an alias of its own, as urgent as its worst item") {
    CHECK(row.action == rules::NotifyAction::digest);
    CHECK(row.channel == "alerts");
    CHECK(row.alias == "digest:alerts:4");  // its number, not an item's id
    CHECK_FALSE(row.alert_id.has_value());
    CHECK_FALSE(row.episode.has_value());
    CHECK(row.fingerprint.empty());
    CHECK(row.level == 0);
    CHECK(row.created_at == k_now);
    CHECK(row.due_at == k_now);
    CHECK(row.severity == Severity::critical);
    CHECK(row.priority == Priority{1});
    CHECK(row.noise == 30.0);
    CHECK(row.why == "digest of 7 notifications about 5 alerts since 2026-03-02T13:02:00.000Z");
  }
}

TEST_CASE("build_digest: one notification, unscored, is listed in the singular") {
  const auto row = build_digest("ops", 2,
                                items({{5, "generic:queue", "trigger", Severity::info, 5,
                                        std::nullopt, "2026-03-02T13:59:00Z", "queue"}}),
                                k_now);
  CHECK(row.alias == "digest:ops:2");
  CHECK(row.severity == Severity::info);
  CHECK(row.priority == Priority{5});
  CHECK_FALSE(row.noise.has_value());
  CHECK(row.why == "digest of 1 notification about 1 alert since 2026-03-02T13:59:00.000Z");
  const auto digest = digest_of(row);
  REQUIRE(digest["alerts"].size() == 1);
  CHECK(digest["alerts"][0]["actions"] == Json{{"trigger", 1}});
  CHECK(digest["alerts"][0]["first_at"] == digest["alerts"][0]["last_at"]);
}

}  // namespace delivery_digest_test
