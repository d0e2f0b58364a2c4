// The registry of instances sharing the database (docs/postgres.md "Instances and claims"):
// Transaction's statements for it. The SQL is the same on both backends.

#include <cstdint>
#include <string>
#include <vector>

#include "storage/sql.hpp"
#include "storage/transaction.hpp"

namespace tocsin::storage {

void Transaction::save_instance(const InstanceRecord& r) {
  sql::CachedStatement q(
      m_db,
      "INSERT INTO instances (id, host, listen, version, rules_hash, started_at, last_seen) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
      "listen = excluded.listen, version = excluded.version, rules_hash = excluded.rules_hash, "
      "last_seen = excluded.last_seen");
  q->bind(1, r.id);
  q->bind(2, r.host);
  q->bind(3, r.listen);
  q->bind(4, r.version);
  q->bind(5, r.rules_hash);
  q->bind(6, static_cast<std::int64_t>(to_unix_ms(r.started_at)));
  q->bind(7, static_cast<std::int64_t>(to_unix_ms(r.last_seen)));
  q->exec();
}

std::vector<InstanceRecord> Transaction::list_instances() {
  sql::CachedStatement q(m_db,
                         "SELECT id, host, listen, version, rules_hash, started_at, last_seen "
                         "FROM instances ORDER BY id");
  std::vector<InstanceRecord> out;
  while (q->step()) {
    InstanceRecord r;
    r.id = q->get_text(0);
    r.host = q->get_text(1);
    r.listen = q->get_text(2);
    r.version = q->get_text(3);
    r.rules_hash = q->get_text(4);
    r.started_at = from_unix_ms(q->get_int64(5));
    r.last_seen = from_unix_ms(q->get_int64(6));
    out.push_back(std::move(r));
  }
  return out;
}

void Transaction::delete_instance(const std::string& id) {
  sql::CachedStatement q(m_db, "DELETE FROM instances WHERE id = ?");
  q->bind(1, id);
  q->exec();
}

int Transaction::replace_instances_at(const std::string& host, const std::string& listen,
                                      const std::string& id) {
  sql::CachedStatement q(m_db, "DELETE FROM instances WHERE host = ? AND listen = ? AND id <> ?");
  q->bind(1, host);
  q->bind(2, listen);
  q->bind(3, id);
  return q->exec();
}

int Transaction::forget_instances(TimePoint before) {
  sql::CachedStatement q(m_db, "DELETE FROM instances WHERE last_seen < ?");
  q->bind(1, static_cast<std::int64_t>(to_unix_ms(before)));
  return q->exec();
}

}  // namespace tocsin::storage
