// End-to-end: the command-line client (`tocsin alerts`, `show`, `ack`, `unack`, `resolve`,
// `notifications`, `silence`) run as a process against a real server with known alerts and
// api tokens: what each prints on stdout and stderr, its exit status, each error case, and that
// `tocsin ack` really stops the escalation (the API shows the episode acknowledged and no
// escalation step pending).

#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "core/json.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace e2e_client_cli_test {

using namespace tocsin::testing;
using tocsin::Json;

namespace {

const std::string k_rules = "version: 1\n" + sources_section() + R"(channels:
  oncall: {type: webhook, url: "http://127.0.0.1:9/oncall"}
  cto: {type: webhook, url: "http://127.0.0.1:9/cto"}
escalations:
  page: {steps: [{after: 0m, notify: [oncall]}, {after: 20m, notify: [cto]}]}
rules:
  - {name: everything, match: {}, escalation: page}
api:
  tokens:
    - {name: reader, token_env: TEST_READ_TOKEN, scope: read}
    - {name: admin, token_env: TEST_ADMIN_TOKEN, scope: write}
)";

const httplib::Headers k_read = {{"Authorization", "Bearer read-secret"}};

// A loopback port with a listening socket that never accepts: a connection is made (the
// kernel's backlog), and no answer ever comes.
struct SilentListener {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  SilentListener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd); }
};

// A loopback port nothing listens on.
int closed_port() {
  SilentListener l;
  const int port = l.port;
  return port;  // closed when `l` goes
}

struct ClientEnv {
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::unique_ptr<ServerProcess> server;

  ClientEnv() {
    std::ofstream(rules) << k_rules;
    server = std::make_unique<ServerProcess>(
        dir.file("server.log"),
        std::vector<std::string>{"--rules", rules, "--db", dir.file("t.db")},
        std::vector<std::string>{"TEST_READ_TOKEN=read-secret", "TEST_ADMIN_TOKEN=admin-secret"});
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(10, 0);
    return c;
  }
  std::int64_t fire(const std::string& key, const std::string& severity) {
    auto c = client();
    auto r = c.Post("/hooks/generic",
                    Json{{"key", key},
                         {"status", "firing"},
                         {"severity", severity},
                         {"summary", key + " is on fire"}}
                        .dump(),
                    "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return Json::parse(r->body)["results"][0]["alert_id"].get<std::int64_t>();
  }
  Json alert(std::int64_t id) const {
    auto c = client();
    auto r = c.Get("/api/v1/alerts/" + std::to_string(id), k_read);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return Json::parse(r->body);
  }
  // `tocsin ARGS` with TOCSIN_URL pointing at this server and the given token.
  SplitResult run(std::vector<std::string> args, const std::string& token = "admin-secret") const {
    std::vector<std::string> env{"TOCSIN_URL=" + url(), "USER=carol"};
    if (!token.empty()) env.push_back("TOCSIN_TOKEN=" + token);
    return run_tocsin_split(args, env);
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("client: list, show, ack, unack, resolve and the outbox against a real server") {
  ClientEnv env;
  const std::int64_t db = env.fire("db-cpu", "critical");
  const std::int64_t disk = env.fire("disk-full", "warning");
  const std::string db_id = std::to_string(db);

  SUBCASE("alerts: a table, its filters, and the raw answer with --json") {
    auto all = env.run({"alerts"}, "read-secret");
    CHECK(all.exit_code == 0);
    CHECK(all.err.empty());
    CHECK(has(all.out, "ID  STATUS  SEVERITY  LVL  NAME       AGE"));
    CHECK(has(all.out, db_id + "   open    critical  0    db-cpu"));
    CHECK(has(all.out, "disk-full"));
    CHECK(has(all.out, "alerts 1-2 of 2"));

    auto critical = env.run({"alerts", "--severity", "critical"}, "read-secret");
    CHECK(critical.exit_code == 0);
    CHECK(has(critical.out, "db-cpu"));
    CHECK_FALSE(has(critical.out, "disk-full"));

    auto json = env.run({"alerts", "--json", "-q", "disk"}, "read-secret");
    CHECK(json.exit_code == 0);
    const Json page = Json::parse(json.out);
    REQUIRE(page["alerts"].size() == 1);
    CHECK(page["alerts"][0]["alert_id"] == disk);
    CHECK(page["total"] == 1);
  }

  SUBCASE("ack stops the escalation; show tells who, why, and what is pending") {
    bool step_pending = false;
    const Json before = env.alert(db);  // kept: a range-for over a temporary's member dangles
    for (const auto& t : before["timers"])
      step_pending |= t["kind"] == "escalation";
    REQUIRE(step_pending);

    auto ack = env.run({"ack", db_id, "--note", "looking into it"});
    CHECK(ack.exit_code == 0);
    CHECK(ack.err.empty());
    // The login name: getlogin() where the test runs in a login session, else $USER.
    const char* login = ::getlogin();
    const std::string me = login && *login ? login : "carol";
    CHECK(ack.out == "alert " + db_id + " (generic:db-cpu) episode 1: acknowledged by " + me +
                         "; now acknowledged\n");
    // The API agrees: acknowledged by the login name, no escalation step left.
    const Json acked = env.alert(db);
    CHECK(acked["status"] == "acknowledged");
    CHECK(acked["episode"]["acknowledged_by"] == me);
    for (const auto& t : acked["timers"])
      CHECK(t["kind"] != "escalation");

    auto show = env.run({"show", db_id}, "read-secret");
    CHECK(show.exit_code == 0);
    CHECK(show.err.empty());
    CHECK(has(show.out, "alert " + db_id + "  generic:db-cpu"));
    CHECK(has(show.out, "summary: db-cpu is on fire"));
    CHECK(has(show.out, "acknowledged by " + me));
    CHECK(has(show.out, "created       first_occurrence"));
    CHECK(has(show.out, "acknowledged  by " + me + ": looking into it"));
    CHECK(has(show.out, "oncall   acknowledge"));
    CHECK(has(show.out, "oncall   trigger"));

    auto twice = env.run({"ack", db_id, "--by", "dave"});
    CHECK(twice.exit_code == 1);
    CHECK(twice.out.empty());
    CHECK(has(twice.err, "tocsin: refused (409 already_acknowledged)"));

    auto unack = env.run({"unack", db_id, "--by", "dave"});
    CHECK(unack.exit_code == 0);
    CHECK(has(unack.out, "unacknowledged by dave; now open"));
    bool resumed = false;
    const Json unacked = env.alert(db);
    for (const auto& t : unacked["timers"])
      resumed |= t["kind"] == "escalation";
    CHECK(resumed);

    auto resolve = env.run({"resolve", db_id, "--by", "dave", "--note", "fixed", "--json"});
    CHECK(resolve.exit_code == 0);
    CHECK(Json::parse(resolve.out)["status"] == "resolved");

    auto outbox = env.run({"notifications", "--alert", db_id}, "read-secret");
    CHECK(outbox.exit_code == 0);
    CHECK(has(outbox.out, "ID  ALERT  CHANNEL  ACTION"));
    CHECK(has(outbox.out, "resolve"));
    auto show_json = env.run({"show", db_id, "--json"}, "read-secret");
    CHECK(show_json.exit_code == 0);
    const Json shown = Json::parse(show_json.out);
    CHECK(shown["alert"]["status"] == "resolved");
    CHECK(shown["events"].size() == 4);
    CHECK(shown["notifications"].size() >= 3);
  }

  SUBCASE("silences: add with label and match flags, list, expire; a 400 shows the detail") {
    auto add = env.run({"silence", "add", "--match", "name=disk-*", "--duration", "1h", "--comment",
                        "resizing the volume", "--by", "erin"});
    CHECK(add.exit_code == 0);
    CHECK(add.err.empty());
    CHECK(has(add.out, "silence 1 active from "));
    CHECK(has(add.out, "by erin: {\"name\":\"disk-*\"} (resizing the volume)"));

    auto list = env.run({"silence", "list", "--status", "active"}, "read-secret");
    CHECK(list.exit_code == 0);
    CHECK(has(list.out, "1   active  erin"));
    CHECK(has(list.out, "resizing the volume"));

    auto expire = env.run({"silence", "expire", "1"});
    CHECK(expire.exit_code == 0);
    CHECK(has(expire.out, "silence 1 expired"));
    const char* login = ::getlogin();
    CHECK(has(expire.out, std::string("expired by ") + (login && *login ? login : "carol")));

    auto bad = env.run(
        {"silence", "add", "--match", "name=*", "--duration", "1h", "--comment", "everything"});
    CHECK(bad.exit_code == 7);
    CHECK(bad.out.empty());
    CHECK(has(bad.err, "tocsin: the server refused the request (400 invalid_silence): matchers"));

    auto neither = env.run({"silence", "add", "--match", "name=x", "--comment", "c"});
    CHECK(neither.exit_code == 2);
    CHECK(has(neither.err, "give one of --duration or --until"));
  }
  CHECK(env.server->stop() == 0);
}

TEST_CASE("client: every failure has its own message on stderr and its own exit status") {
  ClientEnv env;
  const std::int64_t id = env.fire("db-cpu", "critical");

  SUBCASE("an unknown id is a 404, exit 6") {
    auto r = env.run({"show", std::to_string(id + 100)}, "read-secret");
    CHECK(r.exit_code == 6);
    CHECK(r.out.empty());
    CHECK(r.err == "tocsin: no alert " + std::to_string(id + 100) + "\n");
    auto ack = env.run({"ack", std::to_string(id + 100)});
    CHECK(ack.exit_code == 6);
    CHECK(ack.err == "tocsin: no alert with id " + std::to_string(id + 100) + "\n");
    auto silence = env.run({"silence", "expire", "42"});
    CHECK(silence.exit_code == 6);
    CHECK(has(silence.err, "42"));
  }
  SUBCASE("no token, a wrong one, or a read token for a write: exit 5 naming the scope") {
    auto none = env.run({"alerts"}, "");
    CHECK(none.exit_code == 5);
    CHECK(has(none.err, "(401 unauthorized)"));
    CHECK(has(none.err, "needs a token with read scope"));
    auto wrong = env.run({"alerts"}, "not-the-token");
    CHECK(wrong.exit_code == 5);
    CHECK(has(wrong.err, "invalid bearer token"));
    CHECK_FALSE(has(wrong.err, "not-the-token"));  // a token is never printed
    auto read_only = env.run({"ack", std::to_string(id)}, "read-secret");
    CHECK(read_only.exit_code == 5);
    CHECK(has(read_only.err, "(403 forbidden)"));
    CHECK(has(read_only.err, "needs a token with write scope"));
    CHECK(env.alert(id)["status"] == "open");
  }
  SUBCASE("a token file is read instead of TOCSIN_TOKEN") {
    const std::string file = env.dir.file("token");
    std::ofstream(file) << "read-secret\n";
    auto r = env.run({"alerts", "--token-file", file}, "");
    CHECK(r.exit_code == 0);
    CHECK(has(r.out, "db-cpu"));
  }
  SUBCASE("an invalid filter is the API's 400 detail, exit 7") {
    auto r = env.run({"alerts", "--status", "sleeping"}, "read-secret");
    CHECK(r.exit_code == 7);
    CHECK(r.err ==
          "tocsin: the server refused the request (400 invalid_parameter): status must be one "
          "of open, acknowledged, resolved, expired, superseded, none; got \"sleeping\"\n");
  }
  SUBCASE("an id that is not a number is a usage error before any request") {
    auto r = env.run({"ack", "../../rules/reload"});
    CHECK(r.exit_code == 2);
    CHECK(has(r.err, "the alert id must be a number"));
  }
  CHECK(env.server->stop() == 0);
}

TEST_CASE("client: an unreachable server and one that never answers") {
  SUBCASE("nothing listens: exit 3 with the URL and the reason") {
    const std::string url = "http://127.0.0.1:" + std::to_string(closed_port());
    auto r = run_tocsin_split({"alerts", "--server", url});
    CHECK(r.exit_code == 3);
    CHECK(r.out.empty());
    CHECK(has(r.err, "tocsin: cannot reach the server at " + url +
                         "/api/v1/alerts: connection refused\n"));
  }
  SUBCASE("no answer within --timeout: exit 4") {
    SilentListener silent;
    const std::string url = "http://127.0.0.1:" + std::to_string(silent.port);
    auto r = run_tocsin_split({"alerts", "--timeout", "1s"}, {"TOCSIN_URL=" + url});
    CHECK(r.exit_code == 4);
    CHECK(has(r.err, "tocsin: no answer from " + url + "/api/v1/alerts (timed out after 1s)"));
  }
  SUBCASE("a URL that is not http(s) is a usage error") {
    auto r = run_tocsin_split({"alerts", "--server", "ftp://example"});
    CHECK(r.exit_code == 2);
    CHECK(has(r.err, "must start with http:// or https://"));
  }
  SUBCASE("a URL with a password, a query, a bad port: usage errors that never repeat a secret") {
    struct Case {
      std::string url, said;
    };
    const Case cases[] = {
        {"http://alice:s3cret@127.0.0.1:8080", "holds a user name or password"},
        {"ftp://alice:s3cret@example", "holds a user name or password"},
        {"http://127.0.0.1:8080/?token=s3cret", "must not hold a query (?) or a fragment (#)"},
        {"http://127.0.0.1:8080#s3cret", "must not hold a query (?) or a fragment (#)"},
        {"http://127.0.0.1:abc", "port must be a number from 1 to 65535, got \"abc\""},
        {"http://127.0.0.1:99999", "port must be a number from 1 to 65535, got \"99999\""},
        {"http://:8080", "has no host"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.url);
      auto r = run_tocsin_split({"alerts", "--server", c.url});
      CHECK(r.exit_code == 2);
      CHECK(has(r.err, c.said));
      CHECK_FALSE(has(r.err, "s3cret"));
    }
  }
}

}  // namespace e2e_client_cli_test
