#include "server/cluster.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "core/version.hpp"

namespace tocsin::server {

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::string new_instance_id(const std::string& host, int port) {
  std::random_device random;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(random()));
  return host + ":" + std::to_string(port) + ":" + suffix;
}

Cluster::Cluster(storage::Writer& writer, const Clock& clock, const engine::RulesHolder& rules,
                 std::string id, std::string host, std::string listen)
    : m_writer(writer),
      m_clock(clock),
      m_rules(rules),
      m_id(std::move(id)),
      m_host(std::move(host)),
      m_listen(std::move(listen)),
      m_started(clock.now()) {}

ClusterView Cluster::make_view(std::vector<storage::InstanceRecord> rows, TimePoint now) const {
  ClusterView view;
  view.self = m_id;
  view.as_of = now;
  // The live instances by the rules they run, to say which run which.
  std::map<std::string, std::vector<std::string>> by_hash;
  for (auto& row : rows) {
    ClusterInstance instance;
    instance.self = row.id == m_id;
    instance.live = instance.self || now - row.last_seen <= k_live_within;
    if (instance.live) {
      by_hash[row.rules_hash].push_back(row.listen.empty() ? row.id : row.host + " " + row.listen);
    }
    instance.record = std::move(row);
    view.instances.push_back(std::move(instance));
  }
  if (by_hash.size() > 1) {
    std::string sentence = "live instances run different rules files:";
    bool first = true;
    for (const auto& [hash, who] : by_hash) {
      sentence += first ? " " : "; ";
      first = false;
      sentence += hash.substr(0, 12) + " on ";
      for (std::size_t i = 0; i < who.size(); ++i)
        sentence += (i ? ", " : "") + who[i];
    }
    sentence +=
        " (a rollout in progress, or an instance not reloaded: each decision records the rules "
        "hash it was made under)";
    view.warnings.push_back(std::move(sentence));
  }
  return view;
}

std::optional<ClusterView> Cluster::beat() {
  // Stamped inside the job, when the writer runs it: a beat that waited in a slow queue must
  // not record the time it was queued (the others would presume this instance dead sooner).
  TimePoint now{};
  const std::string rules_hash = m_rules.get()->rules->hash;
  std::vector<storage::InstanceRecord> rows;
  bool first = false;
  {
    MutexLock lock(m_mutex);
    first = !m_joined;
  }
  int replaced = 0;
  auto status = m_writer
                    .submit([&](storage::Transaction& tx) {
                      // An earlier run on this address died without leaving (killed, or the
                      // machine rebooted): its claims are taken over now, not once it is
                      // presumed dead.
                      now = m_clock.now();
                      replaced = first ? tx.replace_instances_at(m_host, m_listen, m_id) : 0;
                      tx.save_instance(storage::InstanceRecord{m_id, m_host, m_listen, k_version,
                                                               rules_hash, m_started, now});
                      tx.forget_instances(now - k_forget_after);
                      rows = tx.list_instances();
                    })
                    .get();
  if (status) {
    spdlog::debug("cluster: cannot record this instance's beat: {}", status->message);
    return std::nullopt;
  }
  ClusterView view = make_view(std::move(rows), now);
  const std::string warning = view.warnings.empty() ? "" : view.warnings.front();
  MutexLock lock(m_mutex);
  if (first && replaced > 0) {
    spdlog::info("cluster: replaced {} earlier run(s) of this instance at {} {}", replaced, m_host,
                 m_listen);
  }
  m_joined = true;
  if (warning != m_warned || (!warning.empty() && now - m_warned_at >= k_warn_every)) {
    if (!warning.empty()) {
      spdlog::warn("cluster: {}", warning);
    } else {
      spdlog::info("cluster: the live instances run the same rules again");
    }
    m_warned = warning;
    m_warned_at = now;
  }
  return view;
}

std::optional<ClusterView> Cluster::view() {
  std::vector<storage::InstanceRecord> rows;
  auto status =
      m_writer.submit([&](storage::Transaction& tx) { rows = tx.list_instances(); }).get();
  if (status) return std::nullopt;
  return make_view(std::move(rows), m_clock.now());
}

void Cluster::leave() {
  auto status = m_writer.submit([&](storage::Transaction& tx) { tx.delete_instance(m_id); }).get();
  if (status) spdlog::warn("cluster: cannot remove this instance's row: {}", status->message);
}

}  // namespace tocsin::server
