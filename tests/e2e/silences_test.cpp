// End-to-end silences (docs/behaviour.md "Silences"): the real binary quiets what a silence
// covers, pages it when the silence is expired through the API, keeps `never_suppress` alerts out
// of broad silences, refuses bad requests naming the field, and keeps silences across a restart.
// A control alert no silence covers proves the delivery worker ran, instead of sleeping.

#include <doctest/doctest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "core/json.hpp"
#include "core/time.hpp"
#include "support/open_sources.hpp"
#include "support/process.hpp"
#include "support/recording_receiver.hpp"
#include "support/temp_dir.hpp"

namespace e2e_silences_test {

using namespace tocsin::testing;
using tocsin::Json;
using namespace std::chrono_literals;

namespace {

// Each rule pages its own webhook path, so the receiver tells which alert paged.
std::string rules_for(const RecordingReceiver& receiver, const std::string& api = "") {
  const std::string url = receiver.url();
  return "version: 1\n" + sources_section() + "channels:\n" + "  forms: {type: webhook, url: \"" +
         url + "/forms\"}\n" + "  guard: {type: webhook, url: \"" + url + "/guard\"}\n" +
         "  control: {type: webhook, url: \"" + url + "/control\"}\n" +
         R"(silences: {max_duration: 1h}
rules:
  - {name: guard, match: {name: "guard-*"}, never_suppress: true, notify: [guard]}
  - {name: forms, match: {name: "forms-*"}, notify: [forms]}
  - {name: control, match: {name: "control-*"}, notify: [control]}
)" + api;
}

const std::string k_tokens = R"(api:
  tokens:
    - {name: reader, token_env: TEST_READ_TOKEN, scope: read}
    - {name: admin, token_env: TEST_ADMIN_TOKEN, scope: write}
)";
const httplib::Headers k_read = {{"Authorization", "Bearer read-secret"}};
const httplib::Headers k_admin = {{"Authorization", "Bearer admin-secret"}};

struct SilenceEnv {
  RecordingReceiver receiver;
  TempDir dir;
  std::string rules = dir.file("rules.yaml");
  std::string db = dir.file("t.db");
  std::unique_ptr<ServerProcess> server;
  httplib::Headers auth;

  explicit SilenceEnv(bool tokens = false) : auth(tokens ? k_admin : httplib::Headers{}) {
    std::ofstream(rules) << rules_for(receiver, tokens ? k_tokens : "");
    start("a.log");
  }
  void start(const std::string& log) {
    server = std::make_unique<ServerProcess>(
        dir.file(log), std::vector<std::string>{"--rules", rules, "--db", db},
        std::vector<std::string>{"TEST_READ_TOKEN=read-secret", "TEST_ADMIN_TOKEN=admin-secret"});
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(10, 0);
    return c;
  }

  // Fires a generic alert named `key`; returns its alert id.
  std::int64_t fire(const std::string& key) {
    auto c = client();
    auto r = c.Post("/hooks/generic", Json{{"key", key}, {"status", "firing"}}.dump(),
                    "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return Json::parse(r->body)["results"][0]["alert_id"].get<std::int64_t>();
  }
  httplib::Result add(const Json& body, const httplib::Headers& headers) {
    return client().Post("/api/v1/silences", headers, body.dump(), "application/json");
  }
  // Adds a silence that must be accepted; returns its answer.
  Json silence(const Json& matchers, const std::string& duration = "30m") {
    auto r = add(Json{{"matchers", matchers},
                      {"duration", duration},
                      {"by", "alice"},
                      {"comment", "database upgrade"}},
                 auth);
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 201);
    return Json::parse(r->body);
  }
  Json get(const std::string& path) {
    auto r = client().Get(path, auth);
    REQUIRE(r);
    INFO(path << " " << r->body);
    REQUIRE(r->status == 200);
    return Json::parse(r->body);
  }
  httplib::Result expire(std::int64_t id, const std::string& body = "") {
    return client().Post("/api/v1/silences/" + std::to_string(id) + "/expire", auth, body,
                         "application/json");
  }
  // The paths the receiver got so far, after the control alert `key` was delivered: every
  // page decided before it is then in the outbox, and the worker has run past them.
  std::vector<std::string> paths_after_control(const std::string& key) {
    const std::size_t before = receiver.requests().size();
    fire(key);
    std::vector<std::string> paths;
    for (std::size_t n = before + 1; n <= before + 4; ++n) {
      paths.clear();
      for (const auto& r : receiver.wait_for(n))
        paths.push_back(r.path);
      if (std::find(paths.begin(), paths.end(), "/control") != paths.end()) break;
    }
    return paths;
  }
  // The value of a metric line that starts with `series`, or -1.
  long metric(const std::string& series) {
    auto r = client().Get("/metrics");
    REQUIRE(r);
    std::smatch m;
    const std::regex line("(^|\n)" + std::regex_replace(series, std::regex("[{}]"), R"(\$&)") +
                          " ([0-9]+)");
    if (!std::regex_search(r->body, m, line)) return -1;
    return std::stol(m[2]);
  }
};

long count(const std::vector<std::string>& paths, const std::string& path) {
  return std::count(paths.begin(), paths.end(), path);
}

std::vector<std::string> outcomes(const Json& events) {
  std::vector<std::string> out;
  for (const auto& e : events["events"])
    out.push_back(e["outcome"]);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

TEST_CASE("silences: a silenced alert opens and is logged, pages nobody, and pages when expired") {
  SilenceEnv env;
  const Json silence = env.silence(Json{{"name", "forms-*"}});
  CHECK(silence["status"] == "active");
  CHECK(silence["withheld"] == 0);
  CHECK(silence["paged"] == 0);
  CHECK(silence["by"] == "alice");
  const std::int64_t sid = silence["id"];
  CHECK(env.metric("tocsin_silences_active") == 1);

  const std::int64_t id = env.fire("forms-api-5xx");
  const auto events = outcomes(env.get("/api/v1/alerts/" + std::to_string(id) + "/events"));
  CHECK(has(events, "created"));
  CHECK(has(events, "silenced"));
  CHECK(env.metric(R"(tocsin_decisions_total{decision="silenced"})") == 1);
  const Json detail = env.get("/api/v1/alerts/" + std::to_string(id));
  CHECK(detail["status"] == "open");
  REQUIRE(detail["silences"].size() == 1);
  CHECK(detail["silences"][0]["id"] == sid);

  auto paths = env.paths_after_control("control-1");
  CHECK(count(paths, "/control") == 1);
  CHECK(count(paths, "/forms") == 0);

  // Expired through the API: the episode it withheld pages at once.
  auto expired = env.expire(sid);
  REQUIRE(expired);
  INFO(expired->body);
  REQUIRE(expired->status == 200);
  const Json ended = Json::parse(expired->body);
  CHECK(ended["status"] == "expired");
  CHECK(ended["expired_by"] == "api");  // no body, no token: the open API's name
  CHECK(ended["withheld"] == 1);
  CHECK(ended["paged"] == 1);
  auto sent = env.receiver.wait_for(2);
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].path == "/forms");
  CHECK(has(outcomes(env.get("/api/v1/alerts/" + std::to_string(id) + "/events")), "unsilenced"));
  CHECK(env.get("/api/v1/alerts/" + std::to_string(id))["silences"].empty());
  CHECK(env.metric("tocsin_silences_active") == 0);

  auto twice = env.expire(sid, R"({"by": "bob"})");
  REQUIRE(twice);
  CHECK(twice->status == 409);
  CHECK(Json::parse(twice->body)["error"] == "silence_ended");
  CHECK(env.server->stop() == 0);
}

TEST_CASE("silences: a never_suppress alert is quieted by an exact name, never by a glob") {
  SilenceEnv env;
  env.silence(Json{{"name", "guard-*"}});
  env.silence(Json{{"name", "guard-exact"}});
  const std::int64_t globbed = env.fire("guard-queue-age");
  const std::int64_t named = env.fire("guard-exact");
  auto paths = env.paths_after_control("control-1");
  CHECK(count(paths, "/guard") == 1);  // the glob's, not the exact name's
  CHECK_FALSE(
      has(outcomes(env.get("/api/v1/alerts/" + std::to_string(globbed) + "/events")), "silenced"));
  CHECK(has(outcomes(env.get("/api/v1/alerts/" + std::to_string(named) + "/events")), "silenced"));
  // The alert's detail and ?alert= show only the silences that can quiet it.
  CHECK(env.get("/api/v1/alerts/" + std::to_string(globbed))["silences"].empty());
  CHECK(env.get("/api/v1/silences?alert=" + std::to_string(globbed))["silences"].empty());
  const Json mine = env.get("/api/v1/silences?alert=" + std::to_string(named));
  REQUIRE(mine["silences"].size() == 1);
  CHECK(mine["silences"][0]["matchers"]["name"] == "guard-exact");
  CHECK(env.server->stop() == 0);
}

TEST_CASE("silences: bad requests are 400s naming the field, and writing needs the write scope") {
  SilenceEnv env(true);
  const Json good{{"matchers", {{"name", "forms-*"}}},
                  {"duration", "30m"},
                  {"by", "alice"},
                  {"comment", "upgrade"}};
  struct Case {
    const char* intent;
    Json body;
    const char* field;
  };
  auto without = [&](const char* key) {
    Json b = good;
    b.erase(key);
    return b;
  };
  auto with = [&](const char* key, Json value) {
    Json b = good;
    b[key] = std::move(value);
    return b;
  };
  const Case cases[] = {
      {"who quiets is required", without("by"), "by"},
      {"why is required", without("comment"), "comment"},
      {"one end, not two", with("ends_at", "2099-01-01T00:00:00Z"), "duration"},
      {"no longer than silences.max_duration", with("duration", "2h"), "duration"},
      {"a silence of everything is refused", with("matchers", Json::object()), "matchers"},
  };
  for (const auto& c : cases) {
    INFO(c.intent);
    auto r = env.add(c.body, k_admin);
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 400);
    const Json e = Json::parse(r->body);
    CHECK(e["error"] == "invalid_silence");
    CHECK(e["detail"].get<std::string>().rfind(std::string(c.field) + " ", 0) == 0);
  }
  auto not_json = env.client().Post("/api/v1/silences", k_admin, "{", "application/json");
  REQUIRE(not_json);
  CHECK(not_json->status == 400);
  auto no_token = env.add(good, {});
  REQUIRE(no_token);
  CHECK(no_token->status == 401);
  auto read_token = env.add(good, k_read);
  REQUIRE(read_token);
  CHECK(read_token->status == 403);
  CHECK(env.get("/api/v1/silences")["silences"].empty());  // nothing refused was stored

  // The expire defaults to the caller's token name.
  const std::int64_t sid = env.silence(good["matchers"])["id"];
  auto read_expire = env.client().Post("/api/v1/silences/" + std::to_string(sid) + "/expire",
                                       k_read, "", "application/json");
  REQUIRE(read_expire);
  CHECK(read_expire->status == 403);
  auto expired = env.expire(sid);
  REQUIRE(expired);
  REQUIRE(expired->status == 200);
  CHECK(Json::parse(expired->body)["expired_by"] == "admin");
  CHECK(env.server->stop() == 0);
}

TEST_CASE("silences: listed by status and alert, read one by one, kept across a restart") {
  SilenceEnv env;
  const std::int64_t forms = env.silence(Json{{"name", "forms-*"}})["id"];
  const std::int64_t control = env.silence(Json{{"name", "control-9"}})["id"];
  const std::string ahead = tocsin::format_timestamp(
      std::chrono::time_point_cast<tocsin::Duration>(std::chrono::system_clock::now() + 2h));
  auto pending = env.add(Json{{"matchers", {{"name", "forms-db-*"}}},
                              {"starts_at", ahead},
                              {"duration", "1h"},
                              {"by", "carol"},
                              {"comment", "maintenance window"}},
                         {});
  REQUIRE(pending);
  INFO(pending->body);
  REQUIRE(pending->status == 201);
  const Json window = Json::parse(pending->body);
  CHECK(window["status"] == "pending");
  CHECK(window["starts_at"] == ahead);
  REQUIRE(env.expire(control)->status == 200);

  auto ids = [&](const std::string& query) {
    std::vector<std::int64_t> out;
    const Json list = env.get("/api/v1/silences" + query);
    for (const auto& s : list["silences"])
      out.push_back(s["id"]);
    return out;
  };
  const std::int64_t later = window["id"];
  CHECK(ids("") == std::vector<std::int64_t>{later, control, forms});  // newest first
  CHECK(ids("?status=active") == std::vector<std::int64_t>{forms});
  CHECK(ids("?status=pending") == std::vector<std::int64_t>{later});
  CHECK(ids("?status=expired") == std::vector<std::int64_t>{control});
  CHECK(ids("?limit=1") == std::vector<std::int64_t>{later});
  const std::int64_t alert = env.fire("forms-db-replica-lag");
  CHECK(ids("?alert=" + std::to_string(alert)) == std::vector<std::int64_t>{later, forms});
  CHECK(ids("?alert=" + std::to_string(alert) + "&status=active") ==
        std::vector<std::int64_t>{forms});
  Json detail = env.get("/api/v1/alerts/" + std::to_string(alert));
  REQUIRE(detail["silences"].size() == 2);  // active, then pending

  struct Bad {
    const char* intent;
    std::string path;
    int status;
    const char* names;
  };
  const Bad bad[] = {
      {"an unknown status", "/api/v1/silences?status=forever", 400, "status"},
      {"an unknown parameter", "/api/v1/silences?matcher=x", 400, "matcher"},
      {"a limit out of range", "/api/v1/silences?limit=0", 400, "limit"},
      {"an unknown alert", "/api/v1/silences?alert=999999", 404, "999999"},
      {"an unknown silence", "/api/v1/silences/999999", 404, "999999"},
      {"an id that is no number", "/api/v1/silences/abc", 400, "abc"},
  };
  for (const auto& b : bad) {
    INFO(b.intent);
    auto r = env.client().Get(b.path);
    REQUIRE(r);
    CHECK(r->status == b.status);
    CHECK(Json::parse(r->body)["detail"].get<std::string>().find(b.names) != std::string::npos);
  }
  auto unknown_expire = env.expire(999999);
  REQUIRE(unknown_expire);
  CHECK(unknown_expire->status == 404);

  const Json before = env.get("/api/v1/silences/" + std::to_string(forms));
  CHECK(before["status"] == "active");
  CHECK(before["matchers"] == Json{{"name", "forms-*"}});
  CHECK(env.server->stop() == 0);
  env.start("b.log");
  const Json after = env.get("/api/v1/silences/" + std::to_string(forms));
  CHECK(after == before);
  CHECK(env.metric("tocsin_silences_active") == 1);
  CHECK(env.server->stop() == 0);
}

}  // namespace e2e_silences_test
