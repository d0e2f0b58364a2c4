#include "storage/sqlite/checkpointer.hpp"

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "support/temp_dir.hpp"

namespace storage_checkpointer_test {

using namespace tocsin;
using tocsin::storage::Durability;
using tocsin::storage::sqlite::Checkpointer;
using tocsin::testing::TempDir;

namespace {

// Commits `pages` pages of the log, a hundred per transaction (one row fills a page).
void write_pages(SQLite::Database& db, int pages) {
  SQLite::Statement insert(db, "INSERT INTO t (v) VALUES (randomblob(3900))");
  for (int done = 0; done < pages; done += 100) {
    db.exec("BEGIN");
    for (int i = 0; i < 100; ++i) {
      insert.exec();
      insert.reset();
    }
    db.exec("COMMIT");
  }
}

}  // namespace

TEST_CASE("the log is copied into the database file by the checkpointer's own thread") {
  TempDir dir;
  const auto path = dir.file("t.db");
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
  const auto size_before = std::filesystem::file_size(path);
  {
    Checkpointer checkpointer(path, db, Durability::full);
    // Below the threshold nothing is copied: the writer's commits stay as they were.
    write_pages(db, Checkpointer::k_start_pages / 2);
    CHECK(checkpointer.completed() == 0);
    write_pages(db, Checkpointer::k_start_pages);
    // Past it the thread wakes and copies; the writer's commits did not (no autocheckpoint:
    // the hook replaced it), so until the thread has run the file keeps its size.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (checkpointer.completed() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    REQUIRE(checkpointer.completed() >= 1);
    CHECK(std::filesystem::file_size(path) > size_before + 1000 * 3900);
  }
  // The writer's connection has its automatic checkpoint back.
  CHECK(db.execAndGet("PRAGMA wal_autocheckpoint").getInt() == Checkpointer::k_start_pages);
  // Every row committed is in the database file, whoever copied it.
  SQLite::Database other(path, SQLite::OPEN_READONLY);
  CHECK(other.execAndGet("SELECT count(*) FROM t").getInt() == 1500);
}

}  // namespace storage_checkpointer_test
