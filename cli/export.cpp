#include "cli/export.hpp"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "core/duration.hpp"
#include "core/json.hpp"
#include "storage/database.hpp"
#include "storage/reader.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::cli {

namespace {

using OrderedJson = nlohmann::ordered_json;

// The body as replay should get it back. Replay hands an object body's text on as the line
// writes it (replay.cpp), which is this export's serialization of it, not the stored bytes; so
// an object is exported only when that changes nothing any adapter can see: same parsed value
// after a serialization round trip, and shallow enough to stay within the JSON depth limit once
// nested in a line.
// Bytes themselves matter nowhere: SNS signatures are checked over the message's field values
// (ingest/sns_verify.cpp, sns_string_to_sign), not over the body. Anything else (not JSON, not
// an object, numbers that do not survive a dump) is exported as the exact string.
OrderedJson replayable_body(const std::string& body) {
  auto parsed = parse_json_strict(body, k_default_max_json_depth - 1);
  if (parsed && parsed->is_object()) {
    auto again = parse_json_strict(parsed->dump());
    if (again && *again == *parsed) {
      // The original key order, for whoever reads the file.
      OrderedJson object = OrderedJson::parse(body, nullptr, false);
      if (object.is_object()) return object;
    }
  }
  return body;
}

OrderedJson stored_headers(const std::string& headers_json) {
  OrderedJson headers = OrderedJson::parse(headers_json, nullptr, false);
  OrderedJson out = OrderedJson::object();
  if (!headers.is_object()) return out;
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value();
  }
  return out;
}

// The line replaying one inbound request; nullopt (with a warning) when it cannot be one.
std::optional<OrderedJson> request_line(const storage::InboundRecord& r, const std::string& command,
                                        std::ostream& err) {
  OrderedJson line;
  line["at"] = format_timestamp(r.received_at);
  line["hook"] = r.hook;
  if (r.hook == "heartbeat") {
    // Stored by Engine::record_ping as {"name": ...}.
    const OrderedJson body = OrderedJson::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string() ||
        body["name"].get<std::string>().empty()) {
      err << command << ": warning: skipped the heartbeat ping received at "
          << format_timestamp(r.received_at) << ": its stored body names no heartbeat\n";
      return std::nullopt;
    }
    line["name"] = body["name"];
    return line;
  }
  // Stored for raw SNS delivery only (engine/intake.cpp), and as they were by older versions.
  if (OrderedJson headers = stored_headers(r.headers_json); !headers.empty())
    line["headers"] = std::move(headers);
  line["body"] = replayable_body(r.body);
  return line;
}

// The line replaying an API action; the decision's reason is `by WHO[: NOTE]`
// (rules::on_action), the fingerprint names the alert as a replay knows it.
OrderedJson action_line(const storage::DecisionRecord& d) {
  using storage::DecisionOutcome;
  const std::string key = d.outcome == DecisionOutcome::acknowledged     ? "ack"
                          : d.outcome == DecisionOutcome::unacknowledged ? "unack"
                                                                         : "resolve";
  const std::string said = d.reason.substr(3);  // after "by "
  const auto colon = said.find(": ");
  OrderedJson spec;
  spec["fingerprint"] = d.fingerprint;
  spec["by"] = said.substr(0, colon);
  if (colon != std::string::npos) spec["note"] = said.substr(colon + 2);
  OrderedJson line;
  line["at"] = format_timestamp(d.at);
  line[key] = std::move(spec);
  return line;
}

// The line re-enacting a silence change (docs/formats.md "13. Replay and export lines"). `id` is
// the silence's id here: a later `expire_silence` line names it, and replay maps it to the id its
// own database gives. A silence added before the exported window is added at the window's
// start; its `starts_at`, then in the past, counts from that line's `at` when replayed.
OrderedJson silence_line(const storage::SilenceChange& c) {
  const rules::Silence& s = c.silence;
  OrderedJson line;
  line["at"] = format_timestamp(c.at);
  if (c.kind == storage::SilenceChange::Kind::expired) {
    line["expire_silence"] = s.id;
    line["by"] = s.expired_by;
    return line;
  }
  OrderedJson spec;
  spec["id"] = s.id;
  spec["matchers"] = OrderedJson::parse(s.spelled.dump());
  spec["starts_at"] = format_timestamp(s.starts_at);
  spec["ends_at"] = format_timestamp(s.ends_at);
  spec["by"] = s.created_by;
  spec["comment"] = s.comment;
  line["silence"] = std::move(spec);
  return line;
}

void write_line(std::ostream& out, const OrderedJson& line) {
  out << line.dump(-1, ' ', false, OrderedJson::error_handler_t::replace) << '\n';
}

}  // namespace

int run_export(const ExportOptions& options, TimePoint now, std::ostream& out, std::ostream& err) {
  const auto since = parse_duration(options.since);
  if (!since || since->count() < 0) {
    err << options.command << ": --since must be a duration like 7d, 36h or 90m, got \""
        << options.since << "\"\n";
    return 2;
  }
  if (auto problem = storage::location_problem(options.db_path)) {
    err << options.command << ": the database location "
        << storage::display_location(options.db_path) << " " << *problem << "\n";
    return 2;
  }
  std::error_code ec;
  if (!storage::is_postgres_location(options.db_path) &&
      !std::filesystem::exists(options.db_path, ec)) {
    err << options.command << ": no database at " << options.db_path
        << (options.command == "tocsin export" ? " (give its path with --db or TOCSIN_DB)" : "")
        << '\n';
    return 2;
  }
  try {
    storage::Reader reader(options.db_path);
    // The total is unknown without a second pass over the period: lines done and the rate.
    const SystemClock wall;
    Progress progress(options.progress, wall, "export", "lines");
    AboveProgress warnings(progress, err);
    std::uint64_t written = 0, over = 0;
    auto write = [&](const OrderedJson& line) {
      if (options.max_lines && written >= options.max_lines) {
        ++over;  // counted, not kept: the whole window is read once either way
        return;
      }
      write_line(out, line);
      progress.update(++written);
    };
    reader.export_since(
        now - *since,
        [&](const storage::InboundRecord& r) {
          if (auto line = request_line(r, options.command, warnings)) write(*line);
        },
        [&](const storage::DecisionRecord& d) { write(action_line(d)); },
        [&](const storage::SilenceChange& c) { write(silence_line(c)); });
    progress.finish();
    if (over > 0) {
      err << options.command << ": the last " << options.since << " hold " << written + over
          << " lines, more than the limit of " << options.max_lines
          << "; give a shorter --since or a larger --limit\n";
      return 2;
    }
  } catch (const std::exception& e) {
    err << options.command << ": " << e.what() << '\n';
    return 2;
  }
  out.flush();
  if (!out) {
    err << options.command << ": cannot write the output\n";
    return 2;
  }
  return 0;
}

Subcommand add_export(CLI::App& cli) {
  auto opt = std::make_shared<ExportOptions>();
  auto* cmd = cli.add_subcommand("export",
                                 "Print the stored inbound events (and API actions and silences) "
                                 "as replay input lines, to try a rules "
                                 "change on past traffic");
  cmd->add_option("--db", opt->db_path,
                  "SQLite database file or postgresql:// URI, opened read-only (env "
                  "TOCSIN_DB; default ./tocsin.db)");
  cmd->add_option("--since", opt->since,
                  "How far back from now, as a duration: 7d, 36h, 90m (default 7d)");
  return {cmd, [opt] {
            // No rules file here, so no storage.url_env.
            opt->db_path = resolve_db(opt->db_path, std::nullopt);
            std::ios::sync_with_stdio(false);
            opt->progress = terminal_stderr();
            return run_export(*opt, SystemClock().now(), std::cout, std::cerr);
          }};
}

}  // namespace tocsin::cli
