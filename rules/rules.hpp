#pragma once
// The rules file (docs/behaviour.md "The rules file") as an immutable snapshot. `load_rules`
// (rules/loader.hpp) builds one from YAML after strict validation; the engine holds a
// std::shared_ptr<const Rules> and swaps it atomically on reload, so a decision always sees one
// consistent version.
//
// Every field here is already validated: names referenced by rules, escalations, heartbeats
// and `delivery.fallback` exist in `channels` / `escalations`, durations are positive where
// they must be, regexes compile.

namespace re2 {
class RE2;
}

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "core/expected.hpp"
#include "core/mapping.hpp"
#include "core/severity.hpp"
#include "core/time.hpp"

namespace tocsin::rules {

enum class InsufficientDataPolicy { ignore, firing, resolve };
std::string_view to_string(InsufficientDataPolicy p);

// What a firing event whose source suppressed its own actions does (a CloudWatch composite
// alarm's `actionsSuppressedBy`): recorded and ignored, or applied as any firing event.
enum class ActionsSuppressedPolicy { ignore, firing };

// One `match` value: exact string, glob with `*`, or a regex written `/.../` (searched
// unanchored, like grep; anchor with ^ and $). Regexes are RE2 syntax
// (docs/behaviour.md "Match values"), run by an automaton: matching takes time linear in the value
// and constant stack, whatever the pattern, because values are untrusted and may be a megabyte
// long.
class ValueMatcher {
 public:
  enum class Kind { exact, glob, regex };

  // The error is RE2's reason for refusing a `/.../` (e.g. "invalid escape sequence: \1"),
  // for the loader to report at the value's position.
  static Expected<ValueMatcher, std::string> parse(const std::string& spelled);

  // Safe to call from several threads at once.
  bool matches(std::string_view value) const;
  Kind kind() const { return m_kind; }
  const std::string& spelled() const { return m_spelled; }

 private:
  Kind m_kind = Kind::exact;
  std::string m_spelled;                    // as written in the file
  std::string m_pattern;                    // exact text, glob, or regex body
  std::shared_ptr<const re2::RE2> m_regex;  // shared: a snapshot's matchers are copied
};

struct Match {
  std::optional<ValueMatcher> source, name, severity, metric, namespace_, account, region;
  // Every one must match; a label the event does not carry never matches (so `"*"` tests
  // that the label is present).
  std::vector<std::pair<std::string, ValueMatcher>> labels;

  // True when every present key matches the event (an empty match matches everything).
  // `severity` is matched against the event's own severity, or "" when it has none.
  bool matches(const NormalizedEvent& e) const;
};

// Settings a rule inherits from `defaults:` unless it overrides them.
struct AlertPolicy {
  Severity severity = Severity::warning;
  // Set by the rule or `defaults:`; nullopt: derived from the alert's effective severity.
  std::optional<Priority> priority;
  Duration stale_after = std::chrono::hours(24);
  Duration max_open_age = std::chrono::hours(72);
  std::optional<Duration> auto_resolve_after;
  std::optional<Duration> ack_timeout;
  InsufficientDataPolicy insufficient_data = InsufficientDataPolicy::ignore;
  ActionsSuppressedPolicy actions_suppressed = ActionsSuppressedPolicy::ignore;

  // The priority of an alert whose effective severity is `effective`: the one set, if any,
  // else the one the severity implies (priority_for).
  Priority priority_given(Severity effective) const {
    return priority.value_or(priority_for(effective));
  }
};

struct Rule {
  std::string name;
  int line = 0;  // where the rule starts in the file, for messages
  Match match;
  AlertPolicy policy;  // defaults with this rule's overrides applied
  // Whether the rule itself names a severity: it then overrides what the source says; when it
  // does not, a severity stated by the source (Alertmanager, generic) wins over the defaults.
  bool sets_severity = false;
  bool continue_matching = false;  // `continue: true`
  // Template over {source} {name} {account} {region} {labels.X}; checked at load time.
  std::optional<std::string> dedup_key;
  bool never_suppress = false;
  bool drop = false;
  // The escalation policy to run: a name in Rules::escalations. A rule's `notify: [..]` is
  // turned into a one-step policy named "rule:<rule name>" at load time, so the engine only
  // ever deals with policies. Empty when the rule notifies nobody.
  std::string escalation;
  std::optional<std::string> low_priority;  // channel for demoted alerts
  std::optional<Duration> hold_for;
};

// Hooks are closed by default (docs/behaviour.md "Inbound endpoints"): a source the rules file does
// not list under `sources:` is disabled and its hook answers 404 `source_disabled`. The loader
// guarantees that every enabled source authenticates its requests, or says it does not on purpose.

struct SnsSource {
  bool enabled = false;  // listed under `sources:`
  // The signature is the authentication; `verify_signature: false` needs
  // `allow_unauthenticated: true` beside it.
  bool verify_signature = true;
  bool allow_unauthenticated = false;
  int min_signature_version = 1;
  std::optional<std::vector<std::string>> topics;  // allowlist; nullopt = any topic
  std::optional<std::string> cert_dir;
  bool fetch_certs = true;
  bool auto_confirm = false;
  // Raw message delivery (/hooks/sns-raw) carries no signature: with this set it must present
  // the token (?token= in the subscription URL, or X-Tocsin-Token).
  std::optional<std::string> raw_token_env;
};

// A hook authenticated by a shared secret read from the environment variable `token_env`, or
// (exactly one of the two when enabled) open to anyone with `allow_unauthenticated: true`.
struct TokenSource {
  bool enabled = false;  // listed under `sources:`
  std::optional<std::string> token_env;
  bool allow_unauthenticated = false;
};

// `sources.mapped.<name>` (docs/formats.md §14): another tool's JSON at
// /hooks/mapped/<name>, read by its compiled mapping.
struct MappedSource {
  TokenSource auth;
  mapping::Mapping mapping;
};

struct Sources {
  SnsSource sns;
  TokenSource opsgenie, eventbridge, alertmanager, grafana, generic, heartbeat;
  std::map<std::string, MappedSource> mapped;  // by name
};

enum class ChannelType { opsgenie, pagerduty, slack, webhook };
std::string_view to_string(ChannelType t);

struct Channel {
  std::string name;
  ChannelType type = ChannelType::webhook;
  std::optional<std::string> url;  // exactly one of url / url_env is set
  std::optional<std::string> url_env;
  std::optional<std::string> api_key_env;      // opsgenie
  std::optional<std::string> routing_key_env;  // pagerduty
  std::optional<std::string> secret_env;       // webhook HMAC signing
  std::optional<Duration> digest_every;
  std::optional<double> catch_up_rate;  // per second; delivery.catch_up_rate when unset
};

struct Delivery {
  std::optional<std::string> fallback;  // channel name
  Duration timeout = std::chrono::seconds(10);
  int max_attempts = 12;
  Duration backoff_initial = std::chrono::seconds(1);
  Duration backoff_max = std::chrono::minutes(5);
  // The circuit breaker (docs/behaviour.md "Delivery"): this many failed requests in a row
  // mark a channel down; once it is back its backlog drains at catch_up_rate per second.
  int breaker_after = 5;
  double catch_up_rate = 10;
};

struct EscalationStep {
  Duration after{0};                // since the episode opened
  std::vector<std::string> notify;  // channel names
};

struct EscalationPolicy {
  std::string name;
  std::vector<EscalationStep> steps;  // sorted by `after`, at least one
  std::optional<Duration> repeat_every;
};

struct NoiseWeights {
  double flap = 0.4, rate = 0.3, transient = 0.2, ignored = 0.1;
};

struct Noise {
  Duration window = std::chrono::hours(24 * 7);
  int flap_history = 21;
  double flap_high = 50;     // percent
  double flap_low = 25;      // percent
  double rate_ceiling = 24;  // episodes per day
  Duration transient_within = std::chrono::minutes(5);
  NoiseWeights weights;
  double demote_above = 60;
};

struct Heartbeat {
  std::string name;
  Duration every{0};
  Duration grace{0};
  Severity severity = Severity::warning;
  Priority priority{3};
  std::string escalation;  // as Rule::escalation (`notify` becomes "heartbeat:<name>")
};

struct Watchdog {
  std::optional<std::string> url;
  std::optional<std::string> url_env;
  Duration every = std::chrono::minutes(1);
};

enum class Scope { read, write };
std::string_view to_string(Scope s);

struct ApiToken {
  std::string name;
  std::string token_env;
  Scope scope = Scope::read;
};

enum class Synchronous { full, normal };
std::string_view to_string(Synchronous s);

// What `serve` checks of an existing database before it starts (PRAGMA quick_check reads
// every page: seconds per GB warm, longer from a cold disk; README "Storage").
enum class StartupCheck { quick, off };

struct Storage {
  // The environment variable holding the database location (a file path or a postgresql://
  // URI), used when neither --db nor TOCSIN_DB gives one (README "Selecting the database").
  std::optional<std::string> url_env;
  Synchronous synchronous = Synchronous::full;
  StartupCheck startup_check = StartupCheck::quick;
  Duration retain_events = std::chrono::hours(24 * 30);
};

// `server:`, the HTTP listener's limits. Read at startup only (a reload that changes them
// logs that a restart is needed). Unset keys fall back to the `serve` defaults; a `serve`
// flag for the same limit overrides the file.
struct ServerLimits {
  std::optional<std::size_t> max_body_bytes;
  std::optional<std::size_t> max_headers;
  std::optional<Duration> request_timeout;
  std::optional<std::size_t> max_connections_per_ip;
  std::optional<std::size_t> max_connections;
  std::optional<std::size_t> worker_threads;

  bool operator==(const ServerLimits&) const = default;
};

// `silences:` (docs/behaviour.md "Silences"): how long a silence may last. There is no "forever".
struct Silences {
  Duration max_duration = std::chrono::hours(24 * 7);
};

struct Rules {
  int version = 1;
  AlertPolicy defaults;
  Sources sources;
  std::map<std::string, Channel> channels;
  Delivery delivery;
  std::map<std::string, EscalationPolicy> escalations;
  std::vector<Rule> rules;
  Noise noise;
  std::vector<Heartbeat> heartbeats;
  std::optional<Watchdog> watchdog;
  std::vector<ApiToken> api_tokens;
  Storage storage;
  ServerLimits server;
  Silences silences;

  std::string source_path;  // the file it was read from
  std::string hash;         // SHA-256 hex of the file's bytes; recorded with every decision

  // The rules that apply to an event, in file order: the first match, plus following
  // matches while the matched rule says `continue: true`. Empty: no rule matched.
  std::vector<const Rule*> matching(const NormalizedEvent& e) const;

  // The rule named `name`, or nullptr (an alert's recorded rule may have left the file).
  const Rule* find_rule(const std::string& name) const;
};

using RulesSnapshot = std::shared_ptr<const Rules>;

// Whether any of `matched` (Rules::matching) says never_suppress.
bool any_never_suppress(const std::vector<const Rule*>& matched);

}  // namespace tocsin::rules
