#include "storage/codec.hpp"

#include <charconv>

#include "core/json.hpp"
#include "storage/detail/rows.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::storage {

const char* const k_alert_columns =
    "a.id, a.fingerprint, a.source, a.name, a.account, a.region, a.metric, a.namespace, "
    "a.labels, a.summary, a.description, a.rule, a.first_seen, a.last_seen, a.last_episode, "
    "a.noise_state, a.noise_score";
const char* const k_episode_columns =
    "e.alert_id, e.alias, e.number, e.status, e.severity, e.priority, e.opened_at, "
    "e.last_activity_at, e.last_source_time, e.closed_at, e.event_count, e.escalation, e.level, "
    "e.escalation_base, e.acknowledged_at, e.acknowledged_by, e.flagged_stale_at, e.notified, "
    "e.ended_by, e.ever_acknowledged, e.transient, e.demoted_to, e.held_until, e.noise";

std::string labels_to_json(const std::map<std::string, std::string>& labels) {
  return Json(labels).dump();
}

std::string names_to_json(const std::vector<std::string>& names) {
  return Json(names).dump();
}

std::vector<std::string> names_from_json(const std::string& text) {
  std::vector<std::string> out;
  auto j = Json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::map<std::string, std::string> labels_from_json(const std::string& text) {
  std::map<std::string, std::string> out;
  auto j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_string()) out.emplace(it.key(), it->get<std::string>());
  }
  return out;
}

const char* const k_leaving_sql =
    "SELECT number, opened_at, status, ended_by, ever_acknowledged, transient FROM episodes "
    "WHERE alert_id = ? AND number >= ? ORDER BY number";

std::vector<rules::EpisodeFacts> read_leaving(SQLite::Statement& q, TimePoint cutoff) {
  std::vector<rules::EpisodeFacts> out;
  while (q.executeStep()) {
    rules::Episode e;
    e.number = q.getColumn(0).getInt();
    e.opened_at = from_unix_ms(q.getColumn(1).getInt64());
    if (e.opened_at >= cutoff) break;
    e.status = parse_stored<EpisodeStatus>(q.getColumn(2).getString());
    e.ended_by = parse_stored<rules::EndedBy>(q.getColumn(3).getString());
    e.ever_acknowledged = q.getColumn(4).getInt() != 0;
    e.transient = q.getColumn(5).getInt() != 0;
    out.push_back(rules::facts_of(e));
  }
  return out;
}

// Compact text, parsed on every alert load: "1 FLAPPING WINDOW_FIRST EPISODES ENDED TRANSIENT
// IGNORED [MS STATE]..." (the leading 1 is the format's version). JSON cost a sixth of a
// replay's instructions here.
std::string noise_to_text(const rules::NoiseState& s) {
  std::string out = "1 ";
  out += s.flapping ? '1' : '0';
  for (int v : {s.window_first, s.episodes, s.ended, s.transient, s.ignored}) {
    out += ' ';
    out += std::to_string(v);
  }
  for (const auto& o : s.history) {
    out += ' ';
    out += std::to_string(to_unix_ms(o.at));
    out += o.firing ? " 1" : " 0";
  }
  return out;
}

rules::NoiseState noise_from_text(const std::string& text) {
  rules::NoiseState s;
  std::vector<std::int64_t> fields;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    if (*p == ' ') {
      ++p;
      continue;
    }
    std::int64_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc()) return rules::NoiseState{};  // unreadable: start afresh
    fields.push_back(v);
    p = next;
  }
  if (fields.size() < 7 || fields[0] != 1 || (fields.size() - 7) % 2 != 0) return s;
  const auto field = [&](std::size_t i) { return static_cast<int>(fields[i]); };
  s.flapping = fields[1] != 0;
  s.window_first = field(2);
  s.episodes = field(3);
  s.ended = field(4);
  s.transient = field(5);
  s.ignored = field(6);
  for (std::size_t i = 7; i + 1 < fields.size(); i += 2)
    s.history.push_back(rules::Observation{from_unix_ms(fields[i]), fields[i + 1] != 0});
  return s;
}

const char* const k_decision_columns =
    "d.at, d.alert_id, d.episode, d.inbound_id, d.kind, d.outcome, d.reason, d.rule, "
    "d.rules_hash, d.fingerprint, d.event_key";

DecisionRecord read_decision(SQLite::Statement& q, int c) {
  DecisionRecord d;
  d.at = from_unix_ms(q.getColumn(c + 0).getInt64());
  if (!q.getColumn(c + 1).isNull()) d.alert_id = q.getColumn(c + 1).getInt64();
  if (!q.getColumn(c + 2).isNull()) d.episode = q.getColumn(c + 2).getInt();
  if (!q.getColumn(c + 3).isNull()) d.inbound_id = q.getColumn(c + 3).getInt64();
  d.kind = parse_stored<DecisionKind>(q.getColumn(c + 4).getString());
  d.outcome = parse_stored<DecisionOutcome>(q.getColumn(c + 5).getString());
  d.reason = q.getColumn(c + 6).getString();
  d.rule = q.getColumn(c + 7).getString();
  d.rules_hash = q.getColumn(c + 8).getString();
  d.fingerprint = q.getColumn(c + 9).getString();
  if (!q.getColumn(c + 10).isNull()) d.event_key = q.getColumn(c + 10).getString();
  return d;
}

AlertRecord read_alert(SQLite::Statement& q, int c) {
  AlertRecord a;
  a.id = q.getColumn(c + 0).getInt64();
  a.fingerprint = q.getColumn(c + 1).getString();
  a.source = parse_stored<Source>(q.getColumn(c + 2).getString());
  a.name = q.getColumn(c + 3).getString();
  a.account = q.getColumn(c + 4).getString();
  a.region = q.getColumn(c + 5).getString();
  a.metric = q.getColumn(c + 6).getString();
  a.namespace_ = q.getColumn(c + 7).getString();
  a.labels = labels_from_json(q.getColumn(c + 8).getString());
  a.summary = q.getColumn(c + 9).getString();
  a.description = q.getColumn(c + 10).getString();
  a.rule = q.getColumn(c + 11).getString();
  a.first_seen = from_unix_ms(q.getColumn(c + 12).getInt64());
  a.last_seen = from_unix_ms(q.getColumn(c + 13).getInt64());
  a.last_episode_number = q.getColumn(c + 14).getInt();
  a.noise = noise_from_text(q.getColumn(c + 15).getString());
  a.noise_score = q.getColumn(c + 16).getDouble();
  return a;
}

EpisodeRecord read_episode(SQLite::Statement& q, int c) {
  EpisodeRecord r;
  r.alert_id = q.getColumn(c + 0).getInt64();
  r.alias = q.getColumn(c + 1).getString();
  auto& e = r.episode;
  e.number = q.getColumn(c + 2).getInt();
  e.status = parse_stored<EpisodeStatus>(q.getColumn(c + 3).getString());
  e.severity = parse_stored<Severity>(q.getColumn(c + 4).getString());
  e.priority = Priority{q.getColumn(c + 5).getInt()};
  e.opened_at = from_unix_ms(q.getColumn(c + 6).getInt64());
  e.last_activity_at = from_unix_ms(q.getColumn(c + 7).getInt64());
  if (!q.getColumn(c + 8).isNull())
    e.last_source_time = from_unix_ms(q.getColumn(c + 8).getInt64());
  if (!q.getColumn(c + 9).isNull()) e.closed_at = from_unix_ms(q.getColumn(c + 9).getInt64());
  e.event_count = q.getColumn(c + 10).getInt();
  e.escalation = names_from_json(q.getColumn(c + 11).getString());
  e.level = q.getColumn(c + 12).getInt();
  e.escalation_base =
      q.getColumn(c + 13).isNull() ? e.opened_at : from_unix_ms(q.getColumn(c + 13).getInt64());
  if (!q.getColumn(c + 14).isNull())
    e.acknowledged_at = from_unix_ms(q.getColumn(c + 14).getInt64());
  e.acknowledged_by = q.getColumn(c + 15).getString();
  if (!q.getColumn(c + 16).isNull())
    e.flagged_stale_at = from_unix_ms(q.getColumn(c + 16).getInt64());
  e.notified = names_from_json(q.getColumn(c + 17).getString());
  e.ended_by = parse_stored<rules::EndedBy>(q.getColumn(c + 18).getString());
  e.ever_acknowledged = q.getColumn(c + 19).getInt() != 0;
  e.transient = q.getColumn(c + 20).getInt() != 0;
  if (!q.getColumn(c + 21).isNull()) e.demoted_to = q.getColumn(c + 21).getString();
  if (!q.getColumn(c + 22).isNull()) e.held_until = from_unix_ms(q.getColumn(c + 22).getInt64());
  if (!q.getColumn(c + 23).isNull()) e.noise = q.getColumn(c + 23).getDouble();
  return r;
}

const char* const k_member_columns =
    "m.member, m.state, m.source_time, m.transition_at, m.changed_at, m.last_seen_at";

rules::Member read_member(SQLite::Statement& q, int c) {
  auto optional_time = [&](int i) -> std::optional<TimePoint> {
    if (q.getColumn(i).isNull()) return std::nullopt;
    return from_unix_ms(q.getColumn(i).getInt64());
  };
  rules::Member m;
  m.fingerprint = q.getColumn(c).getString();
  const bool firing = q.getColumn(c + 1).getString() == "firing";
  m.state = firing ? SignalState::firing : SignalState::resolved;
  m.source_time = optional_time(c + 2);
  m.transition_at = optional_time(c + 3);
  m.changed_at = from_unix_ms(q.getColumn(c + 4).getInt64());
  m.last_seen_at = from_unix_ms(q.getColumn(c + 5).getInt64());
  return m;
}

}  // namespace tocsin::storage
