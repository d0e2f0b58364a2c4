#include "cli/replay.hpp"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <variant>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "core/duration.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "engine/intake.hpp"
#include "rules/loader.hpp"
#include "server/app.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::cli {

namespace {

using OrderedJson = nlohmann::ordered_json;

// One input line, validated.
struct HookLine {
  std::string hook;
  ingest::HeaderMap headers;  // lower-case names
  std::string body;
};
struct HeartbeatLine {
  std::string name;
};
struct ActionLine {
  rules::HumanAction action = rules::HumanAction::ack;
  engine::AlertRef alert;
  std::string by, note;
};
// A silence to add: the POST /api/v1/silences body, and the id it had where it was recorded
// (what a later `expire_silence` line of the same export names).
struct SilenceLine {
  Json request;
  std::optional<std::int64_t> recorded_id;
};
struct ExpireSilenceLine {
  std::int64_t id = 0;
  std::string by;
};
struct Line {
  int number = 0;
  TimePoint at{};
  std::variant<HookLine, HeartbeatLine, ActionLine, SilenceLine, ExpireSilenceLine> what;
};

// The `silence` object: the API's request keys with the types it takes, and `id`. What the
// values mean (times, bounds, matcher syntax) is judged when the line runs, as the API would.
Expected<SilenceLine, std::string> parse_silence_line(const Json& spec) {
  if (!spec.is_object()) {
    return unexpected(std::string(
        "\"silence\" must be an object like {\"matchers\": {...}, \"duration\": \"2h\", "
        "\"by\": \"alice\", \"comment\": \"...\"}"));
  }
  SilenceLine s;
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    const std::string& key = it.key();
    if (key == "id") {
      if (!it.value().is_number_integer() || it.value().get<std::int64_t>() < 1)
        return unexpected(std::string("\"id\" in \"silence\" must be a positive integer"));
      s.recorded_id = it.value().get<std::int64_t>();
    } else if (key == "matchers") {
      if (!it.value().is_object())
        return unexpected(std::string("\"matchers\" in \"silence\" must be an object"));
      s.request[key] = it.value();
    } else if (key == "starts_at" || key == "ends_at" || key == "duration" || key == "by" ||
               key == "comment") {
      if (!it.value().is_string())
        return unexpected("\"" + key + "\" in \"silence\" must be a string");
      s.request[key] = it.value();
    } else {
      return unexpected("unknown key \"" + key +
                        "\" in \"silence\"; the keys are matchers, starts_at, ends_at, "
                        "duration, by, comment, id");
    }
  }
  if (s.request.is_null()) s.request = Json::object();
  return s;
}

// Parses one line; on failure returns why (the caller adds path and line number).
Expected<Line, std::string> parse_line(const std::string& text, int number) {
  auto json = parse_json_strict(text);
  if (!json) return unexpected(json.error().detail);
  if (!json->is_object()) return unexpected(std::string("expected a JSON object"));
  Line line;
  line.number = number;
  const auto* at = string_field(*json, "at");
  if (!at) return unexpected(std::string("missing \"at\" (an RFC 3339 time)"));
  auto t = parse_timestamp(*at);
  if (!t) return unexpected("\"at\" is not an RFC 3339 time: \"" + *at + "\"");
  line.at = *t;

  static const char* const k_actions[] = {"ack", "unack", "resolve"};
  int kinds = json->contains("hook") + json->contains("silence") + json->contains("expire_silence");
  for (const char* a : k_actions)
    kinds += json->contains(a) ? 1 : 0;
  if (kinds != 1) {
    return unexpected(
        std::string("a line needs exactly one of \"hook\", \"ack\", \"unack\", \"resolve\", "
                    "\"silence\", \"expire_silence\""));
  }

  if (json->contains("silence")) {
    for (auto it = json->begin(); it != json->end(); ++it) {
      if (it.key() != "at" && it.key() != "silence")
        return unexpected("unknown key \"" + it.key() + "\"");
    }
    auto silence = parse_silence_line((*json)["silence"]);
    if (!silence) return unexpected(silence.error());
    line.what = std::move(*silence);
    return line;
  }
  if (json->contains("expire_silence")) {
    ExpireSilenceLine e;
    for (auto it = json->begin(); it != json->end(); ++it) {
      if (it.key() == "by") {
        if (!it.value().is_string()) return unexpected(std::string("\"by\" must be a string"));
        e.by = it.value().get<std::string>();
      } else if (it.key() != "at" && it.key() != "expire_silence") {
        return unexpected("unknown key \"" + it.key() + "\"");
      }
    }
    const Json& id = (*json)["expire_silence"];
    if (!id.is_number_integer() || id.get<std::int64_t>() < 1)
      return unexpected(
          std::string("\"expire_silence\" must be a silence id (a positive integer)"));
    e.id = id.get<std::int64_t>();
    if (e.by.empty()) e.by = "replay";
    line.what = std::move(e);
    return line;
  }

  if (json->contains("hook")) {
    for (auto it = json->begin(); it != json->end(); ++it) {
      if (it.key() != "at" && it.key() != "hook" && it.key() != "body" && it.key() != "headers" &&
          it.key() != "name") {
        return unexpected("unknown key \"" + it.key() + "\"");
      }
    }
    const auto* hook = string_field(*json, "hook");
    if (!hook) return unexpected(std::string("\"hook\" must be a string"));
    if (*hook == "heartbeat") {
      const auto* name = string_field(*json, "name");
      if (!name || name->empty()) return unexpected(std::string("a heartbeat line needs \"name\""));
      line.what = HeartbeatLine{*name};
      return line;
    }
    if (!engine::is_event_hook(*hook)) {
      return unexpected("unknown hook \"" + *hook +
                        "\"; one of sns, sns-raw, eventbridge, alertmanager, grafana, generic, "
                        "opsgenie, mapped/NAME, heartbeat");
    }
    HookLine h;
    h.hook = *hook;
    auto body = json->find("body");
    if (body == json->end()) return unexpected(std::string("missing \"body\""));
    if (body->is_string()) {
      h.body = body->get<std::string>();
    } else if (body->is_object() || body->is_array()) {
      // Its text as the line wrote it: what any source would have sent, and no second
      // serialization of a document intake parses again anyway (about a tenth of replay's CPU).
      const auto raw = raw_member(text, "body");
      h.body = raw ? std::string(*raw) : body->dump();
    } else {
      return unexpected(std::string("\"body\" must be an object or a string"));
    }
    if (auto headers = json->find("headers"); headers != json->end()) {
      if (!headers->is_object()) return unexpected(std::string("\"headers\" must be an object"));
      for (auto it = headers->begin(); it != headers->end(); ++it) {
        if (!it.value().is_string())
          return unexpected("header \"" + it.key() + "\" must be a string");
        h.headers.emplace(to_lower(it.key()), it.value().get<std::string>());
      }
    }
    line.what = std::move(h);
    return line;
  }

  for (auto it = json->begin(); it != json->end(); ++it) {
    if (it.key() != "at" && it.key() != "ack" && it.key() != "unack" && it.key() != "resolve") {
      return unexpected("unknown key \"" + it.key() + "\"");
    }
  }
  ActionLine a;
  const char* key = "ack";
  for (const char* k : k_actions) {
    if (json->contains(k)) key = k;
  }
  a.action = std::string(key) == "ack"     ? rules::HumanAction::ack
             : std::string(key) == "unack" ? rules::HumanAction::unack
                                           : rules::HumanAction::resolve;
  const Json& spec = (*json)[key];
  if (!spec.is_object()) {
    return unexpected("\"" + std::string(key) +
                      "\" must be an object like {\"fingerprint\": \"...\", \"by\": \"alice\"}");
  }
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    if (it.key() == "alert_id") {
      if (!it.value().is_number_integer() || it.value().get<std::int64_t>() < 1)
        return unexpected(std::string("\"alert_id\" must be a positive integer"));
      a.alert.id = it.value().get<std::int64_t>();
    } else if (it.key() == "fingerprint" || it.key() == "by" || it.key() == "note") {
      if (!it.value().is_string()) return unexpected("\"" + it.key() + "\" must be a string");
      const std::string v = it.value().get<std::string>();
      (it.key() == "fingerprint" ? a.alert.fingerprint : it.key() == "by" ? a.by : a.note) = v;
    } else {
      return unexpected("unknown key \"" + it.key() + "\" in \"" + key + "\"");
    }
  }
  if (!a.alert.id && a.alert.fingerprint.empty())
    return unexpected("\"" + std::string(key) + "\" needs \"fingerprint\" or \"alert_id\"");
  if (a.by.empty()) a.by = "replay";
  line.what = std::move(a);
  return line;
}

// One output line, written straight into a buffer: what `nlohmann::ordered_json::dump()` of
// the same object prints, byte for byte (no spaces, keys in insertion order, non-ASCII as is,
// invalid UTF-8 replaced), without building the object (building and dumping it was a twentieth
// of a replay). Only the common case is written here; anything else a string or a number could
// need goes through nlohmann itself.
class LineWriter {
 public:
  explicit LineWriter(std::string& out) : m_out(out) { m_out += '{'; }
  ~LineWriter() { m_out += "}\n"; }
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  void string(const char* key, std::string_view value) {
    name(key);
    quoted(value);
  }
  void string_or_null(const char* key, std::string_view value) {
    if (value.empty()) {
      null(key);
    } else {
      string(key, value);
    }
  }
  template <typename Int>
  void integer(const char* key, std::optional<Int> value) {
    if (!value) return null(key);
    integer(key, static_cast<std::int64_t>(*value));
  }
  void integer(const char* key, std::int64_t value) {
    name(key);
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    m_out.append(digits, end);
  }
  void number(const char* key, std::optional<double> value) {
    if (!value) return null(key);
    name(key);
    m_out += OrderedJson(*value).dump();
  }
  void null(const char* key) {
    name(key);
    m_out += "null";
  }

 private:
  void name(const char* key) {
    if (m_first) {
      m_first = false;
    } else {
      m_out += ',';
    }
    m_out += '"';
    m_out += key;
    m_out += "\":";
  }
  void quoted(std::string_view value) {
    const bool plain = std::all_of(value.begin(), value.end(), [](char c) {
      return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    });
    if (!plain) {
      m_out += OrderedJson(std::string(value))
                   .dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
      return;
    }
    m_out += '"';
    m_out += value;
    m_out += '"';
  }

  std::string& m_out;
  bool m_first = true;
};

// Appends the journal's lines to `out`.
void print(std::string& out, const engine::Journal& journal) {
  for (const auto& entry : journal) {
    LineWriter j(out);
    if (const auto* d = std::get_if<storage::DecisionRecord>(&entry)) {
      j.string("at", format_timestamp(d->at));
      if (d->kind == storage::DecisionKind::event) {
        j.string("type", "event");
        j.string_or_null("fingerprint", d->fingerprint);
        j.integer("alert_id", d->alert_id);
        j.integer("episode", d->episode);
        j.string("outcome", storage::to_text(d->outcome));
        j.string("reason", d->reason);
      } else {
        j.string("type", "decision");
        j.string_or_null("fingerprint", d->fingerprint);
        j.integer("episode", d->episode);
        j.string("decision", storage::to_text(d->outcome));
        j.string("reason", d->reason);
      }
    } else if (const auto* n = std::get_if<storage::OutboxRecord>(&entry)) {
      j.string("at", format_timestamp(n->created_at));
      j.string("type", "notify");
      j.string("channel", n->channel);
      j.string("action", storage::to_text(n->action));
      j.string("fingerprint", n->fingerprint);
      j.integer("episode", n->episode);
      j.string("alias", n->alias);
      j.string("severity", to_string(n->severity));
      j.string("priority", priority_name(n->priority));
      j.integer("level", static_cast<std::int64_t>(n->level));
      j.number("noise", n->noise);
    }
  }
}

// What a replay did, counted for `--summary`: the numbers to compare two rules files by.
class Tally {
 public:
  void add(const engine::Journal& journal) {
    for (const auto& entry : journal) {
      if (const auto* d = std::get_if<storage::DecisionRecord>(&entry)) {
        if (!m_first) m_first = d->at;
        m_last = d->at;
        if (d->kind == storage::DecisionKind::event) {
          ++m_outcomes[std::string(storage::to_text(d->outcome))];
        } else {
          ++m_decisions[std::string(storage::to_text(d->outcome))];
          if (d->note == rules::NoteKind::demoted) ++m_demoted[d->fingerprint];
        }
      } else if (const auto* n = std::get_if<storage::OutboxRecord>(&entry)) {
        m_last = n->created_at;
        ++m_notifications[n->channel][std::string(storage::to_text(n->action))];
        if (n->action == rules::NotifyAction::trigger && n->level == 0) ++m_paged[n->channel];
      }
    }
  }

  void print(std::ostream& out, std::size_t lines) const {
    out << "summary: " << lines << " input line(s)";
    if (m_first) out << ", " << format_timestamp(*m_first) << " to " << format_timestamp(m_last);
    out << "\n  event outcomes:";
    row(out, m_outcomes);
    out << "\n  first notifications (trigger, level 0) by channel:";
    row(out, m_paged);
    out << "\n  notifications by channel and action:";
    if (m_notifications.empty()) out << " none";
    for (const auto& [channel, actions] : m_notifications) {
      out << "\n    " << channel << ":";
      row(out, actions);
    }
    out << "\n  noise routing:";
    for (const char* d : {"demoted", "held", "dropped"}) {
      auto it = m_decisions.find(d);
      out << " " << d << " " << (it == m_decisions.end() ? 0 : it->second);
    }
    if (!m_demoted.empty()) {
      std::vector<std::pair<std::string, std::size_t>> most(m_demoted.begin(), m_demoted.end());
      std::stable_sort(most.begin(), most.end(),
                       [](const auto& a, const auto& b) { return a.second > b.second; });
      out << "\n  most demoted:";
      for (std::size_t i = 0; i < most.size() && i < 5; ++i)
        out << (i ? ", " : " ") << most[i].first << " " << most[i].second;
    }
    // docs/behaviour.md "Silences": what was quieted, and what paged when its silence ended;
    // shown when the input had silences.
    static const char* const k_silence_decisions[] = {"silence_added", "silence_ended", "silenced",
                                                      "unsilenced"};
    if (std::any_of(std::begin(k_silence_decisions), std::end(k_silence_decisions),
                    [&](const char* d) { return m_decisions.contains(d); })) {
      out << "\n  silences:";
      for (const char* d : k_silence_decisions) {
        auto it = m_decisions.find(d);
        out << " " << d << " " << (it == m_decisions.end() ? 0 : it->second);
      }
    }
    out << "\n  other decisions:";
    static const std::set<std::string> k_listed = {
        "demoted", "held", "dropped", "silence_added", "silence_ended", "silenced", "unsilenced"};
    std::map<std::string, std::size_t> other;
    for (const auto& [d, n] : m_decisions) {
      if (!k_listed.contains(d)) other[d] = n;
    }
    row(out, other);
    out << '\n';
  }

 private:
  static void row(std::ostream& out, const std::map<std::string, std::size_t>& counts) {
    if (counts.empty()) out << " none";
    for (const auto& [k, n] : counts)
      out << " " << k << " " << n;
  }

  std::optional<TimePoint> m_first;
  TimePoint m_last{};
  std::map<std::string, std::size_t> m_outcomes, m_decisions, m_paged, m_demoted;
  std::map<std::string, std::map<std::string, std::size_t>> m_notifications;
};

// A directory removed with everything in it when the replay ends.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/tocsin-replay-XXXXXX";
    if (char* made = mkdtemp(pattern.data())) m_path = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!m_path.empty()) std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return m_path; }

 private:
  std::string m_path;
};

class Replayer {
 public:
  Replayer(server::App& app, ManualClock& clock, const ReplayOptions& options, std::ostream& out,
           std::ostream& err)
      : m_app(app), m_clock(clock), m_options(options), m_out(out), m_err(err) {}

  // Fires every timer due up to `t`, each at its own time, then sets the clock to `t`.
  bool advance_to(TimePoint t) {
    for (;;) {
      engine::Journal journal;
      auto fired = m_app.engine.fire_next_timer(t, true, &journal);
      if (!fired) return storage_failed(fired.error().message);
      emit(journal);
      if (!*fired) break;
      if (**fired > m_clock.now()) m_clock.set(**fired);
    }
    if (t > m_clock.now()) m_clock.set(t);
    return true;
  }

  bool run(const Line& line) {
    if (!advance_to(line.at)) return false;
    engine::Journal journal;
    if (const auto* h = std::get_if<HookLine>(&line.what)) {
      auto inbound = engine::intake(h->hook, h->headers, h->body, *m_app.rules.get(), line.at,
                                    engine::IntakeOptions{m_options.verify});
      if (!inbound) {
        const auto& e = inbound.error();
        m_err << where(line) << "warning: /hooks/" << h->hook << " would answer " << e.status << " "
              << e.code << ": " << e.detail << '\n';
        return true;
      }
      auto results = m_app.engine.ingest(std::move(*inbound), &journal);
      if (!results) return storage_failed(results.error().message);
    } else if (const auto* hb = std::get_if<HeartbeatLine>(&line.what)) {
      if (auto error = m_app.engine.record_ping(hb->name, &journal))
        return storage_failed(error->message);
    } else if (const auto* a = std::get_if<ActionLine>(&line.what)) {
      auto done = m_app.engine.act(a->alert, a->action, a->by, a->note, &journal);
      if (!done) {
        if (done.error().status >= 500) return storage_failed(done.error().detail);
        m_err << where(line) << "warning: " << rules::to_string(a->action) << " not applied ("
              << done.error().code << "): " << done.error().detail << '\n';
      }
    } else if (const auto* s = std::get_if<SilenceLine>(&line.what)) {
      if (!add_silence(line, *s, journal)) return false;
    } else if (const auto* e = std::get_if<ExpireSilenceLine>(&line.what)) {
      if (!expire_silence(line, *e, journal)) return false;
    }
    emit(journal);
    return true;
  }

  const Tally& tally() const { return m_tally; }

 private:
  // False only when storage failed; a refused silence is a warning, like a refused payload.
  bool add_silence(const Line& line, const SilenceLine& s, engine::Journal& journal) {
    auto added = m_app.engine.add_silence(s.request, &journal);
    if (!added) {
      if (added.error().status >= 500) return storage_failed(added.error().detail);
      m_err << where(line) << "warning: silence not added (" << added.error().code
            << "): " << added.error().detail << '\n';
      if (s.recorded_id) m_refused_silences.insert(*s.recorded_id);
      return true;
    }
    if (s.recorded_id) {
      m_silence_ids[*s.recorded_id] = added->id;
      m_refused_silences.erase(*s.recorded_id);
    }
    return true;
  }

  // The id is the one the recording gave (export's `id`), translated to this database's; an id
  // no `silence` line gave is taken as this database's own.
  bool expire_silence(const Line& line, const ExpireSilenceLine& e, engine::Journal& journal) {
    if (m_refused_silences.contains(e.id) && !m_silence_ids.contains(e.id)) {
      m_err << where(line) << "warning: expire_silence not applied: silence " << e.id
            << " was not added (see its warning)\n";
      return true;
    }
    auto mapped = m_silence_ids.find(e.id);
    const std::int64_t id = mapped == m_silence_ids.end() ? e.id : mapped->second;
    auto done = m_app.engine.expire_silence(id, e.by, &journal);
    if (!done) {
      if (done.error().status >= 500) return storage_failed(done.error().detail);
      m_err << where(line) << "warning: expire_silence not applied (" << done.error().code
            << "): " << done.error().detail << '\n';
    }
    return true;
  }

  void emit(const engine::Journal& journal) {
    if (journal.empty()) return;
    if (m_options.print_lines) {
      m_buffer.clear();
      print(m_buffer, journal);
      m_out.write(m_buffer.data(), static_cast<std::streamsize>(m_buffer.size()));
    }
    if (m_options.summary) m_tally.add(journal);
    if (m_options.observe) m_options.observe(journal);
  }

  std::string where(const Line& line) const {
    return m_options.events_path + ":" + std::to_string(line.number) + ": ";
  }
  bool storage_failed(const std::string& message) {
    m_err << "tocsin replay: storage failed: " << message << '\n';
    return false;
  }

  server::App& m_app;
  ManualClock& m_clock;
  const ReplayOptions& m_options;
  std::ostream& m_out;
  std::ostream& m_err;
  Tally m_tally;
  std::string m_buffer;                                // the lines of one journal, written at once
  std::map<std::int64_t, std::int64_t> m_silence_ids;  // recorded id -> this replay's
  std::set<std::int64_t> m_refused_silences;           // recorded ids of refused silences
};

// The program-wide default logger replaced for a scope, and the previous one put back when it
// ends, however it ends.
class DefaultLoggerSwap {
 public:
  explicit DefaultLoggerSwap(std::shared_ptr<spdlog::logger> logger)
      : m_previous(spdlog::default_logger()) {
    spdlog::set_default_logger(std::move(logger));
  }
  ~DefaultLoggerSwap() { spdlog::set_default_logger(m_previous); }
  DefaultLoggerSwap(const DefaultLoggerSwap&) = delete;
  DefaultLoggerSwap& operator=(const DefaultLoggerSwap&) = delete;

 private:
  std::shared_ptr<spdlog::logger> m_previous;
};

}  // namespace

std::optional<std::string> replay_line_problem(const std::string& text) {
  auto line = parse_line(text, 1);
  if (line) return std::nullopt;
  return line.error();
}

int run_replay(const ReplayOptions& options, std::ostream& out, std::ostream& err) {
  // Decisions go to standard output; the engine's own log would only repeat them. The caller's
  // logger is its own again when the replay returns.
  const DefaultLoggerSwap quiet(
      std::make_shared<spdlog::logger>("replay", std::make_shared<spdlog::sinks::null_sink_mt>()));

  // Offline: a replay sends nothing and receives nothing over HTTP, so unset secrets and how
  // the hooks authenticate are none of its business (docs/behaviour.md "Replay").
  rules::LoadResult loaded = rules::load_rules_file(
      options.rules_path, rules::LoadOptions{.env = nullptr, .serving = false});
  for (const auto& d : loaded.diagnostics)
    err << d.format() << '\n';
  if (loaded.unreadable) return 2;
  if (!loaded.ok()) return 1;

  std::ifstream file;
  std::istream* in = options.events_stream ? options.events_stream : &std::cin;
  if (!options.events_stream && options.events_path != "-") {
    file.open(options.events_path, std::ios::binary);
    if (!file) {
      err << "tocsin replay: cannot read " << options.events_path << '\n';
      return 2;
    }
    in = &file;
  }

  // Every line is checked before anything runs: a bad line is reported with all the others,
  // and a replay never stops halfway.
  std::vector<Line> lines;
  std::vector<std::string> problems;
  std::string text;
  int number = 0;
  std::optional<TimePoint> previous;
  int previous_line = 0;
  while (std::getline(*in, text)) {
    ++number;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    auto line = parse_line(text, number);
    if (!line) {
      problems.push_back(options.events_path + ":" + std::to_string(number) +
                         ": error: " + line.error());
      continue;
    }
    if (previous && line->at < *previous) {
      problems.push_back(options.events_path + ":" + std::to_string(number) + ": error: \"at\" " +
                         format_timestamp(line->at) + " is before line " +
                         std::to_string(previous_line) + " (" + format_timestamp(*previous) +
                         "); lines must be in time order");
      continue;
    }
    previous = line->at;
    previous_line = number;
    lines.push_back(std::move(*line));
  }
  if (in->bad()) {
    err << "tocsin replay: error reading " << options.events_path << '\n';
    return 2;
  }
  if (!problems.empty()) {
    constexpr std::size_t k_shown = 50;
    for (std::size_t i = 0; i < problems.size() && i < k_shown; ++i)
      err << problems[i] << '\n';
    if (problems.size() > k_shown)
      err << "... and " << problems.size() - k_shown << " more error(s)\n";
    err << options.events_path << ": " << problems.size() << " invalid line(s); nothing replayed\n";
    return 1;
  }

  TempDir temp;
  std::string db_path = options.db_path;
  if (db_path.empty()) {
    if (temp.path().empty()) {
      err << "tocsin replay: cannot create a temporary directory\n";
      return 2;
    }
    db_path = temp.path() + "/replay.db";
  }

  const TimePoint start = lines.empty() ? options.until.value_or(TimePoint{}) : lines.front().at;
  ManualClock clock(start);
  std::unique_ptr<server::App> app;
  try {
    app = std::make_unique<server::App>(
        options.rules_path, db_path, clock, loaded.rules,
        options.db_path.empty() ? std::optional<storage::Durability>(storage::Durability::off)
                                : std::nullopt);
  } catch (const std::exception& e) {
    err << "tocsin replay: " << e.what() << '\n';
    return 2;
  }

  std::optional<TimePoint> until = options.until;
  if (options.until_after_last)
    until = (lines.empty() ? start : lines.back().at) + *options.until_after_last;
  const SystemClock wall;
  Progress progress(options.progress, wall, "replay", "events", lines.size());
  AboveProgress warnings(progress, err);
  Replayer replayer(*app, clock, options, out, warnings);
  std::uint64_t done = 0;
  for (const auto& line : lines) {
    if (until && line.at > *until) break;
    if (!replayer.run(line)) return 2;
    progress.update(++done);
  }
  progress.finish();
  if (until && !replayer.advance_to(*until)) return 2;
  out.flush();
  if (options.summary) replayer.tally().print(err, lines.size());
  if (options.inspect) {
    // A throwaway database commits in batches: what is still held is committed first, so
    // the inspection's reads see every decision of the run.
    app->writer.stop();
    try {
      options.inspect(*app);
    } catch (const std::exception& e) {
      err << "tocsin replay: storage failed: " << e.what() << '\n';
      return 2;
    }
  }
  app->writer.stop();
  return 0;
}

namespace {

// `--until`: an RFC 3339 time, `now`, `now-DURATION`, or `+DURATION` (after the last input
// line). The error names the flag and every spelling.
bool parse_until(const std::string& text, TimePoint now, ReplayOptions& out) {
  // Longer would overflow the clock (a silent empty replay) or fire timers for days.
  constexpr Duration k_max_span = std::chrono::days(36524);  // 100 years
  if (text == "now") {
    out.until = now;
    return true;
  }
  if (text.starts_with("now-")) {
    const auto d = parse_duration(text.substr(4));
    if (d && d->count() > 0 && *d < k_max_span) {
      out.until = now - *d;
      return true;
    }
  } else if (text.starts_with("+")) {
    const auto d = parse_duration(text.substr(1));
    if (d && d->count() >= 0 && *d < k_max_span) {
      out.until_after_last = *d;
      return true;
    }
  } else if (auto t = parse_timestamp(text)) {
    out.until = *t;
    return true;
  }
  std::cerr << "tocsin replay: --until must be an RFC 3339 time (2026-11-02T09:00:00Z), now, "
               "now-DURATION (now-2h) or +DURATION (+2h: that long after the last input line), "
               "DURATION under 100 years, got \""
            << text << "\"\n";
  return false;
}

}  // namespace

Subcommand add_replay(CLI::App& cli) {
  struct Options {
    ReplayOptions replay;
    std::string until;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(
      "replay",
      "Run recorded events through the engine on a virtual clock; print every decision and "
      "notification as JSON lines");
  cmd->add_option("--rules", opt->replay.rules_path, "Rules file")->required();
  cmd->add_option("--until", opt->until,
                  "Run the virtual clock on to this time, firing timers on the way: RFC "
                  "3339, now, now-2h, or +2h (after the last line); later lines are not "
                  "replayed");
  cmd->add_option("--db", opt->replay.db_path,
                  "Keep the resulting database here (default: a temporary one)");
  cmd->add_flag("--verify", opt->replay.verify, "Verify SNS signatures (off by default)");
  cmd->add_flag("--summary", opt->replay.summary,
                "After the run, print a what-if summary to stderr: pages and "
                "notifications by channel, demotions, holds, drops");
  cmd->add_option("EVENTS", opt->replay.events_path, "JSON-lines file, or - for stdin")->required();
  return {cmd, [opt] {
            if (!opt->until.empty() && !parse_until(opt->until, SystemClock().now(), opt->replay)) {
              return 2;
            }
            std::ios::sync_with_stdio(false);
            opt->replay.progress = terminal_stderr();
            return run_replay(opt->replay, std::cout, std::cerr);
          }};
}

}  // namespace tocsin::cli
