// The writer never reports a commit that did not reach the database file, and says what is
// wrong when it cannot commit: removed files, corruption, unwritable files
// (README "Troubleshooting").

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "storage/database.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/writer.hpp"
#include "support/temp_dir.hpp"

namespace storage_health_test {

using namespace tocsin;
using namespace tocsin::storage;
using tocsin::testing::TempDir;

namespace {

InboundRecord inbound(const std::string& id) {
  InboundRecord r;
  r.received_at = from_unix_ms(1000);
  r.hook = "sns";
  r.delivery_id = id;
  r.body = "{}";
  return r;
}

WriteStatus store(Writer& w, const std::string& id) {
  return w.submit([id](Transaction& tx) { tx.insert_inbound(inbound(id)); }).get();
}

std::int64_t count_rows(const std::string& path, const char* table) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return db.execAndGet(std::string("SELECT count(*) FROM ") + table).getInt64();
}

void remove_database(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(path + suffix);
}

// Overwrites every page but the first (the header and schema) with bytes no b-tree page can
// start with, as a failing disk or a stray write would.
void corrupt_inner_pages(const std::string& path) {
  const auto size = std::filesystem::file_size(path);
  const int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  const std::vector<char> garbage(4096, '\xff');
  for (std::uintmax_t offset = 4096 * 2; offset + 4096 <= size; offset += 4096) {
    REQUIRE(::pwrite(fd, garbage.data(), garbage.size(), static_cast<off_t>(offset)) == 4096);
  }
  ::close(fd);
}

// A database with some rows, closed cleanly (everything checkpointed into the main file).
void make_database(const std::string& path, int rows) {
  Writer w(path, Durability::normal);
  for (int i = 0; i < rows; ++i)
    REQUIRE_FALSE(store(w, "m" + std::to_string(i)));
}

template <class Pred>
bool within(std::chrono::milliseconds limit, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace

TEST_CASE("SQLite errors are classified as the fault an operator must hear about") {
  const struct {
    int code;
    DatabaseFault fault;
  } cases[] = {
      {SQLITE_BUSY, DatabaseFault::busy},
      {SQLITE_FULL, DatabaseFault::disk_full},
      {SQLITE_READONLY, DatabaseFault::read_only},
      {SQLITE_CANTOPEN, DatabaseFault::read_only},
      {SQLITE_IOERR_WRITE, DatabaseFault::io_error},
      {SQLITE_CORRUPT, DatabaseFault::corrupt},
      {SQLITE_NOTADB, DatabaseFault::corrupt},
      {SQLITE_CONSTRAINT, DatabaseFault::none},
  };
  for (const auto& c : cases) {
    CAPTURE(c.code);
    CHECK(classify_sqlite_error(c.code) == c.fault);
  }
  CHECK(is_permanent(DatabaseFault::corrupt));
  CHECK(is_permanent(DatabaseFault::file_replaced));
  CHECK_FALSE(is_permanent(DatabaseFault::disk_full));  // clears once space is freed
}

TEST_CASE("the probe commits a real row, so it fails where an empty transaction would not") {
  TempDir dir;
  const auto path = dir.file("t.db");
  Writer w(path, Durability::normal);
  CHECK_FALSE(w.probe(std::chrono::seconds(2)));
  CHECK_FALSE(w.probe(std::chrono::seconds(2)));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT probes FROM health_probe WHERE id = 1").getInt() >= 2);
  CHECK(w.health().healthy());
}

TEST_CASE("migration 5 gives a version 4 database its one probe row") {
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    migrate(db, 4);
    REQUIRE_FALSE(db.tableExists("health_probe"));
  }
  Writer w(path, Durability::normal);
  CHECK(count_rows(path, "health_probe") == 1);
  CHECK_FALSE(w.probe(std::chrono::seconds(2)));
}

TEST_CASE("a database file removed or replaced under the writer refuses every later commit") {
  TempDir dir;
  const auto path = dir.file("t.db");
  Writer w(path, Durability::normal);
  REQUIRE_FALSE(store(w, "before"));

  SUBCASE("removed, with its -wal and -shm (rm tocsin.db*)") {
    remove_database(path);
  }
  SUBCASE("replaced by another file (mv other.db tocsin.db)") {
    make_database(dir.file("other.db"), 1);
    std::filesystem::rename(dir.file("other.db"), path);
  }
  SUBCASE("only its -wal removed") {
    std::filesystem::remove(path + "-wal");
  }

  // The check before the commit refuses it: it would land in an unlinked file.
  auto err = store(w, "after");
  REQUIRE(err);
  CHECK(err->transient);  // 503: the sender keeps the event and retries
  CHECK(err->fault == DatabaseFault::file_replaced);
  CHECK(err->message.find("removed or replaced") != std::string::npos);
  CHECK(err->message.find("restart") != std::string::npos);
  CHECK(w.health().fault == DatabaseFault::file_replaced);
  auto probed = w.probe(std::chrono::seconds(2));
  REQUIRE(probed);
  CHECK(probed->fault == DatabaseFault::file_replaced);
}

TEST_CASE("a removed database file is noticed while idle, within seconds") {
  TempDir dir;
  const auto path = dir.file("t.db");
  Writer w(path, Durability::normal);
  REQUIRE_FALSE(store(w, "before"));
  remove_database(path);
  CHECK(within(4 * Writer::k_check_every,
               [&] { return w.health().fault == DatabaseFault::file_replaced; }));
}

TEST_CASE("corruption met by a job is permanent: 503 for senders, health stays corrupt") {
  TempDir dir;
  const auto path = dir.file("t.db");
  ManualClock clock(from_unix_ms(1'000'000));
  Writer w(path, Durability::normal, {}, clock);
  auto err = w.submit([](Transaction&) {
                throw SQLite::Exception("database disk image is malformed", SQLITE_CORRUPT);
              }).get();
  REQUIRE(err);
  CHECK(err->transient);  // not 500: a sender that gets 5xx retries rather than drops
  CHECK(err->fault == DatabaseFault::corrupt);
  CHECK(err->message.find("corrupt") != std::string::npos);
  CHECK(err->message.find("backup") != std::string::npos);

  // Writes that do not touch the damaged pages still commit, but health does not come back.
  CHECK_FALSE(store(w, "elsewhere"));
  clock.advance(std::chrono::minutes(2));
  const auto health = w.health();
  CHECK(health.fault == DatabaseFault::corrupt);
  CHECK(health.since == from_unix_ms(1'000'000));  // when it was first seen, by the clock
  auto probed = w.probe(std::chrono::seconds(2));
  REQUIRE(probed);
  CHECK(probed->fault == DatabaseFault::corrupt);
}

TEST_CASE("corruption met by a reader is reported as the database's health") {
  TempDir dir;
  Writer w(dir.file("t.db"), Durability::normal);
  w.note_read_error(SQLITE_BUSY, "database is locked");  // says nothing about writing
  CHECK(w.health().healthy());
  w.note_read_error(SQLITE_CORRUPT, "database disk image is malformed");
  CHECK(w.health().fault == DatabaseFault::corrupt);
}

TEST_CASE("the startup check refuses a corrupt database, naming the file and what to do") {
  TempDir dir;
  SUBCASE("a sound database passes, and a missing one is created later") {
    make_database(dir.file("ok.db"), 20);
    CHECK(check_integrity(dir.file("ok.db")));
    CHECK_FALSE(check_integrity(dir.file("absent.db")));  // nothing to check yet
  }
  SUBCASE("inner pages overwritten") {
    const auto path = dir.file("bad.db");
    make_database(path, 2000);  // several pages of inbound rows and their index
    REQUIRE(count_rows(path, "inbound") == 2000);
    corrupt_inner_pages(path);
    try {
      check_integrity(path);
      FAIL("a corrupt database passed the startup check");
    } catch (const DatabaseError& e) {
      const std::string message = e.what();
      CHECK(message.find(path) != std::string::npos);
      CHECK(message.find("corrupt") != std::string::npos);
      CHECK(message.find("restore") != std::string::npos);
      CHECK(message.find("sqlite3") != std::string::npos);
    }
  }
}

TEST_CASE("a -shm file tocsin cannot write is refused when the writer opens, not at an event") {
  // Root writes through any mode bits: the writer is opened in a child running as nobody.
  TempDir dir;
  const auto path = dir.file("t.db");
  {
    // A -wal and -shm left behind as by a crash: copies taken while the writer is open (the
    // child must not share this process's SQLite state of the original file).
    Writer w(path, Durability::normal);
    REQUIRE_FALSE(store(w, "before"));
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::copy_file(path + suffix, dir.file("crashed.db") + suffix);
  }
  const auto crashed = dir.file("crashed.db");
  ::chmod(dir.path().c_str(), 0777);
  ::chmod(crashed.c_str(), 0666);
  ::chmod((crashed + "-wal").c_str(), 0666);
  ::chmod((crashed + "-shm").c_str(), 0444);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    try {
      Writer w(crashed, Durability::normal);
      ::_exit(1);  // opened as if writable
    } catch (const DatabaseError& e) {
      const std::string message = e.what();
      ::_exit(message.find("not writable") != std::string::npos ? 0 : 3);
    }
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) {
    MESSAGE("skipped: cannot switch to user nobody here");
    return;
  }
  CHECK(WEXITSTATUS(status) == 0);
}

// A job that fills the disk mid-transaction (its pages spill from the cache into the log, and
// that write fails) makes SQLite roll the whole transaction back by itself. The group's failure
// must still be reported as the disk being full, with health saying so, not as the rollback
// that then finds no transaction.
TEST_CASE("a job that fills the disk mid-transaction is a disk_full fault, not a lost rollback") {
  TempDir dir;
  const auto mnt = dir.file("small");
  std::filesystem::create_directories(mnt);
  if (::mount("tocsin-test", mnt.c_str(), "tmpfs", 0, "size=2m") != 0) {
    MESSAGE("skipped: cannot mount a tmpfs here (needs root): " << std::strerror(errno));
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  Writer w(mnt + "/t.db", Durability::normal);
  REQUIRE_FALSE(store(w, "before"));
  // Past the 2 MiB of the disk and SQLite's default 2 MiB page cache; random text does not
  // compress below either.
  std::string big(4 * 1024 * 1024, 'x');
  std::uint64_t x = 88172645463325252ull;
  for (auto& c : big) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>('!' + x % 90);
  }
  auto err = w.submit([&](Transaction& tx) {
                InboundRecord r = inbound("big");
                r.body = big;
                tx.insert_inbound(r);
              }).get();
  REQUIRE(err);
  MESSAGE("the big job's error: " << err->message);
  CHECK(err->transient);
  CHECK(err->fault == DatabaseFault::disk_full);
  CHECK(w.health().fault == DatabaseFault::disk_full);
}

}  // namespace storage_health_test
