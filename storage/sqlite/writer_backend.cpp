// storage::Writer on SQLite (storage/writer.hpp): one connection, group commit in one
// transaction with a savepoint per job, the file watch before every commit, and the batches of
// a throwaway database (Durability::off). PostgreSQL's is storage/postgres/writer_backend.cpp.

#include <SQLiteCpp/Exception.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>
#include <exception>
#include <stdexcept>

#include "storage/sql.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/writer.hpp"

namespace tocsin::storage {

namespace {

// Thrown before COMMIT when the database's files are no longer the ones open.
class FilesReplaced : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A database fault is answered 503 whatever it is (senders keep the event and retry), with
// the operator's sentence; any other failure is the work's own.
WriteError to_write_error(const std::exception& e, const std::string& path) {
  if (dynamic_cast<const FilesReplaced*>(&e)) {
    return {true, describe(DatabaseFault::file_replaced, path) + " (" + e.what() + ")",
            DatabaseFault::file_replaced};
  }
  // The statement layer's errors carry SQLite's code; a job may also meet SQLiteCpp's own.
  std::optional<int> code;
  if (const auto* sql = dynamic_cast<const sql::Error*>(&e)) {
    code = sql->native_code();
  } else if (const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e)) {
    code = sqlite->getErrorCode();
  }
  if (code) {
    const DatabaseFault fault = classify_sqlite_error(*code);
    if (fault == DatabaseFault::none) return {is_transient_sqlite_error(*code), e.what()};
    return {true, describe(fault, path) + " (" + e.what() + ")", fault};
  }
  return {false, e.what()};
}

}  // namespace

void Writer::idle_check_sqlite() {
  if (health().fault != DatabaseFault::file_replaced) {
    if (auto moved = m_files->check()) {
      note_fault(DatabaseFault::file_replaced,
                 describe(DatabaseFault::file_replaced, m_path) + " (" + *moved + ")");
    }
  }
  const DatabaseHealth h = health();
  if (h.healthy()) return;
  if (!is_permanent(h.fault)) {
    // The fault may have cleared (space freed, permissions fixed): a probe write finds out.
    std::vector<Job> group;
    group.push_back(Job{[this](Transaction& tx) { tx.record_probe(m_clock.now()); }, {}});
    commit_group(group);
  }
  if (const DatabaseHealth after = health(); !after.healthy()) {
    note_fault(after.fault, after.detail);  // the reminder, when due
  }
}

void Writer::commit_group_sqlite(std::vector<Job>& group) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<WriteStatus> status(group.size());
  WriterStats stats;
  stats.group_size = group.size();
  if (health().fault == DatabaseFault::file_replaced) {
    // Whatever commits now lands in an unlinked file and is gone at the next restart.
    const WriteError refused = refused_by_health();
    for (auto& job : group)
      job.answer(refused);
    stats.ok = false;
    if (m_on_group) m_on_group(stats);
    return;
  }
  if (m_batch_lost) {
    for (auto& job : group)
      job.answer(WriteError{false, *m_batch_lost});
    stats.ok = false;
    if (m_on_group) m_on_group(stats);
    return;
  }
  bool answered = false;  // only the test-only fault answers before the commit
  try {
    if (!m_open) {
      m_sql->begin();
      m_open = true;
      m_changes_at_begin = m_sql->total_changes();
    }
    Transaction tx(*m_sql);
    // Fast path: the group's jobs run back to back with no savepoint of their own. Inside a
    // savepoint SQLite copies every existing page it modifies into a statement journal first
    // (a temporary file past 64 KiB): with a savepoint per job that was ~140 KB written per
    // event at c=32, most of the writer's time. Jobs are re-runnable after a rollback
    // (run_jobs_twice_for_tests proves it), so when one fails, the group is rolled back and
    // run again the slow way, each job in its own savepoint, and only the failing job's work
    // is lost. The group's own boundary is its BEGIN.
    //
    // A throwaway database's batch spans groups, and a savepoint per group there cost a tenth
    // of a replay (SQLite copies every page the job touches into the statement journal). Its
    // one caller stops at the first failed job (storage failed: nothing later runs), so a
    // failure there rolls back the batch and the writer refuses everything after: what later
    // jobs would see is never a batch with a hole (m_batch_lost).
    bool failed = false;
    std::exception_ptr failure;
    for (std::size_t i = 0; i < group.size() && !failed; ++i) {
      try {
        if (m_run_twice) run_and_roll_back(*m_sql, tx, group[i].work);
        group[i].work(tx);
      } catch (const std::exception&) {
        failed = true;
        failure = std::current_exception();
      }
    }
    if (failed) {
      // After some errors met mid-statement (SQLITE_FULL as pages spill into the log, an I/O
      // error, out of memory) SQLite has already rolled the whole transaction back: nothing of
      // the group (nor of a throwaway batch) is left to rerun into. The group fails with that
      // error, classified below (a disk_full fault, not "cannot rollback").
      // So does a throwaway batch that holds earlier jobs: they go with it (the catch below).
      if (sqlite3_get_autocommit(m_db->getHandle()) != 0 || (m_batched && m_uncommitted > 0))
        std::rethrow_exception(failure);
      m_sql->rollback();
      m_sql->begin();
      m_changes_at_begin = m_sql->total_changes();
      for (std::size_t i = 0; i < group.size(); ++i) {
        m_sql->savepoint("job");
        try {
          if (m_run_twice) run_and_roll_back(*m_sql, tx, group[i].work);
          group[i].work(tx);
          m_sql->release("job");
        } catch (const std::exception& e) {
          status[i] = to_write_error(e, m_path);
          if (status[i]->fault != DatabaseFault::none)
            note_fault(status[i]->fault, status[i]->message);
          m_sql->rollback_to("job");
          m_sql->release("job");
        }
      }
    }
    m_uncommitted += group.size();
    if (m_answer_before_commit) {
      for (std::size_t i = 0; i < group.size(); ++i)
        group[i].answer(status[i]);
      answered = true;
    }
    // A throwaway database (replay) commits in large batches: nobody waits on its durability.
    constexpr std::size_t k_batch = 4096;
    if (!m_batched || m_uncommitted >= k_batch) {
      if (auto moved = m_files->check()) throw FilesReplaced(*moved);
      const bool wrote = m_sql->total_changes() > m_changes_at_begin;
      m_sql->commit();
      m_open = false;
      m_uncommitted = 0;
      if (wrote) note_committed_write();  // an empty commit proves nothing about the disk
    }
  } catch (const std::exception& e) {
    // BEGIN or COMMIT failed: nothing of this group is durable, so nobody gets a success.
    WriteError err = to_write_error(e, m_path);
    err.transient = true;  // the work itself was fine; the database was not
    if (m_batched && m_uncommitted > 0) {  // its earlier jobs, answered, are lost with it
      m_batch_lost = "a failed write took the uncommitted batch of " +
                     std::to_string(m_uncommitted) +
                     " answered job(s) of this throwaway database with it (" + err.message +
                     "); nothing more is written to it";
    }
    if (err.fault != DatabaseFault::none) note_fault(err.fault, err.message);
    for (auto& s : status)
      s = err;
    stats.ok = false;
    m_open = false;
    m_uncommitted = 0;
    try {
      m_sql->rollback();
    } catch (const std::exception&) {
      // No transaction was open (BEGIN failed) or SQLite already rolled back.
    }
  }
  stats.commit_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!answered) {
    for (std::size_t i = 0; i < group.size(); ++i)
      group[i].answer(status[i]);
  }
  if (m_on_group) m_on_group(stats);
}

void Writer::finish_batch() {
  if (!m_open) return;
  try {
    m_sql->commit();
  } catch (const std::exception&) {
    // Only a throwaway database batches; losing its tail on a failing disk loses no event.
  }
  m_open = false;
  m_uncommitted = 0;
}

}  // namespace tocsin::storage
