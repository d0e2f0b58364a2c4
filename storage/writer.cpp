#include "storage/writer.hpp"

#include <SQLiteCpp/Exception.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "storage/detail/sqlite.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/redact.hpp"
#include "storage/sql.hpp"
#include "storage/sqlite/connection.hpp"

namespace tocsin::storage {

namespace {

// TEST-ONLY FAULT. TOCSIN_FAULT_ANSWER_BEFORE_COMMIT=1 makes the writer answer each group's
// callers before its COMMIT: exactly the bug the one-writer design exists to prevent (a 2xx
// for an event a crash then loses). scripts/crashtest --teeth sets it to prove the crash test
// catches that bug. Read once per process.
bool answer_before_commit_fault() {
  static const bool on = [] {
    const char* v = std::getenv("TOCSIN_FAULT_ANSWER_BEFORE_COMMIT");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

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

// run_jobs_twice_for_tests: a first run whose every effect on the database is undone.
void run_and_roll_back(sql::Connection& db, Transaction& tx,
                       const std::function<void(Transaction&)>& work) {
  db.savepoint("first_run");
  try {
    work(tx);
  } catch (const std::exception&) {
    // The run that counts is the second.
  }
  db.rollback_to("first_run");
  db.release("first_run");
}

const Clock& default_clock() {
  static const SystemClock clock;
  return clock;
}

Writer::Writer(const std::string& location, Durability durability,
               std::function<void(const WriterStats&)> on_group, const Clock& clock)
    : m_db(is_postgres_location(location) ? nullptr : open_for_writing(location, durability)),
      m_postgres(is_postgres_location(location)),
      m_sql(m_db ? std::unique_ptr<sql::Connection>(std::make_unique<sqlite::Connection>(*m_db))
                 : nullptr),
      m_batched(!m_postgres && durability == Durability::off),
      m_on_group(std::move(on_group)),
      m_clock(clock),
      m_path(m_postgres ? postgres::redacted(location) : location),
      // After open's first write: -wal, -shm exist.
      m_files(m_db ? std::make_unique<FileWatch>(*m_db) : nullptr),
      m_answer_before_commit(!m_batched && answer_before_commit_fault()) {
  if (m_postgres) open_postgres(location);
  if (m_answer_before_commit) {
    spdlog::critical(
        "TEST-ONLY FAULT ACTIVE: TOCSIN_FAULT_ANSWER_BEFORE_COMMIT=1, requests are answered "
        "BEFORE their transaction commits; a crash loses acknowledged events. Never run this in "
        "production.");
  }
  if (!m_batched) m_thread = std::thread([this] { run(); });
}

DatabaseHealth Writer::health() const {
  MutexLock lock(m_health_mutex);
  return m_health;
}

WriteError Writer::refused_by_health() const {
  MutexLock lock(m_health_mutex);
  return WriteError{true, m_health.detail, m_health.fault};
}

void Writer::note_fault(DatabaseFault fault, const std::string& message) {
  const TimePoint now = m_clock.now();
  MutexLock lock(m_health_mutex);
  // A permanent fault stays the one reported: a disk-full on a replaced file changes nothing.
  if (is_permanent(m_health.fault) && m_health.fault != fault) return;
  if (m_health.fault != fault) {
    m_health = DatabaseHealth{fault, message, now};
    m_health_logged = now;
    spdlog::error("database: {}", message);
    return;
  }
  m_health.detail = message;
  if (now - m_health_logged >= k_log_every) {  // a reminder, not a line per request
    m_health_logged = now;
    spdlog::error("database: still failing since {}: {}", format_timestamp(m_health.since),
                  message);
  }
}

void Writer::note_committed_write() {
  const TimePoint now = m_clock.now();
  MutexLock lock(m_health_mutex);
  if (m_health.healthy() || is_permanent(m_health.fault)) return;
  if (m_health.fault == DatabaseFault::disk_full) {
    // A probe's page can fit in the last few kilobytes while an event's cannot: ready again
    // only with room for real traffic.
    const auto free = free_bytes(m_path);
    if (free && *free < k_free_to_recover) return;
  }
  spdlog::info("database {}: committing again ({} since {}, {} s)", m_path,
               to_string(m_health.fault), format_timestamp(m_health.since),
               std::chrono::duration_cast<std::chrono::seconds>(now - m_health.since).count());
  m_health = DatabaseHealth{};
}

void Writer::note_read_error(int sqlite_code, const std::string& message) {
  if (classify_sqlite_error(sqlite_code) != DatabaseFault::corrupt) return;
  note_fault(DatabaseFault::corrupt,
             describe(DatabaseFault::corrupt, m_path) + " (a read failed: " + message + ")");
}

WriteStatus Writer::probe(Duration timeout) {
  if (auto h = health(); is_permanent(h.fault)) return WriteError{true, h.detail, h.fault};
  auto committed = submit([this](Transaction& tx) { tx.record_probe(m_clock.now()); });
  if (committed.wait_for(timeout) != std::future_status::ready) {
    auto h = health();
    return WriteError{true,
                      "the database writer did not commit a probe write within " +
                          std::to_string(timeout.count()) + " ms" +
                          (h.healthy() ? "" : ": " + h.detail),
                      h.healthy() ? DatabaseFault::busy : h.fault};
  }
  if (auto err = committed.get()) return err;
  if (auto h = health(); !h.healthy()) return WriteError{true, h.detail, h.fault};
  return std::nullopt;
}

void Writer::idle_check() {
  if (m_postgres) return idle_check_postgres();
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

Writer::~Writer() {
  stop();
}

std::future<WriteStatus> Writer::submit(std::function<void(Transaction&)> work) {
  Job job{std::move(work), {}};
  auto future = job.done.get_future();
  if (m_batched) {
    // One caller, no thread: the job runs here, in its savepoint of the open batch.
    MutexLock lock(m_mutex);
    if (m_stopping) {
      job.done.set_value(WriteError{true, "the writer is shutting down"});
      return future;
    }
    std::vector<Job> group;
    group.push_back(std::move(job));
    commit_group(group);
    return future;
  }
  {
    MutexLock lock(m_mutex);
    if (m_stopping) {
      job.done.set_value(WriteError{true, "the writer is shutting down"});
      return future;
    }
    m_queue.push_back(std::move(job));
  }
  m_wake.notify_one();
  return future;
}

void Writer::stop() {
  {
    MutexLock lock(m_mutex);
    if (m_batched && !m_stopping) finish_batch();
    m_stopping = true;
  }
  m_wake.notify_one();
  if (m_thread.joinable()) m_thread.join();
}

void Writer::run() {
  // Bound a group so one huge burst cannot hold every caller behind a single long commit.
  constexpr std::size_t k_max_group = 512;
  for (;;) {
    std::vector<Job> group;
    {
      MutexLock lock(m_mutex);
      const auto idle_until = std::chrono::steady_clock::now() + k_check_every;
      while (!m_stopping && m_queue.empty() && m_wake.wait_until(m_mutex, idle_until)) {
      }
      if (m_queue.empty() && m_stopping) {  // drained
        finish_batch();
        return;
      }
      while (!m_queue.empty() && group.size() < k_max_group) {
        group.push_back(std::move(m_queue.front()));
        m_queue.pop_front();
      }
    }
    if (group.empty()) {
      idle_check();
    } else {
      commit_group(group);
    }
  }
}

void Writer::commit_group(std::vector<Job>& group) {
  if (m_postgres) return commit_group_postgres(group);
  const auto started = std::chrono::steady_clock::now();
  std::vector<WriteStatus> status(group.size());
  WriterStats stats;
  stats.group_size = group.size();
  if (health().fault == DatabaseFault::file_replaced) {
    // Whatever commits now lands in an unlinked file and is gone at the next restart.
    const WriteError refused = refused_by_health();
    for (auto& job : group)
      job.done.set_value(refused);
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
    m_uncommitted += group.size();
    if (m_answer_before_commit) {
      for (std::size_t i = 0; i < group.size(); ++i)
        group[i].done.set_value(status[i]);
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
      group[i].done.set_value(status[i]);
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
