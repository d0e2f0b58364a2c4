#include "storage/codec.hpp"

#include <charconv>
#include <optional>
#include <string_view>

#include "core/json.hpp"
#include "storage/detail/body.hpp"
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
    "e.ended_by, e.ever_acknowledged, e.transient, e.demoted_to, e.held_until, e.noise, "
    "e.never_suppress";

namespace {

// The stored JSON of names and labels is read and written on every episode and alert an event
// touches. Its text is almost always plain: printable ASCII without a quote or backslash, which
// goes into JSON as it is. These fast paths take exactly that and give what nlohmann gives; any
// other text (escapes, non-ASCII, spaces, other types) goes through nlohmann as before.

bool plain_json_text(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  out += s;
  out += '"';
}

// Reads a plain JSON string at t[i] (a quote) into `out`; the offset past it, or npos.
std::size_t plain_string_at(std::string_view t, std::size_t i, std::string_view& out) {
  if (i >= t.size() || t[i] != '"') return std::string_view::npos;
  const std::size_t end = t.find('"', i + 1);
  if (end == std::string_view::npos) return end;
  out = t.substr(i + 1, end - i - 1);
  return plain_json_text(out) ? end + 1 : std::string_view::npos;
}

// `["a","b"]` as names_to_json writes it, or nullopt.
std::optional<std::vector<std::string>> plain_names(std::string_view t) {
  if (t.size() < 2 || t.front() != '[' || t.back() != ']') return std::nullopt;
  std::vector<std::string> out;
  std::size_t i = 1;
  if (t.size() == 2) return out;
  for (;;) {
    std::string_view name;
    i = plain_string_at(t, i, name);
    if (i == std::string_view::npos) return std::nullopt;
    out.emplace_back(name);
    if (i == t.size() - 1) return out;
    if (t[i] != ',') return std::nullopt;
    ++i;
  }
}

// `{"k":"v",...}` as labels_to_json writes it, or nullopt. A repeated key keeps its last value,
// as nlohmann's parse does.
std::optional<std::map<std::string, std::string>> plain_labels(std::string_view t) {
  if (t.size() < 2 || t.front() != '{' || t.back() != '}') return std::nullopt;
  std::map<std::string, std::string> out;
  std::size_t i = 1;
  if (t.size() == 2) return out;
  for (;;) {
    std::string_view key, value;
    i = plain_string_at(t, i, key);
    if (i == std::string_view::npos || i >= t.size() || t[i] != ':') return std::nullopt;
    i = plain_string_at(t, i + 1, value);
    if (i == std::string_view::npos) return std::nullopt;
    out[std::string(key)] = std::string(value);
    if (i == t.size() - 1) return out;
    if (t[i] != ',') return std::nullopt;
    ++i;
  }
}

}  // namespace

std::string labels_to_json(const std::map<std::string, std::string>& labels) {
  std::string out = "{";
  for (const auto& [key, value] : labels) {
    if (!plain_json_text(key) || !plain_json_text(value)) return Json(labels).dump();
    if (out.size() > 1) out += ',';
    append_quoted(out, key);
    out += ':';
    append_quoted(out, value);
  }
  out += '}';
  return out;
}

std::string names_to_json(const std::vector<std::string>& names) {
  std::string out = "[";
  for (const auto& name : names) {
    if (!plain_json_text(name)) return Json(names).dump();
    if (out.size() > 1) out += ',';
    append_quoted(out, name);
  }
  out += ']';
  return out;
}

std::vector<std::string> names_from_json(const std::string& text) {
  if (auto plain = plain_names(text)) return std::move(*plain);
  std::vector<std::string> out;
  auto j = Json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::map<std::string, std::string> labels_from_json(const std::string& text) {
  if (auto plain = plain_labels(text)) return std::move(*plain);
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

std::vector<rules::EpisodeFacts> read_leaving(sql::Statement& q, TimePoint cutoff) {
  std::vector<rules::EpisodeFacts> out;
  while (q.step()) {
    rules::Episode e;
    e.number = q.get_int(0);
    e.opened_at = from_unix_ms(q.get_int64(1));
    if (e.opened_at >= cutoff) break;
    e.status = parse_stored<EpisodeStatus>(q.get_text(2));
    e.ended_by = parse_stored<rules::EndedBy>(q.get_text(3));
    e.ever_acknowledged = q.get_int(4) != 0;
    e.transient = q.get_int(5) != 0;
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
    "COALESCE((SELECT r.hash FROM rules_versions r WHERE r.id = d.rules_id), d.rules_hash), "
    "CASE WHEN d.fingerprint = '' AND d.alert_id IS NOT NULL THEN COALESCE((SELECT a.fingerprint "
    "FROM alerts a WHERE a.id = d.alert_id), '') ELSE d.fingerprint END, d.event_key";

const char* const k_subscription_columns =
    "id, topic_arn, kind, url, message_id, received_at, status, updated_at, detail, decided_by, "
    "subscription_arn";

SubscriptionRecord read_subscription(sql::Statement& q, int c) {
  SubscriptionRecord s;
  s.id = q.get_int64(c + 0);
  s.topic_arn = q.get_text(c + 1);
  s.kind = parse_stored<SubscriptionKind>(q.get_text(c + 2));
  s.url = q.get_text(c + 3);
  s.message_id = q.get_text(c + 4);
  s.received_at = from_unix_ms(q.get_int64(c + 5));
  s.status = parse_stored<SubscriptionStatus>(q.get_text(c + 6));
  s.updated_at = from_unix_ms(q.get_int64(c + 7));
  s.detail = q.get_text(c + 8);
  s.decided_by = q.get_text(c + 9);
  s.subscription_arn = q.get_text(c + 10);
  return s;
}

DecisionRecord read_decision(sql::Statement& q, int c) {
  DecisionRecord d;
  d.at = from_unix_ms(q.get_int64(c + 0));
  if (!q.is_null(c + 1)) d.alert_id = q.get_int64(c + 1);
  if (!q.is_null(c + 2)) d.episode = q.get_int(c + 2);
  if (!q.is_null(c + 3)) d.inbound_id = q.get_int64(c + 3);
  d.kind = parse_stored<DecisionKind>(q.get_text(c + 4));
  d.outcome = parse_stored<DecisionOutcome>(q.get_text(c + 5));
  d.reason = q.get_text(c + 6);
  d.rule = q.get_text(c + 7);
  d.rules_hash = q.get_text(c + 8);
  d.fingerprint = q.get_text(c + 9);
  if (!q.is_null(c + 10)) d.event_key = q.get_text(c + 10);
  return d;
}

AlertRecord read_alert(sql::Statement& q, int c, sql::Backend backend) {
  AlertRecord a;
  a.id = q.get_int64(c + 0);
  a.fingerprint = q.get_text(c + 1);
  a.source = parse_stored<Source>(q.get_text(c + 2));
  a.name = q.get_text(c + 3);
  a.account = q.get_text(c + 4);
  a.region = q.get_text(c + 5);
  a.metric = q.get_text(c + 6);
  a.namespace_ = q.get_text(c + 7);
  a.labels = labels_from_json(q.get_text(c + 8));
  a.summary = q.get_text(c + 9);
  a.description = received_body(read_stored_body(q, c + 10, backend));
  a.rule = q.get_text(c + 11);
  a.first_seen = from_unix_ms(q.get_int64(c + 12));
  a.last_seen = from_unix_ms(q.get_int64(c + 13));
  a.last_episode_number = q.get_int(c + 14);
  a.noise = noise_from_text(q.get_text(c + 15));
  a.noise_score = q.get_double(c + 16);
  return a;
}

EpisodeRecord read_episode(sql::Statement& q, int c) {
  EpisodeRecord r;
  r.alert_id = q.get_int64(c + 0);
  r.alias = q.get_text(c + 1);
  auto& e = r.episode;
  e.number = q.get_int(c + 2);
  e.status = parse_stored<EpisodeStatus>(q.get_text(c + 3));
  e.severity = parse_stored<Severity>(q.get_text(c + 4));
  e.priority = Priority{q.get_int(c + 5)};
  e.opened_at = from_unix_ms(q.get_int64(c + 6));
  e.last_activity_at = from_unix_ms(q.get_int64(c + 7));
  if (!q.is_null(c + 8)) e.last_source_time = from_unix_ms(q.get_int64(c + 8));
  if (!q.is_null(c + 9)) e.closed_at = from_unix_ms(q.get_int64(c + 9));
  e.event_count = q.get_int(c + 10);
  e.escalation = names_from_json(q.get_text(c + 11));
  e.level = q.get_int(c + 12);
  e.escalation_base = q.is_null(c + 13) ? e.opened_at : from_unix_ms(q.get_int64(c + 13));
  if (!q.is_null(c + 14)) e.acknowledged_at = from_unix_ms(q.get_int64(c + 14));
  e.acknowledged_by = q.get_text(c + 15);
  if (!q.is_null(c + 16)) e.flagged_stale_at = from_unix_ms(q.get_int64(c + 16));
  e.notified = names_from_json(q.get_text(c + 17));
  e.ended_by = parse_stored<rules::EndedBy>(q.get_text(c + 18));
  e.ever_acknowledged = q.get_int(c + 19) != 0;
  e.transient = q.get_int(c + 20) != 0;
  if (!q.is_null(c + 21)) e.demoted_to = q.get_text(c + 21);
  if (!q.is_null(c + 22)) e.held_until = from_unix_ms(q.get_int64(c + 22));
  if (!q.is_null(c + 23)) e.noise = q.get_double(c + 23);
  e.never_suppress = q.get_int(c + 24) != 0;
  return r;
}

const char* const k_member_fingerprint =
    "CASE WHEN m.member = '' THEN COALESCE((SELECT ma.fingerprint FROM alerts ma "
    "WHERE ma.id = m.alert_id), '') ELSE m.member END";
const char* const k_member_columns =
    "CASE WHEN m.member = '' THEN COALESCE((SELECT ma.fingerprint FROM alerts ma "
    "WHERE ma.id = m.alert_id), '') ELSE m.member END, "
    "m.state, m.source_time, m.transition_at, m.changed_at, m.last_seen_at";

std::string member_key(int alert_id_parameter, int member_parameter) {
  const std::string member = "?" + std::to_string(member_parameter);
  return "CASE WHEN " + member + " = (SELECT ma.fingerprint FROM alerts ma WHERE ma.id = ?" +
         std::to_string(alert_id_parameter) + ") THEN '' ELSE " + member + " END";
}

rules::Member read_member(sql::Statement& q, int c) {
  auto optional_time = [&](int i) -> std::optional<TimePoint> {
    if (q.is_null(i)) return std::nullopt;
    return from_unix_ms(q.get_int64(i));
  };
  rules::Member m;
  m.fingerprint = q.get_text(c);
  const bool firing = q.get_text(c + 1) == "firing";
  m.state = firing ? SignalState::firing : SignalState::resolved;
  m.source_time = optional_time(c + 2);
  m.transition_at = optional_time(c + 3);
  m.changed_at = from_unix_ms(q.get_int64(c + 4));
  m.last_seen_at = from_unix_ms(q.get_int64(c + 5));
  return m;
}

}  // namespace tocsin::storage
