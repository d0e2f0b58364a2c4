#include "delivery/redact.hpp"

namespace tocsin::delivery {

namespace {

// Where a URL's user info ends: the last '@' of its authority (RFC 3986), or of the whole URL
// when an '@' follows the authority. A password pasted with an unencoded '/', '?' or '#' ends
// the authority early for a parser, yet is still a password; an '@' in a path or query is rare
// enough that hiding a little too much is the safe side. npos: no user info.
std::size_t user_info_end(std::string_view url, std::size_t authority_start) {
  const auto at = url.rfind('@');
  return at == std::string_view::npos || at < authority_start ? std::string_view::npos : at;
}

// Adds the parts of `url` that may be credentials. `whole`: the URL itself is a secret (read
// from the environment, or a Slack or ping URL), so are its path and query.
void add_url_secrets(const std::string& url, bool whole, std::vector<std::string>& out) {
  if (url.empty()) return;
  if (whole) out.push_back(url);
  const auto scheme_end = url.find("://");
  const std::size_t authority_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const auto path_start = url.find_first_of("/?#", authority_start);
  if (const auto at = user_info_end(url, authority_start); at != std::string::npos) {
    const std::string user_info = url.substr(authority_start, at - authority_start);
    out.push_back(user_info);
    if (const auto colon = user_info.find(':'); colon != std::string::npos)
      out.push_back(user_info.substr(colon + 1));  // the password
  }
  if (path_start == std::string::npos) return;
  std::string rest = url.substr(path_start);
  if (const auto fragment = rest.find('#'); fragment != std::string::npos) rest.resize(fragment);
  const auto query_start = rest.find('?');
  const std::string path = rest.substr(0, query_start);
  const std::string query = query_start == std::string::npos ? "" : rest.substr(query_start + 1);
  if (whole && path.size() > 1) {
    out.push_back(rest);
    out.push_back(path);
    // The last segment alone, when long enough to be a token (a Slack hook's, a ping ID)
    // rather than a word like "hook".
    const std::string last = path.substr(path.find_last_of('/') + 1);
    if (last.size() >= 8) out.push_back(last);
  }
  if (whole && !query.empty()) out.push_back(query);
  std::size_t start = 0;
  while (start < query.size()) {
    auto end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(start, end - start);
    if (const auto eq = pair.find('='); eq != std::string::npos) out.push_back(pair.substr(eq + 1));
    start = end + 1;
  }
}

}  // namespace

std::string shown_url(std::string_view url, bool whole) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return "(the channel's URL)";
  const std::size_t authority_start = scheme_end + 3;
  const auto path_start = url.find_first_of("/?#", authority_start);
  // An '@' past the authority may end a password holding '/', '?' or '#': show nothing of it.
  if (const auto at = user_info_end(url, authority_start);
      at != std::string_view::npos && path_start != std::string_view::npos && at > path_start) {
    return "(the channel's URL)";
  }
  std::string_view authority = url.substr(authority_start, path_start - authority_start);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  if (authority.empty()) return "(the channel's URL)";
  std::string out = std::string(url.substr(0, authority_start)) + std::string(authority);
  if (path_start == std::string_view::npos) return out;
  std::string_view rest = url.substr(path_start);
  if (const auto fragment = rest.find('#'); fragment != std::string_view::npos)
    rest = rest.substr(0, fragment);
  if (whole) return rest.empty() || rest == "/" ? out + std::string(rest) : out + "/\xE2\x80\xA6";
  const auto query_start = rest.find('?');
  out += rest.substr(0, query_start);
  if (query_start == std::string_view::npos) return out;
  // Names kept (they say what was sent), values hidden (`?token=` is a credential).
  const std::string_view query = rest.substr(query_start + 1);
  out += '?';
  std::size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    if (start > 0) out += '&';
    const auto eq = pair.find('=');
    out += pair.substr(0, eq);
    if (eq != std::string_view::npos) out += "=\xE2\x80\xA6";
    start = end + 1;
  }
  return out;
}

std::vector<std::string> secret_values(const rules::Rules& rules, const rules::EnvLookup& env) {
  std::vector<std::string> out;
  auto from_env = [&](const std::optional<std::string>& variable) -> std::optional<std::string> {
    if (!variable) return std::nullopt;
    auto value = env(*variable);
    if (!value || value->empty()) return std::nullopt;
    out.push_back(*value);
    return value;
  };

  from_env(rules.sources.sns.raw_token_env);
  for (const auto* source :
       {&rules.sources.opsgenie, &rules.sources.eventbridge, &rules.sources.alertmanager,
        &rules.sources.generic, &rules.sources.heartbeat})
    from_env(source->token_env);
  for (const auto& [name, channel] : rules.channels) {
    from_env(channel.api_key_env);
    from_env(channel.routing_key_env);
    from_env(channel.secret_env);
    if (auto url = from_env(channel.url_env)) {
      add_url_secrets(*url, true, out);
    } else if (channel.url) {
      add_url_secrets(*channel.url, channel.type == rules::ChannelType::slack, out);
    }
  }
  if (rules.watchdog) {
    if (auto url = from_env(rules.watchdog->url_env)) add_url_secrets(*url, true, out);
    if (rules.watchdog->url) add_url_secrets(*rules.watchdog->url, true, out);
  }
  for (const auto& token : rules.api_tokens)
    from_env(token.token_env);
  return out;
}

Redactor redactor_for(const rules::Rules& rules, const rules::EnvLookup& env) {
  return Redactor(secret_values(rules, env));
}

std::string attempt_error_text(const AttemptResult& r, const Redactor& redactor) {
  std::string text = r.error;
  if (!r.body.empty()) text += (text.empty() ? "" : ": ") + r.body;
  return printable_excerpt(redactor.redact(text), k_error_text_bytes);
}

}  // namespace tocsin::delivery
