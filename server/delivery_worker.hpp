#pragma once
// The outbox worker (docs/behaviour.md "Delivery"): sends due notifications, in order per episode
// and channel, retries what may succeed later, and records every attempt. At least once: a row is
// claimed (its attempt counted) before it is sent and settled after, so a crash in between resends
// it at the next start rather than losing it.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_annotations.hpp"
#include "delivery/format.hpp"
#include "delivery/policy.hpp"
#include "engine/rules_holder.hpp"
#include "rules/loader.hpp"
#include "server/doorbell.hpp"
#include "server/metrics.hpp"
#include "storage/reader.hpp"
#include "storage/writer.hpp"

namespace httplib {
class Client;
}

namespace tocsin::server {

// Sends one request within `timeout`, never following a redirect.
using Sender =
    std::function<delivery::AttemptResult(const delivery::HttpRequest&, Duration timeout)>;

// The real sender: cpp-httplib, TLS verified against the system CAs, timeouts on connect,
// read and write, and `timeout` as an overall deadline: the whole request (connect, write,
// headers, body) is abandoned once it has lasted `timeout`, however the receiver trickles its
// answer, and fails "timed out after <timeout>" (a claim must outlast every request it
// covers; docs/postgres.md "Instances and claims"). A failure's error is its cause
// (http/http_failure.hpp) and where it went, "connection refused: http://127.0.0.1:9000/hook", the
// URL as request.shown_url has it (all but the origin hidden when that is empty).
delivery::AttemptResult send_http(const delivery::HttpRequest& request, Duration timeout);

// While one lives on a thread, send_http on that thread keeps its connections open between
// requests, one per origin (`scheme://host[:port]`), instead of one connection per request; a
// connection that failed or was cut at the timeout is dropped, and all are closed by close()
// or when the outermost KeptConnections of the thread ends (an inner one changes nothing).
class KeptConnections {
 public:
  KeptConnections();
  ~KeptConnections();
  KeptConnections(const KeptConnections&) = delete;
  KeptConnections& operator=(const KeptConnections&) = delete;
  void close() const;

 private:
  std::unique_ptr<std::map<std::string, std::unique_ptr<httplib::Client>>> m_connections;
};

// What a claim lasts beyond its batch's requests (each at most delivery.timeout): one timeout
// for the diagnosis of a connection that failed (http::failure_cause connects once more; the
// batch stops at its first request without an answer, so there is one at most), and 5 s for
// the reads between requests and the record's wait in the writer's queue. A claim runs for
// most * timeout + claim_margin(timeout) from when its job runs.
inline Duration claim_margin(Duration timeout) {
  return timeout + std::chrono::seconds(5);
}

// Concurrency and isolation: each thread sends one batch at a time, and a batch is a lane of
// ONE channel, so a receiver that hangs holds back its own channel only. A channel whose last
// request got an answer may have up to threads - 1 lanes (one thread is always left to the
// others) of up to `batch` rows; a channel not heard from yet, or whose last request got no
// answer (refused, reset, timed out), gets one lane of one row, and all such channels together
// at most threads / 2 lanes, so hung receivers never take every thread.
struct DeliveryWorkerOptions {
  int threads = 4;  // the most requests in flight at once
  int batch = 8;    // rows claimed and recorded per transaction by one lane
  // How often an idle worker looks for due rows (retries, another instance's work), unless
  // the doorbell rings first, or a channel's probe, pace or hold ends first.
  std::chrono::milliseconds poll{100};
  Doorbell* doorbell = nullptr;  // rung when notifications are queued (server::App's)
  std::string public_url;        // for links back to Tocsin in messages
  rules::EnvLookup env = rules::process_env();  // where channel secrets are read
  // Several instances on one database (docs/postgres.md "Instances and claims"): the claims
  // this worker makes name `instance`; a claim by an instance not seen within `live_within`
  // is taken over (server::Cluster::k_live_within when serving).
  std::string instance = "local";
  Duration live_within = std::chrono::seconds(15);
};

class DeliveryWorker {
 public:
  DeliveryWorker(storage::Writer& writer, storage::Reader& reader, const Clock& clock,
                 const engine::RulesHolder& rules, Metrics& metrics, Sender sender,
                 DeliveryWorkerOptions options);
  ~DeliveryWorker();
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  // Starts the sending threads (tests may drive deliver_one() instead).
  void start();
  // Lets requests in flight finish (each bounded by delivery.timeout), then stops.
  void stop();

  // Claims the next due notification, sends it and records the attempt, on the caller's
  // thread. Returns false when nothing was due (or storage failed; logged).
  bool deliver_one();
  // The same for up to `max_rows` due rows of distinct queues of one channel (the most urgent
  // priority first), claimed in one transaction and recorded in one. Returns how many were
  // attempted.
  int deliver(int max_rows);

 private:
  void run();
  void update_gauges();
  // When an idle thread looks for due rows next (run()).
  std::chrono::steady_clock::time_point next_poll();
  // One line a minute per channel that is down
  // (docs/behaviour.md "The circuit breaker and the catch-up").
  void tell_down_channels(const std::vector<storage::ChannelStatus>& channels, TimePoint now);
  int healthy_lanes() const;
  int unproven_lanes() const;
  // The rules' channels with no lane to spare (see DeliveryWorkerOptions).
  std::vector<std::string> full_channels(const rules::Rules& rules) const REQUIRES(m_mutex);
  // Remembers whether the channel answered its latest request.
  void note_answer(const std::string& channel, const delivery::AttemptResult& result);

  storage::Writer& m_writer;
  storage::Reader& m_reader;
  const Clock& m_clock;
  const engine::RulesHolder& m_rules;
  Metrics& m_metrics;
  Sender m_sender;
  DeliveryWorkerOptions m_options;

  Mutex m_mutex;
  CondVar m_wake;
  bool m_stopping GUARDED_BY(m_mutex) = false;
  std::set<std::string> m_in_flight GUARDED_BY(m_mutex);   // alias + '\n' + channel
  std::map<std::string, int> m_lanes GUARDED_BY(m_mutex);  // batches per channel
  std::set<std::string> m_answering GUARDED_BY(m_mutex);   // last request got an HTTP answer
  std::mt19937_64 m_random GUARDED_BY(m_mutex){std::random_device{}()};
  std::chrono::steady_clock::time_point m_gauges_at GUARDED_BY(m_mutex){};
  // When a thread last polled and found nothing to send (run()).
  std::chrono::steady_clock::time_point m_polled_empty GUARDED_BY(m_mutex){};
  // The earliest time a channel's probe, pace or hold ends, as the last claim saw them.
  std::optional<TimePoint> m_next_unblock GUARDED_BY(m_mutex);
  // Channels down, and when their last line was logged: at most one a minute each.
  std::map<std::string, TimePoint> m_down_told GUARDED_BY(m_mutex);
  std::vector<std::thread> m_threads;
};

}  // namespace tocsin::server
