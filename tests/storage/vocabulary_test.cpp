// The typed vocabularies of the stored rows have one spelling each (storage/vocabulary.hpp), and
// it is the schema's: every value round-trips through its text, the texts are exactly what the
// columns' CHECK constraints of a freshly migrated database allow, and a value this build does
// not know fails the read by name instead of becoming a default.

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "storage/sqlite/database.hpp"
#include "storage/reader.hpp"
#include "storage/transaction.hpp"
#include "storage/vocabulary.hpp"
#include "storage/writer.hpp"
#include "support/temp_dir.hpp"

namespace storage_vocabulary_test {

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

// The values `CHECK (column IN (...))` or `CHECK (column = 'a' OR column = 'b' ...)` (the form
// SQLite evaluates without a temporary b-tree: migration 15) allows in `table` as the migrated
// schema declares it; empty when the column has no such constraint.
std::vector<std::string> allowed_by_schema(SQLite::Database& db, const std::string& table,
                                           const std::string& column) {
  SQLite::Statement q(db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?");
  q.bind(1, table);
  REQUIRE(q.executeStep());
  const std::string sql = q.getColumn(0).getString();
  std::smatch check;
  const std::string equals = column + "\\s*=\\s*'[^']*'";
  if (!std::regex_search(sql, check,
                         std::regex("CHECK\\s*\\(\\s*" + column + "\\s+IN\\s*\\(([^)]*)\\)")) &&
      !std::regex_search(sql, check,
                         std::regex("CHECK\\s*\\(\\s*(" + equals + "(?:\\s+OR\\s+" + equals +
                                    ")*)\\s*\\)")))
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
    std::string intent;
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
      {"what a decision log entry says happened", "decisions", "outcome",
       round_tripped<DecisionOutcome>(), false},
      {"where an episode stands", "episodes", "status", round_tripped<EpisodeStatus>(), true},
      {"how an episode ended (\"\": not yet)", "episodes", "ended_by",
       round_tripped<rules::EndedBy>(), false},
      {"an episode's severity", "episodes", "severity", round_tripped<Severity>(), false},
      {"a notification keeps its episode's severity", "outbox", "severity",
       round_tripped<Severity>(), false},
      {"a digest item keeps its notification's severity", "digest_items", "severity",
       round_tripped<Severity>(), false},
      {"the source an alert came from", "alerts", "source", round_tripped<Source>(), false},
      {"what a timer does when it fires", "timers", "kind", round_tripped<rules::TimerKind>(),
       true},
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

namespace {

// The message of UnknownStoredValue for `value` read from `column`.
std::string unknown(const std::string& column, const std::string& value) {
  return column + " holds \"" + value +
         "\", which this version of Tocsin does not know (was the database written by a newer "
         "version?)";
}

// Runs `read` in a transaction of the writer on `path`, and rethrows here what it threw.
void in_transaction(const std::string& path, const std::function<void(Transaction&)>& read) {
  Writer writer(path, Durability::normal);
  std::optional<UnknownStoredValue> thrown;
  const auto status = writer
                          .submit([&](Transaction& tx) {
                            try {
                              read(tx);
                            } catch (const UnknownStoredValue& e) {
                              thrown = e;
                            }
                          })
                          .get();
  REQUIRE_FALSE(status);
  if (thrown) throw *thrown;
}

// One alert with one open episode, stored as this version stores them.
const char* const k_alert_and_episode =
    "INSERT INTO alerts (id, fingerprint, source, name, first_seen, last_seen, last_episode) "
    "VALUES (1, 'generic:n', 'generic', 'n', 0, 0, 1);"
    "INSERT INTO episodes (alert_id, number, status, severity, priority, alias, opened_at, "
    "last_activity_at, event_count) VALUES (1, 1, 'open', 'warning', 3, 'a1', 0, 0, 1);";

}  // namespace

TEST_CASE("vocabulary: an episode's, alert's, timer's or severity's unknown value fails the read") {
  struct Case {
    std::string intent;
    std::string planted;  // SQL run after the alert and its episode are stored
    std::function<void(const std::string& path)> read;
    std::string expected;
  };
  const auto get_alert = [](const std::string& path) { Reader(path).get_alert(1); };
  const Case cases[] = {
      {"a source added by a newer version", "UPDATE alerts SET source = 'nagios'", get_alert,
       unknown("alerts.source", "nagios")},
      {"an episode status added by a newer version", "UPDATE episodes SET status = 'paused'",
       get_alert, unknown("episodes.status", "paused")},
      {"a severity added by a newer version", "UPDATE episodes SET severity = 'disaster'",
       get_alert, unknown("episodes.severity", "disaster")},
      {"severity is spelled in lower case: no version wrote another case",
       "UPDATE episodes SET severity = 'Critical'", get_alert,
       unknown("episodes.severity", "Critical")},
      {"an ending added by a newer version", "UPDATE episodes SET ended_by = 'robot'", get_alert,
       unknown("episodes.ended_by", "robot")},
      {"a timer kind added by a newer version, listed by the API",
       "INSERT INTO timers (due_at, kind, alert_id, episode) VALUES (0, 'snooze', 1, 1)",
       [](const std::string& path) { Reader(path).list_timers(1); },
       unknown("timers.kind", "snooze")},
      {"a timer kind added by a newer version, due on the timer loop",
       "INSERT INTO timers (due_at, kind, alert_id, episode) VALUES (0, 'snooze', 1, 1)",
       [](const std::string& path) {
         in_transaction(path, [](Transaction& tx) { tx.next_due_timer(TimePoint{}); });
       },
       unknown("timers.kind", "snooze")},
      {"a decision's outcome added by a newer version, listed by the API",
       "INSERT INTO decisions (at, alert_id, episode, kind, outcome, reason, rules_hash) "
       "VALUES (0, 1, 1, 'decision', 'snoozed', 'by bob', 'h')",
       [](const std::string& path) { Reader(path).list_decisions(1, 10, std::nullopt); },
       unknown("decisions.outcome", "snoozed")},
      {"an event's outcome added by a newer version, read to answer a redelivery",
       "INSERT INTO inbound (id, received_at, hook, delivery_id, headers, body) "
       "VALUES (7, 0, 'generic', 'd7', '{}', '');"
       "INSERT INTO decisions (at, alert_id, episode, inbound_id, kind, outcome, reason, "
       "rules_hash) VALUES (0, 1, 1, 7, 'event', 'deferred', 'r', 'h')",
       [](const std::string& path) {
         in_transaction(path, [](Transaction& tx) { tx.decisions_for_inbound(7); });
       },
       unknown("decisions.outcome", "deferred")},
      {"a notification's severity added by a newer version",
       "INSERT INTO outbox (created_at, due_at, fingerprint, alias, channel, action, level, "
       "severity, priority) VALUES (0, 0, 'generic:n', 'a1', 'oncall', 'trigger', 0, 'disaster', "
       "3)",
       [](const std::string& path) { Reader(path).list_notifications(NotificationQuery{}); },
       unknown("outbox.severity", "disaster")},
      {"a digest item's severity added by a newer version",
       "INSERT INTO digest_items (channel, created_at, fingerprint, alias, action, severity, "
       "priority) VALUES ('digest', 0, 'generic:n', 'a1', 'trigger', 'disaster', 3)",
       [](const std::string& path) {
         in_transaction(path, [](Transaction& tx) { tx.take_digest_items("digest"); });
       },
       unknown("digest_items.severity", "disaster")},
  };
  for (const auto& c : cases) {
    CAPTURE(c.intent);
    TempDir dir;
    const auto path = dir.file("t.db");
    {
      SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      db.exec("PRAGMA journal_mode = WAL");
      migrate(db);
      db.exec(k_alert_and_episode);
      // As a newer version with a wider CHECK would have written them.
      db.exec("PRAGMA ignore_check_constraints = ON");
      db.exec(c.planted);
    }
    CHECK_THROWS_WITH_AS(c.read(path), c.expected.c_str(), UnknownStoredValue);
  }
}

TEST_CASE("vocabulary: every event outcome and every decision is stored as its own spelling") {
  // An event's outcome is stored as core spells it (the ingest reply prints to_string(Outcome)).
  for (Outcome o : {Outcome::created, Outcome::duplicate, Outcome::reopened, Outcome::resolved,
                    Outcome::ignored, Outcome::out_of_order, Outcome::redelivery}) {
    CAPTURE(to_string(o));
    CHECK(to_text(decision_outcome(o)) == to_string(o));
  }
  struct Case {
    rules::NoteKind kind;
    DecisionOutcome stored;
  };
  // One line each: both drops read back as one `dropped`; a person's resolve is an event's.
  const Case cases[] = {
      {rules::NoteKind::escalated, DecisionOutcome::escalated},
      {rules::NoteKind::dropped_by_rule, DecisionOutcome::dropped},
      {rules::NoteKind::demoted, DecisionOutcome::demoted},
      {rules::NoteKind::held, DecisionOutcome::held},
      {rules::NoteKind::dropped_while_held, DecisionOutcome::dropped},
      {rules::NoteKind::superseded, DecisionOutcome::superseded},
      {rules::NoteKind::stale, DecisionOutcome::stale},
      {rules::NoteKind::expired, DecisionOutcome::expired},
      {rules::NoteKind::ack_timeout, DecisionOutcome::ack_timeout},
      {rules::NoteKind::acknowledged, DecisionOutcome::acknowledged},
      {rules::NoteKind::unacknowledged, DecisionOutcome::unacknowledged},
      {rules::NoteKind::resolved, DecisionOutcome::resolved},
  };
  for (const auto& c : cases) {
    CAPTURE(to_text(c.stored));
    CHECK(decision_outcome(c.kind) == c.stored);
  }
}

TEST_CASE("vocabulary: rows as an older version wrote them still read as they did") {
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    // Schema version 3: before episodes.ended_by (migration 4 adds it with the default '').
    migrate(db, 3);
    db.exec(
        "INSERT INTO alerts (id, fingerprint, source, name, first_seen, last_seen, last_episode) "
        "VALUES (1, 'cloudwatch:q', 'cloudwatch', 'q', 0, 0, 1);"
        "INSERT INTO episodes (alert_id, number, status, severity, priority, alias, opened_at, "
        "last_activity_at, closed_at, event_count) "
        "VALUES (1, 1, 'resolved', 'critical', 1, 'a1', 0, 0, 1000, 2);"
        "INSERT INTO timers (due_at, kind, alert_id, episode) VALUES (0, 'max_open_age', 1, 1);"
        "INSERT INTO outbox (created_at, due_at, alert_id, episode, fingerprint, alias, channel, "
        "action, level, severity, priority) "
        "VALUES (0, 0, 1, 1, 'cloudwatch:q', 'a1', 'oncall', 'resolve', 0, 'info', 5);");
    migrate(db);
  }
  Reader reader(path);
  const auto detail = reader.get_alert(1);
  REQUIRE(detail);
  CHECK(detail->view.alert.source == Source::cloudwatch);
  REQUIRE(detail->episodes.size() == 1);
  const auto& episode = detail->episodes[0].episode;
  CHECK(episode.status == EpisodeStatus::resolved);
  CHECK(episode.severity == Severity::critical);
  CHECK(episode.ended_by == rules::EndedBy::none);
  const auto timers = reader.list_timers(1);
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].timer.kind == rules::TimerKind::max_open_age);
  const auto notifications = reader.list_notifications(NotificationQuery{});
  REQUIRE(notifications.size() == 1);
  CHECK(notifications[0].severity == Severity::info);
}

}  // namespace storage_vocabulary_test
