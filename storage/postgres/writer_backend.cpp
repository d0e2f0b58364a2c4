// storage::Writer on PostgreSQL (storage/writer.hpp; docs/postgres.md "The writer"): the same
// thread and group commit as SQLite's, against a server other instances write to at the same
// time. What differs is what can go wrong: another instance's transaction conflicts with ours
// (run the group again), and the server can go away (answer 503, reconnect by itself).

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>
#include <thread>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/schema.hpp"
#include "storage/postgres/sql_connection.hpp"
#include "storage/sql.hpp"
#include "storage/writer.hpp"

namespace tocsin::storage {

namespace {

// Another instance got in the way: a serialization failure or a deadlock, a unique violation
// from two instances inserting the same new row (an alert, a delivery id) at once, or a wait on
// its lock longer than lock_timeout (55P03; set_up_writer_session). Nothing of the transaction
// was committed and running it again sees the other's row, or the lock freed.
bool is_conflict(const std::exception& e) {
  const auto* error = dynamic_cast<const sql::Error*>(&e);
  if (error == nullptr || error->backend() != sql::Backend::postgres) return false;
  const std::string& state = error->sqlstate();
  return state == "40001" || state == "40P01" || state == "23505" ||
         state == "55P03";
}

bool is_unavailable(const std::exception& e) {
  if (const auto* error = dynamic_cast<const sql::Error*>(&e))
    return error->error_class() == sql::ErrorClass::unavailable;
  if (const auto* error = dynamic_cast<const postgres::Error*>(&e))
    return error->error_class() == postgres::ErrorClass::unavailable;
  return false;
}

std::string sqlstate_of(const std::exception& e) {
  if (const auto* error = dynamic_cast<const sql::Error*>(&e)) return error->sqlstate();
  if (const auto* error = dynamic_cast<const postgres::Error*>(&e)) return error->sqlstate();
  return {};
}

// A server that cannot be reached, or that refuses writes because it is a standby now.
WriteError unavailable_error(const std::exception& e, const std::string& location) {
  if (sqlstate_of(e) == "25006") {
    return {true,
            "PostgreSQL " + location +
                " refuses writes: it is a standby now (a failover?); reconnecting to find the "
                "primary, which needs every host listed with target_session_attrs=read-write (" +
                e.what() + ")",
            DatabaseFault::read_only};
  }
  return {true, describe(DatabaseFault::unreachable, location) + " (" + e.what() + ")",
          DatabaseFault::unreachable};
}

// A short pause before a conflicting group runs again, jittered so that two instances that
// collided do not collide again in step.
void back_off(int attempt) {
  thread_local std::minstd_rand random(std::random_device{}());
  const int base_ms = 2 << std::min(attempt, 5);  // 4, 8, 16, 32, 64 ms
  std::uniform_int_distribution<int> jitter(0, base_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(base_ms / 2 + jitter(random)));
}

}  // namespace

void Writer::open_postgres(const std::string& location) {
  m_conninfo = location;
  try {
    m_pg = std::make_unique<postgres::Connection>(postgres::Connection::open(location));
    m_sql = std::make_unique<postgres::SqlConnection>(*m_pg);
    // Migrated before the session's bounds apply: waiting for another instance's migration
    // (the advisory lock) may take longer than a lock wait is allowed afterwards.
    postgres::migrate(*m_sql);
    postgres::set_up_writer_session(*m_pg);
  } catch (const std::exception& e) {
    // The messages of storage/postgres/ hold no password; the location is redacted.
    throw DatabaseError("cannot open PostgreSQL database " + m_path + ": " + e.what());
  }
  m_last_connect = std::chrono::steady_clock::now();
}

void Writer::drop_postgres_connection() {
  m_sql.reset();  // its statements refer to m_pg
  m_pg.reset();
}

sql::Connection* Writer::postgres_connection() {
  if (m_pg && !m_pg->broken()) return m_sql.get();
  if (m_pg) drop_postgres_connection();
  const auto now = std::chrono::steady_clock::now();
  if (now - m_last_connect < k_reconnect_every) return nullptr;
  m_last_connect = now;
  try {
    auto connection = std::make_unique<postgres::Connection>(postgres::Connection::open(m_conninfo));
    postgres::set_up_writer_session(*connection);
    m_pg = std::move(connection);
    m_sql = std::make_unique<postgres::SqlConnection>(*m_pg);
    spdlog::info("database {}: connected to {}:{}", m_path, m_pg->host(), m_pg->port());
    return m_sql.get();
  } catch (const std::exception& e) {
    drop_postgres_connection();
    const WriteError error = unavailable_error(e, m_path);
    note_fault(error.fault, error.message);
    return nullptr;
  }
}

Writer::Attempt Writer::attempt_postgres(std::vector<Job>& group,
                                         const std::vector<std::size_t>& jobs,
                                         std::vector<WriteStatus>& status, bool& wrote) {
  sql::Connection& db = *m_sql;
  const std::int64_t changes_at_begin = db.total_changes();
  bool committing = false;
  try {
    db.begin();
    Transaction tx(db);
    for (const std::size_t i : jobs) {
      status[i].reset();
      db.savepoint("job");
      try {
        if (m_run_twice) run_and_roll_back(db, tx, group[i].work);
        group[i].work(tx);
        db.release("job");
      } catch (const std::exception& e) {
        // A conflict or a lost server is the group's; anything else is this job's own failure.
        if (is_conflict(e) || is_unavailable(e) || m_pg->broken()) throw;
        status[i] = WriteError{false, m_pg->scrubbed(e.what())};
        db.rollback_to("job");
        db.release("job");
      }
    }
    committing = true;
    db.commit();
    wrote = db.total_changes() > changes_at_begin;
    return Attempt::committed;
  } catch (const std::exception& e) {
    if (m_pg && !m_pg->broken()) {
      try {
        db.rollback();
      } catch (const std::exception&) {
        // COMMIT failed and ended the transaction already.
      }
    }
    if (is_conflict(e) && m_pg && !m_pg->broken()) {
      for (const std::size_t i : jobs)
        status[i] = WriteError{true, "conflicted with another instance: " + std::string(e.what())};
      return Attempt::conflict;
    }
    WriteError error;
    if (is_unavailable(e) || !m_pg || m_pg->broken()) {
      error = unavailable_error(e, m_path);
      if (committing) {
        // The server may have committed it or not: the sender retries, and the delivery id
        // makes the second try a redelivery if the first did commit.
        error.message = "the outcome of COMMIT is unknown: " + error.message;
      }
      note_fault(error.fault, error.message);
      drop_postgres_connection();
    } else {
      // BEGIN, a savepoint or COMMIT failed for another reason: nothing of the group is kept.
      error = WriteError{true, e.what()};
    }
    for (const std::size_t i : jobs)
      status[i] = error;
    return Attempt::unavailable;
  }
}

void Writer::commit_group_postgres(std::vector<Job>& group) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<WriteStatus> status(group.size());
  WriterStats stats;
  stats.group_size = group.size();
  const auto answer = [&] {
    stats.commit_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (std::size_t i = 0; i < group.size(); ++i)
      group[i].answer(status[i]);
    if (m_on_group) m_on_group(stats);
  };

  // A connection kept from before may have died unnoticed while idle (the server restarted):
  // a failure at its first statement is worth one more try on a new connection at once.
  const bool had_connection = m_pg != nullptr;
  if (postgres_connection() == nullptr) {
    const WriteError refused = refused_by_health();
    for (auto& s : status)
      s = refused;
    stats.ok = false;
    return answer();
  }

  std::vector<std::size_t> all(group.size());
  for (std::size_t i = 0; i < group.size(); ++i)
    all[i] = i;
  bool wrote = false;
  Attempt outcome = Attempt::conflict;
  bool reconnected = false;
  for (int attempt = 1; attempt <= k_conflict_attempts; ++attempt) {
    outcome = attempt_postgres(group, all, status, wrote);
    if (outcome == Attempt::unavailable && had_connection && !reconnected && attempt == 1) {
      reconnected = true;
      m_last_connect = {};  // not throttled: the server may well be back
      if (postgres_connection() != nullptr) outcome = attempt_postgres(group, all, status, wrote);
    }
    if (outcome != Attempt::conflict) break;
    if (attempt < k_conflict_attempts) back_off(attempt);
  }

  if (outcome == Attempt::conflict) {
    // Still colliding as a group: one job per transaction, so that one hot row delays only the
    // jobs on it.
    spdlog::warn("database {}: a group of {} jobs conflicted {} times with another instance; "
                 "running them one at a time",
                 m_path, group.size(), k_conflict_attempts);
    wrote = false;
    for (std::size_t i = 0; i < group.size(); ++i) {
      Attempt one = Attempt::conflict;
      bool one_wrote = false;
      for (int attempt = 1; attempt <= k_conflict_attempts; ++attempt) {
        if (m_sql == nullptr) break;
        one = attempt_postgres(group, {i}, status, one_wrote);
        if (one != Attempt::conflict) break;
        if (attempt < k_conflict_attempts) back_off(attempt);
      }
      wrote = wrote || one_wrote;
      if (one == Attempt::unavailable || m_sql == nullptr) {
        // The rest cannot be tried either: they get the same answer.
        for (std::size_t j = i + 1; j < group.size(); ++j)
          status[j] = status[i];
        stats.ok = false;
        break;
      }
    }
  } else if (outcome == Attempt::unavailable) {
    stats.ok = false;
  }
  if (wrote) note_committed_write();
  answer();
}

void Writer::idle_check_postgres() {
  const DatabaseHealth h = health();
  if (h.healthy()) return;
  // Every fault on PostgreSQL can clear (the server is back, a primary found): a probe write
  // finds out, reconnecting first (at most every k_reconnect_every).
  std::vector<Job> group;
  group.push_back(Job{[this](Transaction& tx) { tx.record_probe(m_clock.now()); }, {}});
  commit_group_postgres(group);
  if (const DatabaseHealth after = health(); !after.healthy()) {
    note_fault(after.fault, after.detail);  // the reminder, when due
  }
}

}  // namespace tocsin::storage
