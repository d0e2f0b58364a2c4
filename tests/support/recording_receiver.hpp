#pragma once
// A real HTTP server on loopback that records every request and answers from a script:
// the stand-in for OpsGenie, PagerDuty, Slack and webhooks in delivery tests.

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tocsin::testing {

struct RecordedRequest {
  std::string method, path, body;
  httplib::Headers headers;
  int remote_port = 0;  // the sender's side of the connection: one per connection
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct ScriptedAnswer {
  int status = 202;
  std::string body = R"({"result":"Request will be processed"})";
  std::string retry_after;            // sent as Retry-After when not empty
  std::chrono::milliseconds hang{0};  // wait this long before answering
  // Answer with the request itself (request line, every header, body) instead of `body`, as
  // a misbehaving receiver or a debugging proxy does: it carries the request's secrets back.
  bool echo = false;
};

// What `echo` answers: "POST /path?query\nName: value\n...\n\nbody".
inline std::string echo_of(const httplib::Request& req, const std::string& target) {
  std::string text = req.method + " " + target + "\n";
  for (const auto& [name, value] : req.headers)
    text += name + ": " + value + "\n";
  return text + "\n" + req.body;
}

class RecordingReceiver {
 public:
  RecordingReceiver() {
    m_server.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      ScriptedAnswer answer;
      std::string target;
      {
        std::lock_guard lock(m_mutex);
        answer = m_default;
        target = req.path;
        char sep = '?';
        for (const auto& [k, v] : req.params) {
          target += sep + k + "=" + v;
          sep = '&';
        }
        m_requests.push_back(RecordedRequest{req.method, target, req.body, req.headers, req.remote_port});
        if (!m_script.empty()) {
          answer = m_script.front();
          m_script.pop_front();
        }
      }
      m_changed.notify_all();
      if (answer.hang.count() > 0) std::this_thread::sleep_for(answer.hang);
      res.status = answer.status;
      if (!answer.retry_after.empty()) res.set_header("Retry-After", answer.retry_after);
      res.set_content(answer.echo ? echo_of(req, target) : answer.body,
                      answer.echo ? "text/plain" : "application/json");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    // httplib 0.11 has no wait_until_ready: the port is bound already, so connections queue
    // in the backlog until the loop runs; still, wait (bounded) for it to be running.
    for (int i = 0; i < 200 && !m_server.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~RecordingReceiver() {
    m_server.stop();
    if (m_thread.joinable()) m_thread.join();
  }
  RecordingReceiver(const RecordingReceiver&) = delete;
  RecordingReceiver& operator=(const RecordingReceiver&) = delete;

  int port() const { return m_port; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

  // What every request gets once the script is used up (202 unless set).
  void answer_all(ScriptedAnswer answer) {
    std::lock_guard lock(m_mutex);
    m_default = std::move(answer);
  }

  // Answers for the next requests, in order; afterwards every request gets the default.
  void script(std::vector<ScriptedAnswer> answers) {
    std::lock_guard lock(m_mutex);
    m_script.assign(answers.begin(), answers.end());
  }

  // Waits until `n` requests arrived (bounded); returns them all.
  std::vector<RecordedRequest> wait_for(
      std::size_t n, std::chrono::milliseconds bound = std::chrono::seconds(15)) {
    std::unique_lock lock(m_mutex);
    m_changed.wait_for(lock, bound, [&] { return m_requests.size() >= n; });
    return m_requests;
  }

  std::vector<RecordedRequest> requests() {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }

 private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<RecordedRequest> m_requests;  // GUARDED_BY(m_mutex)
  std::deque<ScriptedAnswer> m_script;      // GUARDED_BY(m_mutex)
  ScriptedAnswer m_default;                 // GUARDED_BY(m_mutex)
};

}  // namespace tocsin::testing
