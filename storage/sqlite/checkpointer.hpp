#pragma once
// Copies the write-ahead log into the database file on a thread and connection of its own.
// SQLite's automatic checkpoint runs inside the COMMIT that takes the log past 1,000 pages:
// a 4 MiB copy and an fsync of the database file on the one writer thread that every event
// waits for, which is a latency spike for whoever commits then. Here the writer's commits only
// count the log's pages (a WAL hook) and wake this thread past k_start_pages; the log stays
// bounded even when the thread cannot keep up, because past k_writer_pages the writer
// checkpoints in its own commit, as SQLite would have.
// docs/architecture.md "The storage interface" places it.

#include <SQLiteCpp/Database.h>

#include <memory>
#include <string>
#include <thread>

#include "core/thread_annotations.hpp"
#include "storage/database.hpp"

struct sqlite3;

namespace tocsin::storage::sqlite {

class Checkpointer {
 public:
  static constexpr int k_start_pages = 1000;   // SQLite's own automatic threshold
  static constexpr int k_writer_pages = 4000;  // ~16 MiB of log: the writer copies it itself

  // Takes over checkpointing from `writer` (the writer's connection to `path`), opening a
  // connection of its own with the same durability. Throws DatabaseError if it cannot.
  Checkpointer(const std::string& path, SQLite::Database& writer, Durability durability);
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  // Stops the thread and gives checkpointing back to the writer's connection.
  ~Checkpointer();

  // Checkpoints completed by the thread (tests).
  long completed() const;

 private:
  static int on_commit(void* self, ::sqlite3* db, const char* schema, int pages);
  void run();

  SQLite::Database& m_writer;
  std::unique_ptr<SQLite::Database> m_own;
  mutable Mutex m_mutex;
  CondVar m_wake;
  bool m_wanted GUARDED_BY(m_mutex) = false;
  bool m_stopping GUARDED_BY(m_mutex) = false;
  long m_completed GUARDED_BY(m_mutex) = 0;
  std::thread m_thread;
};

}  // namespace tocsin::storage::sqlite
