#include "cli/receive.hpp"

#include <httplib.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "cli/commands.hpp"
#include "core/json.hpp"
#include "core/redact.hpp"
#include "core/thread_annotations.hpp"
#include "server/http_server.hpp"

namespace tocsin::cli {

namespace {

std::string number_of(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? std::to_string(it->get<long long>())
                                                       : std::string("?");
}

}  // namespace

std::string describe_notification(const std::string& body) {
  const Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || string_or_empty(doc, "schema") != "tocsin.notification/v1") {
    return "received " + std::to_string(body.size()) +
           " bytes that are not a Tocsin notification (no \"schema\": "
           "\"tocsin.notification/v1\")";
  }
  const std::string channel = string_or_empty(doc, "channel");
  const std::string action = string_or_empty(doc, "action");
  if (action == "digest") return channel + ": digest: " + string_or_empty(doc, "why");

  const auto alert_it = doc.find("alert");
  const Json alert = alert_it != doc.end() && alert_it->is_object() ? *alert_it : Json::object();
  std::string about = string_or_empty(alert, "summary");
  if (about.empty()) about = string_or_empty(alert, "name");
  std::string line = channel + ": " + action + " level " + number_of(doc, "level") + ": " +
                     string_or_empty(doc, "fingerprint") + " episode " + number_of(doc, "episode") +
                     " (" + string_or_empty(doc, "severity") + ", " +
                     string_or_empty(doc, "priority") + ")";
  if (!about.empty()) line += ": " + about;
  return line;
}

std::string received_text(const std::string& body) {
  std::string out = printable_line(describe_notification(body)) + '\n';
  // Line by line, so a pretty-printed body still reads as lines.
  std::string_view rest = body;
  while (true) {
    const auto end = rest.find('\n');
    out += printable_line(rest.substr(0, end));
    out += '\n';
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return out;
}

namespace {

// The output the server's worker threads share: one request's lines stay together.
class SharedOutput {
 public:
  explicit SharedOutput(std::ostream& out) : m_out(&out) {}

  void print(const std::string& text) EXCLUDES(m_mutex) {
    MutexLock lock(m_mutex);
    *m_out << text << std::flush;
  }

 private:
  Mutex m_mutex;
  std::ostream* const m_out PT_GUARDED_BY(m_mutex);
};

}  // namespace

int run_receive(const ReceiveOptions& options, std::ostream& out, std::ostream& log) {
  const auto address = server::parse_listen_address(options.listen);
  if (!address) {
    log << "tocsin receive: --listen must be HOST:PORT or :PORT, got \"" << options.listen
        << "\"\n";
    return 2;
  }
  httplib::Server server;
  SharedOutput shared(out);
  server.Post(R"(/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    shared.print(received_text(req.body));
    res.set_content("{\"received\":true}\n", "application/json");
  });

  int port = address->port;
  if (port == 0) {
    port = server.bind_to_any_port(address->host);
  } else if (!server.bind_to_port(address->host, port)) {
    port = -1;
  }
  if (port < 0) {
    log << "tocsin receive: cannot listen on " << options.listen
        << ": address in use or not available\n";
    return 1;
  }
  log << "tocsin listening on " << address->host << ':' << port
      << " (receive: every POST is printed below and answered 200)" << std::endl;
  return server.listen_after_bind() ? 0 : 1;
}

Subcommand add_receive(CLI::App& cli) {
  auto opt = std::make_shared<ReceiveOptions>();
  auto* cmd = cli.add_subcommand(
      "receive",
      "A demo webhook receiver: print every notification POSTed to it (one line, then the "
      "JSON) and answer 200");
  cmd->add_option("--listen", opt->listen,
                  "HOST:PORT or :PORT to listen on (default 127.0.0.1:9099)");
  return {cmd, [opt] { return run_receive(*opt, std::cout, std::cerr); }};
}

}  // namespace tocsin::cli
