#include "server/api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <set>

#include "core/duration.hpp"
#include "core/json.hpp"
#include "core/secret.hpp"
#include "core/text.hpp"
#include "delivery/breaker.hpp"
#include "engine/noise_view.hpp"
#include "engine/silence_view.hpp"
#include "rules/silence.hpp"
#include "server/http_util.hpp"
#include "server/openapi.hpp"
#include "server/subscriptions.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::server {

namespace {

std::optional<std::string> time_json(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return format_timestamp(*t);
}

Json nullable(const std::optional<std::string>& s) {
  return s ? Json(*s) : Json(nullptr);
}

Json episode_json(const storage::EpisodeRecord& r) {
  const auto& e = r.episode;
  return Json{
      {"number", e.number},
      {"status", std::string(to_string(e.status))},
      {"severity", std::string(to_string(e.severity))},
      {"priority", priority_name(e.priority)},
      {"alias", r.alias},
      {"opened_at", format_timestamp(e.opened_at)},
      {"last_activity_at", format_timestamp(e.last_activity_at)},
      {"last_source_time", nullable(time_json(e.last_source_time))},
      {"closed_at", nullable(time_json(e.closed_at))},
      {"event_count", e.event_count},
      {"escalation", e.escalation},
      {"level", e.level},
      {"acknowledged_at", nullable(time_json(e.acknowledged_at))},
      {"acknowledged_by", e.acknowledged_by.empty() ? Json(nullptr) : Json(e.acknowledged_by)},
      {"ended_by", e.ended_by == rules::EndedBy::none ? Json(nullptr)
                                                      : Json(std::string(to_string(e.ended_by)))},
      {"noise", e.noise ? Json(*e.noise) : Json(nullptr)},
      {"demoted_to", nullable(e.demoted_to)},
      {"held_until", nullable(time_json(e.held_until))},
      {"flagged_stale_at", nullable(time_json(e.flagged_stale_at))},
  };
}

Json alert_json(const storage::AlertView& v) {
  const auto& a = v.alert;
  Json j{
      {"alert_id", a.id},
      {"fingerprint", a.fingerprint},
      {"source", std::string(to_string(a.source))},
      {"name", a.name},
      {"account", a.account},
      {"region", a.region},
      {"metric", a.metric},
      {"namespace", a.namespace_},
      {"labels", a.labels},
      {"summary", a.summary},
      {"rule", a.rule.empty() ? Json(nullptr) : Json(a.rule)},
      {"first_seen", format_timestamp(a.first_seen)},
      {"last_seen", format_timestamp(a.last_seen)},
      {"episodes_total", a.last_episode_number},
      {"noise_score", a.noise_score},  // as of its last event; the detail has it now
  };
  // Top-level status/severity are the current episode's, so a list is readable at a glance.
  if (v.current) {
    j["status"] = std::string(to_string(v.current->episode.status));
    j["severity"] = std::string(to_string(v.current->episode.severity));
    j["episode"] = episode_json(*v.current);
  } else {
    j["status"] = "none";
    j["severity"] = nullptr;
    j["episode"] = nullptr;
  }
  return j;
}

// Parses a non-negative integer query parameter within [min, max].
std::optional<int> int_param(const httplib::Request& req, const char* name, int fallback, int min,
                             int max, std::string& error) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  int out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size() || out < min || out > max) {
    error = std::string("query parameter \"") + name + "\" must be an integer from " +
            std::to_string(min) + " to " + std::to_string(max) + ", got \"" + v + "\"";
    return std::nullopt;
  }
  return out;
}

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (v == a) return true;
  }
  return false;
}

void list_alerts(App& app, const httplib::Request& req, httplib::Response& res) {
  static const std::initializer_list<const char*> k_params = {"status", "severity", "source",
                                                              "q",      "limit",    "offset"};
  for (const auto& [name, value] : req.params) {
    if (!one_of(name, k_params)) {
      return reply_error(res, 400, "unknown_parameter",
                         "unknown query parameter \"" + name +
                             "\"; filters are status, severity, source, q, limit, offset");
    }
  }
  storage::AlertQuery q;
  std::string error;
  auto limit = int_param(req, "limit", 50, 1, 500, error);
  auto offset = int_param(req, "offset", 0, 0, 1'000'000'000, error);
  if (!limit || !offset) return reply_error(res, 400, "invalid_parameter", error);
  q.limit = *limit;
  q.offset = *offset;

  if (req.has_param("status")) {
    q.status = req.get_param_value("status");
    if (!one_of(*q.status, {"open", "acknowledged", "resolved", "expired", "superseded", "none"})) {
      return reply_error(res, 400, "invalid_parameter",
                         "status must be one of open, acknowledged, resolved, expired, "
                         "superseded, none; got \"" +
                             *q.status + "\"");
    }
  }
  if (req.has_param("severity")) {
    q.severity = req.get_param_value("severity");
    if (!parse_severity(*q.severity)) {
      return reply_error(
          res, 400, "invalid_parameter",
          "severity must be one of critical, high, warning, info; got \"" + *q.severity + "\"");
    }
  }
  if (req.has_param("source")) {
    q.source = req.get_param_value("source");
    if (!one_of(*q.source,
                {"cloudwatch", "opsgenie", "alertmanager", "grafana", "generic", "heartbeat"})) {
      return reply_error(res, 400, "invalid_parameter",
                         "source must be one of cloudwatch, opsgenie, alertmanager, grafana, "
                         "generic, heartbeat; got \"" +
                             *q.source + "\"");
    }
  }
  if (req.has_param("q")) q.text = req.get_param_value("q");

  auto page = app.reader.list_alerts(q);
  Json alerts = Json::array();
  for (const auto& v : page.alerts)
    alerts.push_back(alert_json(v));
  Json body{{"alerts", std::move(alerts)},
            {"total", page.total},
            {"limit", q.limit},
            {"offset", q.offset}};
  const std::int64_t next = q.offset + static_cast<std::int64_t>(page.alerts.size());
  body["next_offset"] = next < page.total ? Json(next) : Json(nullptr);
  reply_json(res, 200, body);
}

std::optional<std::int64_t> path_id(const httplib::Request& req, httplib::Response& res) {
  const std::string text = req.matches[1];
  std::int64_t id = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    reply_error(res, 400, "invalid_parameter",
                "the id in the path must be an integer, got \"" + text + "\"");
    return std::nullopt;
  }
  return id;
}

void get_alert(App& app, const httplib::Request& req, httplib::Response& res) {
  auto id = path_id(req, res);
  if (!id) return;
  auto detail = app.reader.get_alert(*id);
  if (!detail) return reply_error(res, 404, "not_found", "no alert " + std::to_string(*id));
  Json body = alert_json(detail->view);
  body["description"] = detail->view.alert.description;
  Json episodes = Json::array();
  for (const auto& e : detail->episodes)
    episodes.push_back(episode_json(e));
  body["episodes"] = std::move(episodes);
  // Its members (docs/behaviour.md "Episodes, escalation and timers", groups): firing first, at
  // most 100; the counts are over all of them. An alert stored before members were tracked has none
  // until its next event.
  Json members = Json::array();
  for (const auto& m : detail->members) {
    members.push_back(Json{{"fingerprint", m.fingerprint},
                           {"state", std::string(to_string(m.state))},
                           {"since", format_timestamp(m.transition_at.value_or(m.changed_at))},
                           {"last_seen", format_timestamp(m.last_seen_at)}});
  }
  body["members"] = std::move(members);
  body["members_total"] = detail->members_total;
  body["members_firing"] = detail->members_firing;
  // What the clock will do next: escalation steps, sweeps, ack timeout.
  Json pending = Json::array();
  for (const auto& t : app.reader.list_timers(*id)) {
    pending.push_back(Json{{"kind", std::string(rules::to_string(t.timer.kind))},
                           {"episode", t.timer.episode},
                           {"step", t.timer.step},
                           {"due_at", format_timestamp(t.timer.due)}});
  }
  body["timers"] = std::move(pending);
  auto active = app.rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = app.clock.now();
  body["noise"] = engine::noise_json(
      engine::noise_score_now(app.reader, rules, detail->view.alert, now), rules.noise);
  // The silences that apply, or will (docs/behaviour.md "Silences").
  Json silences = Json::array();
  const auto target = engine::silence_target(rules, detail->view);
  for (const auto status : {rules::SilenceStatus::active, rules::SilenceStatus::pending}) {
    for (const auto& v : engine::covering(app.reader.list_silences(status, now), target))
      silences.push_back(rules::silence_json(v.silence, now));
  }
  body["silences"] = std::move(silences);
  reply_json(res, 200, body);
}

void reply_action_error(httplib::Response& res, const engine::ActionError& e) {
  if (e.status == 503) return reply_unavailable(res, e.detail);
  reply_error(res, e.status, e.code, e.detail);
}

// A silence as the API shows it: rules::silence_json with what it did so far.
Json silence_view_json(const storage::SilenceView& v, TimePoint now) {
  Json j = rules::silence_json(v.silence, now);
  j["withheld"] = v.withheld;
  j["paged"] = v.paged;
  return j;
}

// POST /api/v1/silences (docs/behaviour.md "Silences"): the engine parses, bounds and stores it.
void add_silence(App& app, const httplib::Request& req, httplib::Response& res) {
  auto body = parse_json_strict(req.body, 8);
  if (!body) return reply_error(res, 400, body.error().code, body.error().detail);
  auto added = app.engine.add_silence(*body);
  if (!added) return reply_action_error(res, added.error());
  reply_json(res, 201,
             silence_view_json(storage::SilenceView{std::move(*added), 0, 0}, app.clock.now()));
}

// GET /api/v1/silences?status=&alert=&limit=: newest first.
void list_silences(App& app, const httplib::Request& req, httplib::Response& res) {
  for (const auto& [name, value] : req.params) {
    if (!one_of(name, {"status", "alert", "limit"})) {
      return reply_error(
          res, 400, "unknown_parameter",
          "unknown query parameter \"" + name + "\"; filters are status, alert, limit");
    }
  }
  std::string error;
  auto limit = int_param(req, "limit", 50, 1, 500, error);
  auto alert_id = int_param(req, "alert", 0, 1, std::numeric_limits<int>::max(), error);
  if (!limit || !alert_id) return reply_error(res, 400, "invalid_parameter", error);
  std::optional<rules::SilenceStatus> status;
  if (req.has_param("status")) {
    const std::string text = req.get_param_value("status");
    status = rules::parse_silence_status(text);
    if (!status) {
      return reply_error(res, 400, "invalid_parameter",
                         "status must be one of active, pending, expired; got \"" + text + "\"");
    }
  }
  const TimePoint now = app.clock.now();
  std::vector<storage::SilenceView> found;
  if (req.has_param("alert")) {
    auto detail = app.reader.get_alert(*alert_id);
    if (!detail) return reply_error(res, 404, "not_found", "no alert " + std::to_string(*alert_id));
    auto active = app.rules.get();
    // Filtered here, so read the most a page may hold before the filter, then cut to the limit.
    found = engine::covering(app.reader.list_silences(status, now, 500),
                             engine::silence_target(*active->rules, detail->view));
    if (found.size() > static_cast<std::size_t>(*limit))
      found.resize(static_cast<std::size_t>(*limit));
  } else {
    found = app.reader.list_silences(status, now, *limit);
  }
  Json list = Json::array();
  for (const auto& v : found)
    list.push_back(silence_view_json(v, now));
  reply_json(res, 200, Json{{"silences", std::move(list)}});
}

void get_silence(App& app, const httplib::Request& req, httplib::Response& res) {
  auto id = path_id(req, res);
  if (!id) return;
  auto found = app.reader.get_silence(*id);
  if (!found) return reply_error(res, 404, "not_found", "no silence " + std::to_string(*id));
  reply_json(res, 200, silence_view_json(*found, app.clock.now()));
}

// POST /api/v1/silences/{id}/expire with an optional {"by": "..."}: without one, the caller's
// token name, or "api" on an open API.
void expire_silence(App& app, const httplib::Request& req, httplib::Response& res,
                    const std::string& caller) {
  auto id = path_id(req, res);
  if (!id) return;
  std::string by = caller;
  if (!req.body.empty()) {
    auto body = parse_json_strict(req.body, 8);
    if (!body) return reply_error(res, 400, body.error().code, body.error().detail);
    if (!body->is_object())
      return reply_error(res, 400, "invalid_body", R"(expected {"by": "..."})");
    for (auto it = body->begin(); it != body->end(); ++it) {
      if (it.key() != "by") {
        return reply_error(res, 400, "unknown_field",
                           "unknown field \"" + it.key() + "\"; the body takes by");
      }
      if (!it.value().is_string() || it.value().get_ref<const std::string&>().empty() ||
          it.value().get_ref<const std::string&>().size() > rules::k_silence_max_by) {
        return reply_error(res, 400, "invalid_field",
                           "\"by\" must be a string of 1 to " +
                               std::to_string(rules::k_silence_max_by) + " bytes");
      }
      by = it.value().get<std::string>();
    }
  }
  auto expired = app.engine.expire_silence(*id, by);
  if (!expired) return reply_action_error(res, expired.error());
  const TimePoint now = app.clock.now();
  // With what it withheld and paged at its end; the commit is done, so the read sees it.
  if (auto view = app.reader.get_silence(*id))
    return reply_json(res, 200, silence_view_json(*view, now));
  reply_json(res, 200, silence_view_json(storage::SilenceView{std::move(*expired), 0, 0}, now));
}

// GET /api/v1/noise: the noisiest alerts first, each with its breakdown and advice.
void list_noise(App& app, const httplib::Request& req, httplib::Response& res) {
  for (const auto& [name, value] : req.params) {
    if (name != "limit") {
      return reply_error(res, 400, "unknown_parameter",
                         "unknown query parameter \"" + name + "\"; the only one is limit");
    }
  }
  std::string error;
  auto limit = int_param(req, "limit", 20, 1, 500, error);
  if (!limit) return reply_error(res, 400, "invalid_parameter", error);
  auto active = app.rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = app.clock.now();
  Json alerts = Json::array();
  for (const auto& noisy :
       engine::noisiest(app.reader, rules, now, static_cast<std::size_t>(*limit))) {
    Json j = alert_json(noisy.view);
    j["noise"] = engine::noise_json(noisy.score, rules.noise);
    j["advice"] = engine::noise_advice(noisy, rules);
    alerts.push_back(std::move(j));
  }
  reply_json(res, 200,
             Json{{"at", format_timestamp(now)},
                  {"window", format_duration(rules.noise.window)},
                  {"alerts", std::move(alerts)}});
}

// The body of a person's action, {"by": "...", "note": "..."}: `by` required (it is recorded in
// the decision log), both strings, `by` at most 200 bytes and `note` 4000. Returns false after
// answering 400.
bool action_body(const httplib::Request& req, httplib::Response& res, std::string& by,
                 std::string& note) {
  if (!req.body.empty()) {
    auto body = parse_json_strict(req.body, 8);
    if (!body) {
      reply_error(res, 400, body.error().code, body.error().detail);
      return false;
    }
    if (!body->is_object()) {
      reply_error(res, 400, "invalid_body", R"(expected {"by": "...", "note": "..."})");
      return false;
    }
    for (auto it = body->begin(); it != body->end(); ++it) {
      if (it.key() != "by" && it.key() != "note") {
        reply_error(res, 400, "unknown_field",
                    "unknown field \"" + it.key() + "\"; the body takes by and note");
        return false;
      }
      if (!it.value().is_string()) {
        reply_error(res, 400, "invalid_field", "\"" + it.key() + "\" must be a string");
        return false;
      }
    }
    if (const auto* b = string_field(*body, "by")) by = *b;
    if (const auto* n = string_field(*body, "note")) note = *n;
  }
  if (by.empty()) {
    reply_error(res, 400, "missing_field",
                "\"by\" is required: who acts (it is recorded in the decision log)");
    return false;
  }
  if (by.size() > 200 || note.size() > 4000) {
    reply_error(res, 400, "invalid_field", "\"by\" is limited to 200 bytes and \"note\" to 4000");
    return false;
  }
  return true;
}

// POST /api/v1/alerts/{id}/ack|unack|resolve with {"by": "...", "note": "..."}.
void act_on_alert(App& app, const httplib::Request& req, httplib::Response& res,
                  rules::HumanAction action) {
  auto id = path_id(req, res);
  if (!id) return;
  std::string by, note;
  if (!action_body(req, res, by, note)) return;
  auto result = app.engine.act(engine::AlertRef{*id, ""}, action, by, note);
  if (!result) return reply_action_error(res, result.error());
  reply_json(res, 200,
             Json{{"alert_id", result->alert_id},
                  {"fingerprint", result->fingerprint},
                  {"episode", result->episode},
                  {"status", std::string(to_string(result->status))}});
}

Json notification_json(const storage::OutboxRecord& n) {
  return Json{{"id", n.id},
              {"created_at", format_timestamp(n.created_at)},
              {"due_at", format_timestamp(n.due_at)},
              {"alert_id", n.alert_id ? Json(*n.alert_id) : Json(nullptr)},
              {"episode", n.episode ? Json(*n.episode) : Json(nullptr)},
              {"fingerprint", n.fingerprint},
              {"alias", n.alias},
              {"channel", n.channel},
              {"action", std::string(storage::to_text(n.action))},
              {"level", n.level},
              {"severity", std::string(to_string(n.severity))},
              {"priority", priority_name(n.priority)},
              {"noise", n.noise ? Json(*n.noise) : Json(nullptr)},
              {"why", n.why},
              {"status", std::string(storage::to_text(n.status))},
              {"attempts", n.attempts},
              {"last_status", n.last_status ? Json(*n.last_status) : Json(nullptr)},
              {"last_error", n.last_error},
              {"sent_at", nullable(time_json(n.sent_at))},
              {"about", n.about ? Json(*n.about) : Json(nullptr)}};
}

// GET /api/v1/notifications/{id}: one outbox row with its attempts, newest first.
void get_notification(App& app, const httplib::Request& req, httplib::Response& res) {
  auto id = path_id(req, res);
  if (!id) return;
  storage::NotificationQuery q;
  q.before_id = *id + 1;
  q.limit = 1;
  auto rows = app.reader.list_notifications(q);
  if (rows.empty() || rows.front().id != *id)
    return reply_error(res, 404, "not_found", "no notification " + std::to_string(*id));
  Json body = notification_json(rows.front());
  Json attempts = Json::array();
  for (const auto& a : app.reader.list_attempts(*id)) {
    attempts.push_back(Json{{"at", format_timestamp(a.at)},
                            {"http_status", a.http_status ? Json(*a.http_status) : Json(nullptr)},
                            {"error", a.error},
                            {"duration_ms", a.duration_ms},
                            {"outcome", std::string(storage::to_text(a.outcome))}});
  }
  body["attempts_log"] = std::move(attempts);
  reply_json(res, 200, body);
}

// GET /api/v1/notifications: the outbox, newest first; page with ?before=<next_before>.
void list_notifications(App& app, const httplib::Request& req, httplib::Response& res) {
  for (const auto& [name, value] : req.params) {
    if (!one_of(name, {"status", "channel", "alert_id", "limit", "before"})) {
      return reply_error(res, 400, "unknown_parameter",
                         "unknown query parameter \"" + name +
                             "\"; filters are status, channel, alert_id, limit, before");
    }
  }
  storage::NotificationQuery q;
  std::string error;
  auto limit = int_param(req, "limit", 50, 1, 500, error);
  auto before = int_param(req, "before", 1, 1, std::numeric_limits<int>::max(), error);
  auto alert = int_param(req, "alert_id", 1, 1, std::numeric_limits<int>::max(), error);
  if (!limit || !before || !alert) return reply_error(res, 400, "invalid_parameter", error);
  q.limit = *limit;
  if (req.has_param("before")) q.before_id = *before;
  if (req.has_param("alert_id")) q.alert_id = *alert;
  if (req.has_param("status")) {
    const std::string status = req.get_param_value("status");
    q.status = storage::from_text<storage::OutboxStatus>(status);
    if (!q.status) {
      std::vector<std::string_view> allowed;
      for (auto s : storage::Vocabulary<storage::OutboxStatus>::values)
        allowed.push_back(storage::to_text(s));
      return reply_error(res, 400, "invalid_parameter",
                         "status must be one of " + join(allowed) + "; got \"" + status + "\"");
    }
  }
  if (req.has_param("channel")) q.channel = req.get_param_value("channel");
  auto rows = app.reader.list_notifications(q);
  Json list = Json::array();
  for (const auto& n : rows)
    list.push_back(notification_json(n));
  Json body{{"notifications", std::move(list)}};
  body["next_before"] = static_cast<int>(rows.size()) == q.limit && !rows.empty()
                            ? Json(rows.back().id)
                            : Json(nullptr);
  reply_json(res, 200, body);
}

// Events and decisions of one alert, newest first; page with ?before=<next_before>.
void alert_events(App& app, const httplib::Request& req, httplib::Response& res) {
  for (const auto& [name, value] : req.params) {
    if (!one_of(name, {"limit", "before"})) {
      return reply_error(res, 400, "unknown_parameter",
                         "unknown query parameter \"" + name + "\"; use limit and before");
    }
  }
  auto id = path_id(req, res);
  if (!id) return;
  std::string error;
  auto limit = int_param(req, "limit", 50, 1, 500, error);
  auto before = int_param(req, "before", std::numeric_limits<int>::max(), 1,
                          std::numeric_limits<int>::max(), error);
  if (!limit || !before) return reply_error(res, 400, "invalid_parameter", error);
  if (!app.reader.alert_exists(*id))
    return reply_error(res, 404, "not_found", "no alert " + std::to_string(*id));

  auto rows = app.reader.list_decisions(
      *id, *limit, req.has_param("before") ? std::optional<std::int64_t>(*before) : std::nullopt);
  Json events = Json::array();
  for (const auto& v : rows) {
    const auto& d = v.decision;
    Json e{{"id", v.id},
           {"at", format_timestamp(d.at)},
           {"type", std::string(storage::to_text(d.kind))},
           {"episode", d.episode ? Json(*d.episode) : Json(nullptr)},
           {"outcome", std::string(storage::to_text(d.outcome))},
           {"reason", d.reason},
           {"rule", d.rule.empty() ? Json(nullptr) : Json(d.rule)},
           {"rules_hash", d.rules_hash}};
    if (d.inbound_id) {
      e["request"] = Json{{"inbound_id", *d.inbound_id},
                          {"hook", v.hook},
                          {"delivery_id", v.delivery_id},
                          {"received_at", nullable(time_json(v.received_at))}};
    } else {
      e["request"] = nullptr;
    }
    events.push_back(std::move(e));
  }
  Json body{{"alert_id", *id}, {"events", std::move(events)}};
  body["next_before"] = static_cast<int>(rows.size()) == *limit && !rows.empty()
                            ? Json(rows.back().id)
                            : Json(nullptr);
  reply_json(res, 200, body);
}

Json rules_json(const engine::ActiveRules& active) {
  const auto& r = *active.rules;
  return Json{{"path", r.source_path},
              {"hash", r.hash},
              {"loaded_at", format_timestamp(active.loaded_at)},
              {"rules", r.rules.size()},
              {"channels", r.channels.size()},
              {"escalations", r.escalations.size()},
              {"heartbeats", r.heartbeats.size()}};
}

void reload_rules(App& app, httplib::Response& res) {
  auto result = app.reload_rules();
  Json diagnostics = Json::array();
  for (const auto& d : result.diagnostics)
    diagnostics.push_back(d.format());
  if (!result.ok()) {
    Json body{{"error", "invalid_rules"},
              {"detail", "the rules file was rejected; the previous rules stay active"},
              {"diagnostics", std::move(diagnostics)}};
    return reply_json(res, 400, body);
  }
  Json body = rules_json(*app.rules.get());
  body["diagnostics"] = std::move(diagnostics);
  reply_json(res, 200, body);
}

// The SubscribeURL as the API shows it: its Token parameter replaced by "redacted". Whoever
// holds the token can confirm the subscription by visiting the URL, which must take write scope
// and must not undo a rejection (docs/behaviour.md "SNS subscriptions").
std::string shown_subscribe_url(const std::string& url) {
  const auto query = url.find('?');
  if (query == std::string::npos) return url;
  std::string shown = url.substr(0, query + 1);
  std::size_t at = query + 1;
  while (at <= url.size()) {
    const auto end = std::min(url.find('&', at), url.size());
    const std::string param = url.substr(at, end - at);
    const auto eq = param.find('=');
    const std::string name = to_lower(param.substr(0, eq));
    if (at > query + 1) shown += '&';
    shown += name == "token" ? param.substr(0, eq) + "=redacted" : param;
    at = end + 1;
  }
  return shown;
}

// A subscription as GET /api/v1/subscriptions shows it (docs/behaviour.md "SNS subscriptions").
Json subscription_json(const storage::SubscriptionRecord& s) {
  using storage::SubscriptionStatus;
  const bool decided =
      s.status == SubscriptionStatus::confirmed || s.status == SubscriptionStatus::rejected;
  auto when = [&](SubscriptionStatus status) {
    return s.status == status ? Json(format_timestamp(s.updated_at)) : Json(nullptr);
  };
  auto who = [&](SubscriptionStatus status) {
    return s.status == status && !s.decided_by.empty() ? Json(s.decided_by) : Json(nullptr);
  };
  return Json{{"id", s.id},
              {"topic_arn", s.topic_arn},
              {"kind", std::string(storage::to_text(s.kind))},
              {"status", std::string(storage::to_text(s.status))},
              {"url", shown_subscribe_url(s.url)},
              {"message_id", s.message_id},
              {"received_at", format_timestamp(s.received_at)},
              {"updated_at", format_timestamp(s.updated_at)},
              {"detail", s.detail},
              {"confirmed_by", who(SubscriptionStatus::confirmed)},
              {"confirmed_at", when(SubscriptionStatus::confirmed)},
              {"rejected_by", who(SubscriptionStatus::rejected)},
              {"rejected_at", when(SubscriptionStatus::rejected)},
              {"subscription_arn",
               decided && !s.subscription_arn.empty() ? Json(s.subscription_arn) : Json(nullptr)}};
}

void list_subscriptions(App& app, httplib::Response& res) {
  Json list = Json::array();
  for (const auto& s : app.reader.list_subscriptions())
    list.push_back(subscription_json(s));
  reply_json(res, 200, Json{{"subscriptions", std::move(list)}});
}

// POST /api/v1/subscriptions/{id}/confirm|reject with {"by": "...", "note": "..."}
// (docs/behaviour.md "SNS subscriptions"). Confirming visits the stored SubscribeURL as
// auto_confirm does; rejecting sends nothing to AWS.
void decide_subscription(App& app, const httplib::Request& req, httplib::Response& res,
                         bool confirm) {
  auto id = path_id(req, res);
  if (!id) return;
  std::string by, note;
  if (!action_body(req, res, by, note)) return;
  auto decided = confirm ? confirm_subscription(app, engine::SubscriptionRef{*id, ""}, by, note)
                         : app.engine.reject_subscription(*id, by, note);
  if (!decided) return reply_action_error(res, decided.error());
  if (!confirm) {
    spdlog::info("rejected the SNS subscription {} to {} (by {})", decided->id, decided->topic_arn,
                 escape_control(by));
  }
  reply_json(res, 200, subscription_json(*decided));
}

// Declared heartbeats with their last ping and state: new (never pinged), up, or down (a
// silence opened an episode, until the next ping resolves it).
void list_heartbeats(App& app, httplib::Response& res) {
  const auto active = app.rules.get();
  const auto pings = app.reader.list_heartbeat_pings();
  const TimePoint now = app.clock.now();
  Json list = Json::array();
  for (const auto& hb : active->rules->heartbeats) {
    Json item{{"name", hb.name},
              {"every", format_duration(hb.every)},
              {"grace", format_duration(hb.grace)},
              {"last_ping_at", nullptr},
              {"pings", 0},
              {"overdue", nullptr}};
    item["state"] = "new";  // no ping yet: nothing is expected until the first one
    item["alert_id"] = nullptr;
    for (const auto& p : pings) {
      if (p.name != hb.name) continue;
      item["last_ping_at"] = format_timestamp(p.last_ping_at);
      item["pings"] = p.pings;
      item["overdue"] = now - p.last_ping_at > hb.every + hb.grace;
      item["state"] = "up";
    }
    // A silence opened an episode of fingerprint heartbeat:{name}: the heartbeat is down until
    // the next ping resolves it.
    storage::AlertQuery q;
    q.source = "heartbeat";
    q.text = "heartbeat:" + hb.name;
    for (const auto& v : app.reader.list_alerts(q).alerts) {
      if (v.alert.fingerprint != "heartbeat:" + hb.name) continue;
      item["alert_id"] = v.alert.id;
      if (v.current && is_active(v.current->episode.status)) item["state"] = "down";
    }
    list.push_back(std::move(item));
  }
  reply_json(res, 200, Json{{"heartbeats", std::move(list)}});
}

// GET /api/v1/channels (docs/behaviour.md "The circuit breaker and the catch-up"):
// every channel the rules declare, and any other with notifications still waiting, with its breaker
// state and backlog.
void list_channels(App& app, httplib::Response& res) {
  const auto active = app.rules.get();
  const rules::Rules& rules = *active->rules;
  const TimePoint now = app.clock.now();
  std::map<std::string, storage::ChannelStatus> status;
  for (auto& s : app.reader.channel_status()) {
    std::string name = s.channel;
    status.emplace(std::move(name), std::move(s));
  }
  std::set<std::string> names;
  for (const auto& [name, channel] : rules.channels)
    names.insert(name);
  for (const auto& [name, s] : status) {
    if (s.pending > 0) names.insert(name);
  }
  Json list = Json::array();
  for (const auto& name : names) {
    const auto declared = rules.channels.find(name);
    const auto found = status.find(name);
    const storage::ChannelStatus* s = found == status.end() ? nullptr : &found->second;
    const storage::ChannelHealth* h = s && s->health ? &*s->health : nullptr;
    const bool down = h && h->down();
    Json item{
        {"name", name},
        {"type", declared == rules.channels.end()
                     ? Json(nullptr)
                     : Json(std::string(rules::to_string(declared->second.type)))},
        {"declared", declared != rules.channels.end()},
        {"state", down ? "down" : "up"},
        {"since",
         h ? Json(format_timestamp(down ? *h->down_since : h->changed_at)) : Json(nullptr)},
        {"failures", h ? h->failures : 0},
        {"last_error", h && !h->last_error.empty() ? Json(h->last_error) : Json(nullptr)},
        {"next_probe_at",
         down && h->probe_at ? Json(format_timestamp(*h->probe_at)) : Json(nullptr)},
        {"held_until", h && h->hold_until && *h->hold_until > now
                           ? Json(format_timestamp(*h->hold_until))
                           : Json(nullptr)},
        {"catching_up", h && !down && h->pace_at.has_value()},
        {"catch_up_rate", delivery::catch_up_rate(rules, name)},
        {"pending", s ? s->pending : 0},
        {"oldest_pending_seconds",
         s && s->oldest_pending
             ? Json(std::max<std::int64_t>(
                   0, std::chrono::duration_cast<std::chrono::seconds>(now - *s->oldest_pending)
                          .count()))
             : Json(nullptr)}};
    list.push_back(std::move(item));
  }
  reply_json(res, 200, Json{{"channels", std::move(list)}});
}

// GET /api/v1/cluster (docs/postgres.md "Instances and claims"): the instances registered on
// the database, live or presumed dead, and a warning when the live ones run different rules.
void list_cluster(App& app, httplib::Response& res) {
  if (!app.cluster) return reply_unavailable(res, "this process is not serving (no instance)");
  const auto view = app.cluster->view();
  if (!view) return reply_unavailable(res, "cannot read the instances from the database");
  Json instances = Json::array();
  for (const auto& i : view->instances) {
    instances.push_back(Json{{"id", i.record.id},
                             {"host", i.record.host},
                             {"listen", i.record.listen},
                             {"version", i.record.version},
                             {"rules_hash", i.record.rules_hash},
                             {"started_at", format_timestamp(i.record.started_at)},
                             {"last_seen", format_timestamp(i.record.last_seen)},
                             {"live", i.live},
                             {"self", i.self}});
  }
  reply_json(res, 200,
             Json{{"self", view->self},
                  {"as_of", format_timestamp(view->as_of)},
                  {"instances", std::move(instances)},
                  {"warnings", view->warnings}});
}

void ready(App& app, httplib::Response& res) {
  // Ready = a row was rewritten and committed, right now: an empty transaction would commit
  // on a full disk, an unwritable WAL or a deleted file.
  if (auto err = app.writer.probe(std::chrono::seconds(2))) {
    return reply_unavailable(res, "not ready: " + err->message, 5, database_error_code(err->fault));
  }
  reply_json(res, 200, Json{{"status", "ready"}, {"rules_hash", app.rules.get()->rules->hash}});
}

}  // namespace

// The token presented in the Bearer scheme, if any: credentials = auth-scheme 1*SP token68, the
// scheme's name in any case (RFC 9110 §11.1, §11.4); the token is taken as sent.
std::optional<std::string> presented_token(std::string_view header) {
  constexpr std::string_view k_scheme = "bearer";
  const auto space = header.find(' ');
  const auto scheme = header.substr(0, space);
  if (space == std::string_view::npos || !iequals(scheme, k_scheme)) return std::nullopt;
  const auto token_at = header.find_first_not_of(' ', space);
  if (token_at == std::string_view::npos) return std::nullopt;
  return std::string(header.substr(token_at));
}

namespace {

// The configured token `presented` is, compared in constant time with every one of them.
const rules::ApiToken* matching_token(const rules::Rules& rules, const std::string& presented,
                                      const rules::EnvLookup& env) {
  const rules::ApiToken* matched = nullptr;
  for (const auto& t : rules.api_tokens) {
    auto value = env(t.token_env);
    // An unset or empty variable never matches, even an empty presented token.
    if (value && !value->empty() && equal_constant_time(presented, *value)) matched = &t;
  }
  return matched;
}

}  // namespace

AuthResult check_bearer(const rules::Rules& rules, const std::string& authorization,
                        rules::Scope needed, const rules::EnvLookup& env) {
  if (rules.api_tokens.empty()) return AuthResult::ok;  // open API, warned about at startup
  const auto presented = presented_token(authorization);
  if (!presented) return AuthResult::missing;
  const rules::ApiToken* matched = matching_token(rules, *presented, env);
  if (!matched) return AuthResult::invalid;
  if (needed == rules::Scope::write && matched->scope != rules::Scope::write)
    return AuthResult::forbidden;
  return AuthResult::ok;
}

std::optional<std::string> bearer_name(const rules::Rules& rules, const std::string& authorization,
                                       const rules::EnvLookup& env) {
  const auto presented = presented_token(authorization);
  if (!presented) return std::nullopt;
  const rules::ApiToken* matched = matching_token(rules, *presented, env);
  if (!matched || matched->name.empty()) return std::nullopt;
  return matched->name;
}

void register_api(http::Routes& routes, App& app) {
  // Wraps a handler with the bearer-token check for its scope.
  auto guarded = [&app](rules::Scope scope, auto handler) {
    return [&app, scope, handler](const httplib::Request& req, httplib::Response& res) {
      auto active = app.rules.get();
      switch (check_bearer(*active->rules, req.get_header_value("Authorization"), scope,
                           rules::process_env())) {
        case AuthResult::ok:
          return handler(req, res);
        case AuthResult::missing:
          res.set_header("WWW-Authenticate", "Bearer");
          return reply_error(res, 401, "unauthorized", "missing \"Authorization: Bearer <token>\"");
        case AuthResult::invalid:
          res.set_header("WWW-Authenticate", "Bearer");
          return reply_error(res, 401, "unauthorized", "invalid bearer token");
        case AuthResult::forbidden:
          return reply_error(res, 403, "forbidden", "this token has read scope; write needed");
      }
    };
  };
  using rules::Scope;

  routes.get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, Json{{"status", "ok"}});
  });
  routes.get("/readyz",
             [&app](const httplib::Request&, httplib::Response& res) { ready(app, res); });
  routes.get("/metrics", [&app](const httplib::Request&, httplib::Response& res) {
    res.set_content(app.metrics.render(), "text/plain; version=0.0.4");
  });

  // The API's description (docs/openapi.json), readable without a token as Alertmanager's is:
  // it holds no secrets, and a client needs it before it has one. (A route is a regex: the dot
  // escaped, so that /api/v1/openapi_json is no alias.)
  routes.get(R"(/api/v1/openapi\.json)", [](const httplib::Request&, httplib::Response& res) {
    const std::string_view document = openapi_document();
    res.set_content(document.data(), document.size(), "application/json");
  });

  routes.get("/api/v1/alerts", guarded(Scope::read, [&app](const auto& req, auto& res) {
               list_alerts(app, req, res);
             }));
  routes.get(
      R"(/api/v1/alerts/([^/]+)/events)",
      guarded(Scope::read, [&app](const auto& req, auto& res) { alert_events(app, req, res); }));
  routes.get(R"(/api/v1/alerts/([^/]+))", guarded(Scope::read, [&app](const auto& req, auto& res) {
               get_alert(app, req, res);
             }));
  for (auto [path, action] :
       {std::pair{R"(/api/v1/alerts/([^/]+)/ack)", rules::HumanAction::ack},
        std::pair{R"(/api/v1/alerts/([^/]+)/unack)", rules::HumanAction::unack},
        std::pair{R"(/api/v1/alerts/([^/]+)/resolve)", rules::HumanAction::resolve}}) {
    routes.post(path, guarded(Scope::write, [&app, action = action](const auto& req, auto& res) {
                  act_on_alert(app, req, res, action);
                }));
  }
  routes.post("/api/v1/silences", guarded(Scope::write, [&app](const auto& req, auto& res) {
                add_silence(app, req, res);
              }));
  routes.get("/api/v1/silences", guarded(Scope::read, [&app](const auto& req, auto& res) {
               list_silences(app, req, res);
             }));
  routes.get(
      R"(/api/v1/silences/([^/]+))",
      guarded(Scope::read, [&app](const auto& req, auto& res) { get_silence(app, req, res); }));
  routes.post(R"(/api/v1/silences/([^/]+)/expire)",
              guarded(Scope::write, [&app](const auto& req, auto& res) {
                const auto caller =
                    bearer_name(*app.rules.get()->rules, req.get_header_value("Authorization"),
                                rules::process_env());
                expire_silence(app, req, res, caller.value_or("api"));
              }));
  routes.get("/api/v1/noise", guarded(Scope::read, [&app](const auto& req, auto& res) {
               list_noise(app, req, res);
             }));
  routes.get(R"(/api/v1/notifications/([^/]+))",
             guarded(Scope::read,
                     [&app](const auto& req, auto& res) { get_notification(app, req, res); }));
  routes.get("/api/v1/notifications", guarded(Scope::read, [&app](const auto& req, auto& res) {
               list_notifications(app, req, res);
             }));
  routes.get("/api/v1/subscriptions", guarded(Scope::read, [&app](const auto&, auto& res) {
               list_subscriptions(app, res);
             }));
  for (auto [path, confirm] : {std::pair{R"(/api/v1/subscriptions/([^/]+)/confirm)", true},
                               std::pair{R"(/api/v1/subscriptions/([^/]+)/reject)", false}}) {
    routes.post(path, guarded(Scope::write, [&app, confirm = confirm](const auto& req, auto& res) {
                  decide_subscription(app, req, res, confirm);
                }));
  }
  routes.get("/api/v1/heartbeats",
             guarded(Scope::read, [&app](const auto&, auto& res) { list_heartbeats(app, res); }));
  routes.get("/api/v1/channels",
             guarded(Scope::read, [&app](const auto&, auto& res) { list_channels(app, res); }));
  routes.get("/api/v1/cluster",
             guarded(Scope::read, [&app](const auto&, auto& res) { list_cluster(app, res); }));
  routes.get("/api/v1/rules", guarded(Scope::read, [&app](const auto&, auto& res) {
               Json body = rules_json(*app.rules.get());
               body["warnings"] = *app.rules_warnings();
               reply_json(res, 200, body);
             }));
  routes.post("/api/v1/rules/reload",
              guarded(Scope::write, [&app](const auto&, auto& res) { reload_rules(app, res); }));
}

}  // namespace tocsin::server
