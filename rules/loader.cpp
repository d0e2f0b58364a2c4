// The schema of the rules file (docs/behaviour.md "The rules file"): what each section means,
// read with the checked-YAML toolkit (rules/checked_yaml.hpp), and the cross-references checked
// once every section is read.
#include "rules/loader.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <sstream>

#include "core/duration.hpp"
#include "core/text.hpp"
#include "rules/accepted_keys.hpp"
#include "rules/checked_yaml.hpp"
#include "rules/mapped_loader.hpp"

namespace tocsin::rules {

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

namespace {

using namespace checked_yaml;

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += k_hex[digest[i] >> 4];
    out += k_hex[digest[i] & 0xF];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The schema of docs/behaviour.md "The rules file". Each map's table of keys is listed by
// accepted_keys() below, which tests/rules/rules_schema_test.cpp compares with
// docs/rules.schema.json: a key added here must be described there.

constexpr std::string_view k_top_keys[] = {
    "version", "defaults",   "sources",  "channels", "delivery", "escalations", "rules",
    "noise",   "heartbeats", "watchdog", "api",      "storage",  "server",      "silences"};
constexpr std::string_view k_policy_keys[] = {
    "severity",           "priority",    "stale_after",       "max_open_age",
    "auto_resolve_after", "ack_timeout", "insufficient_data", "actions_suppressed"};
constexpr std::string_view k_source_keys[] = {"sns",     "opsgenie", "eventbridge", "alertmanager",
                                              "grafana", "generic",  "heartbeat",   "mapped"};
constexpr std::string_view k_sns_keys[] = {
    "verify_signature", "min_signature_version", "topics",        "cert_dir",
    "fetch_certs",      "auto_confirm",          "raw_token_env", "allow_unauthenticated"};
constexpr std::string_view k_token_source_keys[] = {"token_env", "allow_unauthenticated"};
constexpr std::string_view k_channel_keys[] = {
    "type",       "url",          "url_env",      "api_key_env", "routing_key_env",
    "secret_env", "digest_every", "catch_up_rate"};
constexpr std::string_view k_delivery_keys[] = {"fallback",        "timeout",     "max_attempts",
                                                "backoff_initial", "backoff_max", "breaker_after",
                                                "catch_up_rate"};
constexpr std::string_view k_escalation_keys[] = {"steps", "repeat_every"};
constexpr std::string_view k_step_keys[] = {"after", "notify"};
// clang-format off
constexpr std::string_view k_rule_keys[] = {
    "name", "match", "continue",
    "notify", "escalation", "low_priority", "hold_for", "never_suppress", "drop",
    "severity", "priority", "stale_after", "max_open_age", "auto_resolve_after", "ack_timeout",
    "insufficient_data", "actions_suppressed", "dedup_key"};
// clang-format on
constexpr std::string_view k_match_keys[] = {"source",    "name",    "severity", "metric",
                                             "namespace", "account", "region",   "labels"};
constexpr std::string_view k_noise_keys[] = {"window",   "flap_history", "flap_high",
                                             "flap_low", "rate_ceiling", "transient_within",
                                             "weights",  "demote_above"};
constexpr std::string_view k_weight_keys[] = {"flap", "rate", "transient", "ignored"};
constexpr std::string_view k_heartbeat_keys[] = {"name",     "every",      "grace", "severity",
                                                 "priority", "escalation", "notify"};
constexpr std::string_view k_watchdog_keys[] = {"url", "url_env", "every"};
constexpr std::string_view k_api_keys[] = {"tokens"};
constexpr std::string_view k_silences_keys[] = {"max_duration"};
constexpr std::string_view k_api_token_keys[] = {"name", "token_env", "scope"};
constexpr std::string_view k_storage_keys[] = {"url_env", "synchronous", "retain_events",
                                               "startup_check"};
constexpr std::string_view k_server_keys[] = {"max_body_bytes",  "max_headers",
                                              "request_timeout", "max_connections_per_ip",
                                              "max_connections", "worker_threads"};

constexpr std::string_view k_source_names[] = {"cloudwatch", "opsgenie", "alertmanager",
                                               "grafana",    "generic",  "heartbeat"};
constexpr std::string_view k_dedup_placeholders[] = {"source", "name", "account", "region"};

constexpr std::pair<std::string_view, Priority> k_priorities[] = {{"P1", Priority{1}},
                                                                  {"P2", Priority{2}},
                                                                  {"P3", Priority{3}},
                                                                  {"P4", Priority{4}},
                                                                  {"P5", Priority{5}}};
constexpr std::pair<std::string_view, InsufficientDataPolicy> k_insufficient_data[] = {
    {"ignore", InsufficientDataPolicy::ignore},
    {"firing", InsufficientDataPolicy::firing},
    {"resolve", InsufficientDataPolicy::resolve}};
constexpr std::pair<std::string_view, ActionsSuppressedPolicy> k_actions_suppressed[] = {
    {"ignore", ActionsSuppressedPolicy::ignore}, {"firing", ActionsSuppressedPolicy::firing}};
constexpr std::pair<std::string_view, ChannelType> k_channel_types[] = {
    {"opsgenie", ChannelType::opsgenie},
    {"pagerduty", ChannelType::pagerduty},
    {"slack", ChannelType::slack},
    {"webhook", ChannelType::webhook}};
constexpr std::pair<std::string_view, Scope> k_scopes[] = {{"read", Scope::read},
                                                           {"write", Scope::write}};
constexpr std::pair<std::string_view, Synchronous> k_synchronous[] = {
    {"full", Synchronous::full}, {"normal", Synchronous::normal}};
constexpr std::pair<std::string_view, StartupCheck> k_startup_checks[] = {
    {"quick", StartupCheck::quick}, {"off", StartupCheck::off}};

// Channel keys that only one channel type takes.
struct TypeSpecificKey {
  std::string_view key;
  ChannelType type;
  bool required;
  std::string_view purpose;
};
constexpr TypeSpecificKey k_type_specific_keys[] = {
    {"api_key_env", ChannelType::opsgenie, true, "the environment variable holding its API key"},
    {"routing_key_env", ChannelType::pagerduty, true,
     "the environment variable holding its Events API v2 routing key"},
    {"secret_env", ChannelType::webhook, false, ""},
};

// Policies synthesized from `notify:` are named with these prefixes; declared policies may
// not use them, so the names never collide.
constexpr std::string_view k_rule_policy_prefix = "rule:";
constexpr std::string_view k_heartbeat_policy_prefix = "heartbeat:";

// What is wrong with a dedup_key template, or nullopt when it is fine.
std::optional<std::string> dedup_template_problem(std::string_view t) {
  if (t.empty()) return "must not be empty";
  std::size_t pos = 0;
  while (pos < t.size()) {
    if (t[pos] == '}') return "has a \"}\" with no \"{\" before it";
    if (t[pos] != '{') {
      ++pos;
      continue;
    }
    const auto close = t.find('}', pos);
    if (close == std::string_view::npos) return "has a \"{\" that is never closed";
    const auto field = t.substr(pos + 1, close - pos - 1);
    const bool known = std::find(std::begin(k_dedup_placeholders), std::end(k_dedup_placeholders),
                                 field) != std::end(k_dedup_placeholders) ||
                       (field.starts_with("labels.") && field.size() > 7);
    if (!known) {
      return "uses unknown placeholder {" + std::string(field) +
             "}; the placeholders are {source}, {name}, {account}, {region} and {labels.X}" +
             did_you_mean(field, k_dedup_placeholders);
    }
    pos = close + 1;
  }
  return std::nullopt;
}

// `rule "x"` from the item's name when it has a usable one, else `rule #3`: messages about an
// item, even its unknown keys, should name it the way the SRE knows it.
std::string item_label(std::string_view kind, const YAML::Node& item, std::size_t index) {
  // Iterated rather than item["name"]: on a const node that yields an invalid node whose
  // accessors throw.
  if (item.IsMap()) {
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar() &&
          !it->second.Scalar().empty()) {
        return std::string(kind) + " " + in_quotes(it->second.Scalar());
      }
    }
  }
  return std::string(kind) + " #" + std::to_string(index + 1);
}

// A name used elsewhere in the file, checked once every section is read.
struct Reference {
  enum class Kind { channel, escalation };
  Kind kind;
  std::string name;
  YAML::Mark mark;
  std::string context;  // `in notify of rule "x"`, `used in rule "x"`
};

class RulesLoader {
 public:
  RulesLoader(Reporter& report, const LoadOptions& options)
      : m_check(report, options.env),
        m_report(report),
        m_env(options.env),
        m_location_problem(options.location_problem),
        m_serving(options.serving) {}

  void load(const YAML::Node& root) {
    const auto top = m_check.fields(root, root.Mark(), "the top level of the file", k_top_keys);
    if (!top) return;
    load_version(*top);
    // Channels and escalation policies first, so every section can refer to them by name.
    load_channels(top->find("channels"));
    load_escalations(top->find("escalations"));
    load_defaults(top->find("defaults"));
    load_sources(top->find("sources"));
    load_delivery(top->find("delivery"));
    load_rules(top->find("rules"));
    load_noise(top->find("noise"));
    load_heartbeats(top->find("heartbeats"));
    check_heartbeat_source(top->find("heartbeats"));
    load_watchdog(top->find("watchdog"));
    load_api(top->find("api"));
    load_storage(top->find("storage"));
    load_server(top->find("server"));
    load_silences(top->find("silences"));
    check_references();
  }

  Rules take() { return std::move(m_rules); }

 private:
  std::optional<Fields> section(const Entry* e, std::string where, Keys keys) {
    if (e == nullptr) return std::nullopt;
    return m_check.fields(e->value, e->mark(), std::move(where), keys, Empty::is_empty);
  }

  void load_version(const Fields& top) {
    if (!m_check.require(top, "version", "start the file with \"version: 1\"")) return;
    const auto version = m_check.text(top, "version", "a version number");
    if (version && *version != "1") {
      m_check.report().error(top.find("version")->mark(),
                             "unsupported rules file version " + in_quotes(*version) +
                                 "; this release of Tocsin reads version 1");
    }
  }

  // Policy keys shared by `defaults:` and each rule: sets what `f` overrides in `policy`.
  void read_policy(const Fields& f, AlertPolicy& policy) {
    if (auto v = m_check.choice(f, "severity", k_severity_names)) policy.severity = *v;
    if (auto v = m_check.choice(f, "priority", k_priorities)) policy.priority = *v;
    if (auto v = m_check.duration(f, "stale_after", Zero::refused)) policy.stale_after = *v;
    if (auto v = m_check.duration(f, "max_open_age", Zero::refused)) policy.max_open_age = *v;
    if (auto v = m_check.duration(f, "auto_resolve_after", Zero::refused)) {
      policy.auto_resolve_after = *v;
    }
    if (auto v = m_check.duration(f, "ack_timeout", Zero::refused)) policy.ack_timeout = *v;
    if (auto v = m_check.choice(f, "insufficient_data", k_insufficient_data)) {
      policy.insufficient_data = *v;
    }
    if (auto v = m_check.choice(f, "actions_suppressed", k_actions_suppressed)) {
      policy.actions_suppressed = *v;
    }
  }

  void load_defaults(const Entry* e) {
    if (const auto f = section(e, "defaults", k_policy_keys)) read_policy(*f, m_rules.defaults);
  }

  // --- sources

  // A source listed under `sources:` is enabled; one that is not stays disabled (its hook
  // answers 404). When serving, an enabled source must authenticate its requests or say
  // `allow_unauthenticated: true`, which is noted once.
  void load_sources(const Entry* e) {
    const auto f = section(e, "sources", k_source_keys);
    if (!f) return;
    auto& sources = m_rules.sources;
    load_sns(f->find("sns"), sources.sns);
    load_token_source(f->find("opsgenie"), "opsgenie", sources.opsgenie);
    load_token_source(f->find("eventbridge"), "eventbridge", sources.eventbridge);
    load_token_source(f->find("alertmanager"), "alertmanager", sources.alertmanager);
    load_token_source(f->find("grafana"), "grafana", sources.grafana);
    load_token_source(f->find("generic"), "generic", sources.generic);
    load_token_source(f->find("heartbeat"), "heartbeat", sources.heartbeat);
    if (const auto* mapped = f->find("mapped")) {
      load_mapped_sources(m_check, *mapped, m_serving, sources.mapped);
    }
  }

  void note_open_hook(const Entry& allow, std::string_view source, std::string_view hook) {
    if (!m_serving) return;
    m_check.report().note(allow.mark(), "sources." + std::string(source) + ": " +
                                            std::string(hook) +
                                            " accepts unauthenticated requests "
                                            "(allow_unauthenticated: true): anyone who can reach "
                                            "it can open and resolve alerts");
  }

  void load_sns(const Entry* e, SnsSource& sns) {
    if (e == nullptr) return;
    sns.enabled = true;
    const auto f = section(e, "sources.sns", k_sns_keys);
    if (!f) return;
    if (auto v = m_check.boolean(*f, "verify_signature")) sns.verify_signature = *v;
    if (auto v = m_check.boolean(*f, "allow_unauthenticated")) sns.allow_unauthenticated = *v;
    if (m_serving && !sns.verify_signature && !sns.allow_unauthenticated) {
      m_check.error(*f->find("verify_signature"), *f,
                    "\"verify_signature: false\" accepts unsigned messages from anyone who can "
                    "reach /hooks/sns: add \"allow_unauthenticated: true\" to mean it, or verify "
                    "signatures");
    } else if (m_serving && sns.allow_unauthenticated) {
      const auto& allow = *f->find("allow_unauthenticated");
      if (sns.verify_signature) {
        m_check.report().warning(allow.mark(),
                                 "sources.sns: \"allow_unauthenticated\" has no effect while "
                                 "\"verify_signature\" is true: signatures authenticate "
                                 "/hooks/sns");
      } else {
        note_open_hook(allow, "sns", "/hooks/sns");
      }
    }
    if (auto v = m_check.integer(*f, "min_signature_version", 1, 2)) {
      sns.min_signature_version = static_cast<int>(*v);
    }
    if (auto v = m_check.name(*f, "cert_dir", "a directory path")) sns.cert_dir = *v;
    if (auto v = m_check.boolean(*f, "fetch_certs")) sns.fetch_certs = *v;
    if (auto v = m_check.boolean(*f, "auto_confirm")) sns.auto_confirm = *v;
    sns.raw_token_env = m_check.env_var(
        *f, "raw_token_env", "raw deliveries to /hooks/sns-raw will be refused until it is set");

    const auto items = m_check.list(*f, "topics", "[\"arn:aws:sns:REGION:ACCOUNT:TOPIC\"]");
    if (!items) return;
    if (items->empty()) {
      m_check.error(*f->find("topics"), *f,
                    "\"topics\" must list at least one ARN, or be omitted to allow any topic");
      return;
    }
    std::vector<std::string> topics;
    for (const auto& item : *items) {
      const auto arn =
          m_check.scalar(item, item.Mark(), f->where(), "an entry of \"topics\"", "a topic ARN");
      if (!arn) continue;
      if (!arn->starts_with("arn:")) {
        m_check.report().error(item.Mark(), "sources.sns: topic " + in_quotes(*arn) +
                                                " is not an ARN (they start with \"arn:\")");
        continue;
      }
      topics.push_back(*arn);
    }
    sns.topics = std::move(topics);
  }

  void load_token_source(const Entry* e, std::string_view source, TokenSource& out) {
    if (e == nullptr) return;
    out.enabled = true;
    const auto where = "sources." + std::string(source);
    const auto hook = source == "heartbeat" ? std::string("/hooks/heartbeat/{name}")
                                            : "/hooks/" + std::string(source);
    const auto f = section(e, where, k_token_source_keys);
    if (!f) return;
    out.token_env = m_check.env_var(*f, "token_env",
                                    "requests to " + hook + " will be refused until it is set");
    if (auto v = m_check.boolean(*f, "allow_unauthenticated")) out.allow_unauthenticated = *v;
    const auto* token = f->find("token_env");
    const auto* allow = f->find("allow_unauthenticated");
    if (token != nullptr && out.allow_unauthenticated) {
      m_check.error(*allow, *f,
                    "set either \"token_env\" or \"allow_unauthenticated: true\", not both");
    } else if (out.allow_unauthenticated) {
      note_open_hook(*allow, source, hook);
    } else if (token == nullptr && m_serving) {
      m_check.report().error(
          e->key_node.Mark(),
          where + " needs \"token_env\" (the environment variable holding the token " + hook +
              " requires) or \"allow_unauthenticated: true\" (anyone who can reach " + hook +
              " may post to it)");
    }
  }

  // Pings go through the heartbeat hook: with it disabled, every heartbeat would go down.
  void check_heartbeat_source(const Entry* heartbeats) {
    if (!m_serving || heartbeats == nullptr || m_rules.heartbeats.empty()) return;
    if (m_rules.sources.heartbeat.enabled) return;
    m_check.report().error(heartbeats->key_node.Mark(),
                           "heartbeats are declared but source 'heartbeat' is not enabled, so "
                           "every ping would be refused and every heartbeat would go down: add "
                           "sources.heartbeat with token_env (or allow_unauthenticated: true)");
  }

  // --- channels

  void load_channels(const Entry* e) {
    if (e == nullptr) return;
    const auto all = m_check.entries(e->value, e->mark(), "channels", Empty::is_empty);
    if (!all) return;
    for (const auto& channel : *all)
      load_channel(channel);
  }

  void load_channel(const Entry& e) {
    const auto where = "channel " + in_quotes(e.key);
    if (e.key.empty()) {
      m_check.report().error(e.key_node.Mark(), "channel names must not be empty");
      return;
    }
    m_declared_channels.insert(e.key);
    const auto f = m_check.fields(e.value, e.mark(), where, k_channel_keys);
    if (!f) return;

    Channel channel;
    channel.name = e.key;
    std::optional<ChannelType> type;
    if (m_check.require(*f, "type", "one of opsgenie, pagerduty, slack, webhook")) {
      type = m_check.choice(*f, "type", k_channel_types);
    }
    if (type) channel.type = *type;

    constexpr std::string_view k_fails = "deliveries to this channel will fail";
    const auto* url = f->find("url");
    const auto* url_env = f->find("url_env");
    if (url != nullptr && url_env != nullptr) {
      m_check.error(*url_env, *f, "set either \"url\" or \"url_env\", not both");
    } else if (url == nullptr && url_env == nullptr) {
      m_check.report().error(e.key_node.Mark(),
                             where +
                                 " needs \"url\" (the endpoint) or \"url_env\" (an "
                                 "environment variable holding it, for secret URLs)");
    } else {
      channel.url = m_check.url(*f, "url");
      channel.url_env = m_check.env_var(*f, "url_env", k_fails);
    }

    for (const auto& specific : k_type_specific_keys) {
      if (!type) break;
      const auto* field = f->find(specific.key);
      if (field != nullptr && *type != specific.type) {
        m_check.error(*field, *f,
                      in_quotes(specific.key) + " is for channels of type " +
                          std::string(to_string(specific.type)) + ", and this channel is of type " +
                          std::string(to_string(*type)));
      } else if (*type == specific.type) {
        if (specific.required) m_check.require(*f, specific.key, specific.purpose);
        auto env = m_check.env_var(*f, specific.key, k_fails);
        if (specific.key == "api_key_env") channel.api_key_env = std::move(env);
        if (specific.key == "routing_key_env") channel.routing_key_env = std::move(env);
        if (specific.key == "secret_env") channel.secret_env = std::move(env);
      }
    }
    channel.digest_every = m_check.duration(*f, "digest_every", Zero::refused);
    channel.catch_up_rate = catch_up_rate(*f);
    m_rules.channels[channel.name] = std::move(channel);
  }

  // A list of channel names (`notify:`), each recorded as a reference from `context`.
  std::optional<std::vector<std::string>> channel_list(const Fields& f, std::string_view key,
                                                       const std::string& context) {
    const auto items = m_check.list(f, key, "[oncall, alerts]");
    if (!items) return std::nullopt;
    if (items->empty()) {
      m_check.error(*f.find(key), f,
                    in_quotes(key) +
                        " must list at least one channel; to notify nobody, leave it "
                        "out (or use drop: true)");
      return std::nullopt;
    }
    std::vector<std::string> names;
    bool ok = true;
    for (const auto& item : *items) {
      const auto name = m_check.scalar(item, item.Mark(), f.where(),
                                       "an entry of " + in_quotes(key), "a channel name");
      if (!name) {
        ok = false;
      } else if (std::find(names.begin(), names.end(), *name) != names.end()) {
        m_check.report().error(item.Mark(),
                               "channel " + in_quotes(*name) + " is listed twice " + context);
        ok = false;
      } else {
        names.push_back(*name);
        m_references.push_back({Reference::Kind::channel, *name, item.Mark(), context});
      }
    }
    if (!ok) return std::nullopt;
    return names;
  }

  void reference_channel(const Fields& f, std::string_view key, const std::string& context,
                         std::optional<std::string>& out) {
    out = m_check.name(f, key, "a channel name");
    if (out) m_references.push_back({Reference::Kind::channel, *out, f.find(key)->mark(), context});
  }

  std::optional<std::string> reference_escalation(const Fields& f, const std::string& context) {
    auto name = m_check.name(f, "escalation", "the name of an escalation policy");
    if (name) {
      m_references.push_back(
          {Reference::Kind::escalation, *name, f.find("escalation")->mark(), context});
    }
    return name;
  }

  // --- delivery and escalations

  void load_delivery(const Entry* e) {
    const auto f = section(e, "delivery", k_delivery_keys);
    if (!f) return;
    auto& delivery = m_rules.delivery;
    reference_channel(*f, "fallback", "in delivery.fallback", delivery.fallback);
    if (auto v = m_check.duration(*f, "timeout", Zero::refused)) delivery.timeout = *v;
    if (auto v = m_check.integer(*f, "max_attempts", 1, std::numeric_limits<int>::max())) {
      delivery.max_attempts = static_cast<int>(*v);
    }
    const auto initial = m_check.duration(*f, "backoff_initial", Zero::refused);
    const auto max = m_check.duration(*f, "backoff_max", Zero::refused);
    if (initial) delivery.backoff_initial = *initial;
    if (max) delivery.backoff_max = *max;
    if ((initial || max) && delivery.backoff_max < delivery.backoff_initial) {
      const auto* at = max ? f->find("backoff_max") : f->find("backoff_initial");
      m_check.error(*at, *f,
                    "\"backoff_max\" (" + format_duration(delivery.backoff_max) +
                        ") must not be shorter than \"backoff_initial\" (" +
                        format_duration(delivery.backoff_initial) + ")");
    }
    if (auto v = m_check.integer(*f, "breaker_after", 1, 1000)) {
      delivery.breaker_after = static_cast<int>(*v);
    }
    if (auto v = catch_up_rate(*f)) delivery.catch_up_rate = *v;
  }

  // Notifications per second a channel's backlog drains at once it is back
  // (docs/behaviour.md "The circuit breaker and the catch-up").
  std::optional<double> catch_up_rate(const Fields& f) {
    return m_check.number(f, "catch_up_rate", 0.01, 100000);
  }

  void load_escalations(const Entry* e) {
    if (e == nullptr) return;
    const auto all = m_check.entries(e->value, e->mark(), "escalations", Empty::is_empty);
    if (!all) return;
    for (const auto& policy : *all)
      load_escalation(policy);
  }

  void load_escalation(const Entry& e) {
    const auto where = "escalation policy " + in_quotes(e.key);
    if (e.key.empty()) {
      m_check.report().error(e.key_node.Mark(), "escalation policy names must not be empty");
      return;
    }
    if (e.key.starts_with(k_rule_policy_prefix) || e.key.starts_with(k_heartbeat_policy_prefix)) {
      m_check.report().error(e.key_node.Mark(),
                             where +
                                 ": names starting with \"rule:\" or \"heartbeat:\" are "
                                 "reserved for the policies made from \"notify\"");
      return;
    }
    m_declared_escalations.insert(e.key);
    const auto f = m_check.fields(e.value, e.mark(), where, k_escalation_keys);
    if (!f) return;

    EscalationPolicy policy;
    policy.name = e.key;
    policy.repeat_every = m_check.duration(*f, "repeat_every", Zero::refused);
    m_check.require(*f, "steps", "a list like [{after: 0m, notify: [oncall]}]");
    const auto steps = m_check.list(*f, "steps", "[{after: 0m, notify: [oncall]}]");
    if (steps && steps->empty()) {
      m_check.error(*f->find("steps"), *f, "\"steps\" must list at least one step");
    }
    for (std::size_t i = 0; steps && i < steps->size(); ++i) {
      const auto& node = (*steps)[i];
      const auto step_where = "step " + std::to_string(i + 1) + " of " + where;
      const auto step_fields = m_check.fields(node, node.Mark(), step_where, k_step_keys);
      if (!step_fields) continue;
      EscalationStep step;
      if (m_check.require(*step_fields, "after", "how long after the episode opened, like 0m")) {
        const auto after = m_check.duration(*step_fields, "after", Zero::allowed);
        if (after) step.after = *after;
        if (after && !policy.steps.empty() && *after < policy.steps.back().after) {
          m_check.error(*step_fields->find("after"), *step_fields,
                        "\"after\" " + format_duration(*after) + " comes before the previous " +
                            "step's " + format_duration(policy.steps.back().after) +
                            "; list steps in order of \"after\"");
        }
      }
      if (m_check.require(*step_fields, "notify", "the channels to notify, like [oncall]")) {
        if (auto channels = channel_list(*step_fields, "notify", "in " + step_where)) {
          step.notify = std::move(*channels);
        }
      }
      policy.steps.push_back(std::move(step));
    }
    m_rules.escalations[policy.name] = std::move(policy);
  }

  // A one-step policy (after 0) that runs what a `notify:` shorthand names.
  std::string synthesize_policy(std::string name, std::vector<std::string> channels) {
    EscalationPolicy policy;
    policy.name = std::move(name);
    policy.steps.push_back({Duration{0}, std::move(channels)});
    const auto key = policy.name;
    m_rules.escalations[key] = std::move(policy);
    return key;
  }

  // --- rules

  void load_rules(const Entry* e) {
    if (e == nullptr) return;
    if (e->value.IsNull()) return;
    if (!e->value.IsSequence()) {
      m_check.report().error(e->mark(),
                             "expected a list of rules for \"rules\" (each item "
                             "starting with \"- name:\"), got " +
                                 describe(e->value));
      return;
    }
    std::size_t index = 0;
    for (const auto& node : e->value)
      load_rule(node, index++);
  }

  void load_rule(const YAML::Node& node, std::size_t index) {
    const auto where = item_label("rule", node, index);
    const auto f = m_check.fields(node, node.Mark(), where, k_rule_keys);
    if (!f) return;

    Rule rule;
    rule.line = node.Mark().line + 1;
    if (m_check.require(*f, "name", "every rule needs a unique name; decisions record it")) {
      if (auto name = m_check.name(*f, "name", "a rule name")) {
        rule.name = *name;
        const auto [first, inserted] = m_rule_lines.emplace(rule.name, rule.line);
        if (!inserted) {
          m_check.error(
              *f->find("name"), *f,
              "duplicate rule name (first used at line " + std::to_string(first->second) + ")");
        }
      }
    }
    const auto* match = f->find("match");
    if (m_check.require(*f, "match", "use match: {} to match every alert")) {
      rule.match = load_match(*match, where);
    }
    if (m_catch_all) {
      m_check.report().warning(node.Mark(), where + " can never be the first match: rule " +
                                                in_quotes(m_catch_all->first) + " (line " +
                                                std::to_string(m_catch_all->second) +
                                                ") matches every alert and has no "
                                                "\"continue: true\"");
    }

    rule.policy = m_rules.defaults;
    read_policy(*f, rule.policy);
    rule.sets_severity = f->find("severity") != nullptr;
    if (auto v = m_check.boolean(*f, "continue")) rule.continue_matching = *v;
    if (auto v = m_check.boolean(*f, "never_suppress")) rule.never_suppress = *v;
    if (auto v = m_check.boolean(*f, "drop")) rule.drop = *v;
    if (auto v = m_check.text(*f, "dedup_key", "a template like \"{source}:{name}\"")) {
      if (auto problem = dedup_template_problem(*v)) {
        m_check.error(*f->find("dedup_key"), *f, "\"dedup_key\" " + *problem);
      } else {
        rule.dedup_key = *v;
      }
    }
    reference_channel(*f, "low_priority", "in low_priority of " + where, rule.low_priority);
    rule.hold_for = m_check.duration(*f, "hold_for", Zero::refused);

    const auto* notify = f->find("notify");
    const auto* escalation = f->find("escalation");
    if (notify != nullptr && escalation != nullptr) {
      m_check.error(*escalation, *f,
                    "set either \"notify\" (a one-step route) or \"escalation\" (a policy), "
                    "not both");
      // Both are still checked: fixing one error must not reveal another.
      channel_list(*f, "notify", "in notify of " + where);
      reference_escalation(*f, "used in " + where);
    } else if (notify != nullptr) {
      auto channels = channel_list(*f, "notify", "in notify of " + where);
      if (channels && !rule.name.empty()) {
        rule.escalation =
            synthesize_policy(std::string(k_rule_policy_prefix) + rule.name, std::move(*channels));
      }
    } else if (escalation != nullptr) {
      if (auto name = reference_escalation(*f, "used in " + where)) rule.escalation = *name;
    }
    if (rule.drop && (notify != nullptr || escalation != nullptr)) {
      m_check.error(*f->find("drop"), *f,
                    "\"drop: true\" records alerts without notifying anyone, so this rule cannot "
                    "also set \"notify\" or \"escalation\"");
    }
    // `match: {}` written as such, not a match whose keys all had errors.
    const bool matches_all = match != nullptr && match->value.IsMap() && match->value.size() == 0;
    if (matches_all && !rule.continue_matching && !m_catch_all) {
      m_catch_all = {rule.name.empty() ? where : rule.name, rule.line};
    }
    if (rule.never_suppress && rule.hold_for) {
      m_check.report().warning(f->find("hold_for")->mark(),
                               where +
                                   ": \"hold_for\" has no effect with \"never_suppress: "
                                   "true\", which exempts alerts from holding");
    }
    m_rules.rules.push_back(std::move(rule));
  }

  Match load_match(const Entry& e, const std::string& rule_where) {
    Match match;
    if (e.value.IsNull()) {
      // Most likely its keys lost their indentation; silently matching everything would be
      // the worst reading.
      m_check.report().error(e.mark(), rule_where +
                                           ": \"match\" is empty; give it keys, or "
                                           "write \"match: {}\" to match every alert");
      return match;
    }
    const auto f = m_check.fields(e.value, e.mark(), "match of " + rule_where, k_match_keys);
    if (!f) return match;
    match.source = matcher(*f, "source");
    match.name = matcher(*f, "name");
    match.severity = matcher(*f, "severity");
    match.metric = matcher(*f, "metric");
    match.namespace_ = matcher(*f, "namespace");
    match.account = matcher(*f, "account");
    match.region = matcher(*f, "region");

    const auto* source = f->find("source");
    if (match.source && match.source->kind() == ValueMatcher::Kind::exact &&
        std::find(std::begin(k_source_names), std::end(k_source_names), match.source->spelled()) ==
            std::end(k_source_names)) {
      const auto& spelled = match.source->spelled();
      std::string message =
          "expected one of " + join(k_source_names) + " for \"source\", got " + in_quotes(spelled);
      if (spelled == "sns" || spelled == "eventbridge") {
        message += " (CloudWatch alarms have source cloudwatch whichever hook they arrive by)";
      } else {
        message += did_you_mean(spelled, k_source_names);
      }
      m_check.error(*source, *f, message);
      match.source.reset();
    }
    if (match.severity && match.severity->kind() == ValueMatcher::Kind::exact &&
        !match.severity->spelled().empty() && !parse_severity(match.severity->spelled())) {
      m_check.error(*f->find("severity"), *f,
                    "expected one of critical, high, warning, info for \"severity\" (or \"\" "
                    "for alerts without one), got " +
                        in_quotes(match.severity->spelled()));
      match.severity.reset();
    }

    if (const auto* labels = f->find("labels")) {
      const auto labels_where = "labels in match of " + rule_where;
      const auto entries =
          m_check.entries(labels->value, labels->mark(), labels_where, Empty::is_error);
      for (const auto& label : entries.value_or(std::vector<Entry>{})) {
        const auto spelled = m_check.scalar(label.value, label.mark(), labels_where,
                                            in_quotes(label.key), "a value, glob or /regex/");
        if (!spelled) continue;
        if (auto m = parse_matcher(*spelled, label.mark(), labels_where, in_quotes(label.key))) {
          match.labels.emplace_back(label.key, std::move(*m));
        }
      }
    }
    return match;
  }

  std::optional<ValueMatcher> matcher(const Fields& f, std::string_view key) {
    const auto spelled = m_check.text(f, key, "a value, glob or /regex/");
    if (!spelled) return std::nullopt;
    return parse_matcher(*spelled, f.find(key)->mark(), f.where(), in_quotes(key));
  }

  std::optional<ValueMatcher> parse_matcher(const std::string& spelled, const YAML::Mark& at,
                                            std::string_view where, std::string_view label) {
    auto matcher = ValueMatcher::parse(spelled);
    if (!matcher) {
      m_check.report().error(at, at_where(where, "invalid regex " + in_quotes(spelled) + " for " +
                                                     std::string(label) + ": " + matcher.error()));
      return std::nullopt;
    }
    return std::move(*matcher);
  }

  // --- noise

  void load_noise(const Entry* e) {
    const auto f = section(e, "noise", k_noise_keys);
    if (!f) return;
    auto& noise = m_rules.noise;
    if (auto v = m_check.duration(*f, "window", Zero::refused)) noise.window = *v;
    if (auto v = m_check.integer(*f, "flap_history", 2, std::numeric_limits<int>::max())) {
      noise.flap_history = static_cast<int>(*v);
    }
    const auto high = m_check.number(*f, "flap_high", 0, 100);
    const auto low = m_check.number(*f, "flap_low", 0, 100);
    if (high) noise.flap_high = *high;
    if (low) noise.flap_low = *low;
    if ((high || low) && noise.flap_low >= noise.flap_high) {
      m_check.error(*(low ? f->find("flap_low") : f->find("flap_high")), *f,
                    "\"flap_low\" (" + format_number(noise.flap_low) +
                        ") must be below \"flap_high\" (" + format_number(noise.flap_high) +
                        "): an alert starts flapping above flap_high and stops below flap_low");
    }
    if (auto v = m_check.number(*f, "rate_ceiling", 0, std::numeric_limits<double>::max())) {
      if (*v > 0) {
        noise.rate_ceiling = *v;
      } else {
        m_check.error(*f->find("rate_ceiling"), *f, "\"rate_ceiling\" must be above 0");
      }
    }
    if (auto v = m_check.duration(*f, "transient_within", Zero::refused)) {
      noise.transient_within = *v;
    }
    if (auto v = m_check.number(*f, "demote_above", 0, 100)) noise.demote_above = *v;
    load_weights(*f);
  }

  void load_weights(const Fields& noise) {
    const auto* e = noise.find("weights");
    if (e == nullptr) return;
    const auto f = m_check.fields(e->value, e->mark(), "noise.weights", k_weight_keys);
    if (!f) return;
    auto& w = m_rules.noise.weights;
    bool ok = true;
    const auto read = [&](std::string_view key, double& out) {
      if (f->find(key) == nullptr) return;
      if (auto v = m_check.number(*f, key, 0, 1)) {
        out = *v;
      } else {
        ok = false;
      }
    };
    read("flap", w.flap);
    read("rate", w.rate);
    read("transient", w.transient);
    read("ignored", w.ignored);
    const double sum = w.flap + w.rate + w.transient + w.ignored;
    if (ok && std::abs(sum - 1.0) > 1e-6) {
      m_check.report().error(e->mark(), "noise: \"weights\" must add up to 1, got " +
                                            format_number(sum) + " (flap " + format_number(w.flap) +
                                            " + rate " + format_number(w.rate) + " + transient " +
                                            format_number(w.transient) + " + ignored " +
                                            format_number(w.ignored) + ")");
    }
  }

  // --- heartbeats, watchdog, api, storage

  void load_heartbeats(const Entry* e) {
    if (e == nullptr || e->value.IsNull()) return;
    if (!e->value.IsSequence()) {
      m_check.report().error(e->mark(),
                             "expected a list of heartbeats for \"heartbeats\" (each "
                             "item starting with \"- name:\"), got " +
                                 describe(e->value));
      return;
    }
    std::map<std::string, int> first_line;
    std::size_t index = 0;
    for (const auto& node : e->value) {
      const auto where = item_label("heartbeat", node, index++);
      const auto f = m_check.fields(node, node.Mark(), where, k_heartbeat_keys);
      if (!f) continue;
      Heartbeat heartbeat;
      heartbeat.severity = m_rules.defaults.severity;
      if (m_check.require(*f, "name", "it is the {name} in POST /hooks/heartbeat/{name}")) {
        if (auto name = m_check.name(*f, "name", "a heartbeat name")) {
          const auto url_safe = std::all_of(name->begin(), name->end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
          });
          const auto line = f->find("name")->mark().line + 1;
          if (!url_safe) {
            m_check.error(*f->find("name"), *f,
                          "heartbeat names go in the URL /hooks/heartbeat/{name}: use letters, "
                          "digits, '-', '_' and '.' only, got " +
                              in_quotes(*name));
          } else if (const auto [first, inserted] = first_line.emplace(*name, line); !inserted) {
            m_check.error(*f->find("name"), *f,
                          "duplicate heartbeat name (first used at line " +
                              std::to_string(first->second) + ")");
          } else {
            heartbeat.name = *name;
          }
        }
      }
      if (m_check.require(*f, "every", "how often pings are expected, like 5m")) {
        if (auto v = m_check.duration(*f, "every", Zero::refused)) heartbeat.every = *v;
      }
      if (auto v = m_check.duration(*f, "grace", Zero::allowed)) heartbeat.grace = *v;
      if (auto v = m_check.choice(*f, "severity", k_severity_names)) heartbeat.severity = *v;
      // Fixed here, as the heartbeat's severity is: its own, else the defaults', else the
      // severity's.
      heartbeat.priority = m_rules.defaults.priority_given(heartbeat.severity);
      if (auto v = m_check.choice(*f, "priority", k_priorities)) heartbeat.priority = *v;

      const auto* notify = f->find("notify");
      const auto* escalation = f->find("escalation");
      if (notify != nullptr && escalation != nullptr) {
        m_check.error(*escalation, *f,
                      "set either \"notify\" (a one-step route) or \"escalation\" (a policy), "
                      "not both");
        channel_list(*f, "notify", "in notify of " + where);
        reference_escalation(*f, "used in " + where);
      } else if (notify != nullptr) {
        auto channels = channel_list(*f, "notify", "in notify of " + where);
        if (channels && !heartbeat.name.empty()) {
          heartbeat.escalation = synthesize_policy(
              std::string(k_heartbeat_policy_prefix) + heartbeat.name, std::move(*channels));
        }
      } else if (escalation != nullptr) {
        if (auto name = reference_escalation(*f, "used in " + where)) heartbeat.escalation = *name;
      }
      m_rules.heartbeats.push_back(std::move(heartbeat));
    }
  }

  void load_watchdog(const Entry* e) {
    if (e == nullptr || e->value.IsNull()) return;
    const auto f = section(e, "watchdog", k_watchdog_keys);
    if (!f) return;
    Watchdog watchdog;
    const auto* url = f->find("url");
    const auto* url_env = f->find("url_env");
    if (url != nullptr && url_env != nullptr) {
      m_check.error(*url_env, *f, "set either \"url\" or \"url_env\", not both");
    } else if (url == nullptr && url_env == nullptr) {
      m_check.report().error(f->mark(),
                             "watchdog needs \"url\" (the dead-man's-switch "
                             "endpoint to ping) or \"url_env\"");
    }
    watchdog.url = m_check.url(*f, "url");
    watchdog.url_env = m_check.env_var(*f, "url_env", "the watchdog will not ping");
    if (auto v = m_check.duration(*f, "every", Zero::refused)) watchdog.every = *v;
    m_rules.watchdog = std::move(watchdog);
  }

  void load_api(const Entry* e) {
    const auto f = section(e, "api", k_api_keys);
    if (!f) return;
    const auto items = m_check.list(*f, "tokens", "[{name: sre-read, token_env: X, scope: read}]",
                                    Empty::is_empty);
    if (!items) return;
    std::map<std::string, int> first_line;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const auto& node = (*items)[i];
      const auto where = item_label("api token", node, i);
      const auto t = m_check.fields(node, node.Mark(), where, k_api_token_keys);
      if (!t) continue;
      ApiToken token;
      if (m_check.require(*t, "name")) {
        if (auto name = m_check.name(*t, "name", "a token name")) {
          const auto line = t->find("name")->mark().line + 1;
          if (const auto [first, inserted] = first_line.emplace(*name, line); !inserted) {
            m_check.error(*t->find("name"), *t,
                          "duplicate api token name (first used at line " +
                              std::to_string(first->second) + ")");
          }
          token.name = *name;
        }
      }
      if (m_check.require(*t, "token_env", "the environment variable holding the token")) {
        if (auto v = m_check.env_var(*t, "token_env", "requests with this token will be refused")) {
          token.token_env = *v;
        }
      }
      if (auto v = m_check.choice(*t, "scope", k_scopes)) token.scope = *v;
      m_rules.api_tokens.push_back(std::move(token));
    }
  }

  void load_silences(const Entry* e) {
    const auto f = section(e, "silences", k_silences_keys);
    if (!f) return;
    if (auto v = m_check.duration(*f, "max_duration", Zero::refused)) {
      m_rules.silences.max_duration = *v;
    }
  }

  void load_storage(const Entry* e) {
    const auto f = section(e, "storage", k_storage_keys);
    if (!f) return;
    if (auto v = m_check.env_var(*f, "url_env", "the database is --db, TOCSIN_DB or ./tocsin.db")) {
      m_rules.storage.url_env = *v;
      check_location(*f, *v);
    }
    if (auto v = m_check.choice(*f, "synchronous", k_synchronous)) m_rules.storage.synchronous = *v;
    if (auto v = m_check.choice(*f, "startup_check", k_startup_checks)) {
      m_rules.storage.startup_check = *v;
    }
    if (auto v = m_check.duration(*f, "retain_events", Zero::refused)) {
      m_rules.storage.retain_events = *v;
    }
  }

  // The location storage.url_env's variable holds, when it is set now: a file path or a
  // postgresql:// URI. Its value is never quoted (a URI may hold a password).
  void check_location(const Fields& f, const std::string& variable) {
    if (!m_env) return;
    const auto value = m_env(variable);
    if (!value || value->empty()) return;
    const auto& entry = *f.find("url_env");
    const bool postgres = value->starts_with("postgresql://") || value->starts_with("postgres://");
    std::optional<std::string> problem;
    if (!postgres && value->find("://") != std::string::npos) {
      problem = "is neither a file path nor a postgresql:// URI";
    } else if (m_location_problem) {
      problem = m_location_problem(*value);
    }
    if (problem) {
      m_check.error(entry, f,
                    "\"url_env\": the database location in environment variable " + variable + " " +
                        *problem);
      return;
    }
    if (postgres && f.find("synchronous") != nullptr) {
      m_report.warning(
          f.find("synchronous")->mark(),
          at_where(f.where(), "\"synchronous\" does not apply to PostgreSQL (" + variable +
                                  " names one): the server's synchronous_commit "
                                  "decides"));
    }
  }

  // --- server

  void load_server(const Entry* e) {
    const auto f = section(e, "server", k_server_keys);
    if (!f) return;
    auto& server = m_rules.server;
    // The same bounds as `serve --max-body-bytes`.
    server.max_body_bytes = m_check.byte_size(*f, "max_body_bytes", 1024, 64 * 1024 * 1024);
    if (auto v = m_check.integer(*f, "max_headers", 1, 10000)) {
      server.max_headers = static_cast<std::size_t>(*v);
    }
    if (auto v = m_check.duration(*f, "request_timeout", Zero::refused)) {
      if (*v < std::chrono::seconds(1) || *v > std::chrono::hours(1)) {
        m_check.error(*f->find("request_timeout"), *f,
                      "\"request_timeout\" must be between 1s and 1h, got " + format_duration(*v));
      } else {
        server.request_timeout = *v;
      }
    }
    if (auto v = m_check.integer(*f, "max_connections_per_ip", 1, 10000)) {
      server.max_connections_per_ip = static_cast<std::size_t>(*v);
    }
    if (auto v = m_check.integer(*f, "max_connections", 1, 1000000)) {
      server.max_connections = static_cast<std::size_t>(*v);
    }
    if (auto v = m_check.integer(*f, "worker_threads", 1, 4096)) {
      server.worker_threads = static_cast<std::size_t>(*v);
    }
  }

  // --- cross-references

  // Checked against every name declared, even one whose definition has errors of its own, so
  // a broken channel does not also make each use of it an error.
  void check_references() {
    for (const auto& ref : m_references) {
      const bool channel = ref.kind == Reference::Kind::channel;
      const auto& declared = channel ? m_declared_channels : m_declared_escalations;
      if (declared.contains(ref.name)) continue;
      const std::string_view what = channel ? "channel" : "escalation policy";
      std::string message =
          "undefined " + std::string(what) + " " + in_quotes(ref.name) + " " + ref.context;
      if (declared.empty()) {
        message += channel ? " (no channels are defined)" : " (no escalation policies are defined)";
      } else {
        message += did_you_mean(ref.name, declared);
      }
      m_check.report().error(ref.mark, std::move(message));
    }
  }

  Checker m_check;
  Reporter& m_report;
  EnvLookup m_env;
  std::function<std::optional<std::string>(const std::string&)> m_location_problem;
  Rules m_rules;
  std::set<std::string> m_declared_channels;
  std::set<std::string> m_declared_escalations;
  std::vector<Reference> m_references;
  std::map<std::string, int> m_rule_lines;  // rule name -> line of its first definition
  bool m_serving = true;
  // The first rule matching every alert without `continue: true` (name, line): no later rule
  // is ever reached.
  std::optional<std::pair<std::string, int>> m_catch_all;
};

}  // namespace

LoadResult load_rules_text(const std::string& text, const std::string& path,
                           const LoadOptions& options) {
  Reporter report(path);
  LoadResult result;
  std::optional<Rules> rules;
  read_document(text, "rules file", "at least \"version: 1\"", report, [&](const YAML::Node& root) {
    RulesLoader loader(report, options);
    loader.load(root);
    rules = loader.take();
  });
  if (rules && !report.has_errors()) {
    rules->source_path = path;
    rules->hash = sha256_hex(text);
    result.rules = std::make_shared<const Rules>(std::move(*rules));
  }
  result.diagnostics = report.take_sorted();
  return result;
}

LoadResult load_rules_text(const std::string& text, const std::string& path, const EnvLookup& env) {
  return load_rules_text(text, path, LoadOptions{.env = env});
}

LoadResult load_rules_file(const std::string& path, const EnvLookup& env) {
  return load_rules_file(path, LoadOptions{.env = env});
}

LoadResult load_rules_file(const std::string& path, const LoadOptions& options) {
  std::string text;
  int error = 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno;
  } else {
    char buf[64 * 1024];
    for (;;) {
      const auto n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        text.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        error = errno;
        break;
      }
    }
    ::close(fd);
  }
  if (error != 0) {
    LoadResult result;
    result.unreadable = true;
    result.diagnostics.push_back(
        {Diagnostic::Level::error, path, 0, 0,
         std::string("cannot read the rules file: ") + std::strerror(error)});
    return result;
  }
  return load_rules_text(text, path, options);
}

std::vector<AcceptedKeys> accepted_keys() {
  const auto keys = [](Keys k) { return std::vector<std::string_view>(k.begin(), k.end()); };
  std::vector<AcceptedKeys> out = {
      {"", keys(k_top_keys)},
      {"defaults", keys(k_policy_keys)},
      {"sources", keys(k_source_keys)},
      {"channels.*", keys(k_channel_keys)},
      {"delivery", keys(k_delivery_keys)},
      {"escalations.*", keys(k_escalation_keys)},
      {"escalations.*.steps[]", keys(k_step_keys)},
      {"rules[]", keys(k_rule_keys)},
      {"rules[].match", keys(k_match_keys)},
      {"noise", keys(k_noise_keys)},
      {"noise.weights", keys(k_weight_keys)},
      {"heartbeats[]", keys(k_heartbeat_keys)},
      {"watchdog", keys(k_watchdog_keys)},
      {"api", keys(k_api_keys)},
      {"api.tokens[]", keys(k_api_token_keys)},
      {"storage", keys(k_storage_keys)},
      {"server", keys(k_server_keys)},
      {"silences", keys(k_silences_keys)},
  };
  // Every source load_sources() reads: SNS and the mapped hooks have tables of their own, each
  // other source the token keys.
  for (const auto source : k_source_keys) {
    const auto path = "sources." + std::string(source);
    if (source == "sns") {
      out.push_back({path, keys(k_sns_keys)});
    } else if (source == "mapped") {
      for (const auto& [sub, sub_keys] : mapped_source_keys()) {
        out.push_back(
            {sub.empty() ? path + ".*" : path + ".*." + std::string(sub), keys(sub_keys)});
      }
    } else {
      out.push_back({path, keys(k_token_source_keys)});
    }
  }
  return out;
}

}  // namespace tocsin::rules
