#pragma once
// This instance in the registry of instances sharing the database
// (docs/postgres.md "Instances and claims"). Every beat rewrites its row (last seen, the rules
// in force) and reads the others', so GET /api/v1/cluster can list them and a warning is logged
// when two live instances run different rules. One instance on SQLite is a cluster of one.

#include <optional>
#include <string>
#include <vector>

#include "core/thread_annotations.hpp"
#include "core/time.hpp"
#include "engine/rules_holder.hpp"
#include "storage/records.hpp"
#include "storage/writer.hpp"

namespace tocsin::server {

struct ClusterInstance {
  storage::InstanceRecord record;
  bool live = false;  // seen within Cluster::k_live_within
  bool self = false;
};

struct ClusterView {
  std::string self;
  TimePoint as_of{};
  std::vector<ClusterInstance> instances;  // by id
  // For the operator: live instances running different rules files, one sentence.
  std::vector<std::string> warnings;
};

// The id an instance registers under: its host name, its port and a random suffix, so two
// instances never share one (a restart is a new instance; the old row ages out).
std::string new_instance_id(const std::string& host, int port);
// This machine's host name ("localhost" when it has none).
std::string host_name();

class Cluster {
 public:
  Cluster(storage::Writer& writer, const Clock& clock, const engine::RulesHolder& rules,
          std::string id, std::string host, std::string listen);

  const std::string& id() const { return m_id; }

  // One beat: writes this instance's row, forgets instances not seen for k_forget_after, and
  // reads them all; logs the warning when the live instances' rules differ (when it starts,
  // then every k_warn_every while it lasts) and when they agree again. Returns the view, or
  // nullopt when the database did not commit (logged at debug: the writer logs faults).
  std::optional<ClusterView> beat();
  // The instances as the database has them now (GET /api/v1/cluster).
  std::optional<ClusterView> view();
  // Removes this instance's row (a clean stop), so it is not listed as presumed dead.
  void leave();

  // An instance beats every k_beat_every; one not seen for k_live_within (three beats missed)
  // is presumed dead: its claims are taken over (docs/postgres.md "Instances and claims").
  static constexpr Duration k_beat_every = std::chrono::seconds(5);
  static constexpr Duration k_live_within = std::chrono::seconds(15);
  static constexpr Duration k_forget_after = std::chrono::hours(24);
  static constexpr Duration k_warn_every = std::chrono::minutes(10);

 private:
  ClusterView make_view(std::vector<storage::InstanceRecord> rows, TimePoint now) const;

  storage::Writer& m_writer;
  const Clock& m_clock;
  const engine::RulesHolder& m_rules;
  const std::string m_id;
  const std::string m_host;
  const std::string m_listen;
  const TimePoint m_started;
  Mutex m_mutex;
  bool m_joined GUARDED_BY(m_mutex) = false;  // a beat has committed
  std::string m_warned GUARDED_BY(m_mutex);   // the warning last logged, empty: none
  TimePoint m_warned_at GUARDED_BY(m_mutex){};
};

}  // namespace tocsin::server
