#include "storage/writer.hpp"

#include <SQLiteCpp/Exception.h>
#include <linux/futex.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/redact.hpp"
#include "storage/sql.hpp"
#include "storage/sqlite/checkpointer.hpp"
#include "storage/sqlite/connection.hpp"
#include "storage/sqlite/database.hpp"

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
      m_checkpointer(m_db ? std::make_unique<sqlite::Checkpointer>(location, *m_db, durability)
                          : nullptr),
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
  idle_check_sqlite();
}

Writer::~Writer() {
  stop();
}

std::future<WriteStatus> Writer::submit(std::function<void(Transaction&)> work) {
  Job job{std::move(work), std::promise<WriteStatus>{}};
  auto future = job.done->get_future();
  enqueue(std::move(job));
  return future;
}

WriteStatus Writer::run(std::function<void(Transaction&)> work) {
  // One per calling thread, reused: nothing to allocate per job. A wake that arrives after this
  // call returned only wakes the thread's next wait, which looks at the state again.
  thread_local Waiter waiter;
  waiter.state.store(Waiter::k_waiting, std::memory_order_relaxed);
  if (enqueue(Job{std::move(work), std::nullopt, &waiter}, true)) lead();
  // A futex of our own rather than std::atomic::wait, whose libstdc++ spins through a dozen
  // sched_yield calls first: three more system calls per event under load, measured.
  for (;;) {
    std::uint32_t state = waiter.state.load(std::memory_order_acquire);
    if (state == Waiter::k_answered) break;
    if (state == Waiter::k_waiting && !waiter.state.compare_exchange_strong(
                                          state, Waiter::k_sleeping, std::memory_order_acq_rel)) {
      continue;  // answered meanwhile
    }
    syscall(SYS_futex, &waiter.state, FUTEX_WAIT_PRIVATE, Waiter::k_sleeping, nullptr, nullptr, 0);
  }
  return std::move(waiter.status);
}

void Writer::Job::answer(WriteStatus status) {
  if (waiter != nullptr) {
    waiter->status = std::move(status);
    // Woken only if it went to sleep: a caller still about to wait sees the answer itself.
    if (waiter->state.exchange(Waiter::k_answered, std::memory_order_acq_rel) ==
        Waiter::k_sleeping) {
      syscall(SYS_futex, &waiter->state, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }
  } else if (done) {
    done->set_value(std::move(status));
  }
}

bool Writer::enqueue(Job job, bool may_lead) {
  if (m_batched) {
    // One caller, no thread: the job runs here, in the open batch.
    MutexLock lock(m_mutex);
    if (m_stopping) {
      job.answer(WriteError{true, "the writer is shutting down"});
      return false;
    }
    std::vector<Job> group;
    group.push_back(std::move(job));
    commit_group(group);
    return false;
  }
  {
    MutexLock lock(m_mutex);
    if (m_stopping) {
      job.answer(WriteError{true, "the writer is shutting down"});
      return false;
    }
    m_queue.push_back(std::move(job));
    // Nobody committing and nothing else queued: committing here spares two thread hand-offs
    // (waking the writer thread, then being woken by it), most of a lone request's wait.
    // PostgreSQL keeps its thread: a group there may wait to reconnect or retry. So does the
    // answer-before-commit fault, whose early answer must reach a caller not busy committing.
    if (may_lead && !m_postgres && !m_answer_before_commit && !m_leading && m_queue.size() == 1) {
      m_leading = true;
      return true;
    }
  }
  m_wake.notify_one();
  return false;
}

void Writer::lead() noexcept {
  std::vector<Job> group;
  {
    MutexLock lock(m_mutex);
    while (!m_queue.empty() && group.size() < k_max_group) {
      group.push_back(std::move(m_queue.front()));
      m_queue.pop_front();
    }
  }
  commit_group(group);
  bool more = false;
  {
    MutexLock lock(m_mutex);
    m_leading = false;
    more = !m_queue.empty() || m_stopping;
  }
  // What arrived during the commit is the writer thread's: this caller's answer is ready.
  if (more) m_wake.notify_one();
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
  for (;;) {
    std::vector<Job> group;
    {
      MutexLock lock(m_mutex);
      const auto idle_until = std::chrono::steady_clock::now() + k_check_every;
      // A caller committing (lead()) holds the connection: wait for it, as for work.
      while ((m_leading || (!m_stopping && m_queue.empty())) &&
             m_wake.wait_until(m_mutex, idle_until)) {
      }
      if (m_leading) continue;  // timed out while a caller commits: its turn, not the check's
      if (m_queue.empty() && m_stopping) {  // drained
        finish_batch();
        return;
      }
      while (!m_queue.empty() && group.size() < k_max_group) {
        group.push_back(std::move(m_queue.front()));
        m_queue.pop_front();
      }
      m_leading = true;
    }
    if (group.empty()) {
      idle_check();
    } else {
      commit_group(group);
    }
    MutexLock lock(m_mutex);
    m_leading = false;
  }
}

void Writer::commit_group(std::vector<Job>& group) {
  if (m_postgres) return commit_group_postgres(group);
  commit_group_sqlite(group);
}

}  // namespace tocsin::storage
