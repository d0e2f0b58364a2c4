#include "storage/sqlite/checkpointer.hpp"

#include <SQLiteCpp/Exception.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>

namespace tocsin::storage::sqlite {

namespace {

// The fsyncs of a checkpoint follow the connection's synchronous setting: the same as the
// writer's, so a checkpoint is exactly as durable as the commits it copies.
const char* synchronous_pragma(Durability durability) {
  switch (durability) {
    case Durability::full:
      return "PRAGMA synchronous = FULL";
    case Durability::normal:
      return "PRAGMA synchronous = NORMAL";
    case Durability::off:
      return "PRAGMA synchronous = OFF";
  }
  return "PRAGMA synchronous = FULL";
}

}  // namespace

Checkpointer::Checkpointer(const std::string& path, SQLite::Database& writer,
                           Durability durability)
    : m_writer(writer) {
  try {
    m_own = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE);
    m_own->exec(synchronous_pragma(durability));
  } catch (const SQLite::Exception& e) {
    throw DatabaseError("cannot open a checkpoint connection to " + path + ": " + e.what());
  }
  m_thread = std::thread([this] { run(); });
  // Replaces SQLite's automatic checkpoint (itself a WAL hook) on the writer's connection.
  sqlite3_wal_hook(m_writer.getHandle(), &Checkpointer::on_commit, this);
}

Checkpointer::~Checkpointer() {
  sqlite3_wal_autocheckpoint(m_writer.getHandle(), k_start_pages);
  {
    MutexLock lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_one();
  m_thread.join();
}

long Checkpointer::completed() const {
  MutexLock lock(m_mutex);
  return m_completed;
}

// On the writer's thread, after each commit, with the pages now in the log.
int Checkpointer::on_commit(void* self, ::sqlite3* db, const char* schema, int pages) {
  auto& c = *static_cast<Checkpointer*>(self);
  if (pages >= k_writer_pages) {
    // The thread fell behind (or a reader pins old pages): copy here, as SQLite would.
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  if (pages >= k_start_pages) {
    {
      MutexLock lock(c.m_mutex);
      c.m_wanted = true;
    }
    c.m_wake.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::run() {
  for (;;) {
    {
      MutexLock lock(m_mutex);
      while (!m_wanted && !m_stopping)
        m_wake.wait(m_mutex);
      if (m_stopping) return;
      m_wanted = false;
    }
    // PASSIVE: copies what no reader still needs, never waiting on the writer or readers.
    int logged = 0, copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(m_own->getHandle(), nullptr,
                                             SQLITE_CHECKPOINT_PASSIVE, &logged, &copied);
    MutexLock lock(m_mutex);
    ++m_completed;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      // The writer's own commits report a failing disk; this is only the copy behind them,
      // tried again at the next wake, at most once a second.
      spdlog::warn("database: checkpoint failed: {}", sqlite3_errmsg(m_own->getHandle()));
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (!m_stopping && m_wake.wait_until(m_mutex, until)) {
      }
    }
  }
}

}  // namespace tocsin::storage::sqlite
