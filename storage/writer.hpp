#pragma once
// The single writer: one committer at a time owns the write connection (SQLiteCpp
// connections are not thread-safe) and commits queued jobs in groups. Each caller is answered
// only after the transaction holding its work has committed, so a 2xx never precedes
// durability (README "Storage"), while a burst of requests shares one fsync. The committer is
// the writer thread, or on SQLite a caller of run() that finds no one else writing: it commits
// its own job on its own thread rather than handing it over and waiting to be woken.
//
// Two backends behind the one interface, chosen by the location (is_postgres_location):
// an SQLite file, or a PostgreSQL database that other instances write to at the same time
// (storage/postgres/writer_backend.cpp, docs/postgres.md "The writer").
//
// A job may run more than once. On PostgreSQL a conflict with another instance (a
// serialization failure, a deadlock, a unique violation from two instances inserting the same
// row) rolls back the whole group's transaction and runs its jobs again. So a job must leave
// only its last run's effects outside the database: reset (or assign, never accumulate into)
// whatever it captures at its start, and do nothing outside the database that cannot be done
// twice (no sending, no counting; do those after the future says it committed).

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_annotations.hpp"
#include "core/time.hpp"
#include "storage/database.hpp"
#include "storage/records.hpp"
#include "storage/retention.hpp"
#include "storage/transaction.hpp"

namespace tocsin::storage {

class Connection;  // storage/sqlite/database.hpp, private to storage/
class FileWatch;   // storage/sqlite/database.hpp
namespace sqlite {
class Checkpointer;  // storage/sqlite/checkpointer.hpp
}  // namespace sqlite
namespace postgres {
class Connection;  // storage/postgres/connection.hpp
}

struct WriteError {
  // Retrying later may succeed, or at least the sender should keep the event rather than drop
  // it: every database fault (busy, disk full, even corrupt) is answered 503.
  bool transient = true;
  std::string message;
  DatabaseFault fault = DatabaseFault::none;  // none: the work itself failed
};

using WriteStatus = std::optional<WriteError>;  // nullopt: committed

// Whether the database takes writes, as last seen by the writer (GET /readyz, /metrics).
struct DatabaseHealth {
  DatabaseFault fault = DatabaseFault::none;
  std::string detail;  // for the operator: describe() and SQLite's message; empty when healthy
  TimePoint since{};   // when the fault was first seen
  bool healthy() const { return fault == DatabaseFault::none; }
};

struct WriterStats {
  std::size_t group_size = 0;
  double commit_seconds = 0;  // BEGIN to COMMIT, the latency a caller adds to its request
  bool ok = true;
};

// Runs `work` in a savepoint and rolls it back (Writer::run_jobs_twice_for_tests).
void run_and_roll_back(sql::Connection& db, Transaction& tx,
                       const std::function<void(Transaction&)>& work);

// The system clock, for writers whose owner has none to inject.
const Clock& default_clock();

class Writer {
 public:
  // Opens (and migrates) the database at `location`, an SQLite file path or a postgresql://
  // URI; throws DatabaseError if it cannot (its message holds no password). Durability::off
  // changes how jobs run (see m_batched): only for throwaway SQLite databases; PostgreSQL
  // ignores `durability` (the server's synchronous_commit decides).
  // `on_group` is called after every group by the thread that committed it, for metrics.
  // `clock` times the health log: a fault is logged when seen, then once a minute.
  Writer(const std::string& location, Durability durability,
         std::function<void(const WriterStats&)> on_group = {},
         const Clock& clock = default_clock());
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues `work`; the future resolves after the group holding it commits (nullopt) or
  // fails. After stop(), resolves at once with a transient error.
  std::future<WriteStatus> submit(std::function<void(Transaction&)> work);
  // submit() and wait for the answer, without a future: the calling thread sleeps on a flag
  // until its group commits or fails. What a caller that waits at once uses (each event's
  // request): no shared state to allocate, no call_once to wake through.
  WriteStatus run(std::function<void(Transaction&)> work);

  // Commits everything queued, then stops the thread. Idempotent.
  void stop();

  // Any thread. Besides commits, the writer thread checks the files every k_check_every
  // when idle (and before every commit), and while a fault that can clear stands it retries
  // the probe write then, so health recovers without traffic.
  DatabaseHealth health() const;

  // A real write (storage::write_probe) through the queue, waited for at most `timeout`:
  // nullopt when it committed and the database is healthy. Fails at once while a permanent
  // fault (corrupt, file replaced) stands.
  WriteStatus probe(Duration timeout);

  // An SQLite error met outside the writer (a reader's query): corruption found there is
  // the writer's too. Other faults of readers say nothing about writing and are ignored.
  void note_read_error(int sqlite_code, const std::string& message);

  // TEST-ONLY: from now on every job runs once, is rolled back, and runs again, as a conflict on
  // PostgreSQL would make it: proves a caller keeps the re-runnability contract above on any
  // backend. Call before submitting.
  void run_jobs_twice_for_tests() { m_run_twice = true; }

  // Bounds a group so one huge burst cannot hold every caller behind a single long commit.
  static constexpr std::size_t k_max_group = 512;
  static constexpr Duration k_check_every = std::chrono::seconds(1);
  static constexpr Duration k_log_every = std::chrono::minutes(1);
  // After a disk_full, a committed write clears it only with this much free on the disk.
  static constexpr std::uint64_t k_free_to_recover = 1024 * 1024;
  // PostgreSQL: a group that conflicts with another instance runs again whole at most this many
  // times in all, then its jobs run one per transaction, each as many times.
  static constexpr int k_conflict_attempts = 5;
  // PostgreSQL: after a failed connection attempt, the next waits at least this long.
  static constexpr Duration k_reconnect_every = std::chrono::seconds(1);

 private:
  // The caller of run() on one thread: a futex word, and the answer it waits for.
  struct Waiter {
    static constexpr std::uint32_t k_waiting = 0, k_sleeping = 1, k_answered = 2;
    WriteStatus status;
    std::atomic<std::uint32_t> state{k_waiting};
  };
  struct Job {
    std::function<void(Transaction&)> work;
    std::optional<std::promise<WriteStatus>> done;  // submit()'s caller, or
    Waiter* waiter = nullptr;                       // run()'s
    void answer(WriteStatus status);
  };

  // Queues `job`. True when the caller is to commit the queue itself (see run()): SQLite, and
  // no one else committing or waiting to. Otherwise the writer thread is woken.
  bool enqueue(Job job, bool may_lead = false);
  // On a caller's thread that enqueue() made the leader: commits one group, which holds the
  // caller's own job, then hands any jobs queued meanwhile to the writer thread. noexcept, as
  // the writer thread's loop is: a job throwing what commit_group does not catch (not a
  // std::exception) ends the process rather than leaving the connection with no committer.
  void lead() noexcept;

  void run();
  void commit_group(std::vector<Job>& group);
  // Idle work of the writer thread: the file check, the fault reminder, the recovery probe.
  void idle_check();
  // Health bookkeeping (writer thread, or note_read_error): a fault seen, a write committed.
  void note_fault(DatabaseFault fault, const std::string& message);
  void note_committed_write();
  WriteError refused_by_health() const;
  // Commits what a batching writer still holds (at stop).
  void finish_batch();

  // The SQLite backend (storage/sqlite/writer_backend.cpp).
  void commit_group_sqlite(std::vector<Job>& group);
  void idle_check_sqlite();

  // The PostgreSQL backend (storage/postgres/writer_backend.cpp).
  void open_postgres(const std::string& location);
  void commit_group_postgres(std::vector<Job>& group);
  void idle_check_postgres();
  // A connection to write with: the open one, or a new one when the last was lost and
  // k_reconnect_every has passed. Null when there is none; health says why.
  sql::Connection* postgres_connection();
  void drop_postgres_connection();
  // One transaction running `jobs` of `group` (indexes), each in its savepoint.
  enum class Attempt { committed, conflict, unavailable };
  Attempt attempt_postgres(std::vector<Job>& group, const std::vector<std::size_t>& jobs,
                           std::vector<WriteStatus>& status, bool& wrote);

  std::unique_ptr<Connection> m_db;  // SQLite only
  // PostgreSQL only: the location to connect to (passwords included; never logged), and the
  // connection, null while the server cannot be reached.
  bool m_postgres = false;
  std::string m_conninfo;
  std::unique_ptr<postgres::Connection> m_pg;
  std::chrono::steady_clock::time_point m_last_connect{};
  // The statement layer over m_db (storage/sqlite/) or m_pg, with its prepared statements;
  // declared after both: destroyed before them.
  std::unique_ptr<sql::Connection> m_sql;
  // Durability::off (the throwaway database of replay, one caller at a time): jobs run on the
  // caller's thread, are answered when they have run and committed in batches; a job that
  // fails while the batch holds others rolls the batch back, and every later job is refused
  // (the caller stops at a failure; see commit_group_sqlite). Otherwise
  // the writer thread commits every group before its callers hear.
  bool m_batched = false;
  bool m_open = false;                  // a transaction is open (the committer only)
  std::int64_t m_changes_at_begin = 0;  // m_sql->total_changes() at its BEGIN
  std::size_t m_uncommitted = 0;        // jobs in it
  // Batched only: why every job is refused, once a failed job took the open batch with it.
  std::optional<std::string> m_batch_lost;
  std::function<void(const WriterStats&)> m_on_group;
  const Clock& m_clock;
  std::string m_path;  // for messages: the file, or the PostgreSQL location redacted
  std::unique_ptr<FileWatch> m_files;  // SQLite only
  // SQLite only: copies the log into the file off the writer thread (storage/sqlite/).
  std::unique_ptr<sqlite::Checkpointer> m_checkpointer;
  mutable Mutex m_health_mutex;  // never held while taking m_mutex
  DatabaseHealth m_health GUARDED_BY(m_health_mutex);
  TimePoint m_health_logged GUARDED_BY(m_health_mutex) = TimePoint{};
  // TOCSIN_FAULT_ANSWER_BEFORE_COMMIT (test-only, see writer.cpp): answer, then commit.
  bool m_answer_before_commit = false;
  std::atomic<bool> m_run_twice{false};  // run_jobs_twice_for_tests
  Mutex m_mutex;
  CondVar m_wake;
  std::deque<Job> m_queue GUARDED_BY(m_mutex);
  // Someone takes groups from m_queue and commits them: the writer thread or a caller of
  // run() (lead()). One at a time, which is what keeps m_db on one thread at a time.
  bool m_leading GUARDED_BY(m_mutex) = false;
  bool m_stopping GUARDED_BY(m_mutex) = false;
  std::thread m_thread;
};

}  // namespace tocsin::storage
