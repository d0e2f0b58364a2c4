#include "storage/migrations.hpp"

#include <SQLiteCpp/Transaction.h>

#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/sqlite/database.hpp"

namespace tocsin::storage {

namespace {

// Append-only: a released migration is never edited; add the next one instead.
const std::vector<const char*> k_migrations = {
    // 1: raw inbound requests, alerts, episodes, decision log.
    R"sql(
CREATE TABLE inbound (
  id            INTEGER PRIMARY KEY,
  received_at   INTEGER NOT NULL,            -- unix ms
  hook          TEXT NOT NULL,               -- sns, eventbridge, ...
  delivery_id   TEXT,                        -- SNS MessageId / source event id, NULL if none
  headers       TEXT NOT NULL DEFAULT '{}',  -- JSON object
  body          TEXT NOT NULL
);
-- A redelivery is recognised by its id; a retry storm creates exactly one row.
CREATE UNIQUE INDEX inbound_delivery ON inbound(hook, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX inbound_received ON inbound(received_at);

CREATE TABLE alerts (
  id            INTEGER PRIMARY KEY,
  fingerprint   TEXT NOT NULL UNIQUE,
  source        TEXT NOT NULL,
  name          TEXT NOT NULL,
  account       TEXT NOT NULL DEFAULT '',
  region        TEXT NOT NULL DEFAULT '',
  metric        TEXT NOT NULL DEFAULT '',
  namespace     TEXT NOT NULL DEFAULT '',
  labels        TEXT NOT NULL DEFAULT '{}',  -- JSON object
  summary       TEXT NOT NULL DEFAULT '',
  description   TEXT NOT NULL DEFAULT '',
  rule          TEXT NOT NULL DEFAULT '',
  first_seen    INTEGER NOT NULL,
  last_seen     INTEGER NOT NULL,
  last_episode  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alerts_last_seen ON alerts(last_seen);

CREATE TABLE episodes (
  id                INTEGER PRIMARY KEY,
  alert_id          INTEGER NOT NULL REFERENCES alerts(id),
  number            INTEGER NOT NULL,
  status            TEXT NOT NULL
                    CHECK (status IN ('open','acknowledged','resolved','expired','superseded')),
  severity          TEXT NOT NULL,
  priority          INTEGER NOT NULL,
  alias             TEXT NOT NULL UNIQUE,
  opened_at         INTEGER NOT NULL,
  last_activity_at  INTEGER NOT NULL,
  last_source_time  INTEGER,
  closed_at         INTEGER,
  event_count       INTEGER NOT NULL,
  UNIQUE (alert_id, number)
);
-- docs/behaviour.md "Episodes, escalation and timers": at most one episode of an alert is open (or acknowledged) at a time.
CREATE UNIQUE INDEX episodes_one_active ON episodes(alert_id)
  WHERE status IN ('open','acknowledged');
CREATE INDEX episodes_status ON episodes(status);

CREATE TABLE decisions (
  id           INTEGER PRIMARY KEY,
  at           INTEGER NOT NULL,
  alert_id     INTEGER REFERENCES alerts(id),
  episode      INTEGER,
  inbound_id   INTEGER REFERENCES inbound(id) ON DELETE SET NULL,
  kind         TEXT NOT NULL,
  outcome      TEXT NOT NULL,
  reason       TEXT NOT NULL,
  rule         TEXT NOT NULL DEFAULT '',
  rules_hash   TEXT NOT NULL,
  fingerprint  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX decisions_alert ON decisions(alert_id, id);
CREATE INDEX decisions_inbound ON decisions(inbound_id);
)sql",
    // 2: per-event redelivery keys (Alertmanager sends many alerts per request), SNS
    // subscriptions awaiting a human, heartbeat pings.
    R"sql(
ALTER TABLE decisions ADD COLUMN event_key TEXT;  -- hook + ':' + the source's event id
CREATE UNIQUE INDEX decisions_event_key ON decisions(event_key) WHERE event_key IS NOT NULL;

CREATE TABLE subscriptions (
  id             INTEGER PRIMARY KEY,
  topic_arn      TEXT NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('subscribe','unsubscribe')),
  url            TEXT NOT NULL,          -- SubscribeURL, already checked to be an SNS URL
  message_id     TEXT NOT NULL UNIQUE,
  received_at    INTEGER NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('pending','confirmed','failed','noted')),
  updated_at     INTEGER NOT NULL,
  detail         TEXT NOT NULL DEFAULT ''
);

CREATE TABLE heartbeat_pings (
  name           TEXT PRIMARY KEY,
  first_ping_at  INTEGER NOT NULL,
  last_ping_at   INTEGER NOT NULL,
  pings          INTEGER NOT NULL
);
)sql",
    // 3: escalation state of episodes, timers on the clock, and the outbox of notifications
    // (docs/behaviour.md "Delivery"), written in the same transaction as the state change that
    // causes them.
    R"sql(
ALTER TABLE episodes ADD COLUMN escalation TEXT NOT NULL DEFAULT '[]';  -- JSON array of names
ALTER TABLE episodes ADD COLUMN level INTEGER NOT NULL DEFAULT -1;       -- highest step notified
ALTER TABLE episodes ADD COLUMN escalation_base INTEGER;                 -- unix ms; NULL: opened_at
ALTER TABLE episodes ADD COLUMN acknowledged_at INTEGER;
ALTER TABLE episodes ADD COLUMN acknowledged_by TEXT NOT NULL DEFAULT '';
ALTER TABLE episodes ADD COLUMN flagged_stale_at INTEGER;               -- max_open_age sweep
ALTER TABLE episodes ADD COLUMN notified TEXT NOT NULL DEFAULT '[]';    -- channels told, JSON

CREATE TABLE timers (
  id        INTEGER PRIMARY KEY,
  due_at    INTEGER NOT NULL,             -- unix ms
  kind      TEXT NOT NULL
            CHECK (kind IN ('escalation','max_open_age','auto_resolve','ack_timeout',
                            'heartbeat')),
  alert_id  INTEGER REFERENCES alerts(id),  -- NULL for a heartbeat's deadline
  episode   INTEGER NOT NULL DEFAULT 0,
  step      INTEGER NOT NULL DEFAULT 0,
  heartbeat TEXT                            -- the heartbeat's name (kind 'heartbeat')
);
CREATE INDEX timers_heartbeat ON timers(heartbeat) WHERE heartbeat IS NOT NULL;
CREATE INDEX timers_due ON timers(due_at, id);
CREATE INDEX timers_episode ON timers(alert_id, episode, kind);

CREATE TABLE outbox (
  id          INTEGER PRIMARY KEY,
  created_at  INTEGER NOT NULL,
  due_at      INTEGER NOT NULL,             -- when it may be sent
  alert_id    INTEGER REFERENCES alerts(id),
  episode     INTEGER,
  fingerprint TEXT NOT NULL DEFAULT '',
  alias       TEXT NOT NULL,                -- unique to the episode (docs/behaviour.md "Episodes, escalation and timers")
  channel     TEXT NOT NULL,
  action      TEXT NOT NULL CHECK (action IN
              ('trigger','resolve','acknowledge','escalate','reminder','digest')),
  level       INTEGER NOT NULL,
  severity    TEXT NOT NULL,
  priority    INTEGER NOT NULL,
  noise       REAL,
  why         TEXT NOT NULL DEFAULT '',
  status      TEXT NOT NULL DEFAULT 'pending'
              CHECK (status IN ('pending','sent','failed','superseded')),
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_status INTEGER,                      -- HTTP status of the last attempt; NULL: none/network
  last_error  TEXT NOT NULL DEFAULT '',
  sent_at     INTEGER,
  -- a meta-alert about the failed delivery of another row (never itself meta-alerted)
  about       INTEGER REFERENCES outbox(id)
);
CREATE INDEX outbox_pending ON outbox(status, due_at) WHERE status = 'pending';
CREATE INDEX outbox_episode ON outbox(alert_id, episode, channel, status);
-- The delivery queues: one per (alias, channel), delivered in id order.
CREATE INDEX outbox_queue ON outbox(alias, channel, status, id);

-- Every delivery attempt, for GET /api/v1/notifications and the report.
CREATE TABLE delivery_attempts (
  id          INTEGER PRIMARY KEY,
  outbox_id   INTEGER NOT NULL REFERENCES outbox(id),
  at          INTEGER NOT NULL,
  http_status INTEGER,                      -- NULL: no answer (network error, timeout)
  error       TEXT NOT NULL DEFAULT '',
  duration_ms INTEGER NOT NULL,
  outcome     TEXT NOT NULL CHECK (outcome IN ('sent','retry','failed'))
);
CREATE INDEX delivery_attempts_outbox ON delivery_attempts(outbox_id, id);
)sql",
    // 4: noise (docs/behaviour.md "Noise"). The alert's incremental noise state and last score; how
    // each episode ended and how it was routed by noise; digests; timers gain the `digest` kind
    // (SQLite cannot change a CHECK constraint in place, so the table is rebuilt, and its
    // `heartbeat` column becomes `name`: a heartbeat's or a digest channel's).
    R"sql(
ALTER TABLE alerts ADD COLUMN noise_state TEXT NOT NULL DEFAULT '';  -- storage/codec.cpp
ALTER TABLE alerts ADD COLUMN noise_score REAL NOT NULL DEFAULT 0;   -- at the last change
-- Episodes from before noise scoring are left out of the window: counting them now would
-- need their whole history.
UPDATE alerts SET noise_state = '1 0 ' || (last_episode + 1) || ' 0 0 0 0';
CREATE INDEX alerts_noise ON alerts(noise_score DESC, id);

ALTER TABLE episodes ADD COLUMN ended_by TEXT NOT NULL DEFAULT '';  -- source|person|expired|superseded
ALTER TABLE episodes ADD COLUMN ever_acknowledged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE episodes ADD COLUMN transient INTEGER NOT NULL DEFAULT 0;
ALTER TABLE episodes ADD COLUMN demoted_to TEXT;      -- low-priority channel it went to
ALTER TABLE episodes ADD COLUMN held_until INTEGER;   -- unix ms: first notification held
ALTER TABLE episodes ADD COLUMN noise REAL;           -- the alert's score when it opened
UPDATE episodes SET ever_acknowledged = 1 WHERE acknowledged_at IS NOT NULL;

CREATE TABLE timers_v4 (
  id        INTEGER PRIMARY KEY,
  due_at    INTEGER NOT NULL,             -- unix ms
  kind      TEXT NOT NULL
            CHECK (kind IN ('escalation','max_open_age','auto_resolve','ack_timeout',
                            'heartbeat','digest')),
  alert_id  INTEGER REFERENCES alerts(id),  -- NULL for a heartbeat's deadline and a digest
  episode   INTEGER NOT NULL DEFAULT 0,
  step      INTEGER NOT NULL DEFAULT 0,
  name      TEXT                            -- the heartbeat's name, or the digest's channel
);
INSERT INTO timers_v4 (id, due_at, kind, alert_id, episode, step, name)
  SELECT id, due_at, kind, alert_id, episode, step, heartbeat FROM timers;
DROP TABLE timers;
ALTER TABLE timers_v4 RENAME TO timers;
CREATE INDEX timers_name ON timers(kind, name) WHERE name IS NOT NULL;
CREATE INDEX timers_due ON timers(due_at, id);
CREATE INDEX timers_episode ON timers(alert_id, episode, kind);

ALTER TABLE outbox ADD COLUMN digest TEXT;  -- a digest's alerts, JSON (action 'digest')

-- Notifications for channels with digest_every, waiting for the channel's next digest.
CREATE TABLE digest_items (
  id          INTEGER PRIMARY KEY,
  channel     TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  alert_id    INTEGER REFERENCES alerts(id),
  episode     INTEGER,
  fingerprint TEXT NOT NULL,
  alias       TEXT NOT NULL,
  action      TEXT NOT NULL,
  severity    TEXT NOT NULL,
  priority    INTEGER NOT NULL,
  noise       REAL,
  summary     TEXT NOT NULL DEFAULT '',
  why         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX digest_items_channel ON digest_items(channel, id);
)sql",
    // 5: the readiness probe's row (storage::write_probe). GET /readyz and the watchdog rewrite
    // it and wait for the commit: an empty transaction writes nothing, so it commits even on
    // a full disk or an unwritable WAL.
    R"sql(
CREATE TABLE health_probe (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  at      INTEGER NOT NULL,  -- unix ms of the last probe
  probes  INTEGER NOT NULL
);
INSERT INTO health_probe (id, at, probes) VALUES (1, 0, 0);
)sql",
    // 6 (retention): bounded storage. Pruning walks each table oldest first by
    // time (storage/retention.cpp); these indexes make each batch a range scan rather than a
    // scan of the whole table, and let a pruned outbox row's meta-alert be found.
    R"sql(
CREATE INDEX decisions_at ON decisions(at);
CREATE INDEX episodes_closed ON episodes(closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX outbox_created ON outbox(created_at);
CREATE INDEX outbox_about ON outbox(about) WHERE about IS NOT NULL;
)sql",
    // 7: the delivery claim (Transaction::due_notifications) walks pending rows in its own
    // order (priority, due, id) and stops at its limit: through outbox_pending it read and
    // sorted every due row, per claim, on the writer thread (30 ms at 20,000 pending).
    R"sql(
CREATE INDEX outbox_claim ON outbox(priority, due_at, id) WHERE status = 'pending';
)sql",
    // 8: the members of an alert (rules::Member;
    // docs/behaviour.md "Episodes, escalation and timers"): the source identities a dedup_key folds
    // into it (or the alert itself), each with the last transition applied, so one transition is
    // applied once whatever path delivers it and a group resolves with its last firing member.
    // Alerts stored before have no rows and keep their old behaviour
    // (rules::AlertState::tracks_members).
    R"sql(
CREATE TABLE alert_members (
  alert_id       INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
  member         TEXT NOT NULL,     -- the event's fingerprint before dedup_key
  state          TEXT NOT NULL CHECK (state IN ('firing','resolved')),
  source_time    INTEGER,           -- unix ms, the last transition's time as the source sent it
  transition_at  INTEGER,           -- the same, clamped to now + 5m: what orders transitions
  changed_at     INTEGER NOT NULL,  -- when that transition was applied
  last_seen_at   INTEGER NOT NULL,  -- the member's last event
  PRIMARY KEY (alert_id, member)
);
-- Retention walks resolved members by when they were last seen.
CREATE INDEX alert_members_seen ON alert_members(last_seen_at) WHERE state = 'resolved';
)sql",
    // 9: digest numbers (docs/behaviour.md "Noise"). Each digest's alias is "digest:{channel}:{n}"
    // with n counted per channel here, never reused: downstream tools fold a create under an alias
    // still open into that alert. Digest items are deleted once digested and retention prunes the
    // outbox, so neither can number digests. The count starts past the aliases already stored,
    // which were numbered by digest item ids.
    R"sql(
CREATE TABLE digest_sequence (
  channel  TEXT PRIMARY KEY,
  last     INTEGER NOT NULL  -- the number of the channel's latest digest
);
INSERT INTO digest_sequence (channel, last)
  SELECT channel, MAX(CAST(substr(alias, length(channel) + 9) AS INTEGER)) FROM outbox
  WHERE action = 'digest' AND alias LIKE 'digest:%' GROUP BY channel;
)sql",
    // 10: several instances on one database (docs/postgres.md "Instances and claims"). Each
    // running instance's row, rewritten at every beat; and the outbox claim made durable, so a
    // row being sent by one instance is not sent by another until the claim runs out (or its
    // instance stops beating), and a row claimed by an instance that died is taken over.
    R"sql(
CREATE TABLE instances (
  id          TEXT PRIMARY KEY,           -- generated at start: host, port, random suffix
  host        TEXT NOT NULL,
  listen      TEXT NOT NULL DEFAULT '',   -- the address it serves on
  version     TEXT NOT NULL,
  rules_hash  TEXT NOT NULL,              -- SHA-256 of the rules file in force
  started_at  INTEGER NOT NULL,           -- unix ms
  last_seen   INTEGER NOT NULL            -- unix ms of its last beat
);
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;        -- the instance sending it, NULL: nobody
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;  -- unix ms the claim runs out
-- One deadline per heartbeat and one digest timer per channel, even when two instances arm
-- them at once (the second one's insert fails and its job runs again, finding the first's).
-- One writer never made two; should a database hold two anyway, the earlier due is kept.
DELETE FROM timers WHERE kind IN ('heartbeat','digest') AND id NOT IN
  (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY kind, name ORDER BY due_at, id)
                   AS n FROM timers WHERE kind IN ('heartbeat','digest')) WHERE n = 1);
CREATE UNIQUE INDEX timers_one_per_name ON timers(kind, name) WHERE kind IN ('heartbeat','digest');
)sql",
    // 11: fewer bytes per event (README "Storage"). Each decision named the rules in force by
    // their 64-hex SHA-256, the same value row after row: it is stored once in rules_versions
    // and a decision names its row (rules_id; its own rules_hash is then ''; rows from before
    // keep their text). alert_members, keyed by (alert_id, member), kept that key twice: in
    // the table and in the index its PRIMARY KEY made; WITHOUT ROWID the table is the index.
    // And a decision about an alert repeated the alert's fingerprint: from now on its
    // fingerprint is '' when it is the alert's (storage/codec.cpp k_decision_columns).
    R"sql(
CREATE TABLE rules_versions (
  id    INTEGER PRIMARY KEY,
  hash  TEXT NOT NULL UNIQUE  -- SHA-256 of a rules file, hex
);
ALTER TABLE decisions ADD COLUMN rules_id INTEGER REFERENCES rules_versions(id);

CREATE TABLE alert_members_v11 (
  alert_id       INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
  member         TEXT NOT NULL,     -- the event's fingerprint before dedup_key
  state          TEXT NOT NULL CHECK (state IN ('firing','resolved')),
  source_time    INTEGER,           -- unix ms, the last transition's time as the source sent it
  transition_at  INTEGER,           -- the same, clamped to now + 5m: what orders transitions
  changed_at     INTEGER NOT NULL,  -- when that transition was applied
  last_seen_at   INTEGER NOT NULL,  -- the member's last event
  PRIMARY KEY (alert_id, member)
) WITHOUT ROWID;
INSERT INTO alert_members_v11 (alert_id, member, state, source_time, transition_at, changed_at,
                               last_seen_at)
  SELECT alert_id, member, state, source_time, transition_at, changed_at, last_seen_at
  FROM alert_members;
DROP TABLE alert_members;
ALTER TABLE alert_members_v11 RENAME TO alert_members;
-- Retention walks resolved members by when they were last seen.
CREATE INDEX alert_members_seen ON alert_members(last_seen_at) WHERE state = 'resolved';
)sql",
    // 12: fewer bytes per event (README "Storage"). A member whose fingerprint is its alert's
    // (an alert without dedup_key has one member, itself) repeated that text in the table and
    // its key: the member is '' then, as a decision's fingerprint is since migration 11
    // (storage/codec.cpp k_member_columns reads the alert's). Rows from before are rewritten,
    // since a member is looked up by that key. (From this version on, alerts.description may
    // also hold a zstd frame, a BLOB, like inbound.body: no change to the table.)
    // Two indexes ended in the table's id, which every SQLite index already ends in (the
    // rowid, ascending): the explicit copy is dropped. The order, and the plans that seek or
    // sort on id through them, stay. (PostgreSQL's keep it: its indexes have no such column.)
    // alerts_noise (migration 7) was never read by any query: dropped.
    R"sql(
UPDATE alert_members SET member = ''
  WHERE member = (SELECT a.fingerprint FROM alerts a WHERE a.id = alert_members.alert_id);
DROP INDEX timers_due;
CREATE INDEX timers_due ON timers(due_at);  -- then id
DROP INDEX decisions_alert;
CREATE INDEX decisions_alert ON decisions(alert_id);  -- then id
DROP INDEX alerts_noise;
)sql",
    // 13: each channel's health, for the circuit breaker and the paced catch-up
    // (docs/behaviour.md "The circuit breaker and the catch-up"): one row per channel that
    // ever failed, shared by every instance on the database. Times are unix ms; NULL: not in
    // that state.
    R"sql(
CREATE TABLE channel_health (
  channel     TEXT PRIMARY KEY,
  down_since  INTEGER,                   -- marked down then; NULL: up
  failures    INTEGER NOT NULL DEFAULT 0, -- consecutive failed requests
  last_error  TEXT NOT NULL DEFAULT '',
  changed_at  INTEGER NOT NULL,          -- the last transition (up or down)
  probe_at    INTEGER,                   -- down: the next probe leaves then
  probes      INTEGER NOT NULL DEFAULT 0, -- probes failed in this outage
  hold_until  INTEGER,                   -- the receiver's Retry-After: nothing leaves before
  pace_at     INTEGER                    -- catching up: the next row leaves then
);
-- A claim reads each channel's due rows on its own (Transaction::due_notifications), so that a
-- channel held down or paced costs nothing however long its backlog: the claim index leads
-- with the channel.
DROP INDEX outbox_claim;
CREATE INDEX outbox_claim ON outbox(channel, priority, due_at, id) WHERE status = 'pending';
)sql",
    // 14: silences (docs/behaviour.md "Silences"). A silence's matchers are the JSON object it
    // was given; its end is COALESCE(expired_at, ends_at). silence_hits lists the episodes each
    // silence withheld a page from, and whether the episode paged when the silence ended (the
    // report's "hid an episode that kept firing"). Timers gain the kind `silence` (a silence's
    // end, named by its id); SQLite cannot change a CHECK in place, so the table is rebuilt
    // with the same indexes.
    R"sql(
CREATE TABLE silences (
  id          INTEGER PRIMARY KEY,
  created_at  INTEGER NOT NULL,
  starts_at   INTEGER NOT NULL,
  ends_at     INTEGER NOT NULL,
  created_by  TEXT NOT NULL,
  comment     TEXT NOT NULL,
  matchers    TEXT NOT NULL,       -- JSON object, as given
  expired_at  INTEGER,             -- ended by hand then (before ends_at)
  expired_by  TEXT,
  settled_at  INTEGER              -- its end was handled then: what it withheld paged
);
CREATE INDEX silences_end ON silences(ends_at);
-- An episode whose events matched a never_suppress rule, once (a dedup_key group's members differ).
ALTER TABLE episodes ADD COLUMN never_suppress INTEGER NOT NULL DEFAULT 0;
CREATE TABLE silence_hits (
  silence_id   INTEGER NOT NULL REFERENCES silences(id),
  alert_id     INTEGER NOT NULL REFERENCES alerts(id),
  episode      INTEGER NOT NULL,
  at           INTEGER NOT NULL,   -- first withheld then
  released_at  INTEGER,            -- the silence ended then
  paged        INTEGER NOT NULL DEFAULT 0,  -- still open at the end: it paged
  PRIMARY KEY (silence_id, alert_id, episode)
);
CREATE TABLE timers_v14 (
  id        INTEGER PRIMARY KEY,
  due_at    INTEGER NOT NULL,             -- unix ms
  kind      TEXT NOT NULL
            CHECK (kind IN ('escalation','max_open_age','auto_resolve','ack_timeout',
                            'heartbeat','digest','silence')),
  alert_id  INTEGER REFERENCES alerts(id),  -- NULL for a heartbeat's deadline, a digest, a silence
  episode   INTEGER NOT NULL DEFAULT 0,
  step      INTEGER NOT NULL DEFAULT 0,
  name      TEXT                            -- the heartbeat, the digest's channel, the silence id
);
INSERT INTO timers_v14 (id, due_at, kind, alert_id, episode, step, name)
  SELECT id, due_at, kind, alert_id, episode, step, name FROM timers;
DROP TABLE timers;
ALTER TABLE timers_v14 RENAME TO timers;
CREATE INDEX timers_name ON timers(kind, name) WHERE name IS NOT NULL;
CREATE INDEX timers_due ON timers(due_at);  -- then id
CREATE INDEX timers_episode ON timers(alert_id, episode, kind);
CREATE UNIQUE INDEX timers_one_per_name ON timers(kind, name)
  WHERE kind IN ('heartbeat','digest','silence');
)sql",
    // 15: cheaper inserts, same constraints. SQLite evaluates `x IN (...)` with more than two
    // constants through a temporary b-tree it builds and frees on every run of the statement:
    // every insert into timers (its kind CHECK and timers_one_per_name's predicate) and into
    // episodes (its status CHECK) opened and closed one, ~4 µs each, five per ingested event.
    // The same conditions written as comparisons joined by OR are evaluated inline. SQLite
    // cannot change a CHECK in place, so both tables are rebuilt, with the same columns in the
    // same order and the same indexes. (episodes_one_active keeps its two-constant IN: that is
    // evaluated inline already, and queries name it by that exact predicate.)
    R"sql(
CREATE TABLE timers_v15 (
  id        INTEGER PRIMARY KEY,
  due_at    INTEGER NOT NULL,             -- unix ms
  kind      TEXT NOT NULL
            CHECK (kind = 'escalation' OR kind = 'max_open_age' OR kind = 'auto_resolve' OR
                   kind = 'ack_timeout' OR kind = 'heartbeat' OR kind = 'digest' OR
                   kind = 'silence'),
  alert_id  INTEGER REFERENCES alerts(id),  -- NULL for a heartbeat's deadline, a digest, a silence
  episode   INTEGER NOT NULL DEFAULT 0,
  step      INTEGER NOT NULL DEFAULT 0,
  name      TEXT                            -- the heartbeat, the digest's channel, the silence id
);
INSERT INTO timers_v15 (id, due_at, kind, alert_id, episode, step, name)
  SELECT id, due_at, kind, alert_id, episode, step, name FROM timers;
DROP TABLE timers;
ALTER TABLE timers_v15 RENAME TO timers;
CREATE INDEX timers_name ON timers(kind, name) WHERE name IS NOT NULL;
CREATE INDEX timers_due ON timers(due_at);  -- then id
CREATE INDEX timers_episode ON timers(alert_id, episode, kind);
CREATE UNIQUE INDEX timers_one_per_name ON timers(kind, name)
  WHERE kind = 'heartbeat' OR kind = 'digest' OR kind = 'silence';

CREATE TABLE episodes_v15 (
  id                INTEGER PRIMARY KEY,
  alert_id          INTEGER NOT NULL REFERENCES alerts(id),
  number            INTEGER NOT NULL,
  status            TEXT NOT NULL
                    CHECK (status = 'open' OR status = 'acknowledged' OR status = 'resolved' OR
                           status = 'expired' OR status = 'superseded'),
  severity          TEXT NOT NULL,
  priority          INTEGER NOT NULL,
  alias             TEXT NOT NULL UNIQUE,
  opened_at         INTEGER NOT NULL,
  last_activity_at  INTEGER NOT NULL,
  last_source_time  INTEGER,
  closed_at         INTEGER,
  event_count       INTEGER NOT NULL,
  escalation        TEXT NOT NULL DEFAULT '[]',  -- JSON array of names
  level             INTEGER NOT NULL DEFAULT -1, -- highest step notified
  escalation_base   INTEGER,                     -- unix ms; NULL: opened_at
  acknowledged_at   INTEGER,
  acknowledged_by   TEXT NOT NULL DEFAULT '',
  flagged_stale_at  INTEGER,                     -- max_open_age sweep
  notified          TEXT NOT NULL DEFAULT '[]',  -- channels told, JSON
  ended_by          TEXT NOT NULL DEFAULT '',    -- source|person|expired|superseded
  ever_acknowledged INTEGER NOT NULL DEFAULT 0,
  transient         INTEGER NOT NULL DEFAULT 0,
  demoted_to        TEXT,                        -- low-priority channel it went to
  held_until        INTEGER,                     -- unix ms: first notification held
  noise             REAL,                        -- the alert's score when it opened
  never_suppress    INTEGER NOT NULL DEFAULT 0,
  UNIQUE (alert_id, number)
);
INSERT INTO episodes_v15 SELECT id, alert_id, number, status, severity, priority, alias, opened_at,
  last_activity_at, last_source_time, closed_at, event_count, escalation, level,
  escalation_base, acknowledged_at, acknowledged_by, flagged_stale_at, notified, ended_by,
  ever_acknowledged, transient, demoted_to, held_until, noise, never_suppress FROM episodes;
DROP TABLE episodes;
ALTER TABLE episodes_v15 RENAME TO episodes;
-- docs/behaviour.md "Episodes, escalation and timers": at most one episode of an alert is open (or acknowledged) at a time.
CREATE UNIQUE INDEX episodes_one_active ON episodes(alert_id)
  WHERE status IN ('open','acknowledged');
CREATE INDEX episodes_status ON episodes(status);
CREATE INDEX episodes_closed ON episodes(closed_at) WHERE closed_at IS NOT NULL;
)sql",
    // 16: SNS subscriptions confirmed or refused through the API
    // (docs/behaviour.md "SNS subscriptions"): two more statuses (`confirming` while a visit of the SubscribeURL is
    // under way, `rejected`), who decided, and the SubscriptionArn SNS answered. SQLite cannot
    // change a CHECK in place, so the table is rebuilt with the same columns first.
    R"sql(
CREATE TABLE subscriptions_v16 (
  id               INTEGER PRIMARY KEY,
  topic_arn        TEXT NOT NULL,
  kind             TEXT NOT NULL CHECK (kind IN ('subscribe','unsubscribe')),
  url              TEXT NOT NULL,          -- SubscribeURL, already checked to be an SNS URL
  message_id       TEXT NOT NULL UNIQUE,
  received_at      INTEGER NOT NULL,
  status           TEXT NOT NULL
                   CHECK (status = 'pending' OR status = 'confirmed' OR status = 'failed' OR
                          status = 'noted' OR status = 'confirming' OR status = 'rejected'),
  updated_at       INTEGER NOT NULL,       -- when `confirming`: the claim's time, its identity
  detail           TEXT NOT NULL DEFAULT '',
  decided_by       TEXT NOT NULL DEFAULT '',  -- who confirmed or rejected it
  subscription_arn TEXT NOT NULL DEFAULT ''   -- from SNS's answer to the confirmation
);
INSERT INTO subscriptions_v16 (id, topic_arn, kind, url, message_id, received_at, status,
                               updated_at, detail)
  SELECT id, topic_arn, kind, url, message_id, received_at, status, updated_at, detail
  FROM subscriptions;
DROP TABLE subscriptions;
ALTER TABLE subscriptions_v16 RENAME TO subscriptions;
)sql",
};

}  // namespace

int current_schema_version() {
  return static_cast<int>(k_migrations.size());
}

void migrate(SQLite::Database& db, int target) {
  if (target < 0) target = current_schema_version();
  int version = db.execAndGet("PRAGMA user_version").getInt();
  if (version > current_schema_version()) {
    throw DatabaseError("database " + db.getFilename() + " has schema version " +
                        std::to_string(version) + ", newer than this build of tocsin knows (" +
                        std::to_string(current_schema_version()) +
                        "); refusing to use it — run the newer tocsin or restore a backup");
  }
  for (int next = version + 1; next <= target; ++next) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(k_migrations[static_cast<std::size_t>(next - 1)]);
    db.exec("PRAGMA user_version = " + std::to_string(next));
    tx.commit();
  }
}

}  // namespace tocsin::storage
