#include "server/delivery_worker.hpp"

#include <httplib.h>
#include <openssl/err.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include "core/duration.hpp"
#include "core/thread_annotations.hpp"
#include "delivery/breaker.hpp"
#include "delivery/redact.hpp"
#include "http/http_client.hpp"
#include "http/http_failure.hpp"
#include "storage/vocabulary.hpp"

namespace tocsin::server {

namespace {

// How much of a failed request's answer is kept for attempt_error_text.
constexpr std::size_t k_answer_kept_bytes = 64 * 1024;

std::string queue_key(const storage::OutboxRecord& n) {
  return n.alias + '\n' + n.channel;
}

// Ends requests at their overall deadline: cpp-httplib's timeouts bound each read and write,
// not the request, so a receiver trickling a byte now and then could hold one for as long as
// it likes, past the claim on the row (docs/postgres.md "Instances and claims"). At the
// deadline the client's socket is shut down, which fails the read or write in progress; again
// every few milliseconds, since a stop before the socket is open does nothing. One thread
// watches every request in flight (a thread per request cost a clone and a join each); a
// deadline that passes gets a thread of its own for its stop() (see run()).
class DeadlineTimer {
 public:
  using MonoTime = std::chrono::steady_clock::time_point;

  static DeadlineTimer& shared() {
    static DeadlineTimer timer;
    return timer;
  }
  ~DeadlineTimer() {
    std::thread thread;
    {
      MutexLock lock(m_mutex);
      m_stopping = true;
      thread = std::move(m_thread);
    }
    m_wake.notify_all();
    if (thread.joinable()) thread.join();
    // A stopper outlives its request only by its unlock: every request waited in disarm().
    std::vector<std::unique_ptr<Stopper>> stoppers;
    {
      MutexLock lock(m_mutex);
      stoppers = std::move(m_stoppers);
    }
    for (auto& s : stoppers)
      s->thread.join();
  }
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Stops `client` from `deadline` on, until disarm(ticket).
  std::uint64_t arm(httplib::Client& client, MonoTime deadline) {
    bool earliest = false;
    std::uint64_t ticket = 0;
    {
      MutexLock lock(m_mutex);
      ticket = ++m_last_ticket;
      // An entry being stopped is not waited for (its stopper wakes the thread when done).
      earliest = std::all_of(m_armed.begin(), m_armed.end(), [&](const auto& a) {
        return a.second.stopping || deadline < a.second.deadline;
      });
      m_armed.emplace(ticket, Armed{&client, deadline});
      if (!m_thread.joinable()) m_thread = std::thread([this] { run(); });
    }
    if (earliest) m_wake.notify_all();
    return ticket;
  }

  // The request is over: once this returns the timer no longer touches its client. True when
  // the deadline passed (and ended it).
  bool disarm(std::uint64_t ticket) {
    MutexLock lock(m_mutex);
    auto it = m_armed.find(ticket);
    while (it != m_armed.end() && it->second.stopping) {
      m_stopped.wait(m_mutex);
      it = m_armed.find(ticket);
    }
    const bool passed = it != m_armed.end() && it->second.passed;
    if (it != m_armed.end()) m_armed.erase(it);
    return passed;
  }

 private:
  static constexpr auto k_stop_again = std::chrono::milliseconds(10);

  struct Armed {
    httplib::Client* client;
    MonoTime deadline;
    bool passed = false;
    bool stopping = false;  // stop() in progress: disarm() waits for it
  };

  DeadlineTimer() = default;

  void run() {
    m_mutex.lock();
    while (!m_stopping) {
      reap();
      const auto now = std::chrono::steady_clock::now();
      auto next = MonoTime::max();
      for (auto& entry : m_armed) {
        // A named reference, not a structured binding: clang 14 cannot capture one.
        auto& armed = entry.second;
        if (armed.stopping) continue;  // its stopper wakes this thread when done
        if (armed.deadline <= now) {
          armed.passed = armed.stopping = true;
          // On a thread of its own: stop() takes the client's socket mutex, which cpp-httplib
          // holds through a connect and a TLS handshake, for as long as a receiver keeps the
          // handshake trickling. Waited for here, it would hold every other request past its
          // deadline, on every channel. The entry stays (disarm waits while `stopping`).
          auto stopper = std::make_unique<Stopper>();
          Stopper& s = *stopper;
          s.thread = std::thread([this, &armed, &s] {
            armed.client->stop();
            MutexLock lock(m_mutex);
            armed.stopping = false;
            armed.deadline = std::chrono::steady_clock::now() + k_stop_again;  // again then
            s.done = true;
            m_stopped.notify_all();
            m_wake.notify_all();
          });
          m_stoppers.push_back(std::move(stopper));
        } else {
          next = std::min(next, armed.deadline);
        }
      }
      if (next == MonoTime::max()) {
        m_wake.wait(m_mutex);
      } else {
        m_wake.wait_until(m_mutex, next);
      }
    }
    m_mutex.unlock();
  }

  // Joins the stoppers that are done (m_mutex held; each has only its unlock left to run).
  void reap() REQUIRES(m_mutex) {
    for (auto it = m_stoppers.begin(); it != m_stoppers.end();) {
      if ((*it)->done) {
        (*it)->thread.join();
        it = m_stoppers.erase(it);
      } else {
        ++it;
      }
    }
  }

  struct Stopper {
    std::thread thread;
    bool done = false;  // guarded by m_mutex
  };

  Mutex m_mutex;
  CondVar m_wake;     // an earlier deadline, or stopping
  CondVar m_stopped;  // stop() calls done
  bool m_stopping GUARDED_BY(m_mutex) = false;
  std::uint64_t m_last_ticket GUARDED_BY(m_mutex) = 0;
  std::map<std::uint64_t, Armed> m_armed GUARDED_BY(m_mutex);
  std::vector<std::unique_ptr<Stopper>> m_stoppers GUARDED_BY(m_mutex);
  std::thread m_thread GUARDED_BY(m_mutex);
};

// The connections a KeptConnections on this thread keeps open, by origin (null: none kept).
thread_local std::map<std::string, std::unique_ptr<httplib::Client>>* t_kept = nullptr;

}  // namespace

delivery::AttemptResult send_http(const delivery::HttpRequest& request, Duration timeout) {
  delivery::AttemptResult r;
  const auto started = std::chrono::steady_clock::now();
  auto finish = [&] {
    r.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    return r;
  };
  // Where, as an error may name it: a request that did not say is treated as all secret.
  const std::string where =
      request.shown_url.empty() ? delivery::shown_url(request.url, true) : request.shown_url;
  auto parts = http::split_url(request.url);
  if (!parts) {
    r.http_status = 400;  // permanent: the channel's URL is not one we can send to
    r.error = "the channel URL is not an absolute http(s) URL: " + where;
    return finish();
  }
  // A kept connection (KeptConnections) is the origin's until it fails; otherwise one per
  // request.
  std::unique_ptr<httplib::Client> own;
  httplib::Client* kept = nullptr;
  if (t_kept) {
    auto& slot = (*t_kept)[parts->first];
    if (!slot) slot = http::make_client(parts->first);
    kept = slot.get();
  } else {
    own = http::make_client(parts->first);
  }
  httplib::Client& client = kept ? *kept : *own;
  auto drop_kept = [&] {
    if (kept) t_kept->erase(parts->first);  // `client` is gone after this
  };
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout - seconds);
  client.set_connection_timeout(seconds.count(), micros.count());
  client.set_read_timeout(seconds.count(), micros.count());
  client.set_write_timeout(seconds.count(), micros.count());
  client.set_keep_alive(kept != nullptr);
  httplib::Headers headers;
  std::string content_type = "application/json";
  for (const auto& [name, value] : request.headers) {
    if (strcasecmp(name.c_str(), "Content-Type") == 0) {
      content_type = value;
    } else {
      headers.emplace(name, value);
    }
  }
  // OpenSSL reports why a handshake failed in this thread's error queue.
  ERR_clear_error();
  auto& timer = DeadlineTimer::shared();
  const auto ticket = timer.arm(client, started + timeout);
  auto res = client.Post(parts->second, headers, request.body, content_type);
  const bool passed = timer.disarm(ticket);
  if (passed && !res && res.error() != httplib::Error::Connection) {
    // Cut at the deadline, whatever the receiver had sent by then. (An answer read in full
    // just as the deadline passed is kept: it is the receiver's.)
    drop_kept();
    r.error = "timed out after " + format_duration(timeout) + ": " + where;
    return finish();
  }
  if (!res) {
    http::FailedRequest failed;
    std::tie(failed.host, failed.port) = http::host_and_port(parts->first);
    failed.timeout = timeout;
    failed.elapsed =
        std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);
    failed.verify_result = client.get_openssl_verify_result();
    failed.openssl_error = ERR_peek_error();  // the first: the cause, not the cleanup
    ERR_clear_error();
    drop_kept();  // a connection that failed is not reused
    r.error = http::failure_cause(res.error(), failed) + ": " + where;
    return finish();
  }
  // A stop that came as the answer was read leaves the connection shut: not reused.
  if (passed) drop_kept();
  r.http_status = res->status;
  if (res->status < 200 || res->status >= 300) {
    r.error = "HTTP " + std::to_string(res->status) + " from " + where;
    // More than is ever shown, so that a secret near the cut is still whole when redacted.
    r.body = res->body.substr(0, k_answer_kept_bytes);
  }
  if (res->has_header("Retry-After")) {
    // Parsed against the system clock: the header is about the receiver's wall time.
    r.retry_after = delivery::parse_retry_after(
        res->get_header_value("Retry-After"),
        std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()));
  }
  return finish();
}

KeptConnections::KeptConnections() {
  if (t_kept) return;  // an outer one keeps them
  m_connections = std::make_unique<std::map<std::string, std::unique_ptr<httplib::Client>>>();
  t_kept = m_connections.get();
}

KeptConnections::~KeptConnections() {
  if (m_connections) t_kept = nullptr;
}

void KeptConnections::close() const {
  if (t_kept) t_kept->clear();
}

DeliveryWorker::DeliveryWorker(storage::Writer& writer, storage::Reader& reader, const Clock& clock,
                               const engine::RulesHolder& rules, Metrics& metrics, Sender sender,
                               DeliveryWorkerOptions options)
    : m_writer(writer),
      m_reader(reader),
      m_clock(clock),
      m_rules(rules),
      m_metrics(metrics),
      m_sender(std::move(sender)),
      m_options(std::move(options)) {}

DeliveryWorker::~DeliveryWorker() {
  stop();
}

void DeliveryWorker::start() {
  for (int i = 0; i < m_options.threads; ++i)
    m_threads.emplace_back([this] { run(); });
}

void DeliveryWorker::stop() {
  {
    MutexLock lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_options.doorbell) m_options.doorbell->ring();
  for (auto& t : m_threads) {
    if (t.joinable()) t.join();
  }
  m_threads.clear();
}

void DeliveryWorker::run() {
  // Kept while there is work; closed before the thread idles, so that no receiver holds a
  // connection of ours open between bursts.
  KeptConnections connections;
  for (;;) {
    {
      MutexLock lock(m_mutex);
      if (m_stopping) return;
    }
    update_gauges();
    const std::uint64_t rings = m_options.doorbell ? m_options.doorbell->rings() : 0;
    try {
      if (deliver(m_options.batch) > 0) continue;
    } catch (const std::exception& e) {
      // deliver() settles every row it claims; only storage can throw past it. Keep going:
      // the rows are still pending and will be claimed again.
      spdlog::error("delivery: {}", e.what());
    }
    connections.close();
    // Idle threads take turns: after its wait, a thread polls only if no other found nothing
    // within the interval, so an idle worker claims once per interval in all, not once per
    // thread. (A thread that just sent claims again at once.) While a channel is held down
    // with a backlog, every claim reads past that backlog: this keeps an outage cheap.
    {
      MutexLock lock(m_mutex);
      m_polled_empty = std::chrono::steady_clock::now();
    }
    for (;;) {
      const auto until = next_poll();
      if (std::chrono::steady_clock::now() >= until) break;
      if (m_options.doorbell) {
        m_options.doorbell->wait(rings, until);
        if (m_options.doorbell->rings() != rings) break;  // notifications queued: look now
      } else {
        MutexLock lock(m_mutex);
        while (!m_stopping && m_wake.wait_until(m_mutex, until)) {
        }
      }
      MutexLock lock(m_mutex);
      if (m_stopping) break;
    }
  }
}

std::chrono::steady_clock::time_point DeliveryWorker::next_poll() {
  MutexLock lock(m_mutex);
  const auto now = std::chrono::steady_clock::now();
  // One poll per interval among the idle threads; sooner when a channel may send again (its
  // probe, its next paced row, the end of its hold). The thread whose time it is takes the
  // turn, so the others wait for the next.
  auto until = m_polled_empty + m_options.poll;
  if (m_next_unblock) {
    until = std::min(until, now + std::max(*m_next_unblock - m_clock.now(), Duration::zero()));
  }
  if (until > now) return until;
  m_polled_empty = now;
  m_next_unblock.reset();  // the claim sets it again
  return now;
}

void DeliveryWorker::update_gauges() {
  {
    MutexLock lock(m_mutex);
    const auto now = std::chrono::steady_clock::now();
    if (now - m_gauges_at < std::chrono::seconds(1)) return;
    m_gauges_at = now;
  }
  try {
    const auto channels = m_reader.channel_status();
    const TimePoint now = m_clock.now();
    std::int64_t pending = 0;
    std::optional<TimePoint> oldest;
    for (const auto& c : channels) {
      pending += c.pending;
      if (c.oldest_pending && (!oldest || *c.oldest_pending < *oldest)) oldest = c.oldest_pending;
    }
    const double oldest_seconds =
        oldest ? std::chrono::duration<double>(now - *oldest).count() : 0.0;
    m_metrics.set_outbox(pending, std::max(0.0, oldest_seconds));
    m_metrics.set_channels(channels, now);
    tell_down_channels(channels, now);
  } catch (const std::exception& e) {
    spdlog::warn("delivery: cannot read the outbox depth: {}", e.what());
  }
}

void DeliveryWorker::tell_down_channels(const std::vector<storage::ChannelStatus>& channels,
                                        TimePoint now) {
  constexpr Duration k_every = std::chrono::minutes(1);
  for (const auto& c : channels) {
    if (!c.health || !c.health->down()) continue;
    {
      MutexLock lock(m_mutex);
      auto told = m_down_told.find(c.channel);
      // A channel found down that this instance did not see go down (another instance did,
      // or it was down at the start) is told at once.
      if (told != m_down_told.end() && now - told->second < k_every) continue;
      m_down_told[c.channel] = now;
    }
    spdlog::warn("delivery: channel {} down for {}, {} pending, last error: {}", c.channel,
                 format_duration(now - *c.health->down_since), c.pending, c.health->last_error);
  }
}

bool DeliveryWorker::deliver_one() {
  return deliver(1) > 0;
}

namespace {

// One claimed row, sent: what to record.
struct Settled {
  storage::OutboxRecord row;  // as claimed
  bool request_made = false;  // a request left (a configuration error sends none)
  delivery::AttemptResult result;
  delivery::Outcome outcome;
  storage::DeliveryAttempt attempt;
  std::optional<storage::OutboxRecord> meta;
};

}  // namespace

namespace {

// How far back a paced catch-up may count rows owed: a thread wakes when the next row is due,
// so this only absorbs the time a claim takes, never an idle spell's burst.
constexpr Duration k_pace_window = std::chrono::milliseconds(20);

// The fallback's meta-alert about a channel, one per outage: triggered when the channel goes
// down, resolved when it is back
// (docs/behaviour.md "The circuit breaker and the catch-up").
storage::OutboxRecord channel_meta(const rules::Rules& rules, const std::string& channel,
                                   rules::NotifyAction action, std::string why, TimePoint now) {
  storage::OutboxRecord m;
  m.created_at = m.due_at = now;
  m.fingerprint = "tocsin:channel:" + channel;
  m.alias = "tocsin-channel-down-" + channel;
  m.channel = *rules.delivery.fallback;
  m.action = action;
  m.severity = Severity::critical;
  m.priority = Priority{1};
  m.why = std::move(why);
  return m;
}

// The list sent to a channel that is back, before its backlog: what it missed.
storage::OutboxRecord outage_digest(const std::string& channel, std::int64_t number,
                                    const storage::OutageReport& report, TimePoint down_since,
                                    TimePoint now) {
  storage::OutboxRecord d;
  d.created_at = now;
  // First in line among the channel's rows (most urgent, then earliest due).
  d.due_at = report.first_due ? std::min(now, *report.first_due - Duration(1)) : now;
  d.alias = "digest:" + channel + ":" + std::to_string(number);
  d.fingerprint = d.alias;
  d.channel = channel;
  d.action = rules::NotifyAction::digest;
  d.severity = Severity::critical;
  d.priority = Priority{1};
  d.why = "while this channel was unreachable for " + format_duration(now - down_since) + ": " +
          std::to_string(report.notifications) + " notification(s) for " +
          std::to_string(report.alerts) + " alert(s); " + std::to_string(report.open_alerts) +
          " still open";
  return d;
}

// A transition of a channel's breaker, made in the record's transaction, logged after it.
struct ChannelChange {
  std::string channel;
  delivery::Transition transition = delivery::Transition::none;
  storage::ChannelHealth health;  // after
  std::int64_t pending = 0;
  Duration down_for{0};  // came up: how long it was down
  double rate = 0;       // came up: the catch-up rate
};

// The channels' health after the settled requests (in the record's transaction): a failure
// counts toward the breaker, a success or an answer clears it; a channel that goes down tells
// the fallback, one that comes back gets the digest of what it missed first and the fallback
// its resolve (docs/behaviour.md "The circuit breaker and the catch-up").
std::vector<ChannelChange> update_channel_health(storage::Transaction& tx,
                                                 const rules::Rules& rules,
                                                 const std::vector<Settled>& settled,
                                                 TimePoint now) {
  std::vector<ChannelChange> changes;
  // The batch's channel only (a batch is one lane), locked to the commit on PostgreSQL so that
  // two instances' results add up.
  std::map<std::string, storage::ChannelHealth> health;
  std::set<std::string> read;
  for (const auto& st : settled) {
    if (!read.insert(st.row.channel).second) continue;
    if (auto h = tx.channel_health_of(st.row.channel, storage::Transaction::RowLock::wait)) {
      health.emplace(st.row.channel, std::move(*h));
    }
  }
  for (const auto& st : settled) {
    const auto signal = delivery::signal_of(st.result, st.request_made);
    if (!signal) continue;
    auto found = health.find(st.row.channel);
    if (found == health.end()) {
      if (*signal != delivery::Signal::failure) continue;  // healthy, never failed
      storage::ChannelHealth fresh;
      fresh.channel = st.row.channel;
      fresh.changed_at = now;
      found = health.emplace(st.row.channel, std::move(fresh)).first;
    }
    storage::ChannelHealth& h = found->second;
    const storage::ChannelHealth before = h;
    const auto transition = delivery::apply_result(h, *signal, st.result.error,
                                                   st.result.retry_after, rules.delivery, now);
    if (h == before) continue;
    tx.save_channel_health(h);
    if (transition == delivery::Transition::none) continue;
    ChannelChange c;
    c.channel = h.channel;
    c.transition = transition;
    c.health = h;
    c.pending = tx.pending_notifications(h.channel);
    const bool tell_fallback = rules.delivery.fallback && *rules.delivery.fallback != h.channel;
    if (transition == delivery::Transition::went_down) {
      if (tell_fallback) {
        tx.insert_notification(channel_meta(
            rules, h.channel, rules::NotifyAction::trigger,
            "channel \"" + h.channel + "\" is down after " + std::to_string(h.failures) +
                " failed requests in a row (last error: " + h.last_error + "); " +
                std::to_string(c.pending) + " notification(s) held until it answers again",
            now));
      }
    } else {
      c.down_for = now - *before.down_since;
      const auto report = tx.outage_report(h.channel, *before.down_since);
      if (c.pending > 0) {
        tx.insert_notification(outage_digest(h.channel, tx.next_digest_number(h.channel), report,
                                             *before.down_since, now));
      }
      if (tell_fallback) {
        tx.insert_notification(channel_meta(
            rules, h.channel, rules::NotifyAction::resolve,
            "channel \"" + h.channel + "\" answers again after " + format_duration(c.down_for) +
                "; " + std::to_string(c.pending) + " notification(s) to catch up at " +
                fmt::format("{:g}", delivery::catch_up_rate(rules, h.channel)) + "/s",
            now));
      }
      c.rate = delivery::catch_up_rate(rules, h.channel);
    }
    changes.push_back(std::move(c));
  }
  return changes;
}

void log_change(Metrics& metrics, const ChannelChange& c) {
  metrics.count_channel_transition(c.channel,
                                   c.transition == delivery::Transition::went_down ? "down" : "up");
  if (c.transition == delivery::Transition::went_down) {
    spdlog::error(
        "delivery: channel {} is down after {} failed requests in a row (last error: "
        "{}); holding its {} pending notification(s), one probe at a time",
        c.channel, c.health.failures, c.health.last_error, c.pending);
  } else {
    spdlog::info(
        "delivery: channel {} answers again after {}; catching up {} pending "
        "notification(s) at {:g}/s",
        c.channel, format_duration(c.down_for), c.pending, c.rate);
  }
}

}  // namespace

int DeliveryWorker::healthy_lanes() const {
  return std::max(1, m_options.threads - 1);
}

int DeliveryWorker::unproven_lanes() const {
  return std::max(1, m_options.threads / 2);
}

std::vector<std::string> DeliveryWorker::full_channels(const rules::Rules& rules) const {
  int unproven_busy = 0;
  for (const auto& [channel, lanes] : m_lanes) {
    if (!m_answering.count(channel)) unproven_busy += lanes;
  }
  std::vector<std::string> full;
  for (const auto& [channel, config] : rules.channels) {
    const auto lanes = m_lanes.find(channel);
    const int busy = lanes == m_lanes.end() ? 0 : lanes->second;
    if (m_answering.count(channel) ? busy >= healthy_lanes()
                                   : busy >= 1 || unproven_busy >= unproven_lanes())
      full.push_back(channel);
  }
  return full;
}

void DeliveryWorker::note_answer(const std::string& channel,
                                 const delivery::AttemptResult& result) {
  const bool answered = result.http_status.has_value();
  bool changed = false;
  {
    MutexLock lock(m_mutex);
    changed = answered ? m_answering.insert(channel).second : m_answering.erase(channel) > 0;
  }
  if (!changed) return;
  if (answered) {
    spdlog::info("delivery: channel {} answers; its notifications go out in batches", channel);
  } else {
    spdlog::warn("delivery: channel {} does not answer ({}); one request at a time until it does",
                 channel, result.error);
  }
}

int DeliveryWorker::deliver(int max_rows) {
  const auto active = m_rules.get();
  const rules::Rules& rules = *active->rules;

  // Claim a batch for one channel's lane: heads of queues nobody is sending, of a channel with
  // a lane to spare, each attempt counted before it leaves. Several per transaction: a commit
  // (an fsync) per notification would bound delivery to the disk.
  std::vector<storage::OutboxRecord> claimed;
  std::optional<std::string> lane;
  bool probe = false;                  // the lane's channel is down: its one row is the probe
  std::vector<std::string> caught_up;  // channels whose catch-up ended in the claim
  std::vector<std::string> forgotten;  // channels whose breaker went with them from the rules
  // Set by the claim job: a job that waited in the writer's queue must not start the claim
  // (nor pick the rows due) from a clock read before it waited.
  TimePoint claimed_until{};
  auto release = [&] {
    MutexLock lock(m_mutex);
    for (const auto& r : claimed)
      m_in_flight.erase(queue_key(r));
    if (lane && --m_lanes[*lane] <= 0) m_lanes.erase(*lane);
    lane.reset();
  };
  auto status = m_writer.submit([&](storage::Transaction& tx) {
    release();
    claimed.clear();
    probe = false;
    caught_up.clear();
    forgotten.clear();
    const TimePoint claim_time = m_clock.now();
    std::vector<std::string> full;
    {
      MutexLock lock(m_mutex);
      full = full_channels(rules);
    }
    const std::set<std::string> lanes_full(full.begin(), full.end());
    // The breaker (docs/behaviour.md "Delivery"): a channel down waits for its probe's time,
    // one catching up for its pace, any channel for the receiver's Retry-After.
    auto health = tx.channel_health();
    std::optional<TimePoint> next_unblock;
    for (auto it = health.begin(); it != health.end();) {
      if (rules.channels.count(it->first)) {
        ++it;
        continue;
      }
      // A channel no longer in the rules: its breaker goes with it (and the fallback hears
      // the end of its outage); its rows fail as undeclared.
      tx.delete_channel_health(it->first);
      if (it->second.down() && rules.delivery.fallback && *rules.delivery.fallback != it->first) {
        tx.insert_notification(
            channel_meta(rules, it->first, rules::NotifyAction::resolve,
                         "channel \"" + it->first + "\" is no longer in the rules", claim_time));
      }
      forgotten.push_back(it->first);
      it = health.erase(it);
    }
    for (const auto& [name, h] : health) {
      if (!delivery::blocked(h, claim_time)) continue;
      full.push_back(name);
      for (const auto& t : {h.hold_until, h.down() ? h.probe_at : h.pace_at}) {
        if (t && *t > claim_time && (!next_unblock || *t < *next_unblock)) next_unblock = t;
      }
    }
    {
      MutexLock lock(m_mutex);
      m_next_unblock = next_unblock;
    }
    // Enough rows to see past the queues already in flight (at most threads x batch).
    const int limit = m_options.threads * std::max(max_rows, m_options.batch) + 64;
    const auto rows =
        tx.due_notifications(claim_time, limit, full, claim_time - m_options.live_within);
    // A channel catching up whose turn it is, with nothing due: its backlog is drained.
    if (static_cast<int>(rows.size()) < limit) {
      for (auto& [name, h] : health) {
        if (!h.pace_at || h.down() || delivery::blocked(h, claim_time) || lanes_full.count(name)) {
          continue;
        }
        const std::string& channel = name;
        if (std::any_of(rows.begin(), rows.end(),
                        [&](const storage::OutboxRecord& r) { return r.channel == channel; })) {
          continue;
        }
        tx.set_channel_pace(name, std::nullopt);
        caught_up.push_back(name);
      }
    }
    MutexLock lock(m_mutex);
    // The most urgent row not in flight names the lane; among rows as urgent, a channel that
    // nobody is sending to goes first, so that lanes spread over the channels.
    const storage::OutboxRecord* pick = nullptr;
    for (const auto& row : rows) {
      if (m_in_flight.count(queue_key(row))) continue;
      if (pick && row.priority.level != pick->priority.level) break;
      if (!pick) pick = &row;
      if (!m_lanes.count(row.channel)) {
        pick = &row;
        break;
      }
    }
    if (!pick) return;
    lane = pick->channel;
    ++m_lanes[*lane];
    // A channel not answering is tried one row at a time: each try may cost delivery.timeout.
    int most = m_answering.count(*lane) ? max_rows : 1;
    auto lane_health = health.find(*lane);
    if (lane_health != health.end() &&
        (lane_health->second.down() || lane_health->second.pace_at)) {
      // Its probe or its pace is this claim's to take: read again, and only if no other
      // instance is taking it now (PostgreSQL), so that two never both probe, nor both take
      // the rows owed and double the pace.
      auto fresh = tx.channel_health_of(*lane, storage::Transaction::RowLock::skip_locked);
      if (!fresh || delivery::blocked(*fresh, claim_time)) return;
      lane_health->second = std::move(*fresh);
    }
    storage::ChannelHealth* paced = nullptr;
    if (lane_health != health.end() && lane_health->second.down()) {
      probe = true;  // one request, the first row in line, until one succeeds
      most = 1;
    } else if (lane_health != health.end() && lane_health->second.pace_at) {
      paced = &lane_health->second;
      most = delivery::paced_rows(*paced, delivery::catch_up_rate(rules, *lane), most, claim_time,
                                  k_pace_window);
    }
    // The claim outlasts the batch sent one request after another, each ended at the timeout
    // whatever the receiver does (send_http), plus a margin for the reads between requests and
    // the record's wait for the writer (docs/postgres.md "Instances and claims"); if this
    // instance dies meanwhile, another takes the rows over once it misses its beats.
    claimed_until =
        claim_time + most * rules.delivery.timeout + claim_margin(rules.delivery.timeout);
    for (const auto& row : rows) {
      if (static_cast<int>(claimed.size()) >= most) break;
      if (row.channel != *lane || !m_in_flight.insert(queue_key(row)).second) continue;
      claimed.push_back(row);  // before counting: released if the job fails
      if (!tx.count_attempt(row.id, m_options.instance, claimed_until, claim_time,
                            claim_time - m_options.live_within)) {
        // Another instance took it (or a resolve is superseding it) since it was read.
        m_in_flight.erase(queue_key(row));
        claimed.pop_back();
        continue;
      }
      claimed.back().attempts += 1;
    }
    if (claimed.empty()) return;
    if (probe) {
      // No second probe while this one is out; the result sets the next.
      tx.set_channel_probe(*lane, claimed_until);
    } else if (paced) {
      delivery::pace(*paced, static_cast<int>(claimed.size()),
                     delivery::catch_up_rate(rules, *lane), claim_time, k_pace_window);
      tx.set_channel_pace(*lane, paced->pace_at);
    }
  });
  if (auto error = status.get()) {
    release();
    // A database fault is logged by the writer when it starts and once a minute.
    spdlog::log(
        error->fault == storage::DatabaseFault::none ? spdlog::level::err : spdlog::level::debug,
        "delivery: cannot claim notifications: {}", error->message);
    return 0;
  }
  for (const auto& channel : forgotten) {
    spdlog::info("delivery: channel {} is no longer in the rules; its breaker state is gone",
                 channel);
  }
  for (const auto& channel : caught_up) {
    spdlog::info("delivery: channel {} caught up; its notifications go out as they come again",
                 channel);
  }
  if (claimed.empty()) {
    release();
    return 0;
  }

  // Read afresh for each batch: the rules and the environment they name may have changed.
  const Redactor redactor = delivery::redactor_for(rules, m_options.env);
  std::vector<Settled> settled;
  // One connection per endpoint for the batch (and beyond, on run()'s threads).
  const KeptConnections connections;
  // Sent one after another, in claim order; the batch ends early when stopping (a stop waits
  // for one request at most) and after a request that failed (the next would likely
  // fail too, or cost delivery.timeout). Rows not sent get their counted attempt back.
  std::vector<std::int64_t> unsent;
  bool go_on = true;
  for (const auto& row : claimed) {
    if (!settled.empty()) {
      MutexLock lock(m_mutex);
      if (m_stopping) go_on = false;
    }
    // A request starts only if it ends, at the latest, before the claim does: past the claim
    // another instance may have taken the row over and be sending it too.
    if (go_on && m_clock.now() + rules.delivery.timeout >= claimed_until) go_on = false;
    if (!go_on) {
      unsent.push_back(row.id);
      continue;
    }
    Settled st;
    st.row = row;
    // Format from the current rules and the alert as stored.
    const auto channel = rules.channels.find(row.channel);
    const TimePoint sent_at = m_clock.now();
    bool config_error = false;
    bool sent = false;
    try {
      delivery::Message message;
      message.notification = row;
      message.public_url = m_options.public_url;
      if (row.alert_id) {
        if (auto alert = m_reader.delivery_alert(*row.alert_id, row.episode)) {
          message.alert = std::move(alert->alert);
          message.episode_opened_at = alert->episode_opened_at;
        }
      }
      if (channel == rules.channels.end()) {
        config_error = true;
        st.result.error = "channel \"" + row.channel + "\" is no longer in the rules";
      } else if (auto request =
                     delivery::format_request(channel->second, message, m_options.env, sent_at)) {
        st.result = m_sender(*request, rules.delivery.timeout);
        sent = true;
        // A failure (no answer, 408, 429, 5xx) ends the batch: the next would likely fail
        // too, and the breaker counts failures in a row.
        go_on = delivery::signal_of(st.result, true) != delivery::Signal::failure;
      } else {
        config_error = true;
        st.result.error = request.error();
      }
    } catch (const std::exception& e) {
      // A database read that failed (busy) or anything unexpected: this attempt did not
      // happen; the row is retried like a network error, and the thread lives on.
      st.result = delivery::AttemptResult{};
      st.result.error = std::string("not sent: ") + e.what();
    }
    // The one place an attempt's text is formed: everything below (the attempts log,
    // last_error, the log lines, the fallback's meta-alert) reads it, never the answer.
    st.result.error = delivery::attempt_error_text(st.result, redactor);
    st.result.body.clear();
    st.request_made = sent;
    if (sent) note_answer(row.channel, st.result);
    double unit_random = 0;
    {
      MutexLock lock(m_mutex);
      unit_random = std::uniform_real_distribution<double>(0.0, 1.0)(m_random);
    }
    const TimePoint done_at = m_clock.now();
    st.outcome = delivery::after_attempt(row, st.result, rules.delivery, done_at, unit_random);
    if (config_error) {  // nothing was sent, and retrying cannot help
      st.outcome.verdict = delivery::Verdict::failed;
      st.outcome.row.status = storage::OutboxStatus::failed;
      st.outcome.row.last_error = st.result.error;
    } else if (probe && st.outcome.verdict == delivery::Verdict::failed &&
               delivery::signal_of(st.result, sent) == delivery::Signal::failure) {
      // A probe's failure is the channel's, not the notification's: it does not use up the
      // row's attempts, and the row waits, still pending, for the channel to come back.
      st.outcome.verdict = delivery::Verdict::retry;
      st.outcome.row.status = storage::OutboxStatus::pending;
      st.outcome.row.due_at = done_at;  // the breaker says when the next probe leaves
      st.outcome.row.last_error = st.result.error;
    }
    if (probe && st.outcome.verdict == delivery::Verdict::retry) {
      // Its attempt is the channel's: the row keeps its budget for when the channel is back
      // (counted, still, as attempted once: a resolve must not take it for never sent).
      st.outcome.row.attempts = std::max(1, row.attempts - 1);
    }
    st.attempt = storage::DeliveryAttempt{row.id,
                                          sent_at,
                                          st.result.http_status,
                                          st.result.error,
                                          st.result.duration_ms,
                                          delivery::recorded_as(st.outcome.verdict)};
    // A notification that fails for good is announced on the fallback channel, once: a
    // meta-alert about a meta-alert would loop.
    if (st.outcome.verdict == delivery::Verdict::failed && !row.about && rules.delivery.fallback &&
        *rules.delivery.fallback != row.channel) {
      storage::OutboxRecord m;
      m.created_at = m.due_at = done_at;
      m.alert_id = row.alert_id;
      m.episode = row.episode;
      m.fingerprint = row.fingerprint;
      m.alias = "tocsin-delivery-" + std::to_string(row.id);
      m.channel = *rules.delivery.fallback;
      m.action = rules::NotifyAction::trigger;
      m.severity = Severity::critical;
      m.priority = row.priority;
      m.noise = row.noise;  // the score of the alert it is about
      m.why = "delivery of " + std::string(storage::to_text(row.action)) + " for " + row.alias +
              " to channel \"" + row.channel + "\" failed for good: " + st.outcome.row.last_error;
      m.about = row.id;
      st.meta = std::move(m);
    }
    settled.push_back(std::move(st));
  }

  // Whether each settled row was still ours to settle: a row taken over meanwhile (this
  // instance was presumed dead) keeps what the instance that took it over recorded.
  std::vector<bool> applied;
  std::vector<ChannelChange> changes;
  auto recorded =
      m_writer
          .submit([&](storage::Transaction& tx) {
            const TimePoint record_time = m_clock.now();  // after the wait in the queue
            applied.clear();
            changes.clear();
            for (const auto& st : settled) {
              applied.push_back(tx.record_attempt(st.attempt, st.outcome.row, m_options.instance));
              if (applied.back() && st.meta) tx.insert_notification(*st.meta);
            }
            for (const auto id : unsent)
              tx.uncount_attempt(id, m_options.instance);
            changes = update_channel_health(tx, rules, settled, record_time);
          })
          .get();
  release();
  if (!recorded) {
    for (const auto& c : changes) {
      log_change(m_metrics, c);
      MutexLock lock(m_mutex);
      if (c.transition == delivery::Transition::went_down) {
        m_down_told[c.channel] = m_clock.now();
      } else {
        m_down_told.erase(c.channel);
      }
    }
  }
  if (recorded) {
    // Sent but not recorded: the rows are still pending and will be sent again (at least
    // once, never lost).
    if (recorded->fault != storage::DatabaseFault::none) {
      // The writer logs the fault itself, when it starts and once a minute.
      spdlog::warn(
          "delivery: cannot record {} attempt(s) while the database fails ({}); they "
          "will be sent again",
          settled.size(), storage::to_string(recorded->fault));
    } else {
      spdlog::error("delivery: cannot record {} attempt(s): {}", settled.size(), recorded->message);
    }
    return 0;
  }
  for (std::size_t i = 0; i < settled.size(); ++i) {
    const auto& st = settled[i];
    const auto& row = st.row;
    if (!applied[i]) continue;  // logged by record_attempt
    m_metrics.count_delivery(row.channel, to_string(st.outcome.verdict));
    // While the channel is down its failures are told once a minute (update_gauges), not one
    // line per probe.
    if (probe && st.outcome.verdict == delivery::Verdict::retry) continue;
    switch (st.outcome.verdict) {
      case delivery::Verdict::sent:
        spdlog::info("delivery: {} {} to {} sent (attempt {}, {} ms)", storage::to_text(row.action),
                     row.alias, row.channel, row.attempts, st.result.duration_ms);
        break;
      case delivery::Verdict::retry:
        spdlog::warn("delivery: {} {} to {} failed (attempt {}): {}; retrying at {}",
                     storage::to_text(row.action), row.alias, row.channel, row.attempts,
                     st.result.error, format_timestamp(st.outcome.row.due_at));
        break;
      case delivery::Verdict::failed:
        spdlog::error("delivery: {} {} to {} failed for good: {}{}", storage::to_text(row.action),
                      row.alias, row.channel, st.outcome.row.last_error,
                      st.meta ? "; announced on " + st.meta->channel : std::string());
        break;
    }
  }
  return static_cast<int>(settled.size());
}

}  // namespace tocsin::server
