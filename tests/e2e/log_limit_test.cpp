// End-to-end: a flood of warnings an outsider sets off leaves the log readable
// (docs/behaviour.md "Logs"). The first line of a kind is written in full; the others within the
// minute are counted, and the count is told (here when the server stops), so the lines written
// and the lines counted add up to the requests refused.

#include <doctest/doctest.h>
#include <httplib.h>

#include <regex>
#include <sstream>
#include <string>

#include "support/raw_client.hpp"
#include "support/rules_server.hpp"

namespace e2e_log_limit_test {

using namespace tocsin::testing;

namespace {

const std::string k_firing = R"({"key": "disk", "status": "firing"})";

struct Told {
  int written = 0;    // lines of the kind written in full
  long counted = 0;   // lines they and the summaries say were suppressed
  std::string first;  // the first line written
};

// Reads `log` for the lines that start with `line` (written in full, perhaps with
// "(and N more like this ...)") and the summaries "N more 'KIND' line(s) suppressed".
Told told(const std::string& log, const std::string& line, const std::string& summary_lead,
          const std::string& kind) {
  Told t;
  const std::regex more(R"(\(and ([0-9,]+) more like this in the last )");
  const std::regex summary(summary_lead + "([0-9,]+) more '" + kind + "' lines? suppressed");
  const auto count = [](std::string digits) {
    std::erase(digits, ',');
    return std::stol(digits);
  };
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (l.find(line) != std::string::npos) {
      if (t.written++ == 0) t.first = l;
      if (std::regex_search(l, m, more)) t.counted += count(m[1]);
    } else if (std::regex_search(l, m, summary)) {
      t.counted += count(m[1]);
    }
  }
  return t;
}

}  // namespace

TEST_CASE("log limit: 500 refused hook requests write a line or two, and the count of the rest") {
  RulesServer s(RulesServer::with_sections("sources:\n  generic: {token_env: T_GENERIC}\n"), {},
                {"T_GENERIC=hook-secret"});
  auto c = s.client();
  constexpr int k_requests = 500;
  for (int i = 0; i < k_requests; ++i) {
    auto r = c.Post("/hooks/generic", {{"X-Tocsin-Token", "wrong"}}, k_firing, "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 401);
  }
  CHECK(s.server->stop() == 0);  // the server tells what it still holds as it stops
  const auto log = s.server->log();
  const auto t = told(log, "/hooks/generic: refused with", "/hooks/generic: ", "refused");
  INFO(log.substr(0, 4000));
  CHECK(t.written >= 1);
  CHECK(t.written <= 3);  // one a minute: the flood lasts a few seconds at most
  CHECK(t.written + t.counted == k_requests);
  // The first still names the problem.
  CHECK(t.first.find("refused with 401 invalid_token: the token does not match") !=
        std::string::npos);
}

TEST_CASE("log limit: 200 malformed requests from the outside write a line, and the count") {
  RulesServer s(RulesServer::with_sections(""));
  constexpr int k_requests = 200;
  for (int i = 0; i < k_requests; ++i) {
    RawClient raw(s.port());
    REQUIRE(raw.connected());
    REQUIRE(
        raw.send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"));
    REQUIRE(raw.wait_received("HTTP/1.1 400", std::chrono::seconds(3)));
  }
  CHECK(s.server->stop() == 0);
  const auto log = s.server->log();
  const auto t = told(log, "http: refused a request from", "http: ", "refused a request");
  INFO(log.substr(0, 4000));
  CHECK(t.written >= 1);
  CHECK(t.written <= 3);
  CHECK(t.written + t.counted == k_requests);
  CHECK(t.first.find("with 400") != std::string::npos);
}

}  // namespace e2e_log_limit_test
