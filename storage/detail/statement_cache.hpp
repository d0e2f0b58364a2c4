#pragma once
// Prepared statements of the write connection, prepared once and reused: preparing costs more
// than running most of the small statements an event needs (measured with scripts/bench-replay).
// Only the writer thread touches them, like the connection itself.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

namespace tocsin::storage {

class StatementCache {
 public:
  explicit StatementCache(SQLite::Database& db) : m_db(db) {}

  SQLite::Statement& get(const std::string& sql) {
    auto it = m_statements.find(sql);
    if (it == m_statements.end()) {
      it = m_statements.emplace(sql, std::make_unique<SQLite::Statement>(m_db, sql)).first;
    }
    return *it->second;
  }

 private:
  SQLite::Database& m_db;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> m_statements;
};

// One use of a cached statement: reset with its bindings cleared when the use ends, so no
// read stays open across a commit and no value leaks into the next use.
class CachedStatement {
 public:
  CachedStatement(StatementCache& cache, const std::string& sql) : m_s(cache.get(sql)) {}
  ~CachedStatement() {
    m_s.tryReset();
    try {
      m_s.clearBindings();
    } catch (const std::exception&) {
      // Cannot fail on a valid statement; a destructor must not throw either way.
    }
  }
  CachedStatement(const CachedStatement&) = delete;
  CachedStatement& operator=(const CachedStatement&) = delete;

  operator SQLite::Statement&() { return m_s; }  // NOLINT: used where a Statement& is read
  template <class... Args>
  void bind(Args&&... args) {
    m_s.bind(std::forward<Args>(args)...);
  }
  bool executeStep() { return m_s.executeStep(); }
  int exec() { return m_s.exec(); }
  SQLite::Column getColumn(int index) { return m_s.getColumn(index); }

 private:
  SQLite::Statement& m_s;
};

}  // namespace tocsin::storage
