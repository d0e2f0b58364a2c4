// The typed vocabularies of the stored rows have one spelling each (storage/vocabulary.hpp), and
// it is the schema's: every value round-trips through its text, the texts are exactly what the
// columns' CHECK constraints of a freshly migrated database allow, and a value this build does
// not know fails the read by name instead of becoming a default.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "storage/detail/sqlite.hpp"
#include "storage/reader.hpp"
#include "storage/vocabulary.hpp"
#include "support/temp_dir.hpp"

using namespace tocsin;
using namespace tocsin::storage;
using tocsin::testing::TempDir;

namespace {

// Each value's spelling, in declaration order; fails the test case if one does not read back
// as itself or two values share a spelling.
template <class E>
std::vector<std::string> round_tripped() {
  std::vector<std::string> out;
  for (E v : Vocabulary<E>::values) {
    const std::string text(to_text(v));
    CAPTURE(text);
    CHECK(text != "unknown");
    CHECK(parse_stored<E>(text) == v);
    CHECK(from_text<E>(text) == v);
    out.push_back(text);
  }
  CHECK(std::set<std::string>(out.begin(), out.end()).size() == out.size());
  return out;
}

// The values `CHECK (column IN (...))` allows in `table` as the migrated schema declares it;
// empty when the column has no such constraint.
std::vector<std::string> allowed_by_schema(SQLite::Database& db, const std::string& table,
                                           const std::string& column) {
  SQLite::Statement q(db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?");
  q.bind(1, table);
  REQUIRE(q.executeStep());
  const std::string sql = q.getColumn(0).getString();
  std::smatch check;
  if (!std::regex_search(sql, check,
                         std::regex("CHECK\\s*\\(\\s*" + column + "\\s+IN\\s*\\(([^)]*)\\)")))
    return {};
  std::vector<std::string> out;
  const std::string list = check[1].str();
  const std::regex quoted("'([^']*)'");
  for (auto it = std::sregex_iterator(list.begin(), list.end(), quoted);
       it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1].str());
  return out;
}

}  // namespace

TEST_CASE("vocabulary: each enum is spelled exactly as its column's CHECK constraint allows") {
  SQLite::Database db(":memory:", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  migrate(db);
  struct Case {
    const char* intent;
    const char* table;
    const char* column;
    std::vector<std::string> spellings;
    bool checked;  // false: the schema has no CHECK on the column (the test says so if one comes)
  };
  const Case cases[] = {
      {"what a notification asks its channel", "outbox", "action",
       round_tripped<rules::NotifyAction>(), true},
      {"a digest item keeps its notification's action", "digest_items", "action",
       round_tripped<rules::NotifyAction>(), false},
      {"where an outbox row stands", "outbox", "status", round_tripped<OutboxStatus>(), true},
      {"what one delivery attempt made of its row", "delivery_attempts", "outcome",
       round_tripped<AttemptOutcome>(), true},
      {"an SNS confirmation's kind", "subscriptions", "kind", round_tripped<SubscriptionKind>(),
       true},
      {"what became of an SNS confirmation", "subscriptions", "status",
       round_tripped<SubscriptionStatus>(), true},
      {"an event's outcome or the engine's own decision", "decisions", "kind",
       round_tripped<DecisionKind>(), false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    CAPTURE(c.table);
    CAPTURE(c.column);
    const auto allowed = allowed_by_schema(db, c.table, c.column);
    if (c.checked) {
      CHECK(std::set<std::string>(allowed.begin(), allowed.end()) ==
            std::set<std::string>(c.spellings.begin(), c.spellings.end()));
      CHECK(allowed.size() == c.spellings.size());
    } else {
      CHECK(allowed.empty());
    }
  }
}

TEST_CASE("vocabulary: a stored value this build does not know fails the read, naming it") {
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    migrate(db);
    // As a newer version with a wider CHECK would have written them.
    db.exec("PRAGMA ignore_check_constraints = ON");
    db.exec(
        "INSERT INTO outbox (created_at, due_at, fingerprint, alias, channel, action, level, "
        "severity, priority, status) VALUES (0, 0, 'f', 'a', 'oncall', 'trigger', 0, 'warning', "
        "3, 'queued')");
    db.exec(
        "INSERT INTO subscriptions (topic_arn, kind, url, message_id, received_at, status, "
        "updated_at) VALUES ('arn', 'resubscribe', 'https://sns', 'm1', 0, 'pending', 0)");
  }
  Reader reader(path);
  CHECK_THROWS_WITH_AS(reader.list_notifications(NotificationQuery{}),
                       "outbox.status holds \"queued\", which this version of Tocsin does not "
                       "know (was the database written by a newer version?)",
                       UnknownStoredValue);
  CHECK_THROWS_WITH_AS(reader.list_subscriptions(),
                       "subscriptions.kind holds \"resubscribe\", which this version of Tocsin "
                       "does not know (was the database written by a newer version?)",
                       UnknownStoredValue);
  // Text from outside (an API parameter) is the caller's to refuse, in its own words.
  CHECK_FALSE(from_text<OutboxStatus>("queued").has_value());
}
